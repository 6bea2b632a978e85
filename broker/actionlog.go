package broker

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/canopy-cloud/canopy/registry"
)

// InstanceAction is one entry of a server's action log (Nova's
// os-instance-actions): what was asked, by whom, and how its one event ended.
type InstanceAction struct {
	Action    string        `json:"action"`
	RequestID string        `json:"request_id"`
	UserID    string        `json:"user_id"`
	ProjectID string        `json:"project_id"`
	ServerID  string        `json:"instance_uuid"`
	Message   *string       `json:"message"`
	Start     time.Time     `json:"start_time"`
	Updated   time.Time     `json:"updated_at"`
	Events    []ActionEvent `json:"events"`
}

// ActionEvent is one step of an action; Finish and Result stay empty until
// the step has ended.
type ActionEvent struct {
	Event  string    `json:"event"`
	Start  time.Time `json:"start_time"`
	Finish time.Time `json:"finish_time,omitzero"`
	Result string    `json:"result,omitempty"` // Success | Error
	Host   string    `json:"host,omitempty"`
}

func actionsKey(project, serverID string) string {
	return registry.Key(project, "server_actions", serverID)
}

// actionRef points at one logged action so that its outcome can be filled in.
type actionRef struct {
	project, server string
	index           int64
}

// logAction appends an action whose single event (compute_<action>) is in
// progress. Logging is best effort: an action log failure never fails the
// command it describes.
func (b *Broker) logAction(ctx context.Context, c Caller, s *registry.Server, action string) actionRef {
	now := b.opts.Now()
	a := InstanceAction{
		Action: action, RequestID: c.RequestID, UserID: c.UserID, ProjectID: s.ProjectID, ServerID: s.ID,
		Start: now, Updated: now, Events: []ActionEvent{{Event: "compute_" + eventName(action), Start: now, Host: s.Routing.Host}},
	}
	if a.RequestID == "" {
		a.RequestID = "req-" + b.opts.NewID()
	}
	data, _ := json.Marshal(a)
	n, err := b.reg.Client().RPush(ctx, actionsKey(s.ProjectID, s.ID), data).Result()
	if err != nil {
		b.log.Warn("instance action not logged", "server", s.ID, "action", action, "err", err)
		return actionRef{index: -1}
	}
	return actionRef{project: s.ProjectID, server: s.ID, index: n - 1}
}

func eventName(action string) string {
	switch action {
	case "create":
		return "build_and_run_instance"
	case "delete":
		return "terminate_instance"
	case "start":
		return "start_instance"
	case "stop":
		return "stop_instance"
	case "reboot":
		return "reboot_instance"
	case "createImage":
		return "snapshot_instance"
	case "rebuild":
		return "rebuild_instance"
	case "resize":
		return "resize_instance"
	case "confirmResize":
		return "confirm_resize"
	case "revertResize":
		return "revert_resize"
	case "attach_interface":
		return "attach_interface"
	case "detach_interface":
		return "detach_interface"
	}
	return action
}

// finishAction records the outcome of a logged action's event.
func (b *Broker) finishAction(ctx context.Context, ref actionRef, failed bool) {
	if ref.index < 0 {
		return
	}
	key := actionsKey(ref.project, ref.server)
	raw, err := b.reg.Client().LIndex(ctx, key, ref.index).Bytes()
	if err != nil {
		return
	}
	var a InstanceAction
	if json.Unmarshal(raw, &a) != nil || len(a.Events) == 0 {
		return
	}
	now := b.opts.Now()
	a.Updated = now
	a.Events[0].Finish = now
	a.Events[0].Result = "Success"
	if failed {
		a.Events[0].Result = "Error"
		msg := "Error"
		a.Message = &msg
	}
	data, _ := json.Marshal(a)
	b.reg.Client().LSet(ctx, key, ref.index, data)
}

// InstanceActions lists server id's action log, newest first.
func (b *Broker) InstanceActions(ctx context.Context, c Caller, id string) ([]InstanceAction, error) {
	s, err := b.GetServer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	raws, err := b.reg.Client().LRange(ctx, actionsKey(s.ProjectID, s.ID), 0, -1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]InstanceAction, 0, len(raws))
	for i := len(raws) - 1; i >= 0; i-- {
		var a InstanceAction
		if json.Unmarshal([]byte(raws[i]), &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}
