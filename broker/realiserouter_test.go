package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/canopy-cloud/canopy/broker"
)

// TestRouterBeforeFirstServer: a router (gateway and interface) made
// before any server uses the cloud is realised there with the first
// server on its network, before that server's floating IP is pushed, so
// the floating IP reaches the cloud and nothing is left pending.
func TestRouterBeforeFirstServer(t *testing.T) {
	e := newRealEnv(t, false)
	ctx := context.Background()
	pub, _, err := e.net.EnsureExternalNetwork(ctx, "public", "172.24.4.0/24")
	if err != nil {
		t.Fatal(err)
	}
	rt := e.mustNeutron(201, "POST", "/routers", "router", fmt.Sprintf(`{"router": {"name": "r1", "external_gateway_info": {"network_id": %q}}}`, pub.ID))
	e.mustNeutron(200, "PUT", "/routers/"+rt+"/add_router_interface", "", fmt.Sprintf(`{"subnet_id": %q}`, e.subnet))
	// A router on nothing the server uses stays out of the cloud.
	lone := e.mustNeutron(201, "POST", "/routers", "router", `{"router": {"name": "lone"}}`)
	if _, ok := e.pool.Router(rt); ok {
		t.Fatal("the router reached the pool before any server needed it")
	}
	port := e.mustNeutron(201, "POST", "/ports", "port", fmt.Sprintf(`{"port": {"network_id": %q}}`, e.netID))
	fip := e.mustNeutron(201, "POST", "/floatingips", "floatingip", fmt.Sprintf(`{"floatingip": {"floating_network_id": %q, "port_id": %q}}`, pub.ID, port))

	s := e.boot([]broker.NetworkRequest{{PortID: port}}, "ACTIVE")
	r, ok := e.pool.Router(rt)
	if !ok || len(r.Interfaces) != 1 || r.Interfaces[0].NetworkID != e.netID || r.ExternalNetworkID != pub.ID {
		t.Errorf("the pool's router after the first server = %+v, %v; want its interface on the private network and the public gateway", r, ok)
	}
	if got := e.realised("router", realProject, rt); !slices.Equal(got, []string{"local"}) {
		t.Errorf("router realised in %v; want [local]", got)
	}
	if _, ok := e.pool.Router(lone); ok {
		t.Error("a router on no network of the server reached the pool")
	}
	if f, ok := e.pool.FloatingIP(fip); !ok || f.ServerID != s.ID || f.PortID != port {
		t.Errorf("the pool's floating IP = %+v, %v; want it on port %s of server %s", f, ok, port, s.ID)
	}
	if pending, err := e.b.Pending(ctx, "local"); err != nil || len(pending) != 0 {
		t.Errorf("pending pushes = %v, %v; want none", pending, err)
	}
}
