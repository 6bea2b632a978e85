package aws_test

import (
	"errors"
	"os"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/canopy-cloud/canopy/app/apptest"
	"github.com/canopy-cloud/canopy/proxies/aws"
)

// TestGatewayBootsOnAWS runs the gateway itself (app.New with the AWS
// backend over moto), creates a server through the Nova API with
// gophercloud in one of the backend's zones, and checks the instance in
// moto: tagged with the top id, on a subnet of the project's VPC. Then it
// deletes it through the API and checks the instance is terminated.
func TestGatewayBootsOnAWS(t *testing.T) {
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
	hosts, err := be.Inventory().Hosts(ctx)
	if err != nil || len(hosts) == 0 {
		t.Fatalf("Hosts = %v, %v", hosts, err)
	}
	zone := hosts[0].AvailabilityZone
	g := apptest.Start(t, be)
	srv := g.BootServer(t, "vm-on-aws", zone)

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
	if net := tagValue(subs.Subnets[0].Tags, "canopy:network"); net != g.PrivateNetwork {
		t.Errorf("the instance's subnet belongs to network %q; want the private network %s", net, g.PrivateNetwork)
	}

	g.DeleteServer(t, srv.ID)
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
