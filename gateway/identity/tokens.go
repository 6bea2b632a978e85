package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/fernet/fernet-go"
)

// Token failures. Both read as "not found" on /v3/auth/tokens and as 401 on
// any other API call.
var (
	errTokenInvalid = errors.New("identity: token is malformed, forged or signed by an unknown key")
	errTokenExpired = errors.New("identity: token has expired")
	errTokenRevoked = errors.New("identity: token has been revoked")
)

// maxTokenLen bounds what is even tried: Fernet tokens of this package are a
// few hundred bytes.
const maxTokenLen = 4096

// seal signs p with the primary key. The Fernet timestamp is p's issue time,
// and the base64 padding is stripped as Keystone does.
func (s *Service) seal(p *payload) (string, error) {
	ring := s.keys.Load()
	tok, err := fernet.EncryptAndSignAtTime(p.marshal(), ring.primary, p.IssuedAt)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(tok), "="), nil
}

// open verifies and decodes a token with every key of the ring.
func (s *Service) open(tok string) (*payload, error) {
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return nil, errTokenInvalid
	}
	if pad := len(tok) % 4; pad != 0 {
		tok += strings.Repeat("=", 4-pad)
	}
	msg := fernet.VerifyAndDecrypt([]byte(tok), 0, s.keys.Load().all)
	if msg == nil {
		return nil, errTokenInvalid
	}
	p, err := unmarshalPayload(msg)
	if err != nil {
		return nil, errTokenInvalid
	}
	return p, nil
}

// validated is a token that passed decryption: its payload and the
// principal built from it, cached together.
type validated struct {
	p         *payload
	principal wire.Principal
}

// validate returns a live token's payload and principal: from the cache or
// by decrypting, then checked for expiry and revocation in memory.
func (s *Service) validate(tok string) (*validated, error) {
	v, ok := s.cache.get(tok)
	if !ok {
		p, err := s.open(tok)
		if err != nil {
			return nil, err
		}
		v = &validated{p: p, principal: principalOf(p, tok)}
		s.cache.put(tok, v)
	}
	if !s.now().Before(v.p.ExpiresAt) {
		return nil, errTokenExpired
	}
	if s.revs.revoked(v.p) {
		return nil, errTokenRevoked
	}
	return v, nil
}

func principalOf(p *payload, tok string) wire.Principal {
	pr := wire.Principal{
		UserID: p.UserID, UserName: p.UserName, UserDomainID: p.UserDomainID,
		Roles: p.Roles, Token: tok, AuditID: p.AuditIDs[0],
	}
	switch p.Scope {
	case scopeProject:
		pr.ProjectID, pr.ProjectName, pr.ProjectDomain = p.ScopeID, p.ScopeName, p.ScopeDomainID
	case scopeDomain:
		pr.DomainID = p.ScopeID
	}
	return pr
}

// tokenCache is a small bounded map from token string to its decoded form,
// so that a busy client's token is decrypted once. When full, an arbitrary
// eighth of it is dropped (Go's map order is random enough for that).
type tokenCache struct {
	mu  sync.RWMutex
	m   map[string]*validated
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[string]*validated, max), max: max}
}

func (c *tokenCache) get(tok string) (*validated, bool) {
	c.mu.RLock()
	v, ok := c.m[tok]
	c.mu.RUnlock()
	return v, ok
}

func (c *tokenCache) put(tok string, v *validated) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		drop := c.max/8 + 1
		for k := range c.m {
			delete(c.m, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.m[tok] = v
}

// clear empties the cache (after a key rotation purged a key).
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// prune drops expired entries.
func (c *tokenCache) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		if !now.Before(v.p.ExpiresAt) {
			delete(c.m, k)
		}
	}
}

// newID returns a Keystone-style id: a random UUID4 as 32 hex digits.
func newID() string {
	b := randomBytes(16)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return hex.EncodeToString(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}
