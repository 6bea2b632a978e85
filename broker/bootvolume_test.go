package broker_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/proxies"
)

const (
	volExisting = "5a1e0c4d-0000-4000-8000-0000000000e1"
	snapMissing = "5a1e0c4d-0000-4000-8000-0000000000f1"
)

// fakeCinder is block storage for the broker: volumes in a map, the attach
// state machine reduced to statuses, and a call log.
type fakeCinder struct {
	mu    sync.Mutex
	vols  map[string]*blockstorage.Volume
	calls []string
}

func newFakeCinder() *fakeCinder {
	return &fakeCinder{vols: map[string]*blockstorage.Volume{
		volExisting: {ID: volExisting, ProjectID: projectA, Status: blockstorage.StatusAvailable, Size: 1},
	}}
}

var (
	_ broker.Volumes     = (*fakeCinder)(nil)
	_ broker.VolumeMaker = (*fakeCinder)(nil)
)

func (f *fakeCinder) log(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeCinder) get(id string) (*blockstorage.Volume, error) {
	v, ok := f.vols[id]
	if !ok {
		return nil, wire.NotFound("Volume %s could not be found.", id)
	}
	return v, nil
}

func (f *fakeCinder) ReserveAttach(ctx context.Context, project, id, server string) (*blockstorage.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("reserve %s", id)
	v, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if v.Status != blockstorage.StatusAvailable {
		return nil, wire.BadRequest("volume %s is %s", id, v.Status)
	}
	v.Status = blockstorage.StatusReserved
	c := *v
	return &c, nil
}

func (f *fakeCinder) CompleteAttach(ctx context.Context, project, id, server, device string) (*blockstorage.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("attach %s %s", id, device)
	v, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if device == "" {
		device = "/dev/vdx"
	}
	v.Status = blockstorage.StatusInUse
	v.Attachments = []blockstorage.Attachment{{ServerID: server, Device: device}}
	c := *v
	return &c, nil
}

func (f *fakeCinder) Detach(ctx context.Context, project, id, server string) (*blockstorage.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("detach %s", id)
	v, err := f.get(id)
	if err != nil {
		return nil, err
	}
	v.Status, v.Attachments = blockstorage.StatusAvailable, nil
	c := *v
	return &c, nil
}

func (f *fakeCinder) CreateServerVolume(ctx context.Context, spec blockstorage.ServerVolumeSpec) (*blockstorage.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("create %s", spec.ID)
	if v, ok := f.vols[spec.ID]; ok {
		c := *v
		return &c, nil
	}
	if spec.SnapshotID == snapMissing {
		return nil, wire.NotFound("Snapshot %s could not be found.", spec.SnapshotID)
	}
	v := &blockstorage.Volume{ID: spec.ID, ProjectID: spec.ProjectID, Status: blockstorage.StatusAvailable, Size: spec.SizeGB}
	if spec.ImageID != "" {
		v.Bootable, v.ImageMetadata = true, map[string]string{"image_id": spec.ImageID}
	}
	f.vols[spec.ID] = v
	c := *v
	return &c, nil
}

func (f *fakeCinder) DeleteServerVolume(ctx context.Context, project, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("delete %s", id)
	delete(f.vols, id)
	return nil
}

func (f *fakeCinder) snapshot() (map[string]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := map[string]string{}
	for id, v := range f.vols {
		st[id] = v.Status
	}
	return st, slices.Clone(f.calls)
}

func imageRoot(size int, dot bool) broker.BlockDevice {
	return broker.BlockDevice{Source: broker.SourceImage, Destination: broker.DestinationVolume, UUID: imageID,
		BootIndex: 0, SizeGB: size, DeleteOnTermination: dot}
}

func bdmCreate(devs ...broker.BlockDevice) func(*broker.CreateRequest) {
	return func(r *broker.CreateRequest) {
		r.ImageID = ""
		r.BootVolume = &broker.BootVolume{Devices: devs}
	}
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestBlockDevicesAttachInBootOrder: volumes are made and attached root
// first, then by boot index, then the unbootable ones; made volumes get
// stable name-based ids (a retried create finds them).
func TestBlockDevicesAttachInBootOrder(t *testing.T) {
	ids := map[string]bool{}
	for range 2 {
		e := newEnv(t, nil)
		fc := newFakeCinder()
		e.b.SetVolumes(fc)
		blank := broker.BlockDevice{Source: broker.SourceBlank, Destination: broker.DestinationVolume, BootIndex: -1, SizeGB: 1}
		existing := broker.BlockDevice{Source: broker.SourceVolume, Destination: broker.DestinationVolume, UUID: volExisting, BootIndex: 1}
		servers, err := e.create(t, func(r *broker.CreateRequest) {
			bdmCreate(blank, existing, imageRoot(1, true))(r)
			r.IDs = []string{"8f1c2b7e-0000-4000-8000-000000000001"}
		})
		if err != nil {
			t.Fatal(err)
		}
		atts, err := e.b.ListVolumeAttachments(context.Background(), e.callerA, servers[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(atts) != 3 || atts[0].Device != "/dev/vda" || atts[1].VolumeID != volExisting || !atts[0].DeleteOnTermination || atts[2].DeleteOnTermination {
			t.Fatalf("attachments %+v, want root, existing, blank", atts)
		}
		for _, a := range []broker.VolumeAttachment{atts[0], atts[2]} {
			if !uuidShape.MatchString(a.VolumeID) {
				t.Errorf("made volume id %q is not a name-based UUID", a.VolumeID)
			}
			ids[a.VolumeID] = true
		}
		_, calls := fc.snapshot()
		var reserves []string
		for _, c := range calls {
			if strings.HasPrefix(c, "reserve ") {
				reserves = append(reserves, strings.TrimPrefix(c, "reserve "))
			}
		}
		if want := []string{atts[0].VolumeID, volExisting, atts[2].VolumeID}; !slices.Equal(reserves, want) {
			t.Errorf("reserve order %v, want %v", reserves, want)
		}
	}
	if len(ids) != 2 {
		t.Errorf("made volume ids differ between two creates of the same server: %v", ids)
	}
}

// TestBlockDeviceFailureUndoesEverything: a mapping that fails after other
// volumes were made and attached detaches and deletes what it made, gives
// the existing volume back and leaves no server, attachment or quota.
func TestBlockDeviceFailureUndoesEverything(t *testing.T) {
	e := newEnv(t, nil)
	fc := newFakeCinder()
	e.b.SetVolumes(fc)
	existing := broker.BlockDevice{Source: broker.SourceVolume, Destination: broker.DestinationVolume, UUID: volExisting, BootIndex: 1}
	missing := broker.BlockDevice{Source: broker.SourceSnapshot, Destination: broker.DestinationVolume, UUID: snapMissing, BootIndex: 2}
	_, err := e.create(t, bdmCreate(imageRoot(1, false), existing, missing))
	if err == nil || !strings.Contains(err.Error(), "failed to get snapshot "+snapMissing) {
		t.Fatalf("err %v, want the missing snapshot", err)
	}
	st, calls := fc.snapshot()
	if len(st) != 1 || st[volExisting] != blockstorage.StatusAvailable {
		t.Errorf("volumes after the failure %v (calls %v), want only the existing one, available", st, calls)
	}
	// The quota of the refused server is back: three more fit (quota 3).
	for range 3 {
		if _, err := e.create(t, nil); err != nil {
			t.Fatalf("create after the failure: %v", err)
		}
	}
}

// TestBlockDeviceChecks: existing volumes cannot go to several servers;
// made volumes can; local disks are refused by the flavor or as not
// supported; without a volume maker, mappings that make volumes are 501.
func TestBlockDeviceChecks(t *testing.T) {
	e := newEnv(t, nil)
	fc := newFakeCinder()
	e.b.SetVolumes(fc)
	existing := broker.BlockDevice{Source: broker.SourceVolume, Destination: broker.DestinationVolume, UUID: volExisting, BootIndex: 0}
	_, err := e.create(t, func(r *broker.CreateRequest) { bdmCreate(existing)(r); r.MinCount, r.MaxCount = 2, 2 })
	if err == nil || !strings.Contains(err.Error(), "Cannot attach one or more volumes to multiple instances") {
		t.Errorf("existing volume on two servers: %v", err)
	}
	servers, err := e.create(t, func(r *broker.CreateRequest) { bdmCreate(imageRoot(1, true))(r); r.MinCount, r.MaxCount = 2, 2 })
	if err != nil || len(servers) != 2 {
		t.Fatalf("image volumes for two servers: %v", err)
	}
	swap := broker.BlockDevice{Source: broker.SourceBlank, Destination: broker.DestinationLocal, GuestFormat: "swap", BootIndex: -1, SizeGB: 1}
	_, err = e.create(t, func(r *broker.CreateRequest) { r.BootVolume = &broker.BootVolume{Devices: []broker.BlockDevice{swap}} })
	if err == nil || !strings.Contains(err.Error(), "Swap drive requested is larger than instance type allows.") {
		t.Errorf("swap on a flavor without swap: %v", err)
	}

	plain := newEnv(t, nil)
	plain.b.SetVolumes(volumesOnly{fc})
	_, err = plain.create(t, bdmCreate(imageRoot(1, false)))
	if !errors.Is(err, proxies.ErrNotSupported) {
		t.Errorf("image volume without a volume maker: %v, want not supported", err)
	}
}

// volumesOnly hides the fake's VolumeMaker.
type volumesOnly struct{ broker.Volumes }
