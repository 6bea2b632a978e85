package identity

import (
	"net/http"

	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/wire"
)

// v3Version is the one API version served, as keystoneauth and tempest
// expect to discover it.
func (s *Service) v3Version() map[string]any {
	return map[string]any{
		"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links":       []map[string]string{{"rel": "self", "href": s.opts.PublicURL + "/identity/v3/"}},
		"media-types": []map[string]string{{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
	}
}

// versions is GET /identity: 300 Multiple Choices, as Keystone answers.
func (s *Service) versions(w http.ResponseWriter, _ *http.Request) error {
	wire.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{"values": []any{s.v3Version()}}})
	return nil
}

// version is GET /identity/v3.
func (s *Service) version(w http.ResponseWriter, _ *http.Request) error {
	wire.WriteJSON(w, http.StatusOK, map[string]any{"version": s.v3Version()})
	return nil
}

// Register mounts Keystone v3 under /identity.
func (s *Service) Register(rt *gateway.Router) {
	r := rt.For("identity", wire.Keystone)
	const v3 = "/identity/v3"
	r.Public("GET /identity", s.versions)
	r.Public("GET /identity/{$}", s.versions)
	r.Public("GET "+v3, s.version)
	r.Public("GET "+v3+"/{$}", s.version)

	r.Public("POST "+v3+"/auth/tokens", s.issueToken)
	r.Handle("GET "+v3+"/auth/tokens", s.showToken)
	r.Handle("HEAD "+v3+"/auth/tokens", s.checkToken)
	r.Handle("DELETE "+v3+"/auth/tokens", s.revokeToken)
	r.Handle("GET "+v3+"/auth/catalog", s.authCatalog)
	r.Handle("GET "+v3+"/auth/projects", s.authProjects)
	r.Handle("GET "+v3+"/auth/domains", s.authDomains)

	r.Handle("GET "+v3+"/users", s.listUsers)
	r.Handle("POST "+v3+"/users", s.createUser)
	r.Handle("GET "+v3+"/users/{user_id}", s.showUser)
	r.Handle("PATCH "+v3+"/users/{user_id}", s.updateUser)
	r.Handle("DELETE "+v3+"/users/{user_id}", s.deleteUser)
	r.Public("POST "+v3+"/users/{user_id}/password", s.changePassword)
	r.Handle("GET "+v3+"/users/{user_id}/projects", s.listUserProjects)
	r.Handle("GET "+v3+"/users/{user_id}/application_credentials", s.listAppCreds)
	r.Handle("POST "+v3+"/users/{user_id}/application_credentials", s.createAppCred)
	r.Handle("GET "+v3+"/users/{user_id}/application_credentials/{app_cred_id}", s.showAppCred)
	r.Handle("DELETE "+v3+"/users/{user_id}/application_credentials/{app_cred_id}", s.deleteAppCred)

	r.Handle("GET "+v3+"/projects", s.listProjects)
	r.Handle("POST "+v3+"/projects", s.createProject)
	r.Handle("GET "+v3+"/projects/{project_id}", s.showProject)
	r.Handle("PATCH "+v3+"/projects/{project_id}", s.updateProject)
	r.Handle("DELETE "+v3+"/projects/{project_id}", s.deleteProject)

	r.Handle("GET "+v3+"/domains", s.listDomains)
	r.Handle("POST "+v3+"/domains", s.createDomain)
	r.Handle("GET "+v3+"/domains/{domain_id}", s.showDomain)
	r.Handle("PATCH "+v3+"/domains/{domain_id}", s.updateDomain)
	r.Handle("DELETE "+v3+"/domains/{domain_id}", s.deleteDomain)

	r.Handle("GET "+v3+"/roles", s.listRoles)
	r.Handle("POST "+v3+"/roles", s.createRole)
	r.Handle("GET "+v3+"/roles/{role_id}", s.showRole)
	r.Handle("DELETE "+v3+"/roles/{role_id}", s.deleteRole)
	r.Handle("GET "+v3+"/role_assignments", s.listRoleAssignments)
	for _, target := range []string{"/projects/{project_id}", "/domains/{domain_id}"} {
		grant := v3 + target + "/users/{user_id}/roles/{role_id}"
		r.Handle("PUT "+grant, s.grantRole)
		r.Handle("HEAD "+grant, s.checkGrant)
		r.Handle("GET "+grant, s.checkGrant)
		r.Handle("DELETE "+grant, s.revokeGrant)
		r.Handle("GET "+v3+target+"/users/{user_id}/roles", s.listGrants)
	}

	r.Handle("GET "+v3+"/regions", s.listRegions)
	r.Handle("GET "+v3+"/regions/{region_id}", s.showRegion)
	r.Handle("GET "+v3+"/services", s.listServices)
	r.Handle("GET "+v3+"/services/{service_id}", s.showService)
	r.Handle("GET "+v3+"/endpoints", s.listEndpoints)
	r.Handle("GET "+v3+"/endpoints/{endpoint_id}", s.showEndpoint)
	for _, coll := range []string{"/regions", "/services", "/endpoints"} {
		r.Handle("POST "+v3+coll, catalogIsConfig)
		r.Handle("PATCH "+v3+coll+"/{id}", catalogIsConfig)
		r.Handle("DELETE "+v3+coll+"/{id}", catalogIsConfig)
	}
}
