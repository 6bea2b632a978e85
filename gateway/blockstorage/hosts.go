package blockstorage

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Cinder's os-hosts (admin): one cinder-volume "host" per cloud that holds
// volumes, named canopy@<cloud> as a Cinder backend host is.

func hostName(cloud string) string { return "canopy@" + cloud }

func (s *Service) listHosts(w http.ResponseWriter, r *http.Request) error {
	if err := adminOnly(r, "volume_extension:hosts"); err != nil {
		return err
	}
	zones := make([]string, 0, len(s.Zones()))
	for z := range s.Zones() {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	out := make([]any, 0, len(zones))
	for _, z := range zones {
		state := "available"
		if _, err := s.driver(s.Zones()[z]); err != nil {
			state = "unavailable"
		}
		out = append(out, map[string]any{"host_name": hostName(s.Zones()[z]), "service": "cinder-volume", "zone": z,
			"service-status": state, "service-state": "enabled", "last-update": nil})
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"hosts": out})
	return nil
}

// showHost sums the volumes and snapshots on one host, in total and per
// project, as Cinder's os-hosts/{host} does.
func (s *Service) showHost(w http.ResponseWriter, r *http.Request) error {
	if err := adminOnly(r, "volume_extension:hosts"); err != nil {
		return err
	}
	host := r.PathValue("host")
	cloud, ok := strings.CutPrefix(host, "canopy@")
	if !ok || !s.backends.Has(cloud) {
		return wire.NotFound("Host %s could not be found.", host)
	}
	ctx := r.Context()
	vols, err := s.volumes.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	snaps, err := s.snapshots.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	type sums struct{ vols, volGB, snaps, snapGB int }
	per := map[string]*sums{}
	total := &sums{}
	at := func(p string) *sums {
		if per[p] == nil {
			per[p] = &sums{}
		}
		return per[p]
	}
	for _, v := range vols {
		if v.Routing.Cloud == cloud {
			for _, c := range []*sums{total, at(v.ProjectID)} {
				c.vols++
				c.volGB += v.Size
			}
		}
	}
	for _, sn := range snaps {
		if sn.Cloud == cloud {
			for _, c := range []*sums{total, at(sn.ProjectID)} {
				c.snaps++
				c.snapGB += sn.Size
			}
		}
	}
	view := func(project string, c *sums) any {
		return map[string]any{"resource": map[string]string{"host": host, "project": project,
			"volume_count": strconv.Itoa(c.vols), "total_volume_gb": strconv.Itoa(c.volGB),
			"snapshot_count": strconv.Itoa(c.snaps), "total_snapshot_gb": strconv.Itoa(c.snapGB)}}
	}
	projects := make([]string, 0, len(per))
	for p := range per {
		projects = append(projects, p)
	}
	sort.Strings(projects)
	out := []any{view("(total)", total)}
	for _, p := range projects {
		out = append(out, view(p, per[p]))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"host": out})
	return nil
}
