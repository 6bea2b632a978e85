package network_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/canopy-cloud/canopy/registry"
)

// TestDeleteRacesCreate: a network delete racing a port create, and a
// subnet delete racing an allocation, never leave a port on a deleted
// network or an address on a deleted subnet; on the dev server and on a
// real redis-server.
func TestDeleteRacesCreate(t *testing.T) {
	for name, open := range map[string]func(testing.TB) *registry.Registry{"dev": devRegistry, "redis": realRedis} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, open(t))
			tok := "member:" + uniqueProject("race")
			for i := range 20 {
				nid := e.mustCreate(tok, "/network/v2.0/networks", `{"network": {"name": "race"}}`)["id"].(string)
				sid := e.mustCreate(tok, "/network/v2.0/subnets", `{"subnet": {"network_id": "`+nid+`", "ip_version": 4, "cidr": "10.50.`+fmt.Sprint(i)+`.0/24"}}`)["id"].(string)
				var wg sync.WaitGroup
				var portCode, delCode int
				var port map[string]any
				wg.Add(2)
				go func() {
					defer wg.Done()
					body := `{"port": {"network_id": "` + nid + `"}}`
					if i%2 == 1 { // odd rounds race the subnet delete instead
						body = `{"port": {"network_id": "` + nid + `", "fixed_ips": [{"subnet_id": "` + sid + `"}]}}`
					}
					portCode, port = e.do(tok, "POST", "/network/v2.0/ports", body)
				}()
				go func() {
					defer wg.Done()
					if i%2 == 1 {
						delCode, _ = e.do(tok, "DELETE", "/network/v2.0/subnets/"+sid, "")
					} else {
						delCode, _ = e.do(tok, "DELETE", "/network/v2.0/networks/"+nid, "")
					}
				}()
				wg.Wait()
				switch {
				case portCode == 201 && delCode == 409:
					pt := port["port"].(map[string]any)
					if i%2 == 1 && mustJSON(pt["fixed_ips"]) == "[]" {
						t.Fatalf("round %d: port made without its address", i)
					}
				case portCode != 201 && delCode == 204:
					if i%2 == 0 {
						_, list := e.do("admin", "GET", "/network/v2.0/ports?network_id="+nid, "")
						if n := len(list["ports"].([]any)); n != 0 {
							t.Fatalf("round %d: %d ports on a deleted network", i, n)
						}
					}
				default:
					t.Fatalf("round %d: port create %d, delete %d", i, portCode, delCode)
				}
				_, list := e.do(tok, "GET", "/network/v2.0/ports?network_id="+nid, "")
				for _, it := range list["ports"].([]any) {
					pt := it.(map[string]any)
					for _, f := range pt["fixed_ips"].([]any) {
						if delCode == 204 && f.(map[string]any)["subnet_id"] == sid {
							t.Fatalf("round %d: port %s holds an address on deleted subnet", i, pt["id"])
						}
					}
					e.do(tok, "DELETE", "/network/v2.0/ports/"+pt["id"].(string), "")
				}
				e.do(tok, "DELETE", "/network/v2.0/networks/"+nid, "")
			}
		})
	}
}
