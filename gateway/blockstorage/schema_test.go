package blockstorage_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// validatorScript checks recorded responses against tempest's own volume
// schemas with tempest's validator (rest_client.validate_response). Every
// microversion Canopy serves (3.0-3.60) uses tempest's base volume schemas.
const validatorScript = `
import importlib, json, sys
from tempest.lib.common import rest_client
class Resp(dict):
    pass
items = json.load(open(sys.argv[1]))
bad = 0
for it in items:
    mod = importlib.import_module('tempest.lib.api_schema.response.volume.' + it['module'])
    schema = getattr(mod, it['schema'])
    resp = Resp({k.lower(): v for k, v in it['headers'].items()})
    resp.status = it['status']
    try:
        rest_client.RestClient.validate_response(schema, resp, it['body'])
    except Exception as e:
        bad += 1
        print('%s %s.%s@%s: %s' % (it['name'], it['module'], it['schema'], it['version'], str(e)[:600]))
sys.exit(1 if bad else 0)
`

type check struct {
	Name    string            `json:"name"`
	Module  string            `json:"module"`
	Schema  string            `json:"schema"`
	Version string            `json:"version"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"`
}

func TestResponsesMatchTempestSchemas(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import tempest.lib.common.rest_client, jsonschema").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tempest is required in CI: %v", err)
		}
		t.Skip("tempest's Python library is not installed")
	}
	h := newHarness(t)
	var checks []check
	add := func(name, module, schema, version, method, path, token, body string) resp {
		r := h.do(method, path, token, version, body)
		var decoded any
		if len(r.body) > 0 {
			if err := json.Unmarshal(r.body, &decoded); err != nil {
				t.Fatalf("%s@%s: %d %q", name, version, r.status, r.body)
			}
		}
		hdr := map[string]string{}
		for k := range r.header {
			hdr[k] = r.header.Get(k)
		}
		checks = append(checks, check{Name: name, Module: module, Schema: schema, Version: version, Status: r.status, Headers: hdr, Body: decoded})
		return r
	}
	add("versions", "versions", "list_versions", "", "GET", "/volume/", "", "")
	plain := h.create(tokMember, createTempest)
	fromImage := h.create(tokMember, createFromImage)
	snap := h.do("POST", "/volume/v3/snapshots", tokMember, "", `{"snapshot": {"volume_id": "`+plain+`", "name": "s", "metadata": {"a": "b"}}}`).json(t)["snapshot"].(map[string]any)["id"].(string)
	if _, err := h.svc.ReserveAttach(t.Context(), projectA, fromImage, "6a0b1c2d-0000-4000-8000-0000000000aa"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CompleteAttach(t.Context(), projectA, fromImage, "6a0b1c2d-0000-4000-8000-0000000000aa", ""); err != nil {
		t.Fatal(err)
	}
	const vols = "/volume/v3/" + projectA + "/volumes"
	for _, v := range []string{"", "3.0", "3.27", "3.48", "3.60"} {
		for _, tok := range []string{tokMember, tokAdmin} {
			who := map[string]string{tokMember: "member", tokAdmin: "admin"}[tok]
			p := "/volume/v3/volumes"
			if tok == tokMember {
				p = vols
			}
			add("show "+who, "volumes", "show_volume", v, "GET", p+"/"+plain, tok, "")
			add("show attached from image "+who, "volumes", "show_volume", v, "GET", p+"/"+fromImage, tok, "")
			add("detail "+who, "volumes", "list_volumes_with_detail", v, "GET", p+"/detail?all_tenants=1&limit=1", tok, "")
			add("snapshot "+who, "snapshots", "show_snapshot", v, "GET", "/volume/v3/snapshots/"+snap, tok, "")
			add("snapshots detail "+who, "snapshots", "list_snapshots_with_detail", v, "GET", "/volume/v3/snapshots/detail?all_tenants=1", tok, "")
			add("types "+who, "volume_types", "list_volume_types", v, "GET", "/volume/v3/types", tok, "")
			add("type "+who, "volume_types", "show_volume_type", v, "GET", "/volume/v3/types/default", tok, "")
		}
		add("list", "volumes", "list_volumes_no_detail", v, "GET", vols+"?limit=1", tokMember, "")
		created := add("create", "volumes", "create_volume", v, "POST", vols, tokMember, createOSC)
		id := created.json(t)["volume"].(map[string]any)["id"].(string)
		add("update", "volumes", "update_volume", v, "PUT", vols+"/"+id, tokMember, `{"volume": {"name": "x", "description": "y"}}`)
		add("metadata", "volumes", "show_volume_metadata", v, "GET", vols+"/"+id+"/metadata", tokMember, "")
		add("metadata create", "volumes", "create_volume_metadata", v, "POST", vols+"/"+id+"/metadata", tokMember, `{"metadata": {"k": "v"}}`)
		add("metadata update", "volumes", "update_volume_metadata", v, "PUT", vols+"/"+id+"/metadata", tokMember, `{"metadata": {"k": "w"}}`)
		add("metadata item", "volumes", "show_volume_metadata_item", v, "GET", vols+"/"+id+"/metadata/k", tokMember, "")
		add("metadata item update", "volumes", "update_volume_metadata_item", v, "PUT", vols+"/"+id+"/metadata/k", tokMember, `{"meta": {"k": "z"}}`)
		add("metadata item delete", "volumes", "delete_volume_metadata_item", v, "DELETE", vols+"/"+id+"/metadata/k", tokMember, "")
		add("bootable", "volumes", "set_bootable_volume", v, "POST", vols+"/"+id+"/action", tokMember, `{"os-set_bootable": {"bootable": true}}`)
		add("readonly", "volumes", "update_volume_readonly", v, "POST", vols+"/"+id+"/action", tokMember, `{"os-update_readonly_flag": {"readonly": true}}`)
		add("extend", "volumes", "extend_volume", v, "POST", vols+"/"+id+"/action", tokMember, `{"os-extend": {"new_size": 2}}`)
		h.waitStatus(tokMember, id, "available")
		s := add("snapshot create", "snapshots", "create_snapshot", v, "POST", "/volume/v3/snapshots", tokMember, `{"snapshot": {"volume_id": "`+id+`", "force": false}}`)
		sid := s.json(t)["snapshot"].(map[string]any)["id"].(string)
		add("snapshots", "snapshots", "list_snapshots_no_detail", v, "GET", "/volume/v3/snapshots?limit=1&sort=name:asc", tokMember, "")
		add("snapshot update", "snapshots", "update_snapshot", v, "PUT", "/volume/v3/snapshots/"+sid, tokMember, `{"snapshot": {"name": "n"}}`)
		add("snapshot metadata", "snapshots", "show_snapshot_metadata", v, "GET", "/volume/v3/snapshots/"+sid+"/metadata", tokMember, "")
		add("snapshot metadata create", "snapshots", "create_snapshot_metadata", v, "POST", "/volume/v3/snapshots/"+sid+"/metadata", tokMember, `{"metadata": {"a": "b"}}`)
		add("snapshot metadata update", "snapshots", "update_snapshot_metadata", v, "PUT", "/volume/v3/snapshots/"+sid+"/metadata", tokMember, `{"metadata": {"a": "c"}}`)
		add("snapshot metadata item", "snapshots", "show_snapshot_metadata_item", v, "GET", "/volume/v3/snapshots/"+sid+"/metadata/a", tokMember, "")
		add("snapshot metadata item update", "snapshots", "update_snapshot_metadata_item", v, "PUT", "/volume/v3/snapshots/"+sid+"/metadata/a", tokMember, `{"meta": {"a": "d"}}`)
		add("snapshot metadata item delete", "snapshots", "delete_snapshot_metadata_item", v, "DELETE", "/volume/v3/snapshots/"+sid+"/metadata/a", tokMember, "")
		add("snapshot delete", "snapshots", "delete_snapshot", v, "DELETE", "/volume/v3/snapshots/"+sid, tokMember, "")
		add("delete", "volumes", "delete_volume", v, "DELETE", vols+"/"+id, tokMember, "")
		add("limits", "limits", "show_limits", v, "GET", "/volume/v3/limits", tokMember, "")
		add("quota", "quotas", "show_quota_set", v, "GET", "/volume/v3/os-quota-sets/"+projectA, tokMember, "")
		add("quota usage", "quotas", "show_quota_set_usage", v, "GET", "/volume/v3/os-quota-sets/"+projectA+"?usage=True", tokMember, "")
		add("quota defaults", "quotas", "show_quota_set", v, "GET", "/volume/v3/os-quota-sets/"+projectA+"/defaults", tokMember, "")
		add("quota update", "quotas", "update_quota_set", v, "PUT", "/volume/v3/os-quota-sets/"+projectB, tokAdmin, `{"quota_set": {"volumes": 20}}`)
		add("quota delete", "quotas", "delete_quota_set", v, "DELETE", "/volume/v3/os-quota-sets/"+projectB, tokAdmin, "")
		add("hosts", "hosts", "list_hosts", v, "GET", "/volume/v3/os-hosts", tokAdmin, "")
		add("host", "hosts", "show_host", v, "GET", "/volume/v3/os-hosts/canopy@local", tokAdmin, "")
		add("extensions", "extensions", "list_extensions", v, "GET", "/volume/v3/extensions", tokMember, "")
		name := "type-" + strings.ReplaceAll(v, ".", "-")
		ty := add("type create", "volume_types", "create_volume_type", v, "POST", "/volume/v3/types", tokAdmin, `{"volume_type": {"name": "`+name+`", "description": "d"}}`)
		tid := ty.json(t)["volume_type"].(map[string]any)["id"].(string)
		add("type delete", "volume_types", "delete_volume_type", v, "DELETE", "/volume/v3/types/"+tid, tokAdmin, "")
	}
	for _, c := range checks {
		if c.Version != "" && c.Headers["Openstack-Api-Version"] != "volume "+c.Version {
			t.Errorf("%s@%s: OpenStack-API-Version echo = %q", c.Name, c.Version, c.Headers["Openstack-Api-Version"])
		}
	}
	f := filepath.Join(t.TempDir(), "checks.json")
	data, _ := json.Marshal(checks)
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "validate.py")
	if err := os.WriteFile(script, []byte(validatorScript), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, f).CombinedOutput()
	if err != nil {
		t.Fatalf("tempest's schemas reject %d-check run:\n%s", len(checks), out)
	}
	t.Logf("%d responses match tempest's volume schemas", len(checks))
}
