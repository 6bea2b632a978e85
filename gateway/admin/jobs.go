package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Pushes is the broker's queue of network-resource changes that have not
// reached a cloud yet (a failed push is kept and retried by the sync loop).
type Pushes interface {
	Pending(ctx context.Context, cloud string) ([]string, error)
	RepushPending(ctx context.Context, cloud string) (int, error)
}

// Job is one piece of asynchronous work the gateway tracks: a server build
// in progress, or a change waiting to be pushed to a cloud.
type Job struct {
	Type         string `json:"type"` // build or push
	Cloud        string `json:"cloud"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
	ProjectID    string `json:"project_id"`
	// State is running (a build or task in progress) or pending (a push to
	// retry) in the list; show also answers done and failed.
	State     string `json:"state"`
	TaskState string `json:"task_state,omitempty"`
	// Progress is the build's percentage as Nova reports it (show only).
	Progress *int `json:"progress,omitempty"`
	// Error is why a build failed: the server's fault (show only).
	Error string `json:"error,omitempty"`
	// Updated is when the resource last changed (show only).
	Updated string `json:"updated,omitempty"`
}

// SetPushes gives the admin API the broker's pending pushes (jobs of type
// push, and their redo).
func (s *Service) SetPushes(p Pushes) { s.pushes = p }

// listJobs answers GET /admin/v1/jobs[?cloud=&type=]: every server being
// built or changed (BUILD, or a task in progress) and every pending push.
func (s *Service) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if k != "cloud" && k != "type" {
			return wire.BadRequest("Invalid input for query parameters %s: unknown filter (known: cloud, type).", k)
		}
	}
	typ := q.Get("type")
	if typ != "" && typ != "build" && typ != "push" {
		return wire.BadRequest("Invalid input for query parameters type: %q is not build or push.", typ)
	}
	ctx := r.Context()
	jobs := []Job{}
	if typ != "push" {
		vs, err := s.servers.List(ctx, "*", registry.Page{})
		if err != nil {
			return err
		}
		for _, v := range vs {
			if v.TaskState == "" && v.Status != "BUILD" {
				continue
			}
			if c := q.Get("cloud"); c != "" && v.Routing.Cloud != c {
				continue
			}
			jobs = append(jobs, Job{Type: "build", Cloud: v.Routing.Cloud, ResourceType: "server", ResourceID: v.ID,
				ProjectID: v.ProjectID, State: "running", TaskState: v.TaskState})
		}
	}
	if typ != "build" && s.pushes != nil {
		for _, ref := range s.clouds.CloudList() {
			if c := q.Get("cloud"); c != "" && ref.Name != c {
				continue
			}
			members, err := s.pushes.Pending(ctx, ref.Name)
			if err != nil {
				return err
			}
			for _, m := range members {
				jobs = append(jobs, pushJob(ref.Name, m))
			}
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
	return nil
}

// showJob answers GET /admin/v1/jobs/{id}, id being the resource's id: the
// build or task of server id (running, done or failed, with its progress
// and fault), else the pending pushes of a network resource id.
func (s *Service) showJob(w http.ResponseWriter, r *http.Request) error {
	ctx, id := r.Context(), r.PathValue("id")
	if v, err := s.servers.Lookup(ctx, id); err == nil {
		sv := v.Value
		j := Job{Type: "build", Cloud: sv.Routing.Cloud, ResourceType: "server", ResourceID: sv.ID, ProjectID: sv.ProjectID,
			TaskState: sv.TaskState, Updated: sv.Updated.UTC().Format("2006-01-02T15:04:05Z")}
		progress := sv.Progress
		switch {
		case sv.Status == "ERROR":
			j.State = "failed"
			if sv.Fault != nil {
				j.Error = sv.Fault.Message
			}
		case sv.Status == "BUILD" || sv.TaskState != "":
			j.State = "running"
		default:
			j.State, progress = "done", 100
		}
		if sv.TaskState != "" && sv.Status != "BUILD" {
			j.Type = "task"
		}
		j.Progress = &progress
		wire.WriteJSON(w, http.StatusOK, map[string]any{"job": j})
		return nil
	} else if !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if s.pushes != nil {
		for _, ref := range s.clouds.CloudList() {
			members, err := s.pushes.Pending(ctx, ref.Name)
			if err != nil {
				return err
			}
			for _, m := range members {
				if j := pushJob(ref.Name, m); j.ResourceID == id {
					wire.WriteJSON(w, http.StatusOK, map[string]any{"job": j})
					return nil
				}
			}
		}
	}
	return wire.NotFound("No job for %s: it is not a server and no change to it waits to be pushed.", id)
}

// pushJob is the job of one pending push, member "kind|project|id" of the
// broker's queue for cloud.
func pushJob(cloud, member string) Job {
	kind, rest, _ := strings.Cut(member, "|")
	project, id, _ := strings.Cut(rest, "|")
	return Job{Type: "push", Cloud: cloud, ResourceType: kind, ResourceID: id, ProjectID: project, State: "pending"}
}

// redoJobs answers POST /admin/v1/clouds/{name}/redo: push again every
// change the cloud is waiting for, now, and say how many went through.
func (s *Service) redoJobs(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := s.findCloud(r.Context(), name); err != nil {
		return err
	}
	if s.pushes == nil {
		return wire.NotImplemented("This gateway has no push queue.")
	}
	done, err := s.pushes.RepushPending(r.Context(), name)
	left, lerr := s.pushes.Pending(r.Context(), name)
	if lerr != nil {
		return lerr
	}
	body := map[string]any{"redo": map[string]any{"cloud": name, "pushed": done, "still_pending": len(left)}}
	if err != nil {
		body["redo"].(map[string]any)["error"] = "some pushes failed again; they stay pending"
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}
