package blockstorage

import (
	"net/http"
	"strconv"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

func volumeField(v *Volume, key string) any {
	switch key {
	case "id":
		return v.ID
	case "name":
		return v.Name
	case "status":
		return v.Status
	case "size":
		return v.Size
	case "updated_at":
		return v.Updated
	case "availability_zone":
		return v.AvailabilityZone
	case "bootable":
		return v.Bootable
	case "volume_id":
		return v.ID
	}
	return v.Created
}

// listed reads, refreshes, filters and pages the volumes a list shows.
func (s *Service) listed(r *http.Request) ([]*Volume, bool, error) {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	q := r.URL.Query()
	lq, err := parseListQuery(q)
	if err != nil {
		return nil, false, err
	}
	project := p.ProjectID
	if all, _ := strconv.ParseBool(q.Get("all_tenants")); all && p.IsAdmin() {
		project = "*"
		if pid := q.Get("project_id"); pid != "" {
			project = pid
		}
	}
	var md map[string]string
	if m := q.Get("metadata"); m != "" {
		if md, err = parseMetadataFilter(m); err != nil {
			return nil, false, err
		}
	}
	name := q.Get("name")
	if name == "" {
		name = q.Get("display_name")
	}
	all, err := s.volumes.List(ctx, project, registry.Page{})
	if err != nil {
		return nil, false, err
	}
	out := all[:0]
	for _, v := range all {
		if v = s.refresh(ctx, v); v == nil {
			continue
		}
		switch {
		case name != "" && v.Name != name,
			q.Has("status") && v.Status != q.Get("status"),
			q.Has("availability_zone") && v.AvailabilityZone != q.Get("availability_zone"),
			q.Has("bootable") && strconv.FormatBool(v.Bootable) != boolParam(q.Get("bootable")),
			md != nil && !hasMetadata(v.Metadata, md):
			continue
		}
		out = append(out, v)
	}
	return page(out, lq, func(v *Volume) string { return v.ID }, volumeField)
}

// boolParam normalises Cinder's boolean query values.
func boolParam(s string) string {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return s
	}
	return strconv.FormatBool(b)
}

func (s *Service) listVolumes(w http.ResponseWriter, r *http.Request) error {
	vols, more, err := s.listed(r)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(vols))
	for _, v := range vols {
		out = append(out, map[string]any{"id": v.ID, "name": v.Name, "links": links(r, v.ProjectID, "volumes", v.ID)})
	}
	body := map[string]any{"volumes": out}
	if more {
		body["volumes_links"] = nextLink(r, vols[len(vols)-1].ID)
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}

func (s *Service) listVolumesDetail(w http.ResponseWriter, r *http.Request) error {
	vols, more, err := s.listed(r)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(vols))
	for _, v := range vols {
		out = append(out, volumeView(r, v, true))
	}
	body := map[string]any{"volumes": out}
	if more {
		body["volumes_links"] = nextLink(r, vols[len(vols)-1].ID)
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}
