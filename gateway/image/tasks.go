package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/imagestore"
	"github.com/canopy-cloud/canopy/registry"
)

// kindImageTask is the registry kind of Glance tasks. A task lives in the
// project of the image it works on, so an image's tasks are one project's
// records.
const kindImageTask registry.Kind = "imagetask"

// Glance's task statuses and the type of an interoperable import.
const (
	taskPending    = "pending"
	taskProcessing = "processing"
	taskSuccess    = "success"
	taskFailure    = "failure"
	taskTypeImport = "api_image_import"
	// taskTimeToLive is how long a finished task is kept (Glance's
	// task_time_to_live, 48 hours).
	taskTimeToLive = 48 * time.Hour
	// taskProgressEvery is how often a running import records its
	// progress in the task's message.
	taskProgressEvery = time.Second
)

// imageTask is a Glance task: one image import, its progress and outcome.
type imageTask struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Status    string         `json:"status"`
	Input     map[string]any `json:"input"`
	Result    map[string]any `json:"result"`
	Owner     string         `json:"owner"`
	Message   string         `json:"message"`
	ImageID   string         `json:"image_id"`
	RequestID string         `json:"request_id"`
	UserID    string         `json:"user_id"`
	ExpiresAt *time.Time     `json:"expires_at"`
	Created   time.Time      `json:"created_at"`
	Updated   time.Time      `json:"updated_at"`
}

func (s *Service) tasks() *registry.Collection[imageTask] {
	return registry.NewCollection[imageTask](s.reg, kindImageTask, nil)
}

// recordImportTask records an accepted import as a pending task.
func (s *Service) recordImportTask(ctx context.Context, p *wire.Principal, j importJob) error {
	method := map[string]any{"name": j.method}
	if j.uri != "" {
		method["uri"] = j.uri
	}
	now := s.now()
	t := &imageTask{ID: j.taskID, Type: taskTypeImport, Status: taskPending, Owner: p.ProjectID, ImageID: j.imageID,
		RequestID: wire.RequestID(ctx), UserID: p.UserID, Created: now, Updated: now,
		Input: map[string]any{"image_id": j.imageID, "import_req": map[string]any{"method": method}, "backend": []string{gatewayStoreID}}}
	return s.tasks().Create(ctx, j.project, t.ID, now, t)
}

// updateTask changes a task; a task that is gone (expired) is left alone.
func (s *Service) updateTask(ctx context.Context, j importJob, fn func(*imageTask)) {
	_, err := s.tasks().Update(ctx, j.project, j.taskID, func(t *imageTask) error {
		fn(t)
		t.Updated = s.now()
		return nil
	})
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		wire.Logger(ctx).Warn("image task not updated", "task", j.taskID, "error", err)
	}
}

// startTask marks a task processing when a worker takes its import.
func (s *Service) startTask(ctx context.Context, j importJob) {
	s.updateTask(ctx, j, func(t *imageTask) { t.Status = taskProcessing })
}

// finishTask records an import's outcome in its task, which then expires.
func (s *Service) finishTask(ctx context.Context, j importJob, failure error) {
	s.updateTask(ctx, j, func(t *imageTask) {
		exp := s.now().Add(taskTimeToLive)
		t.ExpiresAt = &exp
		if failure != nil {
			t.Status, t.Message, t.Result = taskFailure, importFailureMessage(failure), nil
			return
		}
		t.Status, t.Result = taskSuccess, map[string]any{"image_id": j.imageID}
	})
}

// Import failures that are not errors of a store or a download.
var (
	errImportQueueFull   = errors.New("image: import queue full")
	errImportNotRecorded = errors.New("image: import outcome not recorded")
)

// importFailureMessage is the reason a user reads in a failed task: safe
// text, never an internal address or a stack of wrapped causes.
func importFailureMessage(err error) string {
	switch {
	case errors.Is(err, errImportQueueFull):
		return "Too many image imports were in progress; the import was not started."
	case errors.Is(err, errImportNotRecorded):
		return "The image was deleted or changed during the import; its data was not kept."
	case errors.Is(err, context.Canceled):
		return "The import was interrupted: the image service stopped before it finished."
	case errors.Is(err, context.DeadlineExceeded):
		return "The import did not finish within the time allowed."
	case errors.Is(err, imagestore.ErrTooLarge):
		return "Image exceeds the storage quota: the image data is larger than the size limit."
	case errors.Is(err, imagestore.ErrNotFound):
		return "No staged data was found for the image; stage it again before importing."
	case errors.Is(err, errBlockedAddress):
		return "The web-download URI is not allowed."
	case strings.HasPrefix(err.Error(), "image: web-download"):
		return "Failed to download the image: " + strings.TrimPrefix(err.Error(), "image: ")
	}
	return "The image data could not be imported."
}

// progressReader records the bytes an import has copied in its task's
// message ("Copied 15 MiB", as Glance writes it), at most once a second.
type progressReader struct {
	r      io.Reader
	n      int64
	last   time.Time
	report func(copied int64)
	now    func() time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := p.now(); now.Sub(p.last) >= taskProgressEvery {
		p.last = now
		p.report(p.n)
	}
	return n, err
}

func (s *Service) progress(ctx context.Context, j importJob, r io.Reader) io.Reader {
	return &progressReader{r: r, last: s.now(), now: s.now, report: func(copied int64) {
		s.updateTask(ctx, j, func(t *imageTask) { t.Message = fmt.Sprintf("Copied %d MiB", copied>>20) })
	}}
}

// expired reports whether a finished task has outlived its time to live.
func (s *Service) expired(t *imageTask) bool {
	return t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt)
}

func taskTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func taskTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return taskTime(*t)
}

// taskView is a task as GET /v2/tasks/{id} shows it.
func taskView(t *imageTask) map[string]any {
	m := taskSummary(t)
	m["input"], m["result"], m["message"], m["expires_at"] = t.Input, t.Result, t.Message, taskTimePtr(t.ExpiresAt)
	m["image_id"], m["request_id"], m["user_id"] = t.ImageID, t.RequestID, t.UserID
	if t.Result == nil {
		m["result"] = nil
	}
	return m
}

// taskSummary is a task as GET /v2/tasks lists it.
func taskSummary(t *imageTask) map[string]any {
	return map[string]any{"id": t.ID, "type": t.Type, "status": t.Status, "owner": t.Owner,
		"created_at": taskTime(t.Created), "updated_at": taskTime(t.Updated),
		"self": "/v2/tasks/" + t.ID, "schema": "/v2/schemas/task"}
}

// imageTaskView is a task as GET /v2/images/{id}/tasks shows it (Glance
// 2.12: the database row, with deleted and deleted_at).
func imageTaskView(t *imageTask) map[string]any {
	m := taskView(t)
	delete(m, "self")
	delete(m, "schema")
	m["deleted"], m["deleted_at"] = false, nil
	return m
}

// listImageTasks is GET /v2/images/{id}/tasks (Glance 2.12): the tasks of
// an image the caller can see, oldest first.
func (s *Service) listImageTasks(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	img, project, err := s.image(ctx, wire.PrincipalFrom(ctx), r.PathValue("id"))
	if err != nil {
		return err
	}
	all, err := s.liveTasks(ctx, project)
	if err != nil {
		return err
	}
	out := []any{}
	for _, t := range all {
		if t.ImageID == img.ID {
			out = append(out, imageTaskView(t))
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"tasks": out})
	return nil
}

// liveTasks lists a project's tasks ("*": all), dropping expired ones.
func (s *Service) liveTasks(ctx context.Context, project string) ([]*imageTask, error) {
	all, err := s.tasks().List(ctx, project, registry.Page{})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(t *imageTask) bool {
		if !s.expired(t) {
			return false
		}
		if v, err := s.tasks().Lookup(ctx, t.ID); err == nil {
			_ = s.tasks().Delete(ctx, v.Project, t.ID)
		}
		return true
	}), nil
}

// tasksAccess is Glance's default tasks_api_access policy: the tasks API
// (/v2/tasks) is for admins; users follow their imports through the image's
// own tasks.
func tasksAccess(p *wire.Principal) error {
	if !p.IsAdmin() {
		return wire.Forbidden("Access was denied to this resource.")
	}
	return nil
}

// listTasks is GET /v2/tasks, newest first, with Glance's status and type
// filters.
func (s *Service) listTasks(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := tasksAccess(wire.PrincipalFrom(ctx)); err != nil {
		return err
	}
	q := r.URL.Query()
	status, typ := q.Get("status"), q.Get("type")
	if status != "" && !slices.Contains([]string{taskPending, taskProcessing, taskSuccess, taskFailure}, status) {
		return wire.BadRequest("Invalid status value: %s", status)
	}
	if typ != "" && typ != "import" && typ != taskTypeImport {
		return wire.BadRequest("Invalid type value: %s", typ)
	}
	all, err := s.liveTasks(ctx, "*")
	if err != nil {
		return err
	}
	slices.SortStableFunc(all, func(a, b *imageTask) int { return b.Created.Compare(a.Created) })
	out := []any{}
	for _, t := range all {
		if (status == "" || t.Status == status) && (typ == "" || t.Type == typ) {
			out = append(out, taskSummary(t))
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"tasks": out, "first": "/v2/tasks", "schema": "/v2/schemas/tasks"})
	return nil
}

// showTask is GET /v2/tasks/{id}.
func (s *Service) showTask(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := tasksAccess(wire.PrincipalFrom(ctx)); err != nil {
		return err
	}
	id := r.PathValue("id")
	v, err := s.tasks().Lookup(ctx, id)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && s.expired(v.Value)) {
		return wire.NotFound("Task with the given id %s not found", id)
	}
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, taskView(v.Value))
	return nil
}

// createTask is POST /v2/tasks: the old "import" task type, replaced by
// interoperable image import (POST /v2/images/{id}/import).
func (s *Service) createTask(w http.ResponseWriter, r *http.Request) error {
	if err := tasksAccess(wire.PrincipalFrom(r.Context())); err != nil {
		return err
	}
	return wire.NotImplemented("Creating tasks is not supported by this cloud; use POST /v2/images/{image_id}/import.")
}

// taskSchema is Glance's task schema (glance/api/v2/tasks.py
// get_task_schema).
func taskSchema() map[string]any {
	ro := func(m map[string]any) map[string]any { m["readOnly"] = true; return m }
	return map[string]any{"name": "task", "properties": map[string]any{
		"id":         map[string]any{"type": "string", "pattern": uuidPattern, "description": "An identifier for the task"},
		"type":       map[string]any{"type": "string", "enum": []string{"import"}, "description": "The type of task represented by this content"},
		"status":     map[string]any{"type": "string", "enum": []string{taskPending, taskProcessing, taskSuccess, taskFailure}, "description": "The current status of this task"},
		"input":      map[string]any{"type": []string{"null", "object"}, "description": "The parameters required by task, JSON blob"},
		"result":     map[string]any{"type": []string{"null", "object"}, "description": "The result of current task, JSON blob"},
		"owner":      map[string]any{"type": "string", "description": "An identifier for the owner of this task"},
		"message":    map[string]any{"type": "string", "description": "Human-readable informative message only included when appropriate (usually on failure)"},
		"image_id":   ro(map[string]any{"type": "string", "description": "Image associated with the task"}),
		"request_id": ro(map[string]any{"type": "string", "description": "Human-readable informative request-id"}),
		"user_id":    ro(map[string]any{"type": "string", "description": "User associated with the task"}),
		"expires_at": map[string]any{"type": []string{"null", "string"}, "description": "Datetime when this resource would be subject to removal"},
		"created_at": map[string]any{"type": "string", "description": "Datetime when this resource was created"},
		"updated_at": map[string]any{"type": "string", "description": "Datetime when this resource was updated"},
		"self":       ro(map[string]any{"type": "string"}),
		"schema":     ro(map[string]any{"type": "string"}),
	}}
}

func (s *Service) showTaskSchema(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, taskSchema())
	return nil
}

func (s *Service) showTasksSchema(w http.ResponseWriter, r *http.Request) error {
	item := taskSchema()
	props := item["properties"].(map[string]any)
	for _, k := range []string{"input", "result", "message", "image_id", "request_id", "user_id"} {
		delete(props, k)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"name": "tasks",
		"properties": map[string]any{
			"tasks":  map[string]any{"type": "array", "items": item},
			"schema": map[string]any{"type": "string"},
			"first":  map[string]any{"type": "string"},
			"next":   map[string]any{"type": "string"},
		},
		"links": []any{
			map[string]string{"rel": "first", "href": "{first}"},
			map[string]string{"rel": "next", "href": "{next}"},
			map[string]string{"rel": "describedby", "href": "{schema}"},
		}})
	return nil
}
