package network

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// listVersions answers GET /network/ (200, as tempest's schema demands).
func (s *Service) listVersions(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]string{"rel": "self", "href": wire.BaseURL(r) + prefix + "/v2.0/"}},
	}}})
	return nil
}

// listResources answers GET /network/v2.0/ with the resources served.
func (s *Service) listResources(w http.ResponseWriter, r *http.Request) error {
	base := wire.BaseURL(r) + prefix + "/v2.0/"
	var res []any
	for _, c := range [][2]string{{"network", "networks"}, {"subnet", "subnets"}, {"port", "ports"},
		{"security_group", "security-groups"}, {"security_group_rule", "security-group-rules"}, {"router", "routers"}, {"floatingip", "floatingips"}, {"subnetpool", "subnetpools"}, {"quota", "quotas"}} {
		res = append(res, map[string]any{
			"name": c[0], "collection": c[1],
			"links": []any{map[string]string{"rel": "self", "href": base + c[1]}},
		})
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"resources": res})
	return nil
}

// extension is one entry of GET /v2.0/extensions.
type extension struct {
	Alias       string   `json:"alias"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Updated     string   `json:"updated"`
	Links       []string `json:"links"`
}

// extensions lists exactly the Neutron extensions this service implements:
// the attributes it shows and accepts, and the list behaviour it honours.
// Tempest gates its tests on this list, so nothing unimplemented is here.
var extensions = []extension{
	{"external-net", "Neutron external network", "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00", []string{}},
	{"net-mtu", "Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00", []string{}},
	{"project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled.", "2016-09-09T09:09:09-09:09", []string{}},
	{"standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00", []string{}},
	{"standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources.", "2016-04-11T10:00:00-00:00", []string{}},
	{"standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.", "2016-09-12T10:00:00-00:00", []string{}},
	{"filter-validation", "Filter parameters validation", "Provides validation on filter parameters.", "2018-03-21T10:00:00-00:00", []string{}},
	{"pagination", "Pagination support", "Extension that indicates that pagination is enabled.", "2016-06-12T00:00:00-00:00", []string{}},
	{"sorting", "Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00", []string{}},
	{"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00", []string{}},
	{"security-group", "security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00", []string{}},
	{"router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00", []string{}},
	{"ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway", "2013-03-28T10:00:00-00:00", []string{}},
	{"extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router", "2013-02-01T10:00:00-00:00", []string{}},
	{"subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool", "2015-03-30T10:00:00-00:00", []string{}},
	{"quotas", "Quota management support", "Expose functions for quotas management per project", "2012-07-29T10:00:00-00:00", []string{}},
	{"quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project", "2017-02-10T10:00:00-00:00", []string{}},
}

func (s *Service) listExtensions(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, map[string]any{"extensions": extensions})
	return nil
}

func (s *Service) showExtension(w http.ResponseWriter, r *http.Request) error {
	alias := r.PathValue("alias")
	for _, e := range extensions {
		if e.Alias == alias {
			wire.WriteJSON(w, http.StatusOK, map[string]any{"extension": e})
			return nil
		}
	}
	return wire.NotFound("Extension with alias %s does not exist", alias).WithType("HTTPNotFound")
}
