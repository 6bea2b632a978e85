package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

var compute = Microversions{Service: "compute", LegacyHeader: "X-OpenStack-Nova-API-Version", Min: Version{2, 1}, Max: Version{2, 79}}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		name       string
		headers    map[string]string
		want       string // served version, "" when a fault is expected
		wantStatus int
	}{
		{name: "none is the minimum", want: "2.1"},
		{name: "legacy header", headers: map[string]string{"X-OpenStack-Nova-API-Version": "2.26"}, want: "2.26"},
		{name: "new header", headers: map[string]string{"OpenStack-API-Version": "compute 2.47"}, want: "2.47"},
		{name: "new header wins", headers: map[string]string{"OpenStack-API-Version": "compute 2.60", "X-OpenStack-Nova-API-Version": "2.2"}, want: "2.60"},
		{name: "other service ignored", headers: map[string]string{"OpenStack-API-Version": "volume 3.60"}, want: "2.1"},
		{name: "latest", headers: map[string]string{"X-OpenStack-Nova-API-Version": "latest"}, want: "2.79"},
		{name: "above max", headers: map[string]string{"X-OpenStack-Nova-API-Version": "2.92"}, wantStatus: 406},
		{name: "below min", headers: map[string]string{"X-OpenStack-Nova-API-Version": "2.0"}, wantStatus: 406},
		{name: "malformed", headers: map[string]string{"X-OpenStack-Nova-API-Version": "two"}, wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			v, err := compute.Negotiate(w, r)
			if tc.wantStatus != 0 {
				if err == nil || err.Status != tc.wantStatus {
					t.Fatalf("got %v, %v; want status %d", v, err, tc.wantStatus)
				}
				return
			}
			if err != nil || v.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", v, err, tc.want)
			}
			if got := w.Header().Get("X-OpenStack-Nova-API-Version"); got != tc.want {
				t.Errorf("legacy echo = %q", got)
			}
			if got := w.Header().Get("OpenStack-API-Version"); got != "compute "+tc.want {
				t.Errorf("echo = %q", got)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	cases := []struct {
		name, in string
		strict   bool
		wantErr  string
	}{
		{name: "ok", in: `{"name":"a","count":1}`, strict: true},
		{name: "empty", in: ``, wantErr: "empty"},
		{name: "syntax", in: `{"name":`, wantErr: "Malformed request body"},
		{name: "wrong type names the field", in: `{"count":"x"}`, wantErr: "field/attribute count"},
		{name: "unknown field strict", in: `{"nme":"a"}`, strict: true, wantErr: `Additional properties are not allowed ("nme" was unexpected)`},
		{name: "unknown field lax", in: `{"nme":"a"}`},
		{name: "two documents", in: `{} {}`, wantErr: "more than one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b body
			err := DecodeBytes([]byte(tc.in), &b, tc.strict)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Message, tc.wantErr) {
				t.Fatalf("err = %v, want 400 containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWriteErrorDialects(t *testing.T) {
	cases := []struct {
		name     string
		dialect  Dialect
		err      error
		status   int
		wantBody string
	}{
		{name: "nova not found", dialect: Nova, err: NotFound("Server x could not be found."), status: 404,
			wantBody: `{"itemNotFound":{"code":404,"message":"Server x could not be found."}}`},
		{name: "cinder bad request", dialect: Cinder, err: BadRequest("bad size"), status: 400,
			wantBody: `{"badRequest":{"code":400,"message":"bad size"}}`},
		{name: "neutron typed", dialect: Neutron, err: NotFound("Network n could not be found.").WithType("NetworkNotFound"), status: 404,
			wantBody: `{"NeutronError":{"detail":"","message":"Network n could not be found.","type":"NetworkNotFound"}}`},
		{name: "keystone", dialect: Keystone, err: Unauthorized("The request you have made requires authentication."), status: 401,
			wantBody: `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`},
		{name: "registry not found maps to 404", dialect: Nova, err: fmt.Errorf("get: %w", registry.ErrNotFound), status: 404},
		{name: "backend unsupported maps to 501", dialect: Nova, err: proxies.Errorf(proxies.ErrNotSupported, "Reboot", "this cloud cannot reboot"), status: 501,
			wantBody: `{"notImplemented":{"code":501,"message":"this cloud cannot reboot"}}`},
		{name: "internal error hides the cause", dialect: Nova, err: errors.New("redis: password=hunter2"), status: 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, httptest.NewRequest("GET", "/", nil), tc.dialect, tc.err)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if strings.Contains(w.Body.String(), "hunter2") {
				t.Fatal("internal cause leaked to the client")
			}
			if tc.wantBody != "" && strings.TrimSpace(w.Body.String()) != tc.wantBody {
				t.Fatalf("body %s\nwant %s", w.Body.String(), tc.wantBody)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("body is not JSON: %s", w.Body.String())
			}
		})
	}
}

func TestParsePaging(t *testing.T) {
	r := httptest.NewRequest("GET", "/?limit=5&marker=m&page_reverse=True", nil)
	p, err := ParsePaging(r, 1000)
	if err != nil || p.Limit != 5 || p.Marker != "m" || !p.PageReverse {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := ParsePaging(httptest.NewRequest("GET", "/?limit=-1", nil), 0); err == nil || err.Status != http.StatusBadRequest {
		t.Fatalf("negative limit: %v", err)
	}
	if p, _ := ParsePaging(httptest.NewRequest("GET", "/?limit=5000", nil), 1000); p.Limit != 1000 {
		t.Fatalf("limit not capped: %d", p.Limit)
	}
}
