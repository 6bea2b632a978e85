package network_test

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/registry"
)

// subnetBody is a subnet create on network nid with extra attributes.
func subnetBody(nid, extra string) string {
	return `{"subnet": {"network_id": "` + nid + `", ` + extra + `}}`
}

// TestSubnetFromPool follows a pool's prefixes through subnet creates and
// deletes: any-prefix requests by prefixlen and by the pool's default,
// specific cidrs, subnetpool_id on the subnet, and the prefix coming back
// when the subnet goes.
func TestSubnetFromPool(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	pool := e.mustCreate("demo", "/network/v2.0/subnetpools",
		`{"subnetpool": {"name": "p", "prefixes": ["10.10.0.0/22"], "min_prefixlen": 23, "default_prefixlen": 24, "max_prefixlen": 28}}`)
	pid := pool["id"].(string)
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	steps := []struct {
		name, extra, cidr string
	}{
		{"default prefixlen", `"ip_version": 4, "subnetpool_id": "` + pid + `"`, "10.10.0.0/24"},
		{"prefixlen", `"ip_version": 4, "subnetpool_id": "` + pid + `", "prefixlen": 28`, "10.10.1.0/28"},
		{"best fit reuses the cut block", `"ip_version": 4, "subnetpool_id": "` + pid + `", "prefixlen": 28`, "10.10.1.16/28"},
		{"specific cidr", `"ip_version": 4, "subnetpool_id": "` + pid + `", "cidr": "10.10.2.0/24"`, "10.10.2.0/24"},
	}
	ids := map[string]string{}
	for _, st := range steps {
		sub := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, st.extra))
		if sub["cidr"] != st.cidr || sub["subnetpool_id"] != pid {
			t.Fatalf("%s: got cidr %v pool %v, want %s from %s", st.name, sub["cidr"], sub["subnetpool_id"], st.cidr, pid)
		}
		ids[st.cidr] = sub["id"].(string)
	}
	if sub := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "cidr": "192.168.9.0/24"`)); sub["subnetpool_id"] != nil {
		t.Fatalf("plain subnet shows pool %v", sub["subnetpool_id"])
	}
	if code, body := e.do("demo", "GET", "/network/v2.0/subnets?subnetpool_id="+pid+"&fields=cidr&sort_key=cidr", ""); code != 200 ||
		mustJSON(body) != `{"subnets":[{"cidr":"10.10.0.0/24"},{"cidr":"10.10.1.0/28"},{"cidr":"10.10.1.16/28"},{"cidr":"10.10.2.0/24"}]}` {
		t.Fatalf("filter by pool: %d %v", code, body)
	}
	if code, body := e.do("demo", "DELETE", "/network/v2.0/subnetpools/"+pid, ""); code != 400 || fault(body) != "SubnetPoolDeleteError" {
		t.Fatalf("delete pool in use: %d %v", code, body)
	}
	// The first /24 goes back to the pool and is handed out again.
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/subnets/"+ids["10.10.0.0/24"], ""); code != 204 {
		t.Fatalf("delete subnet: %d", code)
	}
	if sub := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "subnetpool_id": "`+pid+`"`)); sub["cidr"] != "10.10.0.0/24" {
		t.Fatalf("freed prefix not reused: %v", sub["cidr"])
	}
	for _, id := range ids {
		e.do("demo", "DELETE", "/network/v2.0/subnets/"+id, "")
	}
	code, body := e.do("demo", "GET", "/network/v2.0/subnets?subnetpool_id="+pid, "")
	if code != 200 || len(body["subnets"].([]any)) != 1 {
		t.Fatalf("after deletes: %v", body)
	}
	sid := body["subnets"].([]any)[0].(map[string]any)["id"].(string)
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/subnets/"+sid, ""); code != 204 {
		t.Fatalf("delete last: %d", code)
	}
	if code, _ := e.do("demo", "DELETE", "/network/v2.0/subnetpools/"+pid, ""); code != 204 {
		t.Fatalf("delete emptied pool: %d", code)
	}
}

// TestSubnetFromPoolFaults checks Neutron's fault bodies for pool requests.
func TestSubnetFromPoolFaults(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	pid := e.mustCreate("demo", "/network/v2.0/subnetpools",
		`{"subnetpool": {"prefixes": ["10.20.0.0/23"], "min_prefixlen": 24, "max_prefixlen": 26}}`)["id"].(string)
	v6 := e.mustCreate("demo", "/network/v2.0/subnetpools", `{"subnetpool": {"prefixes": ["2001:db8::/63"]}}`)["id"].(string)
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	other := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "m"}}`)["id"].(string)
	from := `"ip_version": 4, "subnetpool_id": "` + pid + `"`
	e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(other, from+`, "cidr": "10.20.0.0/24"`))
	cases := []struct {
		name, body string
		status     int
		typ, msg   string
	}{
		{"prefixlen above max", subnetBody(nid, from+`, "prefixlen": 27`), 400, "MaxPrefixSubnetAllocationError",
			"Unable to allocate subnet with prefix length 27, maximum allowed prefix is 26."},
		{"prefixlen below min", subnetBody(nid, from+`, "prefixlen": 23`), 400, "MinPrefixSubnetAllocationError",
			"Unable to allocate subnet with prefix length 23, minimum allowed prefix is 24."},
		{"cidr outside the pool", subnetBody(nid, from+`, "cidr": "10.99.0.0/24"`), 400, "SubnetAllocationError",
			"Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes."},
		{"cidr taken", subnetBody(nid, from+`, "cidr": "10.20.0.0/25"`), 409, "SubnetAllocationError",
			"Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes."},
		{"cidr and prefixlen", subnetBody(nid, from+`, "cidr": "10.20.1.0/24", "prefixlen": 24`), 400, "HTTPBadRequest",
			"Bad subnets request: cidr and prefixlen must not be supplied together."},
		{"pools without cidr", subnetBody(nid, from+`, "allocation_pools": [{"start": "10.20.1.2", "end": "10.20.1.9"}]`), 400, "HTTPBadRequest",
			"Bad subnets request: allocation_pools allowed only for specific subnet requests."},
		{"family mismatch", subnetBody(nid, `"ip_version": 6, "subnetpool_id": "`+pid+`"`), 400, "HTTPBadRequest",
			"Bad subnets request: Cannot allocate IPv6 subnet from IPv4 subnet pool."},
		{"pool id and default", subnetBody(nid, from+`, "use_default_subnetpool": true`), 400, "HTTPBadRequest",
			"Bad subnets request: subnetpool_id and use_default_subnetpool cannot both be specified."},
		{"no default pool", subnetBody(nid, `"ip_version": 4, "use_default_subnetpool": true`), 400, "HTTPBadRequest",
			"Bad subnets request: No default subnetpool found for IPv4."},
		{"prefixlen without pool", subnetBody(nid, `"ip_version": 4, "cidr": "10.30.0.0/24", "prefixlen": 24`), 400, "HTTPBadRequest",
			"Bad subnets request: cidr and prefixlen must not be supplied together."},
		{"v6 slaac from a pool needs /64", subnetBody(nid, `"ip_version": 6, "subnetpool_id": "`+v6+`", "prefixlen": 65, "ipv6_address_mode": "slaac"`), 400, "InvalidInput",
			"Invalid input for operation: Invalid CIDR 2001:db8::/65 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := e.do("demo", "POST", "/network/v2.0/subnets", c.body)
			want := `{"NeutronError":{"detail":"","message":` + mustJSON(c.msg) + `,"type":"` + c.typ + `"}}`
			if code != c.status || mustJSON(body) != want {
				t.Fatalf("got %d %s\nwant %d %s", code, mustJSON(body), c.status, want)
			}
		})
	}
	// A failed create gives its prefix back: the /25 the v6 case took and
	// the free /24 are still there.
	if sub := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, from)); sub["cidr"] != "10.20.1.0/24" {
		t.Fatalf("after faults: %v", sub["cidr"])
	}
	if sub := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 6, "subnetpool_id": "`+v6+`"`)); sub["cidr"] != "2001:db8::/64" {
		t.Fatalf("v6 after a failed create: %v", sub["cidr"])
	}
	code, body := e.do("demo", "POST", "/network/v2.0/subnets", subnetBody(other, from))
	if want := `{"NeutronError":{"detail":"","message":"Failed to allocate subnet: Insufficient prefix space to allocate subnet size /24.","type":"SubnetAllocationError"}}`; code != 409 || mustJSON(body) != want {
		t.Fatalf("exhausted: %d %s", code, mustJSON(body))
	}
}

// TestDefaultSubnetPool: an admin marks one pool per family default, and
// use_default_subnetpool takes from it.
func TestDefaultSubnetPool(t *testing.T) {
	e := newEnv(t, devRegistry(t))
	pid := e.mustCreate("admin", "/network/v2.0/subnetpools",
		`{"subnetpool": {"prefixes": ["10.40.0.0/16"], "default_prefixlen": 26, "shared": true, "is_default": true}}`)["id"].(string)
	code, body := e.do("admin", "POST", "/network/v2.0/subnetpools", `{"subnetpool": {"prefixes": ["10.41.0.0/16"], "is_default": true}}`)
	if want := `{"NeutronError":{"detail":"","message":"Invalid input for operation: A default subnetpool for this IP family has already been set. Only one default may exist per IP family","type":"InvalidInput"}}`; code != 400 || mustJSON(body) != want {
		t.Fatalf("second default: %d %s", code, mustJSON(body))
	}
	e.mustCreate("admin", "/network/v2.0/subnetpools", `{"subnetpool": {"prefixes": ["2001:db8::/48"], "is_default": true}}`)
	nid := e.mustCreate("demo", "/network/v2.0/networks", `{"network": {"name": "n"}}`)["id"].(string)
	sub := e.mustCreate("demo", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "use_default_subnetpool": true`))
	if sub["cidr"] != "10.40.0.0/26" || sub["subnetpool_id"] != pid {
		t.Fatalf("default pool subnet: %v", sub)
	}
	if code, body := e.do("admin", "PUT", "/network/v2.0/subnetpools/"+pid, `{"subnetpool": {"is_default": false}}`); code != 200 || body["subnetpool"].(map[string]any)["is_default"] != false {
		t.Fatalf("unset default: %d %v", code, body)
	}
	if code, _ := e.do("demo", "POST", "/network/v2.0/subnets", subnetBody(nid, `"ip_version": 4, "use_default_subnetpool": true`)); code != 400 {
		t.Fatalf("no default left: %d", code)
	}
}

// TestSubnetFromPoolConcurrent: many creates race for the blocks of one
// pool, on separate networks (so the per-network overlap check cannot hide
// a double allocation): exactly as many succeed as there are blocks, the
// rest get SubnetAllocationError, and no two prefixes overlap. On the dev
// server and on a real redis-server.
func TestSubnetFromPoolConcurrent(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *registry.Registry{"dev": devRegistry, "redis": realRedis} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, open(t))
			tok := "member:" + uniqueProject("poolrace")
			pid := e.mustCreate(tok, "/network/v2.0/subnetpools", `{"subnetpool": {"prefixes": ["10.60.0.0/22"], "default_prefixlen": 26}}`)["id"].(string)
			const blocks, racers = 16, 24
			nets := make([]string, racers)
			for i := range nets {
				nets[i] = e.mustCreate(tok, "/network/v2.0/networks", `{"network": {"name": "r"}}`)["id"].(string)
			}
			var wg sync.WaitGroup
			codes := make([]int, racers)
			cidrs := make([]string, racers)
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, body := e.do(tok, "POST", "/network/v2.0/subnets", subnetBody(nets[i], `"ip_version": 4, "subnetpool_id": "`+pid+`"`))
					codes[i] = code
					if code == 201 {
						cidrs[i] = body["subnet"].(map[string]any)["cidr"].(string)
					} else if fault(body) != "SubnetAllocationError" {
						t.Errorf("racer %d: %d %v", i, code, body)
					}
				}()
			}
			wg.Wait()
			var got []netip.Prefix
			for i, c := range cidrs {
				if codes[i] == 201 {
					got = append(got, netip.MustParsePrefix(c))
				}
			}
			if len(got) != blocks {
				t.Fatalf("%d creates succeeded, want %d (codes %v)", len(got), blocks, codes)
			}
			for i := range got {
				for j := i + 1; j < len(got); j++ {
					if got[i].Overlaps(got[j]) {
						t.Fatalf("overlapping prefixes handed out: %s and %s", got[i], got[j])
					}
				}
			}
			if code, body := e.do(tok, "GET", "/network/v2.0/subnets?subnetpool_id="+pid, ""); code != 200 || len(body["subnets"].([]any)) != blocks {
				t.Fatalf("listed: %d %v", code, fmt.Sprint(body))
			}
		})
	}
}
