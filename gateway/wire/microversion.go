package wire

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Version is an API microversion, major.minor.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool {
	return v.Major < o.Major || (v.Major == o.Major && v.Minor < o.Minor)
}

// AtLeast reports whether v >= (major, minor).
func (v Version) AtLeast(major, minor int) bool { return !v.Less(Version{major, minor}) }

// ParseVersion parses "2.53". "latest" is resolved by the caller.
func ParseVersion(s string) (Version, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return Version{}, fmt.Errorf("invalid microversion %q", s)
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return Version{}, fmt.Errorf("invalid microversion %q", s)
	}
	return Version{a, b}, nil
}

// Microversions describes one service's supported range and headers.
type Microversions struct {
	Service      string // "compute", "volume"
	LegacyHeader string // "X-OpenStack-Nova-API-Version" for compute
	Min, Max     Version
}

// Negotiate reads the requested microversion from r. It returns the version
// to serve, or a 406 (unsupported version) / 400 (malformed) fault exactly as
// Nova gives them. It sets the echo and Vary headers on w.
func (m Microversions) Negotiate(w http.ResponseWriter, r *http.Request) (Version, *Error) {
	raw := ""
	if h := r.Header.Values("OpenStack-API-Version"); len(h) > 0 {
		for _, hv := range h {
			for _, part := range strings.Split(hv, ",") {
				svc, ver, ok := strings.Cut(strings.TrimSpace(part), " ")
				if ok && strings.EqualFold(svc, m.Service) {
					raw = strings.TrimSpace(ver)
				}
			}
		}
	}
	if raw == "" && m.LegacyHeader != "" {
		raw = strings.TrimSpace(r.Header.Get(m.LegacyHeader))
	}
	v := m.Min
	if raw != "" {
		if strings.EqualFold(raw, "latest") {
			v = m.Max
		} else {
			pv, err := ParseVersion(raw)
			if err != nil {
				return Version{}, BadRequest("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum.", raw)
			}
			if pv.Less(m.Min) || m.Max.Less(pv) {
				m.echo(w, pv)
				return Version{}, Errorf(http.StatusNotAcceptable, "Version %s is not supported by the API. Minimum is %s and maximum is %s.", pv, m.Min, m.Max)
			}
			v = pv
		}
	}
	m.echo(w, v)
	return v, nil
}

func (m Microversions) echo(w http.ResponseWriter, v Version) {
	h := w.Header()
	h.Set("OpenStack-API-Version", m.Service+" "+v.String())
	vary := "OpenStack-API-Version"
	if m.LegacyHeader != "" {
		h.Set(m.LegacyHeader, v.String())
		vary += ", " + m.LegacyHeader
	}
	h.Set("Vary", vary)
}
