package compute

import (
	"net/http"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Quotas are read-only here: the broker's defaults, with usage counted
// from the registry (instances, cores and RAM from the broker's usage
// hash; key pairs and server groups from their records).

// quotaItems are the quota-set fields per microversion, with their limits.
func quotaItems(q broker.Quota, v wire.Version) map[string]int {
	m := map[string]int{
		"instances": q.Instances, "cores": q.Cores, "ram": q.RAM, "metadata_items": q.MetadataItems,
		"key_pairs": q.KeyPairs, "server_groups": q.ServerGroups, "server_group_members": q.ServerGroupMembers,
	}
	if !v.AtLeast(2, 57) {
		m["injected_files"], m["injected_file_content_bytes"], m["injected_file_path_bytes"] = q.InjectedFiles, q.InjectedFileBytes, q.InjectedPathBytes
	}
	if !v.AtLeast(2, 36) {
		m["floating_ips"], m["fixed_ips"], m["security_groups"], m["security_group_rules"] = 10, -1, 10, 20
	}
	return m
}

// quotaProject checks who may read project's quota: its members and admins.
func quotaProject(r *http.Request) (string, error) {
	project := r.PathValue("project")
	if c := caller(r); project != c.ProjectID && !c.IsAdmin {
		return "", wire.Forbidden("Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.")
	}
	return project, nil
}

func (s *Service) quotaSet(detail bool) handler {
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		project, err := quotaProject(r)
		if err != nil {
			return err
		}
		items := quotaItems(s.b.Quota(), v)
		out := map[string]any{"id": project}
		if !detail && r.URL.Query().Get("usage") != "true" {
			for k, n := range items {
				out[k] = n
			}
			wire.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": out})
			return nil
		}
		used, err := s.usage(r, project)
		if err != nil {
			return err
		}
		for k, n := range items {
			out[k] = map[string]int{"limit": n, "in_use": used[k], "reserved": 0}
		}
		wire.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": out})
		return nil
	}
}

func (s *Service) quotaDefaults(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	out := map[string]any{"id": r.PathValue("project")}
	for k, n := range quotaItems(s.b.Quota(), v) {
		out[k] = n
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": out})
	return nil
}

// usage counts what project uses, by quota item.
func (s *Service) usage(r *http.Request, project string) (map[string]int, error) {
	u, err := s.b.Usage(r.Context(), project)
	if err != nil {
		return nil, err
	}
	groups, err := s.groups.Count(r.Context(), project)
	if err != nil {
		return nil, err
	}
	keypairs, err := s.countKeypairs(r, caller(r).UserID)
	if err != nil {
		return nil, err
	}
	return map[string]int{"instances": u.Instances, "cores": u.Cores, "ram": u.RAM, "server_groups": int(groups), "key_pairs": keypairs}, nil
}

// limits answers GET /limits: absolute limits and usage, no rate limits.
func (s *Service) limits(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	q := s.b.Quota()
	project := caller(r).ProjectID
	if t := r.URL.Query().Get("tenant_id"); t != "" && isAdmin(r) {
		project = t
	}
	used, err := s.usage(r, project)
	if err != nil {
		return err
	}
	abs := map[string]int{
		"maxTotalInstances": q.Instances, "maxTotalCores": q.Cores, "maxTotalRAMSize": q.RAM,
		"maxServerMeta": q.MetadataItems, "maxTotalKeypairs": q.KeyPairs, "maxServerGroups": q.ServerGroups,
		"maxServerGroupMembers": q.ServerGroupMembers,
		"totalInstancesUsed":    used["instances"], "totalCoresUsed": used["cores"], "totalRAMUsed": used["ram"],
		"totalServerGroupsUsed": used["server_groups"],
	}
	if !v.AtLeast(2, 57) {
		abs["maxPersonality"], abs["maxPersonalitySize"] = q.InjectedFiles, q.InjectedFileBytes
	}
	if !v.AtLeast(2, 39) {
		abs["maxImageMeta"] = q.MetadataItems
	}
	if !v.AtLeast(2, 36) {
		abs["maxSecurityGroupRules"], abs["maxSecurityGroups"], abs["maxTotalFloatingIps"] = 20, 10, 10
		abs["totalFloatingIpsUsed"], abs["totalSecurityGroupsUsed"] = 0, 0
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
	return nil
}

// listZones answers GET /os-availability-zone (and /detail for admins).
func (s *Service) listZones(detail bool) handler {
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		if detail {
			if err := requireAdmin(r, "os_compute_api:os-availability-zone:detail"); err != nil {
				return err
			}
		}
		zones, err := s.opts.Zones(r.Context())
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(zones))
		for _, z := range zones {
			e := map[string]any{"zoneName": z.Name, "zoneState": map[string]bool{"available": z.Available}, "hosts": nil}
			if detail && len(z.Hosts) > 0 {
				hosts := map[string]any{}
				for _, h := range z.Hosts {
					hosts[h] = map[string]any{"nova-compute": map[string]any{"available": z.Available, "active": true, "updated_at": nil}}
				}
				e["hosts"] = hosts
			}
			out = append(out, e)
		}
		wire.WriteJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": out})
		return nil
	}
}
