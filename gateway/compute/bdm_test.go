package compute_test

import (
	"net/http"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/blockstorage"
)

const volBoot = "5a1e0c4d-0000-4000-8000-0000000000c1"

// bfv is a volume-backed create with the given mapping and extra server fields.
func bfv(mapping, extra string) string {
	return `{"server": {"name": "bfv", "flavorRef": "1", "networks": [{"uuid": "` + netA + `"}], "block_device_mapping_v2": [` + mapping + `]` + extra + `}}`
}

func bootMapping(id string) string {
	return `{"source_type": "volume", "destination_type": "volume", "boot_index": 0, "uuid": "` + id + `"}`
}

func TestBootFromVolumeFaults(t *testing.T) {
	h, fv := newVolumeHarness(t)
	fv.mu.Lock()
	fv.vols[volBoot] = &blockstorage.Volume{ID: volBoot, ProjectID: projectA, Status: blockstorage.StatusAvailable, Size: 1,
		Bootable: true, ImageMetadata: map[string]string{"image_id": imageID}}
	fv.mu.Unlock()
	cases := []struct {
		name, body string
		status     int
		message    string
	}{
		{"bad source_type", bfv(`{"source_type": "disk", "uuid": "`+volBoot+`", "boot_index": 0}`, ""), 400, "Invalid input for field/attribute source_type. Value: disk. 'disk' is not one of ['volume', 'image', 'snapshot', 'blank']"},
		{"bad destination_type", bfv(`{"source_type": "volume", "destination_type": "nfs", "uuid": "`+volBoot+`", "boot_index": 0}`, ""), 400, "Invalid input for field/attribute destination_type. Value: nfs. 'nfs' is not one of ['local', 'volume']"},
		{"bad boot_index", bfv(`{"source_type": "volume", "uuid": "`+volBoot+`", "boot_index": "first"}`, ""), 400, "Invalid input for field/attribute boot_index. Value: first. 'first' does not match '^-?[0-9]+$'"},
		{"bad uuid", bfv(`{"source_type": "volume", "uuid": "a b", "boot_index": 0}`, ""), 400, "Invalid input for field/attribute uuid. Value: a b. 'a b' does not match '^[a-zA-Z0-9._-]*$'"},
		{"volume_size zero", bfv(`{"source_type": "image", "destination_type": "volume", "uuid": "`+imageID+`", "boot_index": 0, "volume_size": 0}`, ""), 400, "Invalid input for field/attribute volume_size. Value: 0. 0 is less than the minimum of 1"},
		{"missing uuid", bfv(`{"source_type": "volume", "boot_index": 0}`, ""), 400, "Block Device Mapping is Invalid: Missing device UUID."},
		{"no boot device", bfv(`{"source_type": "volume", "uuid": "`+volBoot+`", "boot_index": 1}`, ""), 400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid."},
		{"boot index gap", bfv(bootMapping(volBoot)+`, {"source_type": "volume", "uuid": "`+volA+`", "boot_index": 2}`, ""), 400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid."},
		{"two roots", bfv(bootMapping(volBoot)+`, `+bootMapping(volA), ""), 400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid."},
		{"blank root", bfv(`{"source_type": "blank", "destination_type": "volume", "boot_index": 0, "volume_size": 1}`, ""), 400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid."},
		{"image to volume without size", bfv(`{"source_type": "image", "destination_type": "volume", "uuid": "`+imageID+`", "boot_index": 0}`, ""), 400, "Images with destination_type 'volume' need to have a non-zero size specified"},
		{"blank volume without size", bfv(`{"source_type": "blank", "destination_type": "volume", "boot_index": -1}`, `, "imageRef": "`+imageID+`"`), 400, "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size"},
		{"blank with uuid", bfv(`{"source_type": "blank", "uuid": "`+volA+`", "destination_type": "volume", "volume_size": 1}`, `, "imageRef": "`+imageID+`"`), 400, "Block Device Mapping is Invalid: Invalid device UUID."},
		{"image to local without imageRef", bfv(`{"source_type": "image", "destination_type": "local", "uuid": "`+imageID+`", "boot_index": 0}`, ""), 400, "Block Device Mapping is Invalid: Mapping image to local is not supported."},
		{"image to local not root", bfv(`{"source_type": "image", "destination_type": "local", "uuid": "`+imageID+`", "boot_index": 1}`, `, "imageRef": "`+imageID+`"`), 400, "Block Device Mapping is Invalid: Mapping image to local is not supported."},
		{"snapshot to local", bfv(`{"source_type": "snapshot", "destination_type": "local", "uuid": "`+volA+`", "boot_index": 0}`, ""), 400, "Block Device Mapping is Invalid: Mapping snapshot to local is not supported."},
		{"device name with space", bfv(`{"source_type": "volume", "uuid": "`+volBoot+`", "boot_index": 0, "device_name": "vd a"}`, ""), 400, "Block Device Mapping is Invalid: Device name contains spaces."},
		{"ephemeral larger than flavor", bfv(`{"source_type": "blank", "destination_type": "local", "boot_index": -1, "volume_size": 1}`, `, "imageRef": "`+imageID+`"`), 400, "Ephemeral disks requested are larger than the instance type allows. If no size is given in one block device mapping, flavor ephemeral size will be used."},
		{"swap larger than flavor", bfv(`{"source_type": "blank", "destination_type": "local", "guest_format": "swap", "boot_index": -1, "volume_size": 512}`, `, "imageRef": "`+imageID+`"`), 400, "Swap drive requested is larger than instance type allows."},
		{"two swaps", bfv(`{"source_type": "blank", "destination_type": "local", "guest_format": "swap", "volume_size": 1}, {"source_type": "blank", "destination_type": "local", "guest_format": "swap", "volume_size": 1}`, `, "imageRef": "`+imageID+`"`), 400, "Block Device Mapping is Invalid: More than one swap drive requested."},
		{"image to volume without volume maker", bfv(`{"source_type": "image", "destination_type": "volume", "uuid": "`+imageID+`", "boot_index": 0, "volume_size": 1}`, ""), 501, "Block device mappings that create or delete volumes are not available in this cloud."},
		{"delete_on_termination without volume maker", bfv(`{"source_type": "volume", "uuid": "`+volBoot+`", "boot_index": 0, "delete_on_termination": true}`, ""), 501, "Block device mappings that create or delete volumes are not available in this cloud."},
		{"unknown image", bfv(`{"source_type": "image", "destination_type": "volume", "uuid": "`+volNone+`", "boot_index": 0, "volume_size": 1}`, ""), 400, "Block Device Mapping is Invalid: failed to get image " + volNone + "."},
		{"legacy mapping", `{"server": {"name": "bfv", "flavorRef": "1", "block_device_mapping": [{"volume_id": "` + volBoot + `", "device_name": "vda"}]}}`, 501, "Legacy block_device_mapping is not supported by this cloud; use block_device_mapping_v2."},
		{"image root and volume root", bfv(bootMapping(volBoot)+`, {"source_type": "image", "destination_type": "local", "uuid": "`+imageID+`", "boot_index": 0}`, `, "imageRef": "`+imageID+`"`), 400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid."},
		{"several servers", bfv(bootMapping(volBoot), `, "min_count": 2, "max_count": 2`), 400, "Cannot attach one or more volumes to multiple instances"},
		{"unknown volume", bfv(bootMapping(volNone), ""), 400, "Block Device Mapping is Invalid: failed to get volume " + volNone + "."},
		{"not bootable", bfv(bootMapping(volA), ""), 400, "Block Device " + volA + " is not bootable."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/compute/v2.1/servers", tokMember, "", c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := faultMessage(t, r); got != c.message {
				t.Errorf("message %q, want %q", got, c.message)
			}
		})
	}
	for _, id := range []string{volA, volBoot} {
		if got := fv.status(id); got != blockstorage.StatusAvailable {
			t.Errorf("volume %s is %s after refused creates, want available", id, got)
		}
	}

	t.Run("boot", func(t *testing.T) {
		id := h.boot(tokMember, bfv(bootMapping(volBoot), ""))
		srv := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "2.79", "").json(t)["server"].(map[string]any)
		if srv["image"] != "" {
			t.Errorf("image %v, want \"\"", srv["image"])
		}
		vols, _ := srv["os-extended-volumes:volumes_attached"].([]any)
		if len(vols) != 1 || vols[0].(map[string]any)["id"] != volBoot {
			t.Errorf("volumes_attached %v, want the boot volume", vols)
		}
		if got := fv.status(volBoot); got != blockstorage.StatusInUse {
			t.Errorf("boot volume is %s, want in-use", got)
		}
		att := h.do("GET", "/compute/v2.1/servers/"+id+"/os-volume_attachments/"+volBoot, tokMember, "", "").json(t)["volumeAttachment"].(map[string]any)
		if att["device"] != "/dev/vda" {
			t.Errorf("root device %v, want /dev/vda", att["device"])
		}
		r := h.do("DELETE", "/compute/v2.1/servers/"+id+"/os-volume_attachments/"+volBoot, tokMember, "", "")
		if r.status != http.StatusBadRequest || faultMessage(t, r) != "Cannot detach a root device volume" {
			t.Errorf("detach root: %d %s", r.status, r.body)
		}
		if r := h.do("DELETE", "/compute/v2.1/servers/"+id, tokMember, "", ""); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		h.waitStatus(tokMember, id, "")
		if got := fv.status(volBoot); got != blockstorage.StatusAvailable {
			t.Errorf("boot volume of deleted server is %s, want available", got)
		}
	})
}
