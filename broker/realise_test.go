package broker_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/gateway"
	"github.com/canopy-cloud/canopy/gateway/network"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/metered"
	"github.com/canopy-cloud/canopy/registry"
	dto "github.com/prometheus/client_model/go"
)

// The realise-on-use tests run the broker with the real network service
// (its Neutron API over HTTP) and the local pool, so that every hop from a
// Neutron call to the cloud's copy is the production code.

const realProject = "proj-realise"

var realImage = bytes.Repeat([]byte("realise-image\n"), 512)

// memberAuth makes every token a member of realProject.
type memberAuth struct{}

func (memberAuth) Authenticate(context.Context, string) (*wire.Principal, error) {
	return &wire.Principal{UserID: "u", ProjectID: realProject, Roles: []string{"member", "reader"}}, nil
}

// cloud is the local pool with knobs: it counts image imports and can fail
// security-group pushes, and can hide security groups and floating IPs.
type cloud struct {
	*localcloud.Pool
	imports    atomic.Int32
	failGroups atomic.Bool
	bare       bool // no security groups, routers or floating IPs
}

func (c *cloud) Capabilities() proxies.Capabilities {
	caps := c.Pool.Capabilities()
	if c.bare {
		caps.SecurityGroups, caps.Routers, caps.FloatingIPs = false, false, false
	}
	return caps
}

func (c *cloud) Images() proxies.ImageDriver { return countingImages{c.Pool.Images(), c} }

func (c *cloud) EnsureSecurityGroup(ctx context.Context, spec proxies.SecurityGroupSpec) (proxies.SecurityGroupStatus, error) {
	if c.failGroups.Load() {
		return proxies.SecurityGroupStatus{}, proxies.Errorf(proxies.ErrUnavailable, "EnsureSecurityGroup", "the cloud is unreachable")
	}
	return c.Pool.EnsureSecurityGroup(ctx, spec)
}

type countingImages struct {
	proxies.ImageDriver
	c *cloud
}

func (i countingImages) ImportImage(ctx context.Context, spec proxies.ImageSpec, data proxies.ImageReader) (proxies.ImageStatus, error) {
	i.c.imports.Add(1)
	return i.ImageDriver.ImportImage(ctx, spec, data)
}

// memStore is an image store of one image.
type memStore struct{ opens atomic.Int32 }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (m *memStore) Open(_ context.Context, id string) (io.ReadSeekCloser, int64, error) {
	m.opens.Add(1)
	if id != imageID {
		return nil, 0, fmt.Errorf("image %s: %w", id, registry.ErrNotFound)
	}
	return nopCloser{bytes.NewReader(realImage)}, int64(len(realImage)), nil
}

type realEnv struct {
	t      *testing.T
	b      *broker.Broker
	reg    *registry.Registry
	net    *network.Service
	pool   *localcloud.Pool
	cloud  *cloud
	be     proxies.Backend
	srv    *httptest.Server
	caller broker.Caller
	netID  string
	subnet string
}

func newRealEnv(t *testing.T, bare bool) *realEnv {
	t.Helper()
	ctx := context.Background()
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := localcloud.DefaultConfig()
	cfg.ApplyBuildDelay(0)
	pool, err := localcloud.New("local", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	c := &cloud{Pool: pool, bare: bare}
	be := metered.Wrap(c)

	size := int64(len(realImage))
	sum := md5.Sum(realImage)
	img := &registry.Image{ID: imageID, Name: "cirros", Owner: "admin", Status: "active", Visibility: "public",
		DiskFormat: "raw", ContainerFormat: "bare", Size: &size, Checksum: hex.EncodeToString(sum[:])}
	if err := registry.NewCollection[registry.Image](reg, registry.KindImage, nil).Create(ctx, "admin", imageID, time.Now(), img); err != nil {
		t.Fatal(err)
	}
	flavors := registry.NewCollection(reg, registry.KindFlavor, func(f *registry.Flavor) string { return f.Name })
	if err := flavors.Create(ctx, registry.Global, "1", time.Now(), &registry.Flavor{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1, IsPublic: true}); err != nil {
		t.Fatal(err)
	}
	netSvc := network.New(reg, network.Options{})
	n, sub, err := netSvc.EnsureNetwork(ctx, realProject, "private", "10.0.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	b := broker.New(reg, brokertest.NewPlacer("local", ""), brokertest.NewImages(img), netSvc, map[string]proxies.Backend{"local": be},
		slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond})
	t.Cleanup(b.Close)
	b.SetSecurityGroups(netSvc)
	b.SetImageStore(&memStore{})
	netSvc.SetRealiser(b)

	g := gateway.New(slog.New(slog.DiscardHandler), memberAuth{})
	g.Mount(netSvc)
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return &realEnv{t: t, b: b, reg: reg, net: netSvc, pool: pool, cloud: c, be: be, srv: srv,
		caller: broker.Caller{UserID: "u", ProjectID: realProject, RequestID: "req-realise"}, netID: n.ID, subnet: sub.ID}
}

// neutron sends one Neutron request and returns the status and body.
func (e *realEnv) neutron(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+"/network/v2.0"+path, strings.NewReader(body))
	req.Header.Set("X-Auth-Token", "member")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// mustNeutron sends a request that must answer want and returns the id of
// the resource in the body (under key).
func (e *realEnv) mustNeutron(want int, method, path, key, body string) string {
	e.t.Helper()
	code, out := e.neutron(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s %s = %d %v; want %d", method, path, body, code, out, want)
	}
	if key == "" {
		return ""
	}
	obj, _ := out[key].(map[string]any)
	id, _ := obj["id"].(string)
	return id
}

// boot creates a server on nets and waits for status want.
func (e *realEnv) boot(nets []broker.NetworkRequest, want string) *registry.Server {
	e.t.Helper()
	made, err := e.b.CreateServers(context.Background(), broker.CreateRequest{Caller: e.caller, Name: "vm", ImageID: imageID,
		FlavorID: "1", Networks: nets, MinCount: 1, MaxCount: 1})
	if err != nil {
		e.t.Fatalf("CreateServers: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := e.b.GetServer(context.Background(), e.caller, made[0].ID)
		if err == nil && s.Status == want && s.TaskState == "" {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("server %s: want %s, have %+v (%v)", made[0].ID, want, s, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// nicGroups is the groups the pool's NIC for portID of server id uses.
func (e *realEnv) nicGroups(id, portID string) []string {
	e.t.Helper()
	st, err := e.pool.Servers().GetServer(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	h, _ := e.pool.SimulatedHost(st.Host)
	nics, err := h.DomainNICs(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, n := range nics {
		if n.PortID == portID {
			return n.SecurityGroupIDs
		}
	}
	e.t.Fatalf("server %s has no NIC for port %s", id, portID)
	return nil
}

func (e *realEnv) realised(kind, project, id string) []string {
	e.t.Helper()
	got, err := e.b.Realised(context.Background(), project, kind, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func hasRule(g proxies.SecurityGroupSpec, proto string, port int) bool {
	return slices.ContainsFunc(g.Rules, func(r proxies.SecurityGroupRule) bool { return r.Protocol == proto && r.PortMin == port })
}

func pendingGauge(t *testing.T) float64 {
	var m dto.Metric
	if err := broker.RealisePending.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestRealiseOnUse(t *testing.T) {
	e := newRealEnv(t, false)
	ctx := context.Background()
	web := e.mustNeutron(201, "POST", "/security-groups", "security_group", `{"security_group": {"name": "web"}}`)
	port := e.mustNeutron(201, "POST", "/ports", "port", fmt.Sprintf(`{"port": {"network_id": %q, "security_groups": [%q]}}`, e.netID, web))

	s1 := e.boot([]broker.NetworkRequest{{PortID: port}}, "ACTIVE")
	t.Run("server_create_realises_image_network_groups", func(t *testing.T) {
		if n := e.cloud.imports.Load(); n != 1 {
			t.Errorf("image imports = %d; want 1", n)
		}
		if got := e.realised("network", realProject, e.netID); !slices.Equal(got, []string{"local"}) {
			t.Errorf("network realised in %v; want [local]", got)
		}
		if got := e.realised("secgroup", realProject, web); !slices.Equal(got, []string{"local"}) {
			t.Errorf("group web realised in %v; want [local]", got)
		}
		if _, ok := e.pool.SecurityGroup(web); !ok {
			t.Error("the pool has no group web")
		}
		if got := e.nicGroups(s1.ID, port); !slices.Equal(got, []string{web}) {
			t.Errorf("NIC groups = %v; want [%s]", got, web)
		}
		v, err := registry.NewCollection[registry.Image](e.reg, registry.KindImage, nil).Lookup(ctx, imageID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(v.Value.Locations, func(l registry.ImageLocation) bool { return l.Cloud == "local" && l.URL != "" }) {
			t.Errorf("image locations = %+v; want the local pool's copy", v.Value.Locations)
		}
	})
	t.Run("second_server_imports_nothing", func(t *testing.T) {
		s2 := e.boot([]broker.NetworkRequest{{NetworkID: e.netID}}, "ACTIVE")
		if n := e.cloud.imports.Load(); n != 1 {
			t.Errorf("image imports after a second server = %d; want still 1", n)
		}
		if len(s2.Addresses) != 1 {
			t.Fatalf("second server addresses = %+v", s2.Addresses)
		}
		groups := e.nicGroups(s2.ID, s2.Addresses[0].PortID)
		if len(groups) != 1 {
			t.Fatalf("second server's NIC groups = %v; want the project's default group", groups)
		}
		if _, ok := e.pool.SecurityGroup(groups[0]); !ok {
			t.Errorf("default group %s is not realised in the pool", groups[0])
		}
	})
	t.Run("rule_added_reaches_cloud", func(t *testing.T) {
		e.mustNeutron(201, "POST", "/security-group-rules", "security_group_rule", fmt.Sprintf(
			`{"security_group_rule": {"security_group_id": %q, "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}}`, web))
		g, _ := e.pool.SecurityGroup(web)
		if !hasRule(g, "tcp", 80) {
			t.Errorf("the pool's group web has rules %+v; want the tcp/80 rule just added", g.Rules)
		}
	})
	t.Run("failed_push_is_pending_then_repushed", func(t *testing.T) {
		e.cloud.failGroups.Store(true)
		e.mustNeutron(201, "POST", "/security-group-rules", "security_group_rule", fmt.Sprintf(
			`{"security_group_rule": {"security_group_id": %q, "direction": "ingress", "protocol": "tcp", "port_range_min": 443, "port_range_max": 443}}`, web))
		pending, err := e.b.Pending(ctx, "local")
		if err != nil || !slices.Equal(pending, []string{"secgroup|" + realProject + "|" + web}) {
			t.Fatalf("pending = %v, %v; want the group web", pending, err)
		}
		if got := pendingGauge(t); got != 1 {
			t.Errorf("canopy_broker_realise_pending = %v; want 1", got)
		}
		if g, _ := e.pool.SecurityGroup(web); hasRule(g, "tcp", 443) {
			t.Fatal("the rule reached the cloud although the push failed")
		}
		if _, err := e.b.SyncOnce(ctx, "local", e.be); err != nil {
			t.Fatalf("SyncOnce while the cloud still fails: %v", err)
		}
		if pending, _ := e.b.Pending(ctx, "local"); len(pending) != 1 {
			t.Errorf("pending after a sync pass that failed again = %v; want it kept", pending)
		}
		e.cloud.failGroups.Store(false)
		if _, err := e.b.SyncOnce(ctx, "local", e.be); err != nil {
			t.Fatalf("SyncOnce: %v", err)
		}
		if g, _ := e.pool.SecurityGroup(web); !hasRule(g, "tcp", 443) {
			t.Errorf("after the sync pass the pool's group web has %+v; want the tcp/443 rule", g.Rules)
		}
		if pending, _ := e.b.Pending(ctx, "local"); len(pending) != 0 {
			t.Errorf("pending after a good sync pass = %v; want none", pending)
		}
		if got := pendingGauge(t); got != 0 {
			t.Errorf("canopy_broker_realise_pending = %v; want 0", got)
		}
	})
	t.Run("port_groups_change_reaches_nic", func(t *testing.T) {
		db := e.mustNeutron(201, "POST", "/security-groups", "security_group", `{"security_group": {"name": "db"}}`)
		e.mustNeutron(200, "PUT", "/ports/"+port, "", fmt.Sprintf(`{"port": {"security_groups": [%q, %q]}}`, web, db))
		if got := e.nicGroups(s1.ID, port); !slices.Equal(got, []string{web, db}) {
			t.Errorf("NIC groups after the port update = %v; want [%s %s]", got, web, db)
		}
	})
	t.Run("interface_attach_realises_network", func(t *testing.T) {
		n2, _, err := e.net.EnsureNetwork(ctx, realProject, "second", "10.1.0.0/24")
		if err != nil {
			t.Fatal(err)
		}
		itf, err := e.b.AttachInterface(ctx, e.caller, s1.ID, broker.NetworkRequest{NetworkID: n2.ID})
		if err != nil {
			t.Fatalf("AttachInterface: %v", err)
		}
		if got := e.realised("network", realProject, n2.ID); !slices.Equal(got, []string{"local"}) {
			t.Errorf("attached network realised in %v; want [local]", got)
		}
		if got := e.nicGroups(s1.ID, itf.PortID); len(got) != 1 {
			t.Errorf("attached NIC groups = %v; want the default group", got)
		}
	})
	t.Run("router_and_floating_ip_reach_cloud", func(t *testing.T) {
		pub, _, err := e.net.EnsureExternalNetwork(ctx, "public", "172.24.4.0/24")
		if err != nil {
			t.Fatal(err)
		}
		rt := e.mustNeutron(201, "POST", "/routers", "router", fmt.Sprintf(`{"router": {"name": "r1", "external_gateway_info": {"network_id": %q}}}`, pub.ID))
		e.mustNeutron(200, "PUT", "/routers/"+rt+"/add_router_interface", "", fmt.Sprintf(`{"subnet_id": %q}`, e.subnet))
		r, ok := e.pool.Router(rt)
		if !ok || len(r.Interfaces) != 1 || r.Interfaces[0].NetworkID != e.netID || r.ExternalNetworkID != pub.ID {
			t.Errorf("the pool's router = %+v, %v; want one interface on the private network and the public gateway", r, ok)
		}
		fip := e.mustNeutron(201, "POST", "/floatingips", "floatingip", fmt.Sprintf(`{"floatingip": {"floating_network_id": %q, "port_id": %q}}`, pub.ID, port))
		f, ok := e.pool.FloatingIP(fip)
		if !ok || f.PortID != port || f.ServerID != s1.ID {
			t.Fatalf("the pool's floating IP = %+v, %v; want it on port %s of server %s", f, ok, port, s1.ID)
		}
		e.mustNeutron(200, "PUT", "/floatingips/"+fip, "", `{"floatingip": {"port_id": null}}`)
		if f, _ := e.pool.FloatingIP(fip); f.PortID != "" {
			t.Errorf("after disassociation the pool's floating IP is on port %q", f.PortID)
		}
		e.mustNeutron(204, "DELETE", "/floatingips/"+fip, "", "")
		if _, ok := e.pool.FloatingIP(fip); ok {
			t.Error("the pool still holds a deleted floating IP")
		}
		// A floating IP on a port before its server exists reaches the
		// cloud once the server is built there.
		early := e.mustNeutron(201, "POST", "/ports", "port", fmt.Sprintf(`{"port": {"network_id": %q}}`, e.netID))
		fip2 := e.mustNeutron(201, "POST", "/floatingips", "floatingip", fmt.Sprintf(`{"floatingip": {"floating_network_id": %q, "port_id": %q}}`, pub.ID, early))
		s3 := e.boot([]broker.NetworkRequest{{PortID: early}}, "ACTIVE")
		if f, ok := e.pool.FloatingIP(fip2); !ok || f.ServerID != s3.ID || f.PortID != early {
			t.Errorf("floating IP associated before the server was built = %+v, %v in the pool; want it on server %s", f, ok, s3.ID)
		}
		e.mustNeutron(204, "DELETE", "/floatingips/"+fip2, "", "")
		e.mustNeutron(200, "PUT", "/routers/"+rt+"/remove_router_interface", "", fmt.Sprintf(`{"subnet_id": %q}`, e.subnet))
		if r, _ := e.pool.Router(rt); len(r.Interfaces) != 0 {
			t.Errorf("the pool's router kept interfaces %+v after their removal", r.Interfaces)
		}
		e.mustNeutron(204, "DELETE", "/routers/"+rt, "", "")
		if _, ok := e.pool.Router(rt); ok {
			t.Error("the pool still holds a deleted router")
		}
	})
}

// TestRealiseRefusesUnsupported: a cloud without security groups or
// floating IPs refuses a port with a non-default group (the build fails
// with a fault) and a floating IP association (409), never silently.
func TestRealiseRefusesUnsupported(t *testing.T) {
	e := newRealEnv(t, true)
	web := e.mustNeutron(201, "POST", "/security-groups", "security_group", `{"security_group": {"name": "web"}}`)
	port := e.mustNeutron(201, "POST", "/ports", "port", fmt.Sprintf(`{"port": {"network_id": %q, "security_groups": [%q]}}`, e.netID, web))
	_, err := e.b.CreateServers(context.Background(), broker.CreateRequest{Caller: e.caller, Name: "vm", ImageID: imageID,
		FlavorID: "1", Networks: []broker.NetworkRequest{{PortID: port}}, MinCount: 1, MaxCount: 1})
	if !errors.Is(err, proxies.ErrConflict) || !strings.Contains(proxies.SafeMessage(err), "does not support security groups") {
		t.Errorf("a server whose port has group web in a cloud without groups = %v; want a conflict saying so", err)
	}
	if list, _ := e.b.Servers().List(context.Background(), realProject, registry.Page{}); len(list) != 0 {
		t.Errorf("the refused create left %d server records", len(list))
	}

	ok := e.boot([]broker.NetworkRequest{{NetworkID: e.netID}}, "ACTIVE")
	okPort := ok.Addresses[0].PortID
	code, out := e.neutron("PUT", "/ports/"+okPort, fmt.Sprintf(`{"port": {"security_groups": [%q]}}`, web))
	if code != http.StatusConflict {
		t.Errorf("adding group web to a port of a server in a cloud without groups = %d %v; want 409", code, out)
	}
	pub, _, err := e.net.EnsureExternalNetwork(context.Background(), "public", "172.24.4.0/24")
	if err != nil {
		t.Fatal(err)
	}
	rt := e.mustNeutron(201, "POST", "/routers", "router", fmt.Sprintf(`{"router": {"name": "r1", "external_gateway_info": {"network_id": %q}}}`, pub.ID))
	e.mustNeutron(200, "PUT", "/routers/"+rt+"/add_router_interface", "", fmt.Sprintf(`{"subnet_id": %q}`, e.subnet))
	free := e.mustNeutron(201, "POST", "/ports", "port", fmt.Sprintf(`{"port": {"network_id": %q}}`, e.netID))
	e.mustNeutron(201, "POST", "/floatingips", "floatingip", fmt.Sprintf(`{"floatingip": {"floating_network_id": %q, "port_id": %q}}`, pub.ID, free))
	_, err = e.b.CreateServers(context.Background(), broker.CreateRequest{Caller: e.caller, Name: "vm", ImageID: imageID,
		FlavorID: "1", Networks: []broker.NetworkRequest{{PortID: free}}, MinCount: 1, MaxCount: 1})
	if !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("a server whose port has a floating IP in a cloud without floating IPs = %v; want a conflict", err)
	}
	code, out = e.neutron("POST", "/floatingips", fmt.Sprintf(`{"floatingip": {"floating_network_id": %q, "port_id": %q}}`, pub.ID, okPort))
	if code != http.StatusConflict {
		t.Errorf("floating IP on a port of a server in a cloud without floating IPs = %d %v; want 409", code, out)
	}
}
