package image

import (
	"net/netip"
	"testing"
)

func TestBlockedAddr(t *testing.T) {
	cases := []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fd00::1", true}, {"0.0.0.0", true}, {"::", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"100.64.0.1", true}, {"224.0.0.1", true},
		{"255.255.255.255", true}, {"64:ff9b::a00:1", true},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"2001:4860:4860::8888", false}, {"::ffff:8.8.8.8", false},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			if got := blockedAddr(netip.MustParseAddr(tc.addr)); got != tc.blocked {
				t.Fatalf("blockedAddr(%s) = %v, want %v", tc.addr, got, tc.blocked)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		uri  string
		ok   bool
	}{
		{"public name", Options{}, "https://cloud-images.example.org/cirros.img", true},
		{"loopback literal", Options{}, "http://127.0.0.1:8080/x", false},
		{"bracketed IPv6 loopback", Options{}, "http://[::1]/x", false},
		{"metadata service", Options{}, "http://169.254.169.254/latest/meta-data", false},
		{"ftp", Options{}, "ftp://example.org/x", false},
		{"no host", Options{}, "http:///x", false},
		{"private allowed by switch", Options{AllowPrivateImport: true}, "http://10.0.0.5/x", true},
		{"private allowed by host", Options{AllowedImportHosts: []string{"10.0.0.5"}}, "http://10.0.0.5/x", true},
		{"private allowed by CIDR", Options{AllowedImportHosts: []string{"10.0.0.0/8"}}, "http://10.0.0.5/x", true},
		{"other private not allowed", Options{AllowedImportHosts: []string{"10.0.0.5"}}, "http://10.0.0.6/x", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := newFetcher(tc.opts).checkURL(tc.uri); (err == nil) != tc.ok {
				t.Fatalf("checkURL(%s) = %v, want ok=%v", tc.uri, err, tc.ok)
			}
		})
	}
}
