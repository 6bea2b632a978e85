package blockstorage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// unsupportedActions exist in Cinder but not here: they answer 501 rather
// than pretending. os-attach and friends are Nova's internal calls, served
// by ReserveAttach, CompleteAttach and Detach instead.
var unsupportedActions = map[string]bool{
	"os-retype": true, "os-reset_status": true, "os-force_delete": true,
	"os-migrate_volume": true, "os-migrate_volume_completion": true, "os-attach": true, "os-detach": true,
	"os-begin_detaching": true, "os-roll_detaching": true, "os-initialize_connection": true,
	"os-terminate_connection": true, "os-force_detach": true, "os-unmanage": true, "revert": true,
	"os-reimage": true, "os-set_image_metadata": true, "os-unset_image_metadata": true,
	"os-show_image_metadata": true, "os-update_snapshot_status": true,
}

// volumeAction is POST /volumes/{id}/action with exactly one action key.
func (s *Service) volumeAction(w http.ResponseWriter, r *http.Request) error {
	p, err := writer(r)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return err
	}
	if len(body) != 1 {
		return wire.BadRequest("Malformed request body: exactly one action is required.")
	}
	var name string
	var arg json.RawMessage
	for name, arg = range body {
	}
	ctx := r.Context()
	v, err := s.getVolume(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	switch name {
	case "os-extend":
		var a struct {
			NewSize json.RawMessage `json:"new_size"`
		}
		if err := wire.DecodeBytes(arg, &a, false); err != nil {
			return err
		}
		n, err := parseSize(a.NewSize)
		if err != nil || n == 0 {
			return wire.BadRequest("Invalid input for field/attribute new_size. Value: %s. It must be an integer of at least 1.", string(a.NewSize))
		}
		if err := s.extend(ctx, v, n); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	case "os-set_bootable":
		var a struct {
			Bootable any `json:"bootable"`
		}
		if err := wire.DecodeBytes(arg, &a, false); err != nil {
			return err
		}
		b, ok := parseBoolish(a.Bootable)
		if !ok || a.Bootable == nil {
			return wire.BadRequest("Invalid input for field/attribute bootable. Value: %v. It must be a boolean.", a.Bootable)
		}
		if _, err := s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
			cur.Bootable, cur.Updated = b, s.opts.Now().UTC()
			return nil
		}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case "os-update_readonly_flag":
		var a struct {
			Readonly any `json:"readonly"`
		}
		if err := wire.DecodeBytes(arg, &a, false); err != nil {
			return err
		}
		b, ok := parseBoolish(a.Readonly)
		if !ok || a.Readonly == nil {
			return wire.BadRequest("Invalid input for field/attribute readonly. Value: %v. It must be a boolean.", a.Readonly)
		}
		if _, err := s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
			cur.ReadOnly, cur.Updated = &b, s.opts.Now().UTC()
			return nil
		}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	case "os-volume_upload_image":
		return s.uploadToImage(w, r, v, arg)
	case "os-reserve":
		if _, err := s.ReserveAttach(ctx, v.ProjectID, v.ID, ""); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	case "os-unreserve":
		if _, err := s.unreserve(ctx, v.ProjectID, v.ID, ""); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if unsupportedActions[name] {
		return wire.NotImplemented("The volume action %s is not implemented by this cloud.", name)
	}
	return wire.BadRequest("There is no such action: %s", name)
}

// extend grows an available volume, with the extra gigabytes reserved first.
func (s *Service) extend(ctx context.Context, v *Volume, newSize int) error {
	if v.Status != StatusAvailable {
		return wire.BadRequest("Invalid volume: Volume status must be available to extend. (current status: %s)", v.Status)
	}
	if newSize <= v.Size {
		return wire.BadRequest("Invalid input received: New size for extend must be greater than current size. (current: %d, extended: %d).", v.Size, newSize)
	}
	if q := s.quotaLimit(ctx, v.ProjectID, "per_volume_gigabytes"); q >= 0 && newSize > q {
		return wire.Errorf(http.StatusRequestEntityTooLarge, "VolumeSizeExceedsLimit: Requested volume size %dG is larger than maximum allowed limit %dG.", newSize, q)
	}
	delta := newSize - v.Size
	if err := s.reserve(ctx, v.ProjectID, map[string]int{"gigabytes": delta}); err != nil {
		return err
	}
	if _, err := s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
		if cur.Status != StatusAvailable {
			return wire.BadRequest("Invalid volume: Volume status must be available to extend. (current status: %s)", cur.Status)
		}
		cur.Status, cur.Updated = StatusExtending, s.opts.Now().UTC()
		return nil
	}); err != nil {
		_ = s.release(ctx, v.ProjectID, map[string]int{"gigabytes": delta})
		return err
	}
	d, err := s.driver(v.Routing.Cloud)
	if err == nil {
		_, err = d.ExtendVolume(ctx, v.ID, newSize)
	}
	if err != nil {
		_ = s.release(ctx, v.ProjectID, map[string]int{"gigabytes": delta})
		_, _ = s.volumes.Update(ctx, v.ProjectID, v.ID, func(cur *Volume) error {
			cur.Status = "error_extending"
			return nil
		})
		return fmt.Errorf("extend volume %s: %w", v.ID, err)
	}
	cur, err := s.volumes.Get(ctx, v.ProjectID, v.ID)
	if err == nil {
		s.refresh(ctx, cur)
	}
	return nil
}

// ReserveAttach is the first step of Nova's attach: an available volume of
// projectID becomes reserved for serverID. Repeating it for the same server
// is a no-op. Any other status is Cinder's 400.
func (s *Service) ReserveAttach(ctx context.Context, projectID, volumeID, serverID string) (*Volume, error) {
	return s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
		if v.Status == StatusReserved && v.ReservedFor == serverID {
			return false, nil
		}
		if hasAttachment(v, serverID) && serverID != "" {
			return false, nil
		}
		if v.Status != StatusAvailable {
			return false, wire.BadRequest("Invalid volume: Volume %s status must be available to reserve, but the current status is: %s.", v.ID, v.Status)
		}
		v.Status, v.ReservedFor = StatusReserved, serverID
		return true, nil
	})
}

// unreserve undoes ReserveAttach (os-unreserve, or a failed attach).
func (s *Service) unreserve(ctx context.Context, projectID, volumeID, serverID string) (*Volume, error) {
	return s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
		if v.Status != StatusReserved {
			return false, nil
		}
		v.Status, v.ReservedFor = StatusAvailable, ""
		return true, nil
	})
}

// CompleteAttach attaches a volume reserved for serverID on its backend and
// records the attachment (status in-use). device is the name Nova chose;
// empty takes the backend's. Repeating it returns the attached volume.
func (s *Service) CompleteAttach(ctx context.Context, projectID, volumeID, serverID, device string) (*Volume, error) {
	v, err := s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
		if hasAttachment(v, serverID) {
			return false, nil
		}
		if v.Status != StatusReserved || v.ReservedFor != serverID {
			return false, wire.BadRequest("Invalid volume: Volume %s must be reserved for server %s before it is attached (status %s).", v.ID, serverID, v.Status)
		}
		v.Status = StatusAttaching
		return true, nil
	})
	if err != nil || v.Status != StatusAttaching {
		return v, err
	}
	d, err := s.driver(v.Routing.Cloud)
	var got string
	if err == nil {
		got, err = d.AttachVolume(ctx, volumeID, serverID)
	}
	if err != nil {
		_, _ = s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
			v.Status = StatusReserved
			return true, nil
		})
		return nil, fmt.Errorf("attach volume %s: %w", volumeID, err)
	}
	if device == "" {
		device = got
	}
	return s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
		if hasAttachment(v, serverID) {
			return false, nil
		}
		v.Status, v.ReservedFor = StatusInUse, ""
		v.Attachments = append(v.Attachments, Attachment{ID: newID(), ServerID: serverID, Device: device, AttachedAt: s.opts.Now().UTC()})
		return true, nil
	})
}

// Detach detaches a volume from serverID on its backend and makes it
// available again. Detaching a volume that is not attached there is a no-op.
func (s *Service) Detach(ctx context.Context, projectID, volumeID, serverID string) (*Volume, error) {
	v, err := s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
		if v.Status == StatusReserved && v.ReservedFor == serverID {
			v.Status, v.ReservedFor = StatusAvailable, ""
			return true, nil
		}
		if !hasAttachment(v, serverID) {
			return false, nil
		}
		v.Status = StatusDetaching
		return true, nil
	})
	if err != nil || v.Status != StatusDetaching {
		return v, err
	}
	d, err := s.driver(v.Routing.Cloud)
	if err == nil {
		err = d.DetachVolume(ctx, volumeID)
	}
	if err != nil {
		_, _ = s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
			v.Status = StatusInUse
			return true, nil
		})
		return nil, fmt.Errorf("detach volume %s: %w", volumeID, err)
	}
	return s.transitionVolume(ctx, projectID, volumeID, func(v *Volume) (bool, error) {
		kept := v.Attachments[:0]
		for _, a := range v.Attachments {
			if a.ServerID != serverID {
				kept = append(kept, a)
			}
		}
		v.Attachments = kept
		v.Status = StatusAvailable
		if len(kept) > 0 {
			v.Status = StatusInUse
		}
		return true, nil
	})
}

func hasAttachment(v *Volume, serverID string) bool {
	for _, a := range v.Attachments {
		if a.ServerID == serverID {
			return true
		}
	}
	return false
}

// transitionVolume applies fn to the volume with a compare-and-set; fn
// reports whether it changed anything. Not found is Cinder's 404.
func (s *Service) transitionVolume(ctx context.Context, projectID, volumeID string, fn func(*Volume) (bool, error)) (*Volume, error) {
	var unchanged *Volume
	v, err := s.volumes.Update(ctx, projectID, volumeID, func(v *Volume) error {
		changed, err := fn(v)
		if err != nil {
			return err
		}
		if !changed {
			unchanged = v
			return errUnchanged
		}
		v.Updated = s.opts.Now().UTC()
		return nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return unchanged, nil
	case errors.Is(err, registry.ErrNotFound):
		return nil, wire.NotFound("Volume %s could not be found.", volumeID)
	}
	return v, err
}

var errUnchanged = errors.New("blockstorage: no change")

// Volume reads a volume of projectID without changing it (Cinder's 404
// when the project has none), so that Nova's attach can check where the
// volume lives before it reserves it.
func (s *Service) Volume(ctx context.Context, projectID, volumeID string) (*Volume, error) {
	v, err := s.volumes.Get(ctx, projectID, volumeID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, wire.NotFound("Volume %s could not be found.", volumeID)
	}
	return v, err
}
