package compute

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Nova's security-group proxy views: groups and their ingress rules in
// Nova's old format, from the network service's groups.

// renderSecGroup shapes a group as os-security-groups shows it.
func renderSecGroup(g broker.SecurityGroup) map[string]any {
	rules := []map[string]any{}
	for _, r := range g.Rules {
		if r.Direction != "ingress" {
			continue
		}
		from, to := r.FromPort, r.ToPort
		if r.Protocol != "" && from == nil && to == nil {
			switch strings.ToLower(r.Protocol) {
			case "tcp", "udp", "6", "17":
				lo, hi := 1, 65535
				from, to = &lo, &hi
			case "icmp", "1":
				all := -1
				from, to = &all, &all
			}
		}
		rule := map[string]any{
			"id": r.ID, "parent_group_id": g.ID, "ip_protocol": strOrNil(r.Protocol),
			"from_port": from, "to_port": to, "group": map[string]string{}, "ip_range": map[string]string{},
		}
		if r.RemoteGroup != "" {
			rule["group"] = map[string]string{"name": r.RemoteGroup, "tenant_id": r.RemoteTenant}
		} else {
			cidr := r.CIDR
			if cidr == "" {
				cidr = "0.0.0.0/0" // Nova's parse_cidr of an absent prefix
			}
			rule["ip_range"] = map[string]string{"cidr": cidr}
		}
		rules = append(rules, rule)
	}
	return map[string]any{"id": g.ID, "name": g.Name, "description": g.Description, "tenant_id": g.ProjectID, "rules": rules}
}

// listServerSecGroups answers GET /servers/{id}/os-security-groups.
func (s *Service) listServerSecGroups(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	groups, err := s.b.ServerSecurityGroups(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(groups))
	for _, g := range groups {
		out = append(out, renderSecGroup(g))
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"security_groups": out})
	return nil
}

// secGroupAction answers addSecurityGroup and removeSecurityGroup (202).
func (s *Service) secGroupAction(w http.ResponseWriter, r *http.Request, action string, arg json.RawMessage) error {
	var a struct {
		Name *string `json:"name"`
	}
	if err := strictArg(action, arg, &a); err != nil {
		return err
	}
	if a.Name == nil {
		return wire.BadRequest("Invalid input for field/attribute %s. Value: %s. 'name' is a required property", action, compact(arg))
	}
	if *a.Name == "" {
		return invalidField("name", "", "'' is too short")
	}
	ctx, c, id := r.Context(), caller(r), r.PathValue("id")
	if action == "addSecurityGroup" {
		return accepted(w, s.b.AddSecurityGroup(ctx, c, id, *a.Name))
	}
	return accepted(w, s.b.RemoveSecurityGroup(ctx, c, id, *a.Name))
}
