package armsim

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

func clients(t *testing.T, s *Sim, retries int32) (*armresources.ResourceGroupsClient, *armcompute.DisksClient) {
	t.Helper()
	opts := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: s.URL, Audience: s.URL}}},
		Transport: s.Client(), Retry: policy.RetryOptions{MaxRetries: retries},
	}}
	rg, err := armresources.NewResourceGroupsClient(s.SubscriptionID(), StaticToken{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := armcompute.NewDisksClient(s.SubscriptionID(), StaticToken{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rg, d
}

// TestLongRunningShape checks that a disk create answers Polls non-terminal
// polls, shows the disk as Creating meanwhile, and commits at the end.
func TestLongRunningShape(t *testing.T) {
	s := New(Options{Polls: 3})
	t.Cleanup(s.Close)
	rgs, disks := clients(t, s, -1)
	ctx := t.Context()
	if _, err := rgs.CreateOrUpdate(ctx, "rg1", armresources.ResourceGroup{Location: to.Ptr("westeurope")}, nil); err != nil {
		t.Fatal(err)
	}
	p, err := disks.BeginCreateOrUpdate(ctx, "rg1", "d1", armcompute.Disk{Location: to.Ptr("westeurope"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr(int32(4))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	polls := 0
	for !p.Done() {
		got, err := disks.Get(ctx, "rg1", "d1", nil)
		if err != nil || *got.Properties.ProvisioningState != "Creating" {
			t.Fatalf("during the create the disk is %v, %v; want Creating", got.Properties.ProvisioningState, err)
		}
		if _, err := p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		polls++
	}
	if polls != 4 {
		t.Errorf("the create took %d polls; want 3 non-terminal and the terminal one", polls)
	}
	got, err := disks.Get(ctx, "rg1", "d1", nil)
	if err != nil || *got.Properties.ProvisioningState != "Succeeded" || s.PendingOperations() != 0 {
		t.Errorf("after the create the disk is %v, %v (%d pending)", got.Properties.ProvisioningState, err, s.PendingOperations())
	}
}

// TestErrorsAndThrottling checks ARM's error shapes: 404 ResourceNotFound,
// 404 ResourceGroupNotFound, 400 InvalidParameter, and 429 with its
// headers.
func TestErrorsAndThrottling(t *testing.T) {
	s := New(Options{})
	t.Cleanup(s.Close)
	_, disks := clients(t, s, -1)
	ctx := t.Context()
	code := func(err error) (int, string) {
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("error %v is not an ARM ResponseError", err)
		}
		return re.StatusCode, re.ErrorCode
	}
	_, err := disks.Get(ctx, "rg1", "nope", nil)
	if st, c := code(err); st != 404 || c != "ResourceNotFound" {
		t.Errorf("Get(missing) = %d %s", st, c)
	}
	_, err = disks.BeginCreateOrUpdate(ctx, "nope", "d", armcompute.Disk{Location: to.Ptr("westeurope")}, nil)
	if st, c := code(err); st != 404 || c != "ResourceGroupNotFound" {
		t.Errorf("create in a missing group = %d %s", st, c)
	}
	s.Throttle(1, 7)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL+"/subscriptions/x/resourcegroups/y", nil)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("x-ms-ratelimit-remaining-subscription-reads") != "0" {
		t.Errorf("throttled answer = %d, Retry-After %q, remaining %q", resp.StatusCode, resp.Header.Get("Retry-After"),
			resp.Header.Get("x-ms-ratelimit-remaining-subscription-reads"))
	}
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL+"/subscriptions/x/resourcegroups/y", nil)
	resp, err = s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("a request with no bearer token = %d; want 401", resp.StatusCode)
	}
}

// TestPollAfterEnd checks that an operation polled to its end by one
// client still answers Succeeded to another (a resumed or concurrent one).
func TestPollAfterEnd(t *testing.T) {
	s := New(Options{Polls: 1})
	t.Cleanup(s.Close)
	rgs, disks := clients(t, s, -1)
	ctx := t.Context()
	if _, err := rgs.CreateOrUpdate(ctx, "rg1", armresources.ResourceGroup{Location: to.Ptr("westeurope")}, nil); err != nil {
		t.Fatal(err)
	}
	p, err := disks.BeginCreateOrUpdate(ctx, "rg1", "d1", armcompute.Disk{Location: to.Ptr("westeurope"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr(int32(4))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.ResumeToken()
	if err != nil {
		t.Fatal(err)
	}
	for !p.Done() {
		if _, err := p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	late, err := disks.BeginCreateOrUpdate(ctx, "", "", armcompute.Disk{}, &armcompute.DisksClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.Poll(ctx); err != nil || !late.Done() {
		t.Fatalf("a late poll = %v, done %v; want Succeeded", err, late.Done())
	}
	res, err := late.Result(ctx)
	if err != nil || res.Name == nil || *res.Name != "d1" {
		t.Errorf("a late poll's result = %+v, %v; want disk d1", res, err)
	}
}
