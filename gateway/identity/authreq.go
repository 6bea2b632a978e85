package identity

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// Wire shapes of POST /v3/auth/tokens.
type authRequestBody struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *userRef `json:"user"`
			} `json:"password"`
			Token *struct {
				ID *string `json:"id"`
			} `json:"token"`
			AppCred *struct {
				ID     string   `json:"id"`
				Name   string   `json:"name"`
				Secret *string  `json:"secret"`
				User   *userRef `json:"user"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type userRef struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Domain   *domainRef `json:"domain"`
	Password *string    `json:"password"`
}

type domainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type scopeBody struct {
	Project *struct {
		ID     string     `json:"id"`
		Name   string     `json:"name"`
		Domain *domainRef `json:"domain"`
	} `json:"project"`
	Domain *domainRef      `json:"domain"`
	System json.RawMessage `json:"system"`
	Trust  json.RawMessage `json:"OS-TRUST:trust"`
}

// userSpec names a user by id, or by name within a domain.
type userSpec struct {
	ID, Name, DomainID, DomainName string
}

// authInput is a decoded, shape-checked auth request.
type authInput struct {
	Methods  []string
	Password *struct {
		User     userSpec
		Password string
	}
	Token   string
	AppCred *struct {
		ID, Name string
		User     userSpec
		Secret   string
	}
	Scope struct {
		Kind                           uint8 // scopeNone, scopeProject, scopeDomain
		ID, Name, DomainID, DomainName string
		Explicit                       bool // "scope" was given (even "unscoped")
	}
}

// maxNameLen is Keystone's limit on names and ids in requests.
const maxNameLen = 255

// missing is Keystone's ValidationError text for an absent attribute.
func missing(attr, target string) *wire.Error {
	return wire.BadRequest("Expecting to find %s in %s. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.", attr, target)
}

var errUnsupportedMethod = &wire.Error{Status: http.StatusUnauthorized, Message: "Attempted to authenticate with an unsupported method."}

// decodeAuthRequest parses and shape-checks an auth request. Errors are 400s
// naming the field, or 401 for a method Canopy does not support.
func decodeAuthRequest(body []byte) (*authInput, error) {
	var req authRequestBody
	if err := wire.DecodeBytes(body, &req, false); err != nil {
		return nil, err
	}
	a := req.Auth
	if a == nil {
		return nil, missing("auth", "the request body")
	}
	if a.Identity == nil {
		return nil, missing("identity", "auth")
	}
	id := a.Identity
	if len(id.Methods) == 0 {
		return nil, missing("methods", "identity")
	}
	in := &authInput{}
	for _, m := range id.Methods {
		if slices.Contains(in.Methods, m) {
			continue
		}
		in.Methods = append(in.Methods, m)
		switch m {
		case "password":
			if id.Password == nil {
				return nil, missing("password", "identity")
			}
			if id.Password.User == nil {
				return nil, missing("user", "password")
			}
			spec, err := decodeUser(id.Password.User)
			if err != nil {
				return nil, err
			}
			if id.Password.User.Password == nil {
				return nil, missing("password", "user")
			}
			in.Password = &struct {
				User     userSpec
				Password string
			}{spec, *id.Password.User.Password}
		case "token":
			if id.Token == nil {
				return nil, missing("token", "identity")
			}
			if id.Token.ID == nil || *id.Token.ID == "" {
				return nil, missing("id", "token")
			}
			in.Token = *id.Token.ID
		case "application_credential":
			ac := id.AppCred
			if ac == nil {
				return nil, missing("application_credential", "identity")
			}
			if ac.Secret == nil {
				return nil, missing("secret", "application_credential")
			}
			var spec userSpec
			if ac.ID == "" {
				if ac.Name == "" {
					return nil, missing("id or name", "application_credential")
				}
				if ac.User == nil {
					return nil, missing("user", "application_credential")
				}
				var err error
				if spec, err = decodeUser(ac.User); err != nil {
					return nil, err
				}
			}
			if len(ac.ID) > maxNameLen || len(ac.Name) > maxNameLen {
				return nil, wire.BadRequest("Invalid input for field 'application_credential': id and name are at most %d characters.", maxNameLen)
			}
			in.AppCred = &struct {
				ID, Name string
				User     userSpec
				Secret   string
			}{ac.ID, ac.Name, spec, *ac.Secret}
		default:
			return nil, errUnsupportedMethod
		}
	}
	if err := decodeScope(a.Scope, in); err != nil {
		return nil, err
	}
	return in, nil
}

func decodeUser(u *userRef) (userSpec, error) {
	spec := userSpec{ID: u.ID, Name: u.Name}
	if u.Domain != nil {
		spec.DomainID, spec.DomainName = u.Domain.ID, u.Domain.Name
	}
	for _, s := range []string{spec.ID, spec.Name, spec.DomainID, spec.DomainName} {
		if len(s) > maxNameLen {
			return spec, wire.BadRequest("Invalid input for field 'user': names and ids are at most %d characters.", maxNameLen)
		}
	}
	if spec.ID == "" {
		if spec.Name == "" {
			return spec, missing("id or name", "user")
		}
		if spec.DomainID == "" && spec.DomainName == "" {
			return spec, missing("domain", "user")
		}
	}
	return spec, nil
}

func decodeScope(raw json.RawMessage, in *authInput) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	in.Scope.Explicit = true
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil || s != "unscoped" {
			return wire.BadRequest("Invalid input for field 'scope': a string scope must be \"unscoped\".")
		}
		return nil
	}
	var sc scopeBody
	if err := wire.DecodeBytes(raw, &sc, false); err != nil {
		return wire.BadRequest("Invalid input for field 'scope': an object is required.")
	}
	if len(sc.System) > 0 || len(sc.Trust) > 0 {
		return wire.NotImplemented("System-scoped and trust-scoped tokens are not supported by Canopy's identity service.")
	}
	if sc.Project != nil && sc.Domain != nil {
		return wire.BadRequest("Invalid input for field 'scope': specify either project or domain, not both.")
	}
	switch {
	case sc.Project != nil:
		p := sc.Project
		in.Scope.Kind, in.Scope.ID, in.Scope.Name = scopeProject, p.ID, p.Name
		if p.Domain != nil {
			in.Scope.DomainID, in.Scope.DomainName = p.Domain.ID, p.Domain.Name
		}
		if p.ID == "" {
			if p.Name == "" {
				return missing("id or name", "project")
			}
			if in.Scope.DomainID == "" && in.Scope.DomainName == "" {
				return missing("domain", "project")
			}
		}
	case sc.Domain != nil:
		in.Scope.Kind, in.Scope.ID, in.Scope.Name = scopeDomain, sc.Domain.ID, sc.Domain.Name
		if sc.Domain.ID == "" && sc.Domain.Name == "" {
			return missing("id or name", "domain")
		}
	default:
		return missing("project or domain", "scope")
	}
	for _, s := range []string{in.Scope.ID, in.Scope.Name, in.Scope.DomainID, in.Scope.DomainName} {
		if len(s) > maxNameLen {
			return wire.BadRequest("Invalid input for field 'scope': names and ids are at most %d characters.", maxNameLen)
		}
	}
	return nil
}
