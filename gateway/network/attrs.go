package network

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// attrs is one resource body ({"network": {...}} unwrapped), decoded lazily
// so that each attribute is validated with Neutron's own message.
type attrs map[string]json.RawMessage

// readBody decodes {"<resource>": {...}} and rejects attributes outside
// allowed, as Neutron does ("Unrecognized attribute(s)").
func readBody(r *http.Request, resource string, allowed []string) (attrs, error) {
	var outer map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &outer, false); err != nil {
		return nil, badRequest("%s", wire.FromError(err).Message)
	}
	raw, ok := outer[resource]
	if !ok {
		return nil, badRequest("Unable to find '%s' in request body", resource)
	}
	return parseAttrs(raw, resource, allowed)
}

// parseAttrs decodes one resource object and rejects attributes outside
// allowed.
func parseAttrs(raw json.RawMessage, resource string, allowed []string) (attrs, error) {
	var a attrs
	if err := json.Unmarshal(raw, &a); err != nil || a == nil {
		return nil, badRequest("Invalid input for %s. Reason: the body is not a JSON object.", resource)
	}
	var unknown []string
	for k := range a {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, unrecognized(unknown)
	}
	return a, nil
}

func (a attrs) has(name string) bool { _, ok := a[name]; return ok }

func (a attrs) isNull(name string) bool { return string(a[name]) == "null" }

// str reads a string attribute of at most max characters.
func (a attrs) str(name string, max int) (*string, error) {
	raw, ok := a[name]
	if !ok {
		return nil, nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, invalidAttr(name, "'%s' is not a valid string", string(raw))
	}
	if max > 0 && len([]rune(v)) > max {
		return nil, invalidAttr(name, "'%s' exceeds maximum length of %d", v, max)
	}
	return &v, nil
}

// boolean reads a boolean the way Neutron converts it (true, "true", 1...).
func (a attrs) boolean(name string) (*bool, error) {
	raw, ok := a[name]
	if !ok {
		return nil, nil
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	var out bool
	switch x := v.(type) {
	case bool:
		out = x
	case string:
		b, err := strconv.ParseBool(strings.ToLower(x))
		if err != nil {
			return nil, invalidAttr(name, "'%s' cannot be converted to boolean", x)
		}
		out = b
	case float64:
		if x != 0 && x != 1 {
			return nil, invalidAttr(name, "'%s' cannot be converted to boolean", string(raw))
		}
		out = x == 1
	default:
		return nil, invalidAttr(name, "'%s' cannot be converted to boolean", string(raw))
	}
	return &out, nil
}

// integer reads an integer, also from a numeric string.
func (a attrs) integer(name string) (*int, error) {
	raw, ok := a[name]
	if !ok {
		return nil, nil
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			n := int(x)
			return &n, nil
		}
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return &n, nil
		}
	}
	return nil, invalidAttr(name, "'%s' is not an integer", strings.Trim(string(raw), `"`))
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// uuid reads a UUID attribute.
func (a attrs) uuid(name string) (*string, error) {
	v, err := a.str(name, 0)
	if err != nil || v == nil {
		return v, err
	}
	if !uuidRE.MatchString(*v) {
		return nil, invalidAttr(name, "'%s' is not a valid UUID", *v)
	}
	return v, nil
}

// project resolves project_id/tenant_id against the caller: only an admin
// may act for another project.
func (a attrs) project(p *wire.Principal, rule string) (string, error) {
	pid, err := a.str("project_id", 255)
	if err != nil {
		return "", err
	}
	tid, err := a.str("tenant_id", 255)
	if err != nil {
		return "", err
	}
	if pid != nil && tid != nil && *pid != *tid {
		return "", badRequest("'project_id' and 'tenant_id' do not match")
	}
	want := p.ProjectID
	if pid != nil {
		want = *pid
	} else if tid != nil {
		want = *tid
	}
	if want != p.ProjectID && !p.IsAdmin() {
		return "", policyDenied(rule)
	}
	if want == "" {
		return "", badRequest("Failed to parse request. Required attribute 'project_id' not specified")
	}
	return want, nil
}

func required(name string) *wire.Error {
	return badRequest("Failed to parse request. Required attribute '%s' not specified", name)
}
