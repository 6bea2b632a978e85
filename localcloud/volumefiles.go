package localcloud

import (
	"context"

	"github.com/canopy-cloud/canopy/proxies"
)

// VolumeHost is the optional interface of a host whose servers get real
// block volumes (KVM hosts: qcow2 files attached as virtio disks). The
// pool's volume store keeps the Cinder record of every volume; a volume
// gets a file on a VolumeHost the first time it is attached to a server
// there, and from then on its bytes live on that host. Servers on other
// hosts keep the simulated volumes.
type VolumeHost interface {
	HostDriver
	// CreateVolumeFile makes volume id's file of sizeGB GiB; an existing
	// file is kept (idempotent by id).
	CreateVolumeFile(ctx context.Context, id string, sizeGB int) (string, error)
	// ResizeVolumeFile grows volume id's (detached) file to sizeGB GiB.
	ResizeVolumeFile(ctx context.Context, id string, sizeGB int) error
	// AttachVolumeFile attaches volume id to server serverID and returns
	// its device name; attaching again returns the same device.
	AttachVolumeFile(ctx context.Context, serverID, id string) (string, error)
	// DetachVolumeFile detaches volume id from serverID; nil when it is
	// not attached there.
	DetachVolumeFile(ctx context.Context, serverID, id string) error
	// DeleteVolumeFile removes volume id's file; nil when it is gone.
	DeleteVolumeFile(ctx context.Context, id string) error
}

// volumeHostOf returns the VolumeHost server serverID runs on, or false
// when the server is unknown or its host keeps simulated volumes. It is
// called before the store's lock: it waits for a server still being created.
func (s *volumeStore) volumeHostOf(op, serverID string) (VolumeHost, bool) {
	if s.pool == nil || serverID == "" {
		return nil, false
	}
	h, err := s.pool.host(op, serverID)
	if err != nil {
		return nil, false
	}
	vh, ok := h.(VolumeHost)
	return vh, ok
}

// fileHost returns the VolumeHost that holds v's file. Called with s.mu held.
func (s *volumeStore) fileHost(op, id string, v *simVolume) (VolumeHost, error) {
	h, ok := s.pool.hosts[v.fileHost]
	vh, isVH := h.(VolumeHost)
	if !ok || !isVH {
		return nil, proxies.Errorf(proxies.ErrUnavailable, op, "volume %s lives on host %s, which is no longer a volume host of this pool", id, v.fileHost)
	}
	return vh, nil
}

// attachFile makes v's file on vh (once) and attaches it to serverID.
// Called with s.mu held. A volume's bytes are not moved between hosts: a
// volume whose file is on another host is refused, naming both.
func (s *volumeStore) attachFile(ctx context.Context, op string, vh VolumeHost, id, serverID string, v *simVolume) (string, error) {
	if v.fileHost != "" && v.fileHost != vh.Name() {
		return "", proxies.Errorf(proxies.ErrConflict, op,
			"volume %s holds its data on host %s and server %s runs on host %s; the local pool does not move volumes between hosts",
			id, v.fileHost, serverID, vh.Name())
	}
	if _, err := vh.CreateVolumeFile(ctx, id, v.st.SizeGB); err != nil {
		return "", err
	}
	v.fileHost = vh.Name() // recorded before the attach so a delete removes it
	return vh.AttachVolumeFile(ctx, serverID, id)
}

// detachFile detaches v's file from the server it is attached to, when
// that server runs on the file's host. Called with s.mu held.
func (s *volumeStore) detachFile(ctx context.Context, op, id string, v *simVolume, serverHost VolumeHost, onHost bool) error {
	if v.fileHost == "" || !onHost || serverHost.Name() != v.fileHost {
		return nil // simulated, or the server is gone
	}
	return serverHost.DetachVolumeFile(ctx, v.st.AttachedTo, id)
}

// refuseFileCopy refuses to copy a volume whose bytes are real: the local
// pool makes no snapshots or clones of volume files yet, and a simulated
// copy of real data would be a pretence.
func refuseFileCopy(op, id string, v *simVolume) error {
	if v.fileHost == "" {
		return nil
	}
	return proxies.Errorf(proxies.ErrNotSupported, op,
		"volume %s holds real data on KVM host %s; the local pool cannot snapshot or clone volume files yet", id, v.fileHost)
}
