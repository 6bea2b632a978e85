package localcloud

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// VolumeCapacityGB is how much block storage the local pool offers (10 TB),
// shared by all of its availability zones.
const VolumeCapacityGB = 10 * 1024

// Simulated volumes settle lazily: each record keeps the time its current
// transition ends, and every read applies the transitions that are due. So
// the pool's volumes need no goroutine and nothing to stop in Close.

// volumeStores holds each pool's volumes. It lives beside the Pool (rather
// than in it) so that volumes were added without touching pool.go's struct.
var volumeStores sync.Map // *Pool → *volumeStore

// Volumes is the pool's volume driver (proxies.VolumeBackend).
func (p *Pool) Volumes() proxies.VolumeDriver {
	if s, ok := volumeStores.Load(p); ok {
		return s.(*volumeStore)
	}
	s, _ := volumeStores.LoadOrStore(p, newVolumeStore(p))
	return s.(*volumeStore)
}

var _ proxies.VolumeBackend = (*Pool)(nil)

type simVolume struct {
	st     proxies.VolumeStatus
	zone   string
	dueAt  time.Time           // when the current transition ends
	next   proxies.VolumeState // the state it ends in ("" for gone)
	nextGB int
	snaps  map[string]bool
	// fileHost is the KVM host that holds the volume's file, made when the
	// volume is first attached to a server there ("" while simulated).
	fileHost string
}

type simSnapshot struct {
	st    proxies.SnapshotStatus
	dueAt time.Time
}

type volumeStore struct {
	pool                     *Pool
	zones                    map[string]bool
	defaultZone              string
	createDelay, extendDelay time.Duration
	deleteDelay              time.Duration
	now                      func() time.Time

	mu      sync.Mutex
	vols    map[string]*simVolume
	snaps   map[string]*simSnapshot
	usedGB  int
	devices map[string]map[string]string // server → device → volume
}

func newVolumeStore(p *Pool) *volumeStore {
	s := &volumeStore{pool: p, zones: map[string]bool{}, now: time.Now,
		vols: map[string]*simVolume{}, snaps: map[string]*simSnapshot{}, devices: map[string]map[string]string{}}
	for _, h := range p.order {
		if sh, ok := h.(*SimulatedHost); ok {
			if s.defaultZone == "" {
				s.defaultZone = sh.zone
				// The pace of volumes follows the pool's BuildDelay, with the
				// same fractions ApplyBuildDelay gives the server operations.
				s.createDelay, s.extendDelay, s.deleteDelay = sh.build*2/5, sh.build*2/5, sh.build/5
			}
			s.zones[sh.zone] = true
		}
	}
	if s.defaultZone == "" {
		s.defaultZone = DefaultAvailabilityZone
		s.zones[s.defaultZone] = true
	}
	return s
}

// settle applies v's due transition. Called with s.mu held; it reports false
// when the volume is gone.
func (s *volumeStore) settle(id string, v *simVolume) bool {
	if v.next == v.st.State || v.dueAt.After(s.now()) {
		return true
	}
	switch v.next {
	case "":
		delete(s.vols, id)
		s.usedGB -= v.st.SizeGB
		return false
	case proxies.VolumeAvailable:
		if v.nextGB > 0 {
			v.st.SizeGB = v.nextGB
			v.nextGB = 0
		}
	}
	v.st.State = v.next
	return true
}

func (s *volumeStore) get(op, id string) (*simVolume, error) {
	v, ok := s.vols[id]
	if !ok || !s.settle(id, v) {
		return nil, proxies.Errorf(proxies.ErrNotFound, op, "volume %s not found", id)
	}
	return v, nil
}

func (s *volumeStore) transition(v *simVolume, now, next proxies.VolumeState, d time.Duration) {
	v.st.State, v.next, v.dueAt = now, next, s.now().Add(d)
}

func (s *volumeStore) CreateVolume(ctx context.Context, spec proxies.VolumeSpec) (proxies.VolumeStatus, error) {
	const op = "CreateVolume"
	if err := ctx.Err(); err != nil {
		return proxies.VolumeStatus{}, err
	}
	if spec.ID == "" || spec.SizeGB <= 0 {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a volume needs an id and a size of at least 1 GB")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[spec.ID]; ok && s.settle(spec.ID, v) {
		return v.st, nil // a retried create finds the volume it made
	}
	zone := spec.AvailabilityZone
	if zone == "" {
		zone = s.defaultZone
	}
	if !s.zones[zone] {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "availability zone %q is not in this pool", zone)
	}
	switch {
	case spec.SnapshotID != "":
		sn, ok := s.snaps[spec.SnapshotID]
		if !ok {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrNotFound, op, "snapshot %s not found", spec.SnapshotID)
		}
		if spec.SizeGB < sn.st.SizeGB {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume size %d is smaller than snapshot size %d", spec.SizeGB, sn.st.SizeGB)
		}
	case spec.SourceVolumeID != "":
		src, err := s.get(op, spec.SourceVolumeID)
		if err != nil {
			return proxies.VolumeStatus{}, err
		}
		if spec.SizeGB < src.st.SizeGB {
			return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "volume size %d is smaller than source volume size %d", spec.SizeGB, src.st.SizeGB)
		}
		if err := refuseFileCopy(op, spec.SourceVolumeID, src); err != nil {
			return proxies.VolumeStatus{}, err
		}
	}
	if s.usedGB+spec.SizeGB > VolumeCapacityGB {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrCapacity, op, "the local pool has %d GB of block storage free", VolumeCapacityGB-s.usedGB)
	}
	v := &simVolume{zone: zone, snaps: map[string]bool{}, st: proxies.VolumeStatus{
		ID: spec.ID, BottomID: "localvol-" + spec.ID, SizeGB: spec.SizeGB, CreatedAt: s.now().UTC(),
	}}
	s.transition(v, proxies.VolumeCreating, proxies.VolumeAvailable, s.createDelay)
	s.vols[spec.ID] = v
	s.usedGB += spec.SizeGB
	s.settle(spec.ID, v)
	return v.st, nil
}

func (s *volumeStore) GetVolume(ctx context.Context, id string) (proxies.VolumeStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.get("GetVolume", id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	return v.st, nil
}

func (s *volumeStore) DeleteVolume(ctx context.Context, id string) error {
	const op = "DeleteVolume"
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.get(op, id)
	if err != nil {
		return nil // already gone: delete is idempotent
	}
	switch {
	case v.st.State == proxies.VolumeDeleting:
		return nil
	case v.st.AttachedTo != "":
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is attached to server %s", id, v.st.AttachedTo)
	case len(v.snaps) > 0:
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s has %d snapshots", id, len(v.snaps))
	case v.st.State == proxies.VolumeCreating || v.st.State == proxies.VolumeExtending:
		return proxies.Errorf(proxies.ErrConflict, op, "volume %s is %s", id, v.st.State)
	}
	if v.fileHost != "" {
		vh, err := s.fileHost(op, id, v)
		if err != nil {
			return err
		}
		if err := vh.DeleteVolumeFile(ctx, id); err != nil {
			return err
		}
		v.fileHost = ""
	}
	s.transition(v, proxies.VolumeDeleting, "", s.deleteDelay)
	s.settle(id, v)
	return nil
}

func (s *volumeStore) ExtendVolume(ctx context.Context, id string, newSizeGB int) (proxies.VolumeStatus, error) {
	const op = "ExtendVolume"
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.get(op, id)
	if err != nil {
		return proxies.VolumeStatus{}, err
	}
	if v.st.State == proxies.VolumeExtending && v.nextGB == newSizeGB {
		return v.st, nil // the same extend, retried
	}
	if v.st.State != proxies.VolumeAvailable {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is %s, not available", id, v.st.State)
	}
	if newSizeGB == v.st.SizeGB {
		return v.st, nil
	}
	if newSizeGB < v.st.SizeGB {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "new size %d is smaller than the current size %d", newSizeGB, v.st.SizeGB)
	}
	grow := newSizeGB - v.st.SizeGB
	if s.usedGB+grow > VolumeCapacityGB {
		return proxies.VolumeStatus{}, proxies.Errorf(proxies.ErrCapacity, op, "the local pool has %d GB of block storage free", VolumeCapacityGB-s.usedGB)
	}
	if v.fileHost != "" {
		// Available, so detached: the file is grown before the record.
		vh, err := s.fileHost(op, id, v)
		if err != nil {
			return proxies.VolumeStatus{}, err
		}
		if err := vh.ResizeVolumeFile(ctx, id, newSizeGB); err != nil {
			return proxies.VolumeStatus{}, err
		}
	}
	s.usedGB += grow
	v.nextGB = newSizeGB
	s.transition(v, proxies.VolumeExtending, proxies.VolumeAvailable, s.extendDelay)
	s.settle(id, v)
	return v.st, nil
}

func (s *volumeStore) CreateSnapshot(ctx context.Context, spec proxies.SnapshotSpec) (proxies.SnapshotStatus, error) {
	const op = "CreateSnapshot"
	s.mu.Lock()
	defer s.mu.Unlock()
	if sn, ok := s.snaps[spec.ID]; ok {
		return s.snapState(sn), nil
	}
	v, err := s.get(op, spec.VolumeID)
	if err != nil {
		return proxies.SnapshotStatus{}, err
	}
	switch {
	case v.st.State == proxies.VolumeAvailable:
	case v.st.State == proxies.VolumeInUse && spec.Force:
	default:
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrConflict, op, "volume %s is %s; a snapshot needs it available (or force when in-use)", spec.VolumeID, v.st.State)
	}
	if err := refuseFileCopy(op, spec.VolumeID, v); err != nil {
		return proxies.SnapshotStatus{}, err
	}
	sn := &simSnapshot{dueAt: s.now().Add(s.createDelay), st: proxies.SnapshotStatus{
		ID: spec.ID, BottomID: "localsnap-" + spec.ID, VolumeID: spec.VolumeID, SizeGB: v.st.SizeGB,
	}}
	s.snaps[spec.ID] = sn
	v.snaps[spec.ID] = true
	return s.snapState(sn), nil
}

func (s *volumeStore) snapState(sn *simSnapshot) proxies.SnapshotStatus {
	st := sn.st
	st.State = proxies.VolumeAvailable
	if sn.dueAt.After(s.now()) {
		st.State = proxies.VolumeCreating
	}
	return st
}

func (s *volumeStore) GetSnapshot(ctx context.Context, id string) (proxies.SnapshotStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.snaps[id]
	if !ok {
		return proxies.SnapshotStatus{}, proxies.Errorf(proxies.ErrNotFound, "GetSnapshot", "snapshot %s not found", id)
	}
	return s.snapState(sn), nil
}

func (s *volumeStore) DeleteSnapshot(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.snaps[id]
	if !ok {
		return nil
	}
	delete(s.snaps, id)
	if v, ok := s.vols[sn.st.VolumeID]; ok {
		delete(v.snaps, id)
	}
	return nil
}

func (s *volumeStore) AttachVolume(ctx context.Context, volumeID, serverID string) (string, error) {
	const op = "AttachVolume"
	vh, onVolumeHost := s.volumeHostOf(op, serverID)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.get(op, volumeID)
	if err != nil {
		return "", err
	}
	if v.st.AttachedTo == serverID && serverID != "" {
		return v.st.Device, nil
	}
	if v.st.State != proxies.VolumeAvailable {
		return "", proxies.Errorf(proxies.ErrConflict, op, "volume %s is %s, not available", volumeID, v.st.State)
	}
	used := s.devices[serverID]
	if used == nil {
		used = map[string]string{}
		s.devices[serverID] = used
	}
	dev := ""
	if onVolumeHost {
		// The KVM host names the device: it knows the domain's disks.
		if dev, err = s.attachFile(ctx, op, vh, volumeID, serverID, v); err != nil {
			if len(used) == 0 {
				delete(s.devices, serverID)
			}
			return "", err
		}
	}
	for c := 'b'; c <= 'z' && dev == ""; c++ {
		if d := fmt.Sprintf("/dev/vd%c", c); used[d] == "" {
			dev = d
		}
	}
	if dev == "" {
		return "", proxies.Errorf(proxies.ErrCapacity, op, "server %s has no free device name", serverID)
	}
	used[dev] = volumeID
	v.st.AttachedTo, v.st.Device, v.st.State = serverID, dev, proxies.VolumeInUse
	v.next = proxies.VolumeInUse
	return dev, nil
}

func (s *volumeStore) DetachVolume(ctx context.Context, volumeID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	const op = "DetachVolume"
	v, err := s.get(op, volumeID)
	if err != nil || v.st.AttachedTo == "" {
		return nil
	}
	if v.fileHost != "" {
		vh, onHost := s.volumeHostOf(op, v.st.AttachedTo)
		if err := s.detachFile(ctx, op, volumeID, v, vh, onHost); err != nil {
			return err
		}
	}
	if used := s.devices[v.st.AttachedTo]; used != nil {
		delete(used, v.st.Device)
		if len(used) == 0 {
			delete(s.devices, v.st.AttachedTo)
		}
	}
	v.st.AttachedTo, v.st.Device, v.st.State, v.next = "", "", proxies.VolumeAvailable, proxies.VolumeAvailable
	return nil
}
