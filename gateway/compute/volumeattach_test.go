package compute_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

const (
	volA     = "5a1e0c4d-0000-4000-8000-0000000000a1"
	volA2    = "5a1e0c4d-0000-4000-8000-0000000000a2"
	volB     = "5a1e0c4d-0000-4000-8000-0000000000b1"
	volNone  = "5a1e0c4d-0000-4000-8000-0000000000ff"
	attachA  = `{"volumeAttachment": {"volumeId": "` + volA + `"}}`
	attachA2 = `{"volumeAttachment": {"volumeId": "` + volA2 + `", "device": "/dev/vdc"}}`
)

// fakeVolumes is block storage's attach state machine over a map, with
// Cinder's faults (blockstorage's own tests cover the real one).
type fakeVolumes struct {
	mu   sync.Mutex
	vols map[string]*blockstorage.Volume
}

func newFakeVolumes() *fakeVolumes {
	f := &fakeVolumes{vols: map[string]*blockstorage.Volume{}}
	for id, project := range map[string]string{volA: projectA, volA2: projectA, volB: projectB} {
		f.vols[id] = &blockstorage.Volume{ID: id, ProjectID: project, Status: blockstorage.StatusAvailable, Size: 1}
	}
	return f
}

func (f *fakeVolumes) get(project, id string) (*blockstorage.Volume, error) {
	v, ok := f.vols[id]
	if !ok || v.ProjectID != project {
		return nil, wire.NotFound("Volume %s could not be found.", id)
	}
	return v, nil
}

func attachedTo(v *blockstorage.Volume, server string) bool {
	return slices.ContainsFunc(v.Attachments, func(a blockstorage.Attachment) bool { return a.ServerID == server })
}

func (f *fakeVolumes) status(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vols[id].Status
}

func (f *fakeVolumes) ReserveAttach(ctx context.Context, project, id, server string) (*blockstorage.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.get(project, id)
	if err != nil {
		return nil, err
	}
	if (v.Status == blockstorage.StatusReserved && v.ReservedFor == server) || attachedTo(v, server) {
		c := *v
		return &c, nil
	}
	if v.Status != blockstorage.StatusAvailable {
		return nil, wire.BadRequest("Invalid volume: Volume %s status must be available to reserve, but the current status is: %s.", id, v.Status)
	}
	v.Status, v.ReservedFor = blockstorage.StatusReserved, server
	c := *v
	return &c, nil
}

func (f *fakeVolumes) CompleteAttach(ctx context.Context, project, id, server, device string) (*blockstorage.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.get(project, id)
	if err != nil {
		return nil, err
	}
	if !attachedTo(v, server) {
		if v.Status != blockstorage.StatusReserved || v.ReservedFor != server {
			return nil, wire.BadRequest("Invalid volume: not reserved")
		}
		if device == "" {
			device = "/dev/vdb"
		}
		v.Status, v.ReservedFor = blockstorage.StatusInUse, ""
		v.Attachments = append(v.Attachments, blockstorage.Attachment{ID: "att-" + id, ServerID: server, Device: device})
	}
	c := *v
	return &c, nil
}

func (f *fakeVolumes) Detach(ctx context.Context, project, id, server string) (*blockstorage.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.get(project, id)
	if err != nil {
		return nil, err
	}
	if v.Status == blockstorage.StatusReserved && v.ReservedFor == server {
		v.Status, v.ReservedFor = blockstorage.StatusAvailable, ""
	}
	if attachedTo(v, server) {
		v.Attachments = slices.DeleteFunc(v.Attachments, func(a blockstorage.Attachment) bool { return a.ServerID == server })
		v.Status = blockstorage.StatusAvailable
	}
	c := *v
	return &c, nil
}

func newVolumeHarness(t *testing.T) (*harness, *fakeVolumes) {
	h := newHarness(t)
	fv := newFakeVolumes()
	h.b.SetVolumes(fv)
	return h, fv
}

func TestVolumeAttachFaults(t *testing.T) {
	h, fv := newVolumeHarness(t)
	id := h.boot(tokMember, createTempest)
	other := h.boot(tokMember, createTempest)
	if r := h.do("POST", "/compute/v2.1/servers/"+other+"/os-volume_attachments", tokMember, "", attachA2); r.status != http.StatusOK {
		t.Fatalf("attach to other: %d %s", r.status, r.body)
	}
	h.cloud.CreateErr = errors.New("boom")
	failed := h.do("POST", "/compute/v2.1/servers", tokMember, "", createOSC).json(t)["server"].(map[string]any)["id"].(string)
	h.waitStatus(tokMember, failed, "ERROR")
	h.cloud.CreateErr = nil
	base := "/compute/v2.1/servers/" + id + "/os-volume_attachments"
	cases := []struct {
		name, method, path, token, version, body string
		status                                   int
		message                                  string
	}{
		{"unknown volume", "POST", base, tokMember, "", `{"volumeAttachment": {"volumeId": "` + volNone + `"}}`, 404, "Volume " + volNone + " could not be found."},
		{"volume of another project", "POST", base, tokMember, "", `{"volumeAttachment": {"volumeId": "` + volB + `"}}`, 404, "Volume " + volB + " could not be found."},
		{"volume in use elsewhere", "POST", base, tokMember, "", attachA2, 400, "Invalid volume: Volume " + volA2 + " status must be available to reserve, but the current status is: in-use."},
		{"volumeId not a uuid", "POST", base, tokMember, "", `{"volumeAttachment": {"volumeId": "nope"}}`, 400, "Invalid input for field/attribute volumeId. Value: nope. 'nope' is not a 'uuid'"},
		{"volumeId missing", "POST", base, tokMember, "", `{"volumeAttachment": {}}`, 400, "Invalid input for field/attribute volumeAttachment. Value: . 'volumeId' is a required property"},
		{"body missing", "POST", base, tokMember, "", `{}`, 400, "Invalid input for field/attribute volumeAttachment. Value: None. 'volumeAttachment' is a required property"},
		{"bad device", "POST", base, tokMember, "", `{"volumeAttachment": {"volumeId": "` + volA + `", "device": "vdb"}}`, 400, "Invalid input for field/attribute device. Value: vdb. 'vdb' does not match '(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$'"},
		{"tag before 2.49", "POST", base, tokMember, "2.48", `{"volumeAttachment": {"volumeId": "` + volA + `", "tag": "t"}}`, 400, "Invalid input for field/attribute volumeAttachment. Value: . Additional properties are not allowed ('tag' was unexpected)"},
		{"bad tag at 2.49", "POST", base, tokMember, "2.49", `{"volumeAttachment": {"volumeId": "` + volA + `", "tag": "a/b"}}`, 400, "Invalid input for field/attribute tag. Value: a/b. 'a/b' does not match '^[^,/]*$'"},
		{"delete_on_termination without volume maker", "POST", base, tokMember, "2.79", `{"volumeAttachment": {"volumeId": "` + volA + `", "delete_on_termination": true}}`, 501, "delete_on_termination is not supported by this cloud."},
		{"delete_on_termination before 2.79", "POST", base, tokMember, "2.78", `{"volumeAttachment": {"volumeId": "` + volA + `", "delete_on_termination": false}}`, 400, "Invalid input for field/attribute volumeAttachment. Value: . Additional properties are not allowed ('delete_on_termination' was unexpected)"},
		{"server in error", "POST", "/compute/v2.1/servers/" + failed + "/os-volume_attachments", tokMember, "", attachA, 409, "Cannot 'attach_volume' instance " + failed + " while it is in vm_state error"},
		{"reader", "POST", base, tokReader, "", attachA, 403, "Policy doesn't allow this operation to be performed."},
		{"other project's server", "POST", base, tokOther, "", attachA, 404, "Instance " + id + " could not be found."},
		{"show not attached", "GET", base + "/" + volA, tokMember, "", "", 404, "Instance " + id + " is not attached to volume " + volA},
		{"detach not attached", "DELETE", base + "/" + volA, tokMember, "", "", 404, "Instance " + id + " is not attached to volume " + volA},
		{"swap member", "PUT", base + "/" + volA, tokMember, "", `{"volumeAttachment": {"volumeId": "` + volA2 + `"}}`, 403, "Policy doesn't allow os_compute_api:os-volumes-attachments:swap to be performed."},
		{"swap admin", "PUT", base + "/" + volA, tokAdmin, "", `{"volumeAttachment": {"volumeId": "` + volA2 + `"}}`, 501, "Swapping volumes is not supported by this cloud."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.path, c.token, c.version, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := faultMessage(t, r); got != c.message {
				t.Errorf("message %q, want %q", got, c.message)
			}
		})
	}
	if got := fv.status(volA); got != blockstorage.StatusAvailable {
		t.Errorf("volume A is %s after refused attaches, want available", got)
	}

	t.Run("already attached here", func(t *testing.T) {
		if r := h.do("POST", base, tokMember, "", attachA); r.status != http.StatusOK {
			t.Fatalf("attach: %d %s", r.status, r.body)
		}
		r := h.do("POST", base, tokMember, "", attachA)
		if r.status != http.StatusBadRequest || faultMessage(t, r) != "Invalid volume: volume "+volA+" already attached" {
			t.Fatalf("second attach: %d %s", r.status, r.body)
		}
	})
	t.Run("locked server", func(t *testing.T) {
		h.do("POST", "/compute/v2.1/servers/"+other+"/action", tokAdmin, "", `{"lock": null}`)
		r := h.do("DELETE", "/compute/v2.1/servers/"+other+"/os-volume_attachments/"+volA2, tokMember, "", "")
		if r.status != http.StatusConflict {
			t.Fatalf("detach from locked: %d %s", r.status, r.body)
		}
	})
	t.Run("no volume service", func(t *testing.T) {
		h.b.SetVolumes(nil)
		defer h.b.SetVolumes(fv)
		r := h.do("POST", "/compute/v2.1/servers/"+other+"/os-volume_attachments", tokAdmin, "", `{"volumeAttachment": {"volumeId": "`+volNone+`"}}`)
		if r.status != http.StatusNotImplemented {
			t.Fatalf("attach without block storage: %d %s", r.status, r.body)
		}
	})
}

// faultMessage reads Nova's fault body {"<name>": {"code", "message"}}.
func faultMessage(t *testing.T, r resp) string {
	t.Helper()
	for _, v := range r.json(t) {
		if m, ok := v.(map[string]any); ok {
			s, _ := m["message"].(string)
			return s
		}
	}
	return ""
}

func TestVolumeAttachLifecycle(t *testing.T) {
	h, fv := newVolumeHarness(t)
	id := h.boot(tokMember, createTempest)
	base := "/compute/v2.1/servers/" + id + "/os-volume_attachments"

	r := h.do("POST", base, tokMember, "2.79", attachA)
	if r.status != http.StatusOK {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	want := `{"volumeAttachment":{"delete_on_termination":false,"device":"/dev/vdb","id":"` + volA + `","serverId":"` + id + `","tag":null,"volumeId":"` + volA + `"}}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Errorf("attach body\n got %s\nwant %s", got, want)
	}
	if got := fv.status(volA); got != blockstorage.StatusInUse {
		t.Errorf("volume is %s, want in-use", got)
	}
	if r := h.do("POST", base, tokMember, "", attachA2); r.status != http.StatusOK || !strings.Contains(string(r.body), `"device":"/dev/vdc"`) {
		t.Fatalf("attach with device: %d %s", r.status, r.body)
	}

	views := []struct {
		name, version, path, want string
	}{
		{"show 2.1", "2.1", "/compute/v2.1/servers/" + id, `[{"id":"` + volA + `"},{"id":"` + volA2 + `"}]`},
		{"show 2.3", "2.3", "/compute/v2.1/servers/" + id, `[{"id":"` + volA + `","delete_on_termination":false},{"id":"` + volA2 + `","delete_on_termination":false}]`},
		{"detail 2.79", "2.79", "/compute/v2.1/servers/detail", `[{"id":"` + volA + `","delete_on_termination":false},{"id":"` + volA2 + `","delete_on_termination":false}]`},
	}
	for _, c := range views {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("GET", c.path, tokMember, c.version, "")
			var body struct {
				Server  map[string]json.RawMessage   `json:"server"`
				Servers []map[string]json.RawMessage `json:"servers"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatal(err)
			}
			srv := body.Server
			if srv == nil && len(body.Servers) > 0 {
				srv = body.Servers[0]
			}
			if got := string(srv["os-extended-volumes:volumes_attached"]); got != c.want {
				t.Errorf("volumes_attached %s, want %s", got, c.want)
			}
		})
	}

	list := h.do("GET", base, tokMember, "2.1", "").json(t)["volumeAttachments"].([]any)
	if len(list) != 2 {
		t.Fatalf("list: %v", list)
	}
	if r := h.do("GET", base+"/"+volA2, tokMember, "2.70", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"tag":null`) {
		t.Fatalf("show: %d %s", r.status, r.body)
	}

	if r := h.do("DELETE", base+"/"+volA, tokMember, "", ""); r.status != http.StatusAccepted {
		t.Fatalf("detach: %d %s", r.status, r.body)
	}
	if got := fv.status(volA); got != blockstorage.StatusAvailable {
		t.Errorf("detached volume is %s, want available", got)
	}
	if r := h.do("GET", base+"/"+volA, tokMember, "", ""); r.status != http.StatusNotFound {
		t.Errorf("show detached: %d %s", r.status, r.body)
	}

	// Deleting the server detaches what is still attached.
	if r := h.do("DELETE", "/compute/v2.1/servers/"+id, tokMember, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete server: %d %s", r.status, r.body)
	}
	h.waitStatus(tokMember, id, "")
	deadline := time.Now().Add(5 * time.Second)
	for fv.status(volA2) != blockstorage.StatusAvailable {
		if time.Now().After(deadline) {
			t.Fatalf("volume of deleted server is %s, want available", fv.status(volA2))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestVolumeAttachmentsMatchTempestSchemas(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import tempest.lib.common.rest_client, jsonschema").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tempest is required in CI: %v", err)
		}
		t.Skip("tempest's Python library is not installed")
	}
	h, fv := newVolumeHarness(t)
	fv.mu.Lock()
	fv.vols[volBoot] = &blockstorage.Volume{ID: volBoot, ProjectID: projectA, Status: blockstorage.StatusAvailable, Size: 1, Bootable: true}
	fv.mu.Unlock()
	id := h.boot(tokMember, createTempest)
	bfvID := h.boot(tokMember, bfv(bootMapping(volBoot), ""))
	base := "/compute/v2.1/servers/" + id + "/os-volume_attachments"
	var checks []check
	add := func(name, schema, version, method, path, token, body string) {
		r := h.do(method, path, token, version, body)
		var decoded any
		if len(r.body) > 0 {
			if err := json.Unmarshal(r.body, &decoded); err != nil {
				t.Fatalf("%s@%s: %d %q", name, version, r.status, r.body)
			}
		}
		hdr := map[string]string{}
		for k := range r.header {
			hdr[k] = r.header.Get(k)
		}
		checks = append(checks, check{Name: name, Client: "servers_client", Cls: "ServersClient", Schema: schema, Version: version, Status: r.status, Headers: hdr, Body: decoded})
	}
	for _, v := range []string{"2.1", "2.3", "2.49", "2.70", "2.79"} {
		add("attach", "attach_volume", v, "POST", base, tokMember, attachA)
		add("attach device", "attach_volume", v, "POST", base, tokMember, attachA2)
		add("list", "list_volume_attachments", v, "GET", base, tokMember, "")
		add("show", "show_volume_attachment", v, "GET", base+"/"+volA, tokMember, "")
		add("server", "get_server", v, "GET", "/compute/v2.1/servers/"+id, tokMember, "")
		add("server admin", "get_server", v, "GET", "/compute/v2.1/servers/"+id, tokAdmin, "")
		add("detail", "list_servers_detail", v, "GET", "/compute/v2.1/servers/detail", tokMember, "")
		add("volume-backed server", "get_server", v, "GET", "/compute/v2.1/servers/"+bfvID, tokAdmin, "")
		add("detach", "detach_volume", v, "DELETE", base+"/"+volA, tokMember, "")
		add("detach device", "detach_volume", v, "DELETE", base+"/"+volA2, tokMember, "")
	}
	for _, c := range checks {
		if c.Status >= 300 {
			t.Fatalf("%s@%s answered %d: %v", c.Name, c.Version, c.Status, c.Body)
		}
	}
	dir := t.TempDir()
	data, _ := json.Marshal(checks)
	in, script := filepath.Join(dir, "checks.json"), filepath.Join(dir, "validate.py")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(validatorScript), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, script, in).CombinedOutput(); err != nil {
		t.Errorf("%d responses checked; tempest schema failures:\n%s", len(checks), out)
	}
}
