package gateway

import "strings"

// Endpoint is one service endpoint in the catalog, as Keystone v3 shows it.
type Endpoint struct {
	ID        string `json:"id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
}

// CatalogEntry is one service in the catalog.
type CatalogEntry struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Name      string     `json:"name"`
	Endpoints []Endpoint `json:"endpoints"`
}

// CatalogService describes a service the gateway serves: its type, name and
// path below the public URL. "{project_id}" in Path is replaced per token.
type CatalogService struct {
	ID   string
	Type string
	Name string
	Path string
}

// DefaultServices are the services `canopy dev` and a default gateway serve.
// Block storage is listed under both types clients look for.
var DefaultServices = []CatalogService{
	{ID: "2b1f6fe0a7e84a9d8d1c4a7e5f000001", Type: "identity", Name: "keystone", Path: "/identity"},
	{ID: "2b1f6fe0a7e84a9d8d1c4a7e5f000002", Type: "compute", Name: "nova", Path: "/compute/v2.1"},
	{ID: "2b1f6fe0a7e84a9d8d1c4a7e5f000003", Type: "network", Name: "neutron", Path: "/network"},
	{ID: "2b1f6fe0a7e84a9d8d1c4a7e5f000004", Type: "image", Name: "glance", Path: "/image"},
	{ID: "2b1f6fe0a7e84a9d8d1c4a7e5f000005", Type: "volumev3", Name: "cinderv3", Path: "/volume/v3/{project_id}"},
	{ID: "2b1f6fe0a7e84a9d8d1c4a7e5f000006", Type: "block-storage", Name: "cinder", Path: "/volume/v3/{project_id}"},
}

// Catalog builds the service catalog for a token scoped to projectID
// ("" for unscoped: no project-bearing endpoints are listed then).
func Catalog(publicURL, region string, services []CatalogService, projectID string) []CatalogEntry {
	publicURL = strings.TrimRight(publicURL, "/")
	out := make([]CatalogEntry, 0, len(services))
	for _, s := range services {
		if strings.Contains(s.Path, "{project_id}") && projectID == "" {
			continue
		}
		url := publicURL + strings.ReplaceAll(s.Path, "{project_id}", projectID)
		e := CatalogEntry{ID: s.ID, Type: s.Type, Name: s.Name}
		for i, iface := range []string{"public", "internal", "admin"} {
			e.Endpoints = append(e.Endpoints, Endpoint{
				ID: s.ID[:30] + string(rune('a'+i)) + "0", Interface: iface, Region: region, RegionID: region, URL: url,
			})
		}
		out = append(out, e)
	}
	return out
}
