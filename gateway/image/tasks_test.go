package image_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/gateway/image"
)

// imageTasks reads GET /v2/images/{id}/tasks as token.
func (e *env) imageTasks(token, id string) (int, []map[string]any) {
	e.t.Helper()
	code, body := e.json(token, "GET", "/image/v2/images/"+id+"/tasks", "", "")
	var out []map[string]any
	if list, ok := body["tasks"].([]any); ok {
		for _, t := range list {
			out = append(out, t.(map[string]any))
		}
	}
	return code, out
}

// settledTasks polls an image's tasks until none is pending or processing
// (the task is finished just after the image).
func (e *env) settledTasks(id string) []map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, tasks := e.imageTasks("demo", id)
		done := len(tasks) > 0
		for _, t := range tasks {
			done = done && t["status"] != "pending" && t["status"] != "processing"
		}
		if done || time.Now().After(deadline) {
			return tasks
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestImageTasksOfImports: every import records a Glance task that shows
// its method, owner and user, and ends in success with the image id or in
// failure with a reason a user can act on.
func TestImageTasksOfImports(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hello" {
			w.Write([]byte("hello"))
			return
		}
		if r.URL.Path == "/big" {
			w.Write([]byte(strings.Repeat("x", 1<<20+1)))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(origin.Close)
	e := newEnvWith(t, func(o *image.Options) { o.AllowPrivateImport = true })

	id := e.create("demo", `{"name": "gd", "disk_format": "raw", "container_format": "bare"}`)["id"].(string)
	if code, tasks := e.imageTasks("demo", id); code != 200 || len(tasks) != 0 {
		t.Fatalf("tasks of a new image: %d %v", code, tasks)
	}
	e.raw("demo", "PUT", "/image/v2/images/"+id+"/stage", "application/octet-stream", []byte("hello"))
	if code := e.importBody(id, `{"method": {"name": "glance-direct"}}`); code != http.StatusAccepted {
		t.Fatalf("import: %d", code)
	}
	e.waitImage(id, settled)
	tasks := e.settledTasks(id)
	if len(tasks) != 1 {
		t.Fatalf("tasks after import: %v", tasks)
	}
	task := tasks[0]
	checks := map[string]any{"type": "api_image_import", "status": "success", "owner": "demo-project",
		"user_id": "demo-user", "image_id": id, "deleted": false, "message": ""}
	for k, want := range checks {
		if task[k] != want {
			t.Errorf("task %s = %v, want %v", k, task[k], want)
		}
	}
	if res, _ := task["result"].(map[string]any); res["image_id"] != id {
		t.Errorf("task result %v, want the image id", task["result"])
	}
	method := task["input"].(map[string]any)["import_req"].(map[string]any)["method"].(map[string]any)
	if method["name"] != "glance-direct" {
		t.Errorf("task input method %v", method)
	}
	if task["expires_at"] == nil || task["request_id"] == "" || task["created_at"] == nil {
		t.Errorf("finished task lacks expires_at, request_id or created_at: %v", task)
	}
	if code, _ := e.imageTasks("alt", id); code != http.StatusNotFound {
		t.Errorf("alt read the tasks of demo's private image: %d", code)
	}

	// The tasks API is for admins (Glance's tasks_api_access).
	taskID := task["id"].(string)
	if code, _ := e.json("demo", "GET", "/image/v2/tasks/"+taskID, "", ""); code != http.StatusForbidden {
		t.Errorf("member GET /v2/tasks/{id}: %d, want 403", code)
	}
	if code, _ := e.json("demo", "GET", "/image/v2/tasks", "", ""); code != http.StatusForbidden {
		t.Errorf("member GET /v2/tasks: %d, want 403", code)
	}
	code, shown := e.json("admin", "GET", "/image/v2/tasks/"+taskID, "", "")
	if code != 200 || shown["status"] != "success" || shown["self"] != "/v2/tasks/"+taskID || shown["schema"] != "/v2/schemas/task" {
		t.Errorf("admin GET /v2/tasks/{id}: %d %v", code, shown)
	}
	if code, _ := e.json("admin", "GET", "/image/v2/tasks/00000000-0000-4000-8000-000000000000", "", ""); code != http.StatusNotFound {
		t.Errorf("unknown task: %d", code)
	}

	// Failures keep the reason.
	failures := []struct{ uri, message string }{
		{origin.URL + "/missing", "Failed to download the image: web-download answered 404 Not Found"},
		{origin.URL + "/big", "Image exceeds the storage quota: the image data is larger than the size limit."},
	}
	for _, f := range failures {
		wid := e.create("demo", `{"name": "web", "disk_format": "raw", "container_format": "bare"}`)["id"].(string)
		if code := e.importBody(wid, `{"method": {"name": "web-download", "uri": "`+f.uri+`"}}`); code != http.StatusAccepted {
			t.Fatalf("web-download import: %d", code)
		}
		e.waitImage(wid, settled)
		tasks := e.settledTasks(wid)
		if len(tasks) != 1 || tasks[0]["status"] != "failure" || tasks[0]["message"] != f.message || tasks[0]["result"] != nil {
			t.Errorf("failed import's task: %v, want failure with %q", tasks, f.message)
			continue
		}
		m := tasks[0]["input"].(map[string]any)["import_req"].(map[string]any)["method"].(map[string]any)
		if m["name"] != "web-download" || m["uri"] != f.uri {
			t.Errorf("web-download task input %v", m)
		}
	}

	code, list := e.json("admin", "GET", "/image/v2/tasks", "", "")
	if code != 200 || len(list["tasks"].([]any)) != 3 || list["first"] != "/v2/tasks" {
		t.Fatalf("admin task list: %d %v", code, list)
	}
	first := list["tasks"].([]any)[0].(map[string]any)
	if _, has := first["input"]; has {
		t.Errorf("task list shows input: %v", first)
	}
	if _, l := e.json("admin", "GET", "/image/v2/tasks?status=failure", "", ""); len(l["tasks"].([]any)) != 2 {
		t.Errorf("status=failure: %v", l)
	}
	if code, _ := e.json("admin", "GET", "/image/v2/tasks?status=done", "", ""); code != http.StatusBadRequest {
		t.Errorf("bad status filter: %d", code)
	}
	if code, _ := e.json("admin", "POST", "/image/v2/tasks", "application/json", `{"type": "import", "input": {}}`); code != http.StatusNotImplemented {
		t.Errorf("POST /v2/tasks: %d, want 501", code)
	}
	for _, path := range []string{"/image/v2/schemas/task", "/image/v2/schemas/tasks"} {
		code, schema := e.json("demo", "GET", path, "", "")
		if code != 200 || schema["name"] != strings.TrimPrefix(path, "/image/v2/schemas/") {
			t.Errorf("%s: %d %v", path, code, schema)
		}
	}
}
