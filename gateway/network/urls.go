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
)

// collectionURL is the absolute URL of a collection, for paging links.
func collectionURL(base, collection string) string {
	return base + prefix + "/v2.0/" + collection
}
