package compute_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestInterfaceAttachDetach drives os-interface as tempest's
// AttachInterfacesTestJSON does: list, attach on a network, show, detach.
func TestInterfaceAttachDetach(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	base := "/compute/v2.1/servers/" + id + "/os-interface"
	list := func() []any {
		r := h.do("GET", base, tokMember, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		return r.json(t)["interfaceAttachments"].([]any)
	}
	if n := len(list()); n != 1 {
		t.Fatalf("booted with %d interfaces, want 1", n)
	}
	r := h.do("POST", base, tokMember, "", `{"interfaceAttachment": {"net_id": "`+netA+`", "fixed_ips": [{"ip_address": "10.0.9.9"}]}}`)
	if r.status != http.StatusOK {
		t.Fatalf("attach: %d %s", r.status, r.body)
	}
	att := r.json(t)["interfaceAttachment"].(map[string]any)
	port := att["port_id"].(string)
	if att["net_id"] != netA || !strings.Contains(string(r.body), `"ip_address":"10.0.9.9"`) {
		t.Errorf("attach answer %s", r.body)
	}
	if n := len(list()); n != 2 {
		t.Fatalf("after attach %d interfaces, want 2", n)
	}
	srv := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "")
	if !strings.Contains(string(srv.body), "10.0.9.9") {
		t.Errorf("server addresses miss the new port: %s", srv.body)
	}
	cases := []struct {
		name, method, path, token, body string
		status                          int
		text                            string
	}{
		{"show", "GET", base + "/" + port, tokMember, "", 200, port},
		{"show unknown port", "GET", base + "/9d9a4e2a-0000-4000-8000-000000000009", tokMember, "", 404, "does not have a port"},
		{"show other project", "GET", base + "/" + port, tokOther, "", 404, ""},
		{"attach both", "POST", base, tokMember, `{"interfaceAttachment": {"net_id": "` + netA + `", "port_id": "` + port + `"}}`, 400, "Must not input both"},
		{"attach bad net", "POST", base, tokMember, `{"interfaceAttachment": {"net_id": "nope"}}`, 400, "net_id"},
		{"attach unknown net", "POST", base, tokMember, `{"interfaceAttachment": {"net_id": "9d9a4e2a-0000-4000-8000-000000000009"}}`, 400, "could not be found"},
		{"attach ip without net", "POST", base, tokMember, `{"interfaceAttachment": {"fixed_ips": [{"ip_address": "10.0.0.1"}]}}`, 400, "Must input network_id"},
		{"attach bad ip", "POST", base, tokMember, `{"interfaceAttachment": {"net_id": "` + netA + `", "fixed_ips": [{"ip_address": "x"}]}}`, 400, "ip_address"},
		{"attach unknown field", "POST", base, tokMember, `{"interfaceAttachment": {"bogus": 1}}`, 400, "bogus"},
		{"attach by reader", "POST", base, tokReader, `{"interfaceAttachment": {}}`, 403, ""},
		{"detach by reader", "DELETE", base + "/" + port, tokReader, "", 403, ""},
		{"detach", "DELETE", base + "/" + port, tokMember, "", 202, ""},
		{"detach again", "DELETE", base + "/" + port, tokMember, "", 404, "is not attached"},
	}
	for _, tc := range cases {
		r := h.do(tc.method, tc.path, tc.token, "", tc.body)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.text) {
			t.Fatalf("%s: %d %s, want %d with %q", tc.name, r.status, r.body, tc.status, tc.text)
		}
	}
	if n := len(list()); n != 1 {
		t.Errorf("after detach %d interfaces, want 1", n)
	}
	if h.ports.Count("release-port "+port) != 1 || h.cloud.Count("detach "+id+" "+port) != 1 {
		t.Errorf("detach calls: %v %v", h.ports.Calls(), h.cloud.Calls())
	}
}

// TestInterfaceAttachFailureGivesPortBack: a backend that cannot plug the
// port leaves no port behind and the server unchanged.
func TestInterfaceAttachFailureGivesPortBack(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createOSC)
	held := h.ports.Held()
	h.cloud.AttachErr = errors.New("plug failed")
	r := h.do("POST", "/compute/v2.1/servers/"+id+"/os-interface", tokMember, "", `{"interfaceAttachment": {"net_id": "`+netA+`"}}`)
	if r.status != http.StatusInternalServerError {
		t.Fatalf("attach: %d %s, want 500", r.status, r.body)
	}
	if h.ports.Held() != held {
		t.Errorf("ports held %d, want %d", h.ports.Held(), held)
	}
	h.cloud.AttachErr = nil
	h.hideOptional()
	if r := h.do("POST", "/compute/v2.1/servers/"+id+"/os-interface", tokMember, "", `{"interfaceAttachment": {"net_id": "`+netA+`"}}`); r.status != http.StatusNotImplemented {
		t.Errorf("backend without NIC plugging: %d %s, want 501", r.status, r.body)
	}
}
