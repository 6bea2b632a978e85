package identity

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Keystone's JSON views of identity records.

func (s *Service) userView(u *registry.User) map[string]any {
	v := map[string]any{
		"id": u.ID, "name": u.Name, "domain_id": u.DomainID, "enabled": u.Enabled,
		"password_expires_at": nil, "options": map[string]any{},
		"links": map[string]string{"self": s.selfURL("/users/" + u.ID)},
	}
	if u.DefaultProjectID != "" {
		v["default_project_id"] = u.DefaultProjectID
	}
	if u.Description != "" {
		v["description"] = u.Description
	}
	if u.Email != "" {
		v["email"] = u.Email
	}
	return v
}

func (s *Service) projectView(p *registry.IdentityProject) map[string]any {
	parent := p.ParentID
	if parent == "" {
		parent = p.DomainID
	}
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"id": p.ID, "name": p.Name, "domain_id": p.DomainID, "parent_id": parent, "description": p.Description,
		"enabled": p.Enabled, "is_domain": false, "tags": tags, "options": map[string]any{},
		"links": map[string]string{"self": s.selfURL("/projects/" + p.ID)},
	}
}

func (s *Service) domainView(d *registry.Domain) map[string]any {
	return map[string]any{
		"id": d.ID, "name": d.Name, "description": d.Description, "enabled": d.Enabled,
		"tags": []string{}, "options": map[string]any{},
		"links": map[string]string{"self": s.selfURL("/domains/" + d.ID)},
	}
}

func (s *Service) roleView(r *registry.Role) map[string]any {
	v := map[string]any{
		"id": r.ID, "name": r.Name, "domain_id": nil, "options": map[string]any{},
		"links": map[string]string{"self": s.selfURL("/roles/" + r.ID)},
	}
	if r.Description != "" {
		v["description"] = r.Description
	}
	return v
}

// decodeEntity reads {"<key>": {...}} into v, or answers Keystone's 400.
func decodeEntity(r *http.Request, key string, v any) error {
	var env map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &env, false); err != nil {
		return err
	}
	raw, ok := env[key]
	if !ok || string(raw) == "null" {
		return missing(key, "the request body")
	}
	if err := wire.DecodeBytes(raw, v, false); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return wire.BadRequest("Invalid input for field '%s': %s", key, we.Message)
		}
		return err
	}
	return nil
}

// checkName validates a name Keystone stores (1 to 255 characters, not blank).
func checkName(field, name string) error {
	if strings.TrimSpace(name) == "" || len(name) > maxNameLen {
		return wire.BadRequest("Invalid input for field '%s': it must be a non-blank string of at most %d characters.", field, maxNameLen)
	}
	return nil
}

// conflict renders a unique-name clash as Keystone does.
func conflict(err error, kind, name string) error {
	if errors.Is(err, registry.ErrNameTaken) || errors.Is(err, registry.ErrExists) {
		return &wire.Error{Status: http.StatusConflict, Message: "Conflict occurred attempting to store " + kind + " - Duplicate entry found with name " + name + ".", Cause: err}
	}
	return err
}

// notFound renders a missing record as Keystone does: "Could not find user: <id>."
func notFound(err error, kind, id string) error {
	if errors.Is(err, registry.ErrNotFound) {
		return &wire.Error{Status: http.StatusNotFound, Message: "Could not find " + kind + ": " + id + ".", Cause: err}
	}
	return err
}

// boolQuery reads a Keystone boolean filter (?enabled=true|false|1|0).
func boolQuery(r *http.Request, name string) (*bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		t := true
		return &t, nil
	case "false", "0", "no":
		f := false
		return &f, nil
	}
	return nil, wire.BadRequest("Invalid input for query parameter '%s': expected a boolean, got %q.", name, s)
}
