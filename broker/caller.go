package broker

import (
	"context"
	"errors"
	"time"

	"github.com/canopy-cloud/canopy/registry"
)

// Caller is who issues a command: the broker checks ownership and records
// instance actions with it.
type Caller struct {
	UserID    string
	ProjectID string
	IsAdmin   bool
	RequestID string
}

// GetServer reads server id as caller may see it: its own project's, or any
// for an admin. Anything else reads as not found, as Nova answers.
func (b *Broker) GetServer(ctx context.Context, c Caller, id string) (*registry.Server, error) {
	v, err := b.servers.Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, instanceNotFound("GetServer", id)
	}
	if err != nil {
		return nil, err
	}
	if v.Value.ProjectID != c.ProjectID && !c.IsAdmin {
		return nil, instanceNotFound("GetServer", id)
	}
	return v.Value, nil
}

// UpdateServer applies fn to server id with a compare-and-set and stamps
// the update time. fn may run several times and must have no side effects.
func (b *Broker) UpdateServer(ctx context.Context, c Caller, id string, fn func(*registry.Server) error) (*registry.Server, error) {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	now := b.opts.Now()
	out, err := b.servers.Update(ctx, s.ProjectID, id, func(s *registry.Server) error {
		if err := fn(s); err != nil {
			return err
		}
		s.Updated = now
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil, instanceNotFound("UpdateServer", id)
	}
	return out, err
}

// setState is the one place a server's vm_state/task_state change, so that
// the Nova status shown and filtered on always follows them.
func setState(s *registry.Server, vmState, taskState string, now time.Time) {
	s.VMState, s.TaskState = vmState, taskState
	s.Status = NovaStatus(vmState, taskState)
	s.Updated = now
}

// NovaStatus maps vm_state and task_state to the status Nova's API shows
// (nova/api/openstack/common.py's state map).
func NovaStatus(vmState, taskState string) string {
	switch vmState {
	case "building":
		return "BUILD"
	case "active":
		switch taskState {
		case "rebooting", "reboot_pending", "reboot_started":
			return "REBOOT"
		case "rebooting_hard", "reboot_pending_hard", "reboot_started_hard":
			return "HARD_REBOOT"
		case "rebuilding", "rebuild_block_device_mapping", "rebuild_spawning":
			return "REBUILD"
		case "migrating":
			return "MIGRATING"
		case "resize_prep", "resize_migrating", "resize_migrated", "resize_finish":
			return "RESIZE"
		}
		return "ACTIVE"
	case "stopped":
		switch taskState {
		case "rebooting_hard", "reboot_pending_hard", "reboot_started_hard":
			return "HARD_REBOOT"
		case "rebuilding":
			return "REBUILD"
		}
		return "SHUTOFF"
	case "error":
		if taskState == "rebuilding" {
			return "REBUILD"
		}
		return "ERROR"
	case "deleted":
		return "DELETED"
	case "paused":
		return "PAUSED"
	case "suspended":
		return "SUSPENDED"
	case "rescued":
		return "RESCUE"
	case "resized":
		if taskState == "resize_reverting" {
			return "REVERT_RESIZE"
		}
		return "VERIFY_RESIZE"
	case "shelved", "shelved_offloaded":
		return "SHELVED"
	case "soft-delete":
		return "SOFT_DELETED"
	}
	return "UNKNOWN"
}
