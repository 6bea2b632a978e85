package aws_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/aws"
	"github.com/canopy-cloud/canopy/registry"
)

// TestGatewayBootsOnAWS runs the gateway itself (app.New with the AWS
// backend over moto), creates a server through the Nova API with
// gophercloud in one of the backend's zones, and checks the instance in
// moto: tagged with the top id, on a subnet of the project's VPC. Then it
// deletes it through the API and checks the instance is terminated.
func TestGatewayBootsOnAWS(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ids := make([]string, 0, len(app.DevImages))
	for _, im := range app.DevImages {
		ids = append(ids, im.ID)
	}
	cfg, stop, err := aws.DevSim(ctx, ids...)
	if errors.Is(err, aws.ErrNoMoto) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	be, err := aws.New(ctx, "aws", cfg, log)
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[0].AvailabilityZone

	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	t.Cleanup(dev.Close)
	reg, err := dev.Open(ctx)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + l.Addr().String()
	dir := t.TempDir()
	local := localcloud.DefaultConfig()
	local.ApplyBuildDelay(0)
	a, err := app.New(ctx, reg, app.Options{PublicURL: public, Region: "RegionOne", DataDir: dir, TokenTTL: time.Hour,
		Local: local, Backends: []proxies.Backend{be}}, log)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	users, err := app.LoadOrCreateDevUsers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.BootstrapDev(ctx, users); err != nil {
		t.Fatalf("BootstrapDev: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan struct{})
	go func() { defer close(served); _ = a.Serve(serveCtx, l) }()
	t.Cleanup(func() { stopServe(); <-served; a.Close() })

	var demo app.DevUser
	for _, u := range users {
		if u.Name == "demo" {
			demo = u
		}
	}
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: public + "/identity/v3", Username: demo.Name, Password: demo.Password,
		DomainName: "Default", TenantName: demo.Project,
	})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	eo := gophercloud.EndpointOpts{Region: "RegionOne"}
	nova, err := openstack.NewComputeV2(provider, eo)
	if err != nil {
		t.Fatal(err)
	}
	neutron, err := openstack.NewNetworkV2(provider, eo)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := networks.List(neutron, networks.ListOpts{Name: "private"}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	nets, err := networks.ExtractNetworks(pages)
	if err != nil || len(nets) != 1 {
		t.Fatalf("network private = %v, %v", nets, err)
	}

	srv, err := servers.Create(ctx, nova, servers.CreateOpts{
		Name: "vm-on-aws", FlavorRef: "1", ImageRef: app.DevImages[0].ID, AvailabilityZone: zone,
		Networks: []servers.Network{{UUID: nets[0].ID}},
	}, nil).Extract()
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := servers.WaitForStatus(wctx, nova, srv.ID, "ACTIVE"); err != nil {
		got, _ := servers.Get(ctx, nova, srv.ID).Extract()
		t.Fatalf("server did not become ACTIVE: %v (server %+v)", err, got)
	}
	got, err := servers.Get(ctx, nova, srv.ID).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if got.AvailabilityZone != zone {
		t.Errorf("server's availability zone = %q; want the AWS zone %q", got.AvailabilityZone, zone)
	}

	sim := ec2.New(ec2.Options{Region: cfg.Region, BaseEndpoint: awsv2.String(cfg.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "x", "")})
	insts := tagged(t, sim, srv.ID)
	if len(insts) != 1 {
		t.Fatalf("moto holds %d live instances tagged canopy:id=%s; want 1", len(insts), srv.ID)
	}
	inst := insts[0]
	if awsv2.ToString(inst.Placement.AvailabilityZone) != zone || inst.SubnetId == nil || inst.State.Name != types.InstanceStateNameRunning {
		t.Errorf("instance in %s on subnet %v, %s; want running in %s on the private network's subnet",
			awsv2.ToString(inst.Placement.AvailabilityZone), inst.SubnetId, inst.State.Name, zone)
	}
	subs, err := sim.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{awsv2.ToString(inst.SubnetId)}})
	if err != nil || len(subs.Subnets) != 1 {
		t.Fatalf("the instance's subnet: %v", err)
	}
	if net := tagValue(subs.Subnets[0].Tags, "canopy:network"); net != nets[0].ID {
		t.Errorf("the instance's subnet belongs to network %q; want the private network %s", net, nets[0].ID)
	}

	if err := servers.Delete(ctx, nova, srv.ID).ExtractErr(); err != nil {
		t.Fatalf("delete server: %v", err)
	}
	for {
		_, err := servers.Get(wctx, nova, srv.ID).Extract()
		if gophercloud.ResponseCodeIs(err, 404) {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("server still there after delete: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := tagged(t, sim, srv.ID); len(left) != 0 {
		t.Errorf("after delete moto still runs %d instances tagged %s", len(left), srv.ID)
	}
}

// tagged lists moto's live instances tagged canopy:id=id.
func tagged(t *testing.T, c *ec2.Client, id string) []types.Instance {
	t.Helper()
	out, err := c.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: awsv2.String("tag:canopy:id"), Values: []string{id}},
		{Name: awsv2.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var list []types.Instance
	for _, r := range out.Reservations {
		list = append(list, r.Instances...)
	}
	return list
}

func tagValue(tags []types.Tag, key string) string {
	for _, t := range tags {
		if awsv2.ToString(t.Key) == key {
			return awsv2.ToString(t.Value)
		}
	}
	return ""
}
