package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// CloudRegistry is the optional part of Clouds that registers, reconfigures
// and removes clouds while the gateway runs (the app implements it). A
// cloud's entry has canopy.yaml's shape (config.Cloud): name, type,
// availability_zone and the type's section, with credentials by reference.
type CloudRegistry interface {
	// RegisterCloud adds c; created is false when the same entry was
	// already registered (a retry).
	RegisterCloud(ctx context.Context, c config.Cloud) (created bool, err error)
	// RegisteredEntry is a registered cloud's entry as stored.
	RegisteredEntry(ctx context.Context, name string) (config.Cloud, bool, error)
	// ReconfigureCloud replaces a registered cloud's entry.
	ReconfigureCloud(ctx context.Context, c config.Cloud) error
	// RemoveCloud removes a registered cloud that holds nothing.
	RemoveCloud(ctx context.Context, name string) error
}

// entryKeys are the keys of a cloud entry; placementKeys are PATCH's keys
// for placement (enabled, disabled_reason).
var (
	entryKeys     = []string{"name", "type", "availability_zone", "country", "region", "openstack", "vsphere", "aws", "azure", "local"}
	placementKeys = []string{"enabled", "disabled_reason"}
)

func (s *Service) registry() (CloudRegistry, error) {
	if r, ok := s.clouds.(CloudRegistry); ok {
		return r, nil
	}
	return nil, wire.NotImplemented("This gateway cannot register or remove clouds while it runs.")
}

// readCloudBody reads {"cloud": {...}} and returns its members.
func readCloudBody(r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, wire.MaxBodyBytes+1))
	if err != nil {
		return nil, wire.BadRequest("could not read the request body")
	}
	if len(body) > wire.MaxBodyBytes {
		return nil, wire.Errorf(http.StatusRequestEntityTooLarge, "Request is too large.")
	}
	var doc struct {
		Cloud map[string]json.RawMessage `json:"cloud"`
	}
	if err := wire.DecodeBytes(body, &doc, true); err != nil {
		return nil, err
	}
	if doc.Cloud == nil {
		return nil, wire.BadRequest("Invalid input for field/attribute cloud: a \"cloud\" object is required.")
	}
	return doc.Cloud, nil
}

// entryFrom decodes the entry keys of m into a config.Cloud, strictly (an
// unknown key inside a section is an error naming it).
func entryFrom(m map[string]json.RawMessage) (config.Cloud, error) {
	var c config.Cloud
	sub := map[string]json.RawMessage{}
	for k, v := range m {
		if slices.Contains(entryKeys, k) {
			sub[k] = v
		}
	}
	raw, err := json.Marshal(sub)
	if err != nil {
		return c, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, wire.BadRequest("Invalid input for field/attribute cloud: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return c, nil
}

// registerCloud answers POST /admin/v1/clouds: 201 with the cloud (its
// health from a first inventory call), or 200 when the same entry was
// already registered.
func (s *Service) registerCloud(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	m, err := readCloudBody(r)
	if err != nil {
		return err
	}
	for k := range m {
		if !slices.Contains(entryKeys, k) {
			return wire.BadRequest("Invalid input for field/attribute %s: unknown (a cloud takes %s).", k, strings.Join(entryKeys[:len(entryKeys)-1], ", "))
		}
	}
	c, err := entryFrom(m)
	if err != nil {
		return err
	}
	created, err := reg.RegisterCloud(r.Context(), c)
	if err != nil {
		return err
	}
	view, err := s.findCloud(r.Context(), c.Name)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/admin/v1/clouds/"+c.Name)
	}
	wire.WriteJSON(w, status, map[string]any{"cloud": view})
	return nil
}

// reconfigure applies the entry keys of a PATCH body to a registered
// cloud: the given keys replace the stored ones (a section is replaced
// whole); name cannot change.
func (s *Service) reconfigure(ctx context.Context, name string, m map[string]json.RawMessage) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	if v, ok := m["name"]; ok {
		var n string
		if json.Unmarshal(v, &n) != nil || n != name {
			return wire.BadRequest("Invalid input for field/attribute name: a cloud cannot be renamed.")
		}
	}
	cur, ok, err := reg.RegisteredEntry(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return wire.Conflict("Cloud %s is defined in canopy.yaml; change it there and restart the gateway.", name)
	}
	// The stored entry, as JSON members, overlaid with the given keys.
	raw, err := yaml.Marshal(cur)
	if err != nil {
		return err
	}
	var base map[string]any
	if err := yaml.Unmarshal(raw, &base); err != nil {
		return err
	}
	merged := map[string]json.RawMessage{}
	for k, v := range base {
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		merged[k] = b
	}
	for k, v := range m {
		if slices.Contains(entryKeys, k) {
			merged[k] = v
		}
	}
	c, err := entryFrom(merged)
	if err != nil {
		return err
	}
	return reg.ReconfigureCloud(ctx, c)
}

// removeCloud answers DELETE /admin/v1/clouds/{name}: 204 once the cloud
// is gone; 409 while it holds servers, volumes or snapshots, or when
// canopy.yaml defines it.
func (s *Service) removeCloud(w http.ResponseWriter, r *http.Request) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	if err := reg.RemoveCloud(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
