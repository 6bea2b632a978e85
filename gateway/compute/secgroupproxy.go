package compute

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Nova's os-security-groups proxy to the network service, deprecated at
// 2.36: from that microversion it answers 404, as Nova does.

func proxyGone(v wire.Version) error {
	if v.AtLeast(2, 36) {
		return wire.NotFound("The resource could not be found.")
	}
	return nil
}

// groupBody reads {"security_group": {"name", "description"}} with Nova's
// validate_property rules: both strings, 1-255 characters once trimmed.
func groupBody(r *http.Request) (string, string, error) {
	var body map[string]json.RawMessage
	if err := wire.DecodeJSON(r, &body, false); err != nil {
		return "", "", err
	}
	raw, ok := body["security_group"]
	if !ok || string(raw) == "null" {
		return "", "", wire.BadRequest("The request body invalid")
	}
	var g map[string]any
	if err := json.Unmarshal(raw, &g); err != nil {
		return "", "", wire.BadRequest("The request body invalid")
	}
	var out [2]string
	for i, field := range []string{"name", "description"} {
		s, ok := g[field].(string)
		if !ok {
			return "", "", wire.BadRequest("Security group %s is not a string or unicode", field)
		}
		// Nova judges the stripped value but keeps the name as given.
		switch n := utf8.RuneCountInString(strings.TrimSpace(s)); {
		case n < 1:
			return "", "", wire.BadRequest("%s has a minimum character requirement of 1.", field)
		case n > 255:
			return "", "", wire.BadRequest("%s has more than 255 characters.", field)
		}
		out[i] = s
	}
	return out[0], out[1], nil
}

func (s *Service) listSecGroups(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := proxyGone(v); err != nil {
		return err
	}
	groups, err := s.b.ListSecurityGroups(r.Context(), caller(r))
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

func (s *Service) showSecGroup(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := proxyGone(v); err != nil {
		return err
	}
	g, err := s.b.GetSecurityGroup(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"security_group": renderSecGroup(g)})
	return nil
}

func (s *Service) createSecGroup(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := proxyGone(v); err != nil {
		return err
	}
	if err := requireWriter(r); err != nil {
		return err
	}
	name, desc, err := groupBody(r)
	if err != nil {
		return err
	}
	g, err := s.b.CreateSecurityGroup(r.Context(), caller(r), name, desc)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"security_group": renderSecGroup(g)})
	return nil
}

func (s *Service) updateSecGroup(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := proxyGone(v); err != nil {
		return err
	}
	if err := requireWriter(r); err != nil {
		return err
	}
	name, desc, err := groupBody(r)
	if err != nil {
		return err
	}
	g, err := s.b.UpdateSecurityGroup(r.Context(), caller(r), r.PathValue("id"), name, desc)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"security_group": renderSecGroup(g)})
	return nil
}

func (s *Service) deleteSecGroup(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := proxyGone(v); err != nil {
		return err
	}
	if err := requireWriter(r); err != nil {
		return err
	}
	return accepted(w, s.b.DeleteSecurityGroup(r.Context(), caller(r), r.PathValue("id")))
}
