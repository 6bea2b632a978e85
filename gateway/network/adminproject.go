package network

// SetAdminProject names the project that owns the external networks
// EnsureExternalNetwork makes. The admin project's id is only known once
// identity is bootstrapped, after the service is built; call this before
// serving requests.
func (s *Service) SetAdminProject(projectID string) { s.opts.AdminProjectID = projectID }
