package network

// Every route of the Neutron API in one place. The catalog URL is
// <public>/network; clients append v2.0.
const (
	prefix          = "/network"
	routeRoot       = "GET " + prefix + "/{$}"
	routeRootSlash  = "GET " + prefix
	routeV2         = "GET " + prefix + "/v2.0"
	routeV2Slash    = "GET " + prefix + "/v2.0/{$}"
	routeExtensions = "GET " + prefix + "/v2.0/extensions"
	routeExtension  = "GET " + prefix + "/v2.0/extensions/{alias}"

	routeNetworks = prefix + "/v2.0/networks"
	routeNetwork  = prefix + "/v2.0/networks/{id}"
	routeSubnets  = prefix + "/v2.0/subnets"
	routeSubnet   = prefix + "/v2.0/subnets/{id}"
	routePorts    = prefix + "/v2.0/ports"
	routePort     = prefix + "/v2.0/ports/{id}"

	routeSecGroups = prefix + "/v2.0/security-groups"
	routeSecGroup  = prefix + "/v2.0/security-groups/{id}"
	routeRules     = prefix + "/v2.0/security-group-rules"
	routeRule      = prefix + "/v2.0/security-group-rules/{id}"

	routeRouters        = prefix + "/v2.0/routers"
	routeRouter         = prefix + "/v2.0/routers/{id}"
	routeRouterAddIface = "PUT " + prefix + "/v2.0/routers/{id}/add_router_interface"
	routeRouterDelIface = "PUT " + prefix + "/v2.0/routers/{id}/remove_router_interface"

	routeFloatingIPs = prefix + "/v2.0/floatingips"
	routeFloatingIP  = prefix + "/v2.0/floatingips/{id}"

	routeSubnetPools = prefix + "/v2.0/subnetpools"
	routeSubnetPool  = prefix + "/v2.0/subnetpools/{id}"

	routeQuota        = prefix + "/v2.0/quotas/{project_id}"
	routeQuotaDetails = "GET " + prefix + "/v2.0/quotas/{project_id}/details"
	routeQuotaDefault = "GET " + prefix + "/v2.0/quotas/{project_id}/default"
)

// collectionURL is the absolute URL of a collection, for paging links.
func collectionURL(base, collection string) string {
	return base + prefix + "/v2.0/" + collection
}
