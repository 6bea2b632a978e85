package identity

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// forbidden is Keystone's 403 text, naming the policy rule that refused.
func forbidden(rule string) *wire.Error {
	return wire.Forbidden("You are not authorized to perform the requested action: %s.", rule)
}

// requireAdmin lets only holders of the admin role through.
func requireAdmin(r *http.Request, rule string) (*wire.Principal, error) {
	p := wire.PrincipalFrom(r.Context())
	if !p.IsAdmin() {
		return nil, forbidden(rule)
	}
	return p, nil
}

// requireSelfOrAdmin lets a user act on their own record, or an admin on any.
func requireSelfOrAdmin(r *http.Request, userID, rule string) (*wire.Principal, error) {
	p := wire.PrincipalFrom(r.Context())
	if p == nil || (p.UserID != userID && !p.IsAdmin()) {
		return nil, forbidden(rule)
	}
	return p, nil
}

// selfURL is the absolute URL of an identity v3 path, for "links".
func (s *Service) selfURL(path string) string { return s.opts.PublicURL + "/identity/v3" + path }

// listLinks is the "links" object of a Keystone collection.
func (s *Service) listLinks(r *http.Request) map[string]any {
	u := s.opts.PublicURL + r.URL.Path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return map[string]any{"self": u, "previous": nil, "next": nil}
}
