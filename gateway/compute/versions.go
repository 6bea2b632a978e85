package compute

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// versionLink is a link of a version document.
type versionLink struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
	Type string `json:"type,omitempty"`
}

type mediaType struct {
	Base string `json:"base"`
	Type string `json:"type"`
}

type versionDoc struct {
	ID         string        `json:"id"`
	Status     string        `json:"status"`
	Version    string        `json:"version"`
	MinVersion string        `json:"min_version"`
	Updated    string        `json:"updated"`
	Links      []versionLink `json:"links"`
	MediaTypes []mediaType   `json:"media-types,omitempty"`
}

func v21Doc(base string, media bool) versionDoc {
	d := versionDoc{
		ID: "v2.1", Status: "CURRENT", Version: MaxMicroversion.String(), MinVersion: "2.1", Updated: "2013-07-23T11:33:21Z",
		Links: []versionLink{{Rel: "self", Href: base + "/compute/v2.1/"}},
	}
	if media {
		d.Links = append(d.Links, versionLink{Rel: "describedby", Type: "text/html", Href: "http://docs.openstack.org/"})
		d.MediaTypes = []mediaType{{Base: "application/json", Type: "application/vnd.openstack.compute+json;version=2.1"}}
	}
	return d
}

// versions answers GET /compute/: the API versions (no token needed).
func (s *Service) versions(w http.ResponseWriter, r *http.Request) error {
	base := wire.BaseURL(r)
	wire.WriteJSON(w, http.StatusOK, map[string]any{"versions": []versionDoc{
		{ID: "v2.0", Status: "SUPPORTED", Updated: "2011-01-21T11:33:21Z",
			Links: []versionLink{{Rel: "self", Href: base + "/compute/v2/"}}},
		v21Doc(base, false),
	}})
	return nil
}

// version answers GET /compute/v2.1: the v2.1 document with its
// microversion range, which the SDK reads to negotiate.
func (s *Service) version(w http.ResponseWriter, r *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, map[string]any{"version": v21Doc(wire.BaseURL(r), true)})
	return nil
}
