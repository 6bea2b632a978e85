package aws_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/canopy-cloud/canopy/app"
	"github.com/canopy-cloud/canopy/app/apptest"
	"github.com/canopy-cloud/canopy/proxies/aws"
)

// TestGatewayMultiCreateOneLaunch: a Nova multi-create of five servers
// (min_count = max_count = 5, no network) in one of the AWS zones reaches
// EC2 as exactly one RunInstances, and moto then holds five instances, each
// tagged with its own server's top id; all five go ACTIVE.
func TestGatewayMultiCreateOneLaunch(t *testing.T) {
	ctx := t.Context()
	cfg, stop, err := aws.DevSim(ctx, apptest.DevImageIDs()...)
	if errors.Is(err, aws.ErrNoMoto) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("DevSim: %v", err)
	}
	t.Cleanup(stop)
	be, err := aws.New(ctx, "aws", cfg, apptest.Log())
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	t.Cleanup(func() { _ = be.Close() })
	runs := aws.CountRunInstances(be)
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[0].AvailabilityZone
	g := apptest.Start(t, be)

	nova := *g.Nova
	nova.Microversion = "2.37" // "networks": "none"
	if _, err := servers.Create(ctx, &nova, servers.CreateOpts{
		Name: "batch", FlavorRef: "1", ImageRef: app.DevImages[0].ID, AvailabilityZone: zone,
		Networks: "none", Min: 5, Max: 5,
	}, nil).Extract(); err != nil {
		t.Fatalf("multi-create: %v", err)
	}
	pages, err := servers.List(g.Nova, servers.ListOpts{Name: "^batch-"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, err := servers.ExtractServers(pages)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		if strings.HasPrefix(s.Name, "batch-") {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) != 5 {
		t.Fatalf("the multi-create made %d servers named batch-*; want 5", len(ids))
	}
	g.WaitActive(t, ids, 90*time.Second)
	if n := runs(); n != 1 {
		t.Errorf("five servers took %d RunInstances calls; want 1", n)
	}
	sim := ec2.New(ec2.Options{Region: cfg.Region, BaseEndpoint: awsv2.String(cfg.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "x", "")})
	for _, id := range ids {
		if insts := tagged(t, sim, id); len(insts) != 1 {
			t.Errorf("moto holds %d live instances tagged canopy:id=%s; want 1", len(insts), id)
		}
	}
	g.DeleteServers(t, ids, 90*time.Second)
	for _, id := range ids {
		if left := tagged(t, sim, id); len(left) != 0 {
			t.Errorf("after delete moto still runs %d instances tagged %s", len(left), id)
		}
	}
}
