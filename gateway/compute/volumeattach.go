package compute

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// devicePattern is Nova's parameter_types for a volume attachment's device.
var devicePattern = regexp.MustCompile(`(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$`)

// renderVolumeAttachment shapes an attachment as os-volume_attachments
// shows it: the id is the volume's (until 2.89); from 2.70 with its tag,
// from 2.79 with delete_on_termination.
func renderVolumeAttachment(serverID string, a broker.VolumeAttachment, v wire.Version) map[string]any {
	out := map[string]any{"id": a.VolumeID, "volumeId": a.VolumeID, "serverId": serverID, "device": a.Device}
	if a.Device == "" {
		out["device"] = nil
	}
	if v.AtLeast(2, 70) {
		out["tag"] = nil
		if a.Tag != "" {
			out["tag"] = a.Tag
		}
	}
	if v.AtLeast(2, 79) {
		out["delete_on_termination"] = a.DeleteOnTermination
	}
	return out
}

// listVolumeAttachments answers GET /servers/{id}/os-volume_attachments.
func (s *Service) listVolumeAttachments(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	id := r.PathValue("id")
	list, err := s.b.ListVolumeAttachments(r.Context(), caller(r), id)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, a := range list {
		out = append(out, renderVolumeAttachment(id, a, v))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachments": out})
	return nil
}

// showVolumeAttachment answers GET /servers/{id}/os-volume_attachments/{volume}.
func (s *Service) showVolumeAttachment(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	id := r.PathValue("id")
	a, err := s.b.GetVolumeAttachment(r.Context(), caller(r), id, r.PathValue("volume"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachment": renderVolumeAttachment(id, a, v)})
	return nil
}

// attachVolume answers POST /servers/{id}/os-volume_attachments (200, as
// Nova).
func (s *Service) attachVolume(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	var body struct {
		Attachment *struct {
			VolumeID            *string `json:"volumeId"`
			Device              *string `json:"device"`
			Tag                 *string `json:"tag"`
			DeleteOnTermination *bool   `json:"delete_on_termination"`
		} `json:"volumeAttachment"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	a := body.Attachment
	if a == nil {
		return wire.BadRequest("Invalid input for field/attribute volumeAttachment. Value: None. 'volumeAttachment' is a required property")
	}
	if a.Tag != nil && !v.AtLeast(2, 49) {
		return invalidField("volumeAttachment", "", "Additional properties are not allowed ('tag' was unexpected)")
	}
	if a.DeleteOnTermination != nil && !v.AtLeast(2, 79) {
		return invalidField("volumeAttachment", "", "Additional properties are not allowed ('delete_on_termination' was unexpected)")
	}
	if a.VolumeID == nil {
		return invalidField("volumeAttachment", "", "'volumeId' is a required property")
	}
	if !isUUID(*a.VolumeID) {
		return invalidField("volumeId", *a.VolumeID, "'"+*a.VolumeID+"' is not a 'uuid'")
	}
	req := broker.AttachVolumeRequest{VolumeID: *a.VolumeID}
	if a.Device != nil {
		if !devicePattern.MatchString(*a.Device) {
			return invalidField("device", *a.Device, "'"+*a.Device+"' does not match '"+devicePattern.String()+"'")
		}
		req.Device = *a.Device
	}
	if a.Tag != nil {
		if len(*a.Tag) > 60 || strings.ContainsAny(*a.Tag, "/,") {
			return invalidField("tag", *a.Tag, "'"+*a.Tag+"' does not match '^[^,/]*$'")
		}
		req.Tag = *a.Tag
	}
	if a.DeleteOnTermination != nil {
		req.DeleteOnTermination = *a.DeleteOnTermination
	}
	att, err := s.b.AttachVolume(r.Context(), caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachment": renderVolumeAttachment(r.PathValue("id"), att, v)})
	return nil
}

// swapVolume answers PUT /servers/{id}/os-volume_attachments/{volume}:
// swapping is admin-only in Nova and not offered by Canopy's clouds.
func (s *Service) swapVolume(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireAdmin(r, "os_compute_api:os-volumes-attachments:swap"); err != nil {
		return err
	}
	return wire.NotImplemented("Swapping volumes is not supported by this cloud.")
}

// detachVolume answers DELETE /servers/{id}/os-volume_attachments/{volume} (202).
func (s *Service) detachVolume(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	return accepted(w, s.b.DetachVolume(r.Context(), caller(r), r.PathValue("id"), r.PathValue("volume")))
}

// volumeRef is one entry of a server's os-extended-volumes:volumes_attached;
// delete_on_termination from 2.3.
type volumeRef struct {
	ID                  string `json:"id"`
	DeleteOnTermination *bool  `json:"delete_on_termination,omitempty"`
}

// addVolumes fills os-extended-volumes:volumes_attached of rendered detail
// views from the servers' attachment records.
func (s *Service) addVolumes(r *http.Request, v wire.Version, docs []*serverDoc) error {
	var srvs []*registry.Server
	for _, d := range docs {
		if d.VolumesAttached != nil {
			srvs = append(srvs, &registry.Server{ID: d.ID, ProjectID: d.TenantID})
		}
	}
	if len(srvs) == 0 {
		return nil
	}
	byServer, err := s.b.ServerAttachments(r.Context(), srvs)
	if err != nil {
		return err
	}
	for _, d := range docs {
		list := byServer[d.ID]
		if d.VolumesAttached == nil || len(list) == 0 {
			continue
		}
		refs := make([]volumeRef, 0, len(list))
		for _, a := range list {
			ref := volumeRef{ID: a.VolumeID}
			if v.AtLeast(2, 3) {
				dot := a.DeleteOnTermination
				ref.DeleteOnTermination = &dot
			}
			refs = append(refs, ref)
		}
		d.VolumesAttached = &refs
	}
	return nil
}
