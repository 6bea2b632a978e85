package identity

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"
)

// payloadVersion is the first byte of every token payload; a new layout
// gets a new number so that old tokens are refused cleanly.
const payloadVersion = 1

// Authentication methods, as a bit set in the payload.
const (
	methodPassword uint8 = 1 << iota
	methodToken
	methodAppCred
)

// Scope kinds.
const (
	scopeNone uint8 = iota
	scopeProject
	scopeDomain
)

// payload is what a Fernet token carries: everything Authenticate needs to
// build a Principal without asking the registry.
type payload struct {
	Methods       uint8
	UserID        string
	UserName      string
	UserDomainID  string
	Scope         uint8
	ScopeID       string // project or domain id
	ScopeName     string
	ScopeDomainID string // the project's domain
	Roles         []string
	AuditIDs      []string
	AppCredID     string
	IssuedAt      time.Time // microsecond precision: revocation compares it exactly
	ExpiresAt     time.Time // second precision
}

var errBadPayload = errors.New("identity: malformed token payload")

func (p *payload) methodNames() []string {
	var out []string
	for _, m := range []struct {
		bit  uint8
		name string
	}{{methodPassword, "password"}, {methodToken, "token"}, {methodAppCred, "application_credential"}} {
		if p.Methods&m.bit != 0 {
			out = append(out, m.name)
		}
	}
	return out
}

// marshal encodes p compactly: ids that are 32 hex digits take 16 bytes.
func (p *payload) marshal() []byte {
	b := make([]byte, 0, 160)
	b = append(b, payloadVersion, p.Methods, p.Scope)
	b = appendID(b, p.UserID)
	b = appendString(b, p.UserName)
	b = appendID(b, p.UserDomainID)
	b = appendID(b, p.ScopeID)
	b = appendString(b, p.ScopeName)
	b = appendID(b, p.ScopeDomainID)
	b = binary.AppendUvarint(b, uint64(len(p.Roles)))
	for _, r := range p.Roles {
		b = appendString(b, r)
	}
	b = binary.AppendUvarint(b, uint64(len(p.AuditIDs)))
	for _, a := range p.AuditIDs {
		b = appendString(b, a)
	}
	b = appendID(b, p.AppCredID)
	b = binary.AppendUvarint(b, uint64(p.IssuedAt.UnixMicro()))
	b = binary.AppendUvarint(b, uint64(p.ExpiresAt.Unix()))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendID(b []byte, id string) []byte {
	if isHexID(id) {
		raw, _ := hex.DecodeString(id)
		b = append(b, 1)
		return append(b, raw...)
	}
	b = append(b, 0)
	return appendString(b, id)
}

func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// maxListLen bounds role and audit-id lists read from a payload.
const maxListLen = 64

// unmarshalPayload decodes a payload; any malformation is errBadPayload.
func unmarshalPayload(b []byte) (*payload, error) {
	r := reader{b: b}
	if r.byte() != payloadVersion {
		return nil, errBadPayload
	}
	p := &payload{Methods: r.byte(), Scope: r.byte()}
	p.UserID = r.id()
	p.UserName = r.string()
	p.UserDomainID = r.id()
	p.ScopeID = r.id()
	p.ScopeName = r.string()
	p.ScopeDomainID = r.id()
	p.Roles = r.strings()
	p.AuditIDs = r.strings()
	p.AppCredID = r.id()
	p.IssuedAt = time.UnixMicro(int64(r.uvarint())).UTC()
	p.ExpiresAt = time.Unix(int64(r.uvarint()), 0).UTC()
	if r.bad || len(r.b) != 0 || p.UserID == "" || p.Scope > scopeDomain || len(p.AuditIDs) == 0 {
		return nil, errBadPayload
	}
	return p, nil
}

// reader consumes a payload; the first error sticks and later reads return
// zero values, so decoding never panics on hostile input.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte() uint8 {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) id() string {
	switch r.byte() {
	case 0:
		return r.string()
	case 1:
		if len(r.b) < 16 {
			r.bad = true
			return ""
		}
		s := hex.EncodeToString(r.b[:16])
		r.b = r.b[16:]
		return s
	}
	r.bad = true
	return ""
}

func (r *reader) strings() []string {
	n := r.uvarint()
	if r.bad || n > maxListLen {
		r.bad = true
		return nil
	}
	out := make([]string, 0, n)
	for i := uint64(0); i < n && !r.bad; i++ {
		out = append(out, r.string())
	}
	return out
}

// newAuditID returns a Keystone-style audit id: 16 random bytes, base64url
// without padding (22 characters).
func newAuditID() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(16))
}
