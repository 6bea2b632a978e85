package admin

import (
	"context"
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
	State        string `json:"state"` // running (a build) or pending (a push to retry)
	TaskState    string `json:"task_state,omitempty"`
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
				kind, rest, _ := strings.Cut(m, "|")
				project, id, _ := strings.Cut(rest, "|")
				jobs = append(jobs, Job{Type: "push", Cloud: ref.Name, ResourceType: kind, ResourceID: id, ProjectID: project, State: "pending"})
			}
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
	return nil
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
