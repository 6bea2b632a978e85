package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// errBlockedAddress means a web-download URL leads (directly, after DNS
// resolution or after a redirect) to an address the gateway must not reach
// on a user's behalf: loopback, private, link-local (the cloud metadata
// service at 169.254.169.254), multicast or otherwise internal.
var errBlockedAddress = errors.New("image: web-download address is not allowed")

// blockedPrefixes are internal ranges the netip predicates do not cover.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),  // reserved and broadcast
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 reaches IPv4 space
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// blockedAddr reports whether ip is internal.
func blockedAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// fetcher downloads web-download imports. Every connection it opens is to
// an address it has checked itself (it resolves names and dials the checked
// address), so neither DNS answers, DNS rebinding nor redirects can lead it
// to an internal address unless the operator allowed it.
type fetcher struct {
	allowPrivate bool
	hosts        []string       // URL hosts allowed whatever they resolve to
	nets         []netip.Prefix // resolved addresses allowed although internal
	client       *http.Client
}

func newFetcher(o Options) *fetcher {
	f := &fetcher{allowPrivate: o.AllowPrivateImport}
	for _, h := range o.AllowedImportHosts {
		if p, err := netip.ParsePrefix(h); err == nil {
			f.nets = append(f.nets, p.Masked())
		} else {
			f.hosts = append(f.hosts, strings.ToLower(strings.Trim(h, "[]")))
		}
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would dial on our behalf, unchecked
		DialContext:            f.dial,
		TLSHandshakeTimeout:    30 * time.Second,
		ResponseHeaderTimeout:  60 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	f.client = &http.Client{Transport: tr, CheckRedirect: f.checkRedirect}
	return f
}

// close releases idle connections.
func (f *fetcher) close() { f.client.CloseIdleConnections() }

func (f *fetcher) hostAllowed(host string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, h := range f.hosts {
		if h == host {
			return true
		}
	}
	return false
}

func (f *fetcher) addrAllowed(ip netip.Addr) bool {
	if f.allowPrivate || !blockedAddr(ip) {
		return true
	}
	for _, p := range f.nets {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// checkURL is the request-time filter: http or https, a host, and no
// literal internal address.
func (f *fetcher) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("%w: %q", errBlockedAddress, raw)
	}
	if f.hostAllowed(u.Hostname()) {
		return nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !f.addrAllowed(ip) {
		return fmt.Errorf("%w: %s", errBlockedAddress, ip)
	}
	return nil
}

func (f *fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("image: web-download stopped after 10 redirects")
	}
	return f.checkURL(req.URL.String())
}

// dial resolves host itself, refuses internal addresses, and connects to
// the address it checked.
func (f *fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 30 * time.Second}
	if f.hostAllowed(host) {
		return d.DialContext(ctx, network, addr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if !f.addrAllowed(ip) {
			return nil, fmt.Errorf("%w: %s resolves to %s", errBlockedAddress, host, ip)
		}
	}
	var last error = fmt.Errorf("image: %s has no address", host)
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// open starts the download of raw; the caller reads and closes the body.
func (f *fetcher) open(ctx context.Context, raw string) (io.ReadCloser, error) {
	if err := f.checkURL(raw); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("image: web-download answered %s", resp.Status)
	}
	return resp.Body, nil
}
