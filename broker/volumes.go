package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/blockstorage"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// Volumes is what the broker needs of the block-storage service to attach
// volumes to servers (Nova's os-volume_attachments). gateway/blockstorage
// implements it; the three calls are idempotent and their faults are
// Cinder's, which Nova passes on. A broker without it answers 501.
type Volumes interface {
	// ReserveAttach reserves an available volume of projectID for serverID.
	ReserveAttach(ctx context.Context, projectID, volumeID, serverID string) (*blockstorage.Volume, error)
	// CompleteAttach attaches a reserved volume at its backend (device ""
	// lets the backend choose) and marks it in-use.
	CompleteAttach(ctx context.Context, projectID, volumeID, serverID, device string) (*blockstorage.Volume, error)
	// Detach detaches the volume from serverID (or drops a reservation).
	Detach(ctx context.Context, projectID, volumeID, serverID string) (*blockstorage.Volume, error)
}

// VolumeReader is the optional part of Volumes that reads a volume without
// changing it, so that an attach the server's cloud cannot honour is
// refused before anything is reserved. gateway/blockstorage implements it;
// without it the same check runs on the reserved volume, which is then
// given back.
type VolumeReader interface {
	// Volume reads a volume of projectID (Cinder's 404 when it has none).
	Volume(ctx context.Context, projectID, volumeID string) (*blockstorage.Volume, error)
}

// KindServerVolumes is the registry kind of a server's volume attachments:
// one record per server (same project and id as the server), changed only
// with compare-and-set.
const KindServerVolumes registry.Kind = "servervolumes"

// VolumeAttachment is one volume attached to a server, as Nova's block
// device mapping keeps it.
type VolumeAttachment struct {
	VolumeID            string `json:"volume_id"`
	Device              string `json:"device"`
	Tag                 string `json:"tag,omitempty"`
	DeleteOnTermination bool   `json:"delete_on_termination"`
	// Created is whether the server's block device mapping made the
	// volume (image, snapshot or blank source).
	Created bool `json:"created,omitempty"`
}

// ServerVolumes is the record of a server's attached volumes.
type ServerVolumes struct {
	ServerID    string             `json:"server_id"`
	Attachments []VolumeAttachment `json:"attachments"`
}

// AttachVolumeRequest is a validated POST os-volume_attachments.
type AttachVolumeRequest struct {
	VolumeID string
	// Device is the requested device name; "" lets the backend choose.
	Device string
	// Tag is the device tag (2.49).
	Tag string
	// DeleteOnTermination deletes the volume with the server (2.79).
	DeleteOnTermination bool
}

// SetVolumes gives the broker the block-storage service, which enables
// volume attach and detach.
func (b *Broker) SetVolumes(v Volumes) { b.volumes = v }

func (b *Broker) serverVolumes() *registry.Collection[ServerVolumes] {
	return registry.NewCollection[ServerVolumes](b.reg, KindServerVolumes, nil)
}

func (b *Broker) volumeService(op string) (Volumes, error) {
	if b.volumes == nil {
		return nil, proxies.Errorf(proxies.ErrNotSupported, op, "Volume attach is not available in this cloud.")
	}
	return b.volumes, nil
}

// attachments reads a server's attachments (none when it has no record).
func (b *Broker) attachments(ctx context.Context, s *registry.Server) ([]VolumeAttachment, error) {
	rec, err := b.serverVolumes().Get(ctx, s.ProjectID, s.ID)
	if errors.Is(err, registry.ErrNotFound) {
		return []VolumeAttachment{}, nil
	}
	if err != nil {
		return nil, err
	}
	return rec.Attachments, nil
}

// updateAttachments applies fn to a server's attachment list atomically,
// creating the record on first use.
func (b *Broker) updateAttachments(ctx context.Context, s *registry.Server, fn func([]VolumeAttachment) []VolumeAttachment) error {
	col := b.serverVolumes()
	for range 3 {
		_, err := col.Update(ctx, s.ProjectID, s.ID, func(rec *ServerVolumes) error {
			rec.Attachments = fn(slices.Clone(rec.Attachments))
			return nil
		})
		if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		rec := &ServerVolumes{ServerID: s.ID, Attachments: fn(nil)}
		err = col.Create(ctx, s.ProjectID, s.ID, b.opts.Now(), rec)
		if !errors.Is(err, registry.ErrConflict) && !errors.Is(err, registry.ErrExists) {
			return err
		}
	}
	return registry.ErrConflict
}

// ServerAttachments returns the attached volumes of servers by server id,
// for the server views (one registry round trip per project).
func (b *Broker) ServerAttachments(ctx context.Context, servers []*registry.Server) (map[string][]VolumeAttachment, error) {
	byProject := map[string][]string{}
	for _, s := range servers {
		byProject[s.ProjectID] = append(byProject[s.ProjectID], s.ID)
	}
	out := map[string][]VolumeAttachment{}
	col := b.serverVolumes()
	for project, ids := range byProject {
		recs, err := col.GetMany(ctx, project, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out[r.ServerID] = r.Attachments
		}
	}
	return out, nil
}

// ListVolumeAttachments returns a server's attached volumes.
func (b *Broker) ListVolumeAttachments(ctx context.Context, c Caller, id string) ([]VolumeAttachment, error) {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return b.attachments(ctx, s)
}

// GetVolumeAttachment returns one attached volume of a server.
func (b *Broker) GetVolumeAttachment(ctx context.Context, c Caller, id, volumeID string) (VolumeAttachment, error) {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return VolumeAttachment{}, err
	}
	list, err := b.attachments(ctx, s)
	if err != nil {
		return VolumeAttachment{}, err
	}
	i := slices.IndexFunc(list, func(a VolumeAttachment) bool { return a.VolumeID == volumeID })
	if i < 0 {
		return VolumeAttachment{}, notAttached("GetVolumeAttachment", id, volumeID)
	}
	return list[i], nil
}

func notAttached(op, serverID, volumeID string) error {
	return notFound(op, "Instance %s is not attached to volume %s", serverID, volumeID)
}

// AttachVolume attaches a volume of the server's project to a server:
// reserve, attach at the backend, then record; a failed record gives the
// volume back. A volume already attached to this server is Nova's 400.
func (b *Broker) AttachVolume(ctx context.Context, c Caller, id string, req AttachVolumeRequest) (VolumeAttachment, error) {
	const op = "attach_volume"
	s, err := b.checkActionable(ctx, c, id, op)
	if err != nil {
		return VolumeAttachment{}, err
	}
	if s.VMState != "active" && s.VMState != "stopped" {
		return VolumeAttachment{}, stateConflict(op, op, id, s.VMState)
	}
	vs, err := b.volumeService(op)
	if err != nil {
		return VolumeAttachment{}, err
	}
	if _, ok := vs.(VolumeMaker); req.DeleteOnTermination && !ok {
		return VolumeAttachment{}, proxies.Errorf(proxies.ErrNotSupported, op, "delete_on_termination is not supported by this cloud.")
	}
	list, err := b.attachments(ctx, s)
	if err != nil {
		return VolumeAttachment{}, err
	}
	if slices.ContainsFunc(list, func(a VolumeAttachment) bool { return a.VolumeID == req.VolumeID }) {
		return VolumeAttachment{}, invalid(op, "Invalid volume: volume %s already attached", req.VolumeID)
	}
	if vr, ok := vs.(VolumeReader); ok {
		v, err := vr.Volume(ctx, s.ProjectID, req.VolumeID)
		if err != nil {
			return VolumeAttachment{}, err
		}
		if err := attachCloudMismatch(op, s, v); err != nil {
			return VolumeAttachment{}, err
		}
	}
	reserved, err := vs.ReserveAttach(ctx, s.ProjectID, req.VolumeID, id)
	if err != nil {
		return VolumeAttachment{}, err
	}
	if err := attachCloudMismatch(op, s, reserved); err != nil {
		b.giveBack(ctx, vs, s, req.VolumeID)
		return VolumeAttachment{}, err
	}
	vol, err := vs.CompleteAttach(ctx, s.ProjectID, req.VolumeID, id, req.Device)
	if err != nil {
		b.giveBack(ctx, vs, s, req.VolumeID)
		return VolumeAttachment{}, err
	}
	att := VolumeAttachment{VolumeID: req.VolumeID, Device: req.Device, Tag: req.Tag, DeleteOnTermination: req.DeleteOnTermination}
	for _, a := range vol.Attachments {
		if a.ServerID == id {
			att.Device = a.Device
		}
	}
	err = b.updateAttachments(ctx, s, func(cur []VolumeAttachment) []VolumeAttachment {
		cur = slices.DeleteFunc(cur, func(a VolumeAttachment) bool { return a.VolumeID == att.VolumeID })
		return append(cur, att)
	})
	if err == nil {
		// The server may be going away meanwhile: its delete may have
		// read the attachments before this one was recorded.
		cur, gerr := b.servers.Get(ctx, s.ProjectID, id)
		if errors.Is(gerr, registry.ErrNotFound) || (gerr == nil && cur.TaskState == "deleting") {
			err = instanceNotFound(op, id)
		}
	}
	if err != nil {
		b.giveBack(ctx, vs, s, req.VolumeID)
		_ = b.updateAttachments(context.WithoutCancel(ctx), s, func(cur []VolumeAttachment) []VolumeAttachment {
			return slices.DeleteFunc(cur, func(a VolumeAttachment) bool { return a.VolumeID == att.VolumeID })
		})
		return VolumeAttachment{}, err
	}
	ref := b.logAction(ctx, c, s, "attach_volume")
	b.finishAction(context.WithoutCancel(ctx), ref, false)
	return att, nil
}

// otherCloud reports whether volume v is held by another cloud than server
// s's. A volume is attached by its own cloud's driver, which can only reach
// servers of that cloud. An unknown placement on either side is left to
// the attach itself, which fails without one.
func otherCloud(s *registry.Server, v *blockstorage.Volume) bool {
	return v != nil && v.Routing.Cloud != "" && s.Routing.Cloud != "" && v.Routing.Cloud != s.Routing.Cloud
}

// attachCloudMismatch is Nova's answer (with [cinder]cross_az_attach =
// False) to attaching a volume of another cloud: 400 InvalidVolume.
func attachCloudMismatch(op string, s *registry.Server, v *blockstorage.Volume) error {
	if !otherCloud(s, v) {
		return nil
	}
	serverZone, volumeZone := zonesOf(s, v)
	return invalid(op, "Invalid volume: Instance %s and volume %s are not in the same availability_zone. Instance is in %s. Volume is in %s",
		s.ID, v.ID, serverZone, volumeZone)
}

// zonesOf names the zones of a server and a volume of different clouds, by
// cloud as well when two clouds use the same zone name.
func zonesOf(s *registry.Server, v *blockstorage.Volume) (string, string) {
	if s.AvailabilityZone == v.AvailabilityZone {
		return s.AvailabilityZone + " (cloud " + s.Routing.Cloud + ")", v.AvailabilityZone + " (cloud " + v.Routing.Cloud + ")"
	}
	return s.AvailabilityZone, v.AvailabilityZone
}

// giveBack detaches (or unreserves) a volume after a failed attach.
func (b *Broker) giveBack(ctx context.Context, vs Volumes, s *registry.Server, volumeID string) {
	if _, err := vs.Detach(context.WithoutCancel(ctx), s.ProjectID, volumeID, s.ID); err != nil {
		b.log.Error("give back volume after failed attach", "server", s.ID, "volume", volumeID, "err", err)
	}
}

// DetachVolume detaches a volume from a server (DELETE
// os-volume_attachments): the volume first, then the record.
func (b *Broker) DetachVolume(ctx context.Context, c Caller, id, volumeID string) error {
	const op = "detach_volume"
	s, err := b.checkActionable(ctx, c, id, op)
	if err != nil {
		return err
	}
	if s.VMState != "active" && s.VMState != "stopped" && s.VMState != "error" {
		return stateConflict(op, op, id, s.VMState)
	}
	vs, err := b.volumeService(op)
	if err != nil {
		return err
	}
	list, err := b.attachments(ctx, s)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(list, func(a VolumeAttachment) bool { return a.VolumeID == volumeID })
	if i < 0 {
		return notAttached(op, id, volumeID)
	}
	if s.ImageID == "" && list[i].Device == rootDevice {
		return invalid(op, "Cannot detach a root device volume")
	}
	if _, err := vs.Detach(ctx, s.ProjectID, volumeID, id); err != nil {
		return err
	}
	if err := b.updateAttachments(ctx, s, func(cur []VolumeAttachment) []VolumeAttachment {
		return slices.DeleteFunc(cur, func(a VolumeAttachment) bool { return a.VolumeID == volumeID })
	}); err != nil {
		return err
	}
	ref := b.logAction(ctx, c, s, "detach_volume")
	b.finishAction(context.WithoutCancel(ctx), ref, false)
	return nil
}

// releaseVolumes detaches every volume of a server that is going away and
// drops its attachment record. Idempotent; errors are logged, as the
// server's other releases are.
func (b *Broker) releaseVolumes(ctx context.Context, s *registry.Server) {
	list, err := b.attachments(ctx, s)
	if err != nil {
		b.log.Error("read volume attachments", "server", s.ID, "err", err)
		return
	}
	if len(list) > 0 && b.volumes == nil {
		b.log.Error("server has volumes but no volume service", "server", s.ID)
		return
	}
	failed := false
	for _, a := range list {
		if _, err := b.volumes.Detach(ctx, s.ProjectID, a.VolumeID, s.ID); err != nil {
			b.log.Error("detach volume of deleted server", "server", s.ID, "volume", a.VolumeID, "err", err)
			failed = true
		}
	}
	if failed {
		return
	}
	b.deleteMadeVolumes(ctx, s, list)
	if err := b.serverVolumes().Delete(ctx, s.ProjectID, s.ID); err != nil && !errors.Is(err, registry.ErrNotFound) {
		b.log.Error("drop volume attachments", "server", s.ID, "err", err)
	}
}

var _ VolumeReader = (*blockstorage.Service)(nil)
