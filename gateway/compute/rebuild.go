package compute

import (
	"encoding/json"
	"net/http"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// rebuildArgs is the body of Nova's rebuild action (v2.1 schema, with the
// later microversions' fields checked where they begin).
type rebuildArgs struct {
	ImageRef    *string           `json:"imageRef"`
	Name        *string           `json:"name"`
	AdminPass   *string           `json:"adminPass"`
	Metadata    map[string]string `json:"metadata"`
	DiskConfig  *string           `json:"OS-DCF:diskConfig"`
	AccessIPv4  *string           `json:"accessIPv4"`
	AccessIPv6  *string           `json:"accessIPv6"`
	Preserve    *bool             `json:"preserve_ephemeral"`
	Description json.RawMessage   `json:"description"`
	KeyName     json.RawMessage   `json:"key_name"`
	UserData    json.RawMessage   `json:"user_data"`
	Personality json.RawMessage   `json:"personality"`
}

// rebuildDoc is the rebuild response: the server (the update view before
// 2.75, the detail view after), the new admin password, and from 2.57 the
// server's user_data.
type rebuildDoc struct {
	*serverDoc
	RebuildUserData json.RawMessage `json:"user_data,omitempty"`
	AdminPass       string          `json:"adminPass"`
}

// rebuild answers the rebuild action: 202 with the server as the rebuild
// starts (status REBUILD).
func (s *Service) rebuild(w http.ResponseWriter, r *http.Request, v wire.Version, arg json.RawMessage) error {
	var a rebuildArgs
	if err := strictArg("rebuild", arg, &a); err != nil {
		return err
	}
	switch {
	case a.Description != nil:
		return wire.NotImplemented("Changing the description on rebuild is not supported by this cloud.")
	case a.KeyName != nil, a.UserData != nil:
		return wire.NotImplemented("Changing key_name or user_data on rebuild is not supported by this cloud.")
	case a.Personality != nil:
		return wire.NotImplemented("Personality files are not supported by this cloud.")
	case a.Preserve != nil && *a.Preserve:
		return wire.NotImplemented("preserve_ephemeral is not supported by this cloud.")
	case a.AccessIPv4 != nil, a.AccessIPv6 != nil, a.DiskConfig != nil:
		return wire.NotImplemented("Changing access IPs or the disk config on rebuild is not supported by this cloud.")
	}
	if a.ImageRef == nil {
		return wire.BadRequest("Invalid input for field/attribute rebuild. Value: %s. 'imageRef' is a required property", compact(arg))
	}
	ref := lastSegment(*a.ImageRef)
	if !isUUID(ref) {
		return wire.BadRequest("Invalid imageRef provided.")
	}
	if a.Name != nil {
		if err := checkName("name", *a.Name); err != nil {
			return err
		}
	}
	if err := checkMetadata("metadata", a.Metadata); err != nil {
		return err
	}
	pass := newPassword()
	if a.AdminPass != nil {
		pass = *a.AdminPass
	}
	srv, err := s.b.RebuildServer(r.Context(), caller(r), r.PathValue("id"), broker.RebuildRequest{
		ImageID: ref, Name: a.Name, Metadata: a.Metadata,
	})
	if err != nil {
		return err
	}
	mode := viewUpdate
	if v.AtLeast(2, 75) {
		mode = viewDetail
	}
	d := renderServer(wire.BaseURL(r), srv, v, mode, isAdmin(r))
	if err := s.addVolumes(r, v, []*serverDoc{d}); err != nil {
		return err
	}
	s.addServerGroups(d, srv, v)
	if v.AtLeast(2, 54) {
		d.KeyName = rawString(srv.KeyName, true)
	}
	out := rebuildDoc{serverDoc: d, AdminPass: pass}
	if v.AtLeast(2, 57) {
		out.RebuildUserData = rawString(srv.UserData, true)
	}
	wire.WriteJSON(w, http.StatusAccepted, map[string]any{"server": out})
	return nil
}

// resize answers the resize action (202); the server goes RESIZE, then
// VERIFY_RESIZE.
func (s *Service) resize(w http.ResponseWriter, r *http.Request, arg json.RawMessage) error {
	var a struct {
		FlavorRef  json.RawMessage `json:"flavorRef"`
		DiskConfig *string         `json:"OS-DCF:diskConfig"`
	}
	if err := strictArg("resize", arg, &a); err != nil {
		return err
	}
	if a.FlavorRef == nil {
		return wire.BadRequest("Invalid input for field/attribute resize. Value: %s. 'flavorRef' is a required property", compact(arg))
	}
	if string(a.FlavorRef) == "null" {
		return invalidField("flavorRef", "None", "None is not of type 'string', 'integer'")
	}
	flavor, err := stringOrInt("flavorRef", a.FlavorRef)
	if err != nil {
		return err
	}
	if flavor == "" {
		return invalidField("flavorRef", "", "'' is too short")
	}
	if a.DiskConfig != nil && *a.DiskConfig != "AUTO" && *a.DiskConfig != "MANUAL" {
		return invalidField("OS-DCF:diskConfig", *a.DiskConfig, "'"+*a.DiskConfig+"' is not one of ['AUTO', 'MANUAL']")
	}
	return accepted(w, s.b.ResizeServer(r.Context(), caller(r), r.PathValue("id"), lastSegment(flavor)))
}
