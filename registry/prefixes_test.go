package registry_test

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/canopy-cloud/canopy/registry"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestFreePrefixes(t *testing.T) {
	cases := []struct {
		name       string
		pool, used []string
		want       string
	}{
		{"nothing used", []string{"10.0.0.0/16"}, nil, "[10.0.0.0/16]"},
		{"first quarter used", []string{"10.0.0.0/16"}, []string{"10.0.0.0/18"}, "[10.0.64.0/18 10.0.128.0/17]"},
		{"middle used", []string{"10.0.0.0/24"}, []string{"10.0.0.64/26"}, "[10.0.0.0/26 10.0.0.128/25]"},
		{"all used", []string{"10.0.0.0/24"}, []string{"10.0.0.0/25", "10.0.0.128/25"}, "[]"},
		{"used outside ignored", []string{"10.0.0.0/24"}, []string{"192.168.0.0/24"}, "[10.0.0.0/24]"},
		{"two pool prefixes", []string{"2.0.0.0/16", "1.0.0.0/16"}, []string{"1.0.0.0/16"}, "[2.0.0.0/16]"},
		{"ipv6 high bits", []string{"2001:db8::/48"}, []string{"2001:db8::/49"}, "[2001:db8:0:8000::/49]"},
		{"ipv6 across the 64-bit line", []string{"2001:db8::/64"}, []string{"2001:db8::/65"}, "[2001:db8:0:0:8000::/65]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := fmt.Sprint(registry.FreePrefixes(prefixes(c.pool...), prefixes(c.used...)))
			if got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestPickPrefix(t *testing.T) {
	cases := []struct {
		name       string
		pool, used []string
		length     int
		want       string // "" for ErrNoPrefix
	}{
		{"first block", []string{"10.0.0.0/16"}, nil, 24, "10.0.0.0/24"},
		{"next after used", []string{"10.0.0.0/16"}, []string{"10.0.0.0/24"}, 24, "10.0.1.0/24"},
		{"best fit keeps the big block", []string{"10.0.0.0/16", "192.168.0.0/28"}, nil, 28, "192.168.0.0/28"},
		{"whole pool", []string{"10.0.0.0/24"}, nil, 24, "10.0.0.0/24"},
		{"larger than any block", []string{"10.0.0.0/24"}, nil, 23, ""},
		{"exhausted", []string{"10.0.0.0/25"}, []string{"10.0.0.0/26", "10.0.0.64/26"}, 26, ""},
		{"ipv6 /64 from a /48", []string{"2001:db8::/48"}, []string{"2001:db8::/64"}, 64, "2001:db8:0:1::/64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := registry.PickPrefix(prefixes(c.pool...), prefixes(c.used...), c.length)
			if c.want == "" {
				if !errors.Is(err, registry.ErrNoPrefix) {
					t.Fatalf("got %v %v, want ErrNoPrefix", got, err)
				}
				return
			}
			if err != nil || got.String() != c.want {
				t.Fatalf("got %v %v, want %s", got, err, c.want)
			}
		})
	}
}

func TestPrefixFree(t *testing.T) {
	pool, used := prefixes("10.0.0.0/16"), prefixes("10.0.1.0/24")
	for want, free := range map[string]bool{
		"10.0.0.0/24": true, "10.0.1.0/24": false, "10.0.1.128/25": false, "10.0.0.0/23": false,
		"10.1.0.0/24": false, "10.0.128.0/17": true,
	} {
		if got := registry.PrefixFree(pool, used, netip.MustParsePrefix(want)); got != free {
			t.Errorf("PrefixFree(%s) = %v, want %v", want, got, free)
		}
	}
}

// TestEUI64Address checks the derivation against oslo's
// get_ipv6_addr_by_EUI64 (values computed with oslo_utils.netutils).
func TestEUI64Address(t *testing.T) {
	cases := []struct{ prefix, mac, want string }{
		{"2001:db8::/64", "00:16:3e:33:44:55", "2001:db8::216:3eff:fe33:4455"},
		{"2001:db8:0:1::/64", "fa:16:3e:01:02:03", "2001:db8:0:1:f816:3eff:fe01:203"},
		{"fd00::/64", "02:00:00:00:00:00", "fd00::ff:fe00:0"},
	}
	for _, c := range cases {
		got, err := registry.EUI64Address(netip.MustParsePrefix(c.prefix), c.mac)
		if err != nil || got.String() != c.want {
			t.Errorf("EUI64Address(%s, %s) = %v %v, want %s", c.prefix, c.mac, got, err, c.want)
		}
	}
	if _, err := registry.EUI64Address(netip.MustParsePrefix("10.0.0.0/24"), "00:16:3e:33:44:55"); err == nil {
		t.Error("IPv4 prefix accepted")
	}
	if _, err := registry.EUI64Address(netip.MustParsePrefix("2001:db8::/64"), "nope"); err == nil {
		t.Error("bad MAC accepted")
	}
}
