package registry

import "time"

// Kinds of identity records (Keystone v3). They live in the global project
// "_" except role assignments on a project, which live under that project so
// that a token issue reads them in one round trip.
const (
	KindDomain         Kind = "domain"
	KindProject        Kind = "project"
	KindUser           Kind = "user"
	KindRole           Kind = "role"
	KindRoleAssignment Kind = "roleassignment"
	KindAppCredential  Kind = "appcred"
)

// Domain is a Keystone domain. The Default domain has the id "default".
type Domain struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	Created     time.Time `json:"created"`
}

// IdentityProject is a Keystone project. The prefix keeps it apart from the
// project ids that resource records merely carry.
type IdentityProject struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	DomainID    string    `json:"domain_id"`
	ParentID    string    `json:"parent_id"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	Tags        []string  `json:"tags,omitempty"`
	Created     time.Time `json:"created"`
}

// User is a Keystone user. Passwords are bcrypt hashes; PasswordHistory keeps
// the hashes of earlier passwords for the "unique last N" rule.
type User struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	DomainID         string    `json:"domain_id"`
	Enabled          bool      `json:"enabled"`
	PasswordHash     string    `json:"password_hash,omitempty"`
	PasswordHistory  []string  `json:"password_history,omitempty"`
	DefaultProjectID string    `json:"default_project_id,omitempty"`
	Description      string    `json:"description,omitempty"`
	Email            string    `json:"email,omitempty"`
	Created          time.Time `json:"created"`
}

// Role is a global Keystone role (admin, member, reader...).
type Role struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
}

// RoleAssignment grants a user a role on a project or a domain. Its id is a
// hash of the triple, so granting twice is one record.
type RoleAssignment struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	ProjectID string    `json:"project_id,omitempty"`
	DomainID  string    `json:"domain_id,omitempty"`
	RoleID    string    `json:"role_id"`
	Created   time.Time `json:"created"`
}

// AppCredential is a Keystone application credential: a secret (bcrypt hash
// here) that authenticates as its user on one project with a subset of roles.
type AppCredential struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Description  string     `json:"description,omitempty"`
	UserID       string     `json:"user_id"`
	ProjectID    string     `json:"project_id"`
	SecretHash   string     `json:"secret_hash"`
	RoleIDs      []string   `json:"role_ids"`
	Unrestricted bool       `json:"unrestricted"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	Created      time.Time  `json:"created"`
}
