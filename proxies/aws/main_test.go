package aws

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
)

// moto is the simulator every moto-backed test uses (nil when missing
// outside CI); motoErr says why it is missing.
var (
	moto     *Moto
	motoErr  error
	motoDir  string
	stockAMI string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	moto, motoErr = StartMoto(ctx)
	if motoErr != nil && os.Getenv("CI") == "true" {
		fmt.Fprintf(os.Stderr, "proxies/aws: %v (CI=true: the moto server is required)\n", motoErr)
		return 1
	}
	if moto != nil {
		defer moto.Stop()
		dir, err := os.MkdirTemp("", "canopy-aws-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		motoDir = dir
		// Warm-up: moto loads its EC2 backend lazily (seconds on first call).
		cfg, err := SimConfig(ctx, moto.Endpoint, dir, "warm-up")
		if err != nil {
			fmt.Fprintf(os.Stderr, "proxies/aws: moto warm-up: %v\n", err)
			return 1
		}
		stockAMI = cfg.AMIMap["warm-up"]
	}
	return m.Run()
}

// needMoto skips (outside CI) or fails (CI=true) a test without moto.
func needMoto(t *testing.T) {
	t.Helper()
	if moto == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("moto is required under CI=true: %v", motoErr)
		}
		t.Skipf("no moto server: %v", motoErr)
	}
}

// contractImage is the top image id the contract suite boots; it is mapped
// to moto's stock AMI.
const contractImage = "9d3f1c2e-0000-4000-8000-00000000a7a5"

// motoConfig is a Config for the test moto.
func motoConfig(t *testing.T) Config {
	t.Helper()
	needMoto(t)
	cfg, err := SimConfig(t.Context(), moto.Endpoint, motoDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AMIMap = map[string]string{contractImage: stockAMI}
	return cfg
}

// callCounter counts EC2 calls per operation, as SDK middleware.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("TestCount", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		c.mu.Lock()
		if c.calls == nil {
			c.calls = map[string]int{}
		}
		c.calls[middleware.GetOperationName(ctx)]++
		c.mu.Unlock()
		return next.HandleInitialize(ctx, in)
	}), middleware.Before)
}

func (c *callCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// newMotoBackend builds a backend named name against moto; mutate edits
// its config first.
func newMotoBackend(t *testing.T, name string, mutate func(*Config)) *Backend {
	t.Helper()
	cfg := motoConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := New(t.Context(), name, cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// rawEC2 is a plain SDK client on moto, to look at what the backend made.
func rawEC2(t *testing.T) *ec2.Client {
	t.Helper()
	needMoto(t)
	cfg := motoConfig(t)
	b, err := New(t.Context(), "raw", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sim, ok := b.ec2.(*vmImportSim); ok {
		return sim.ec2API.(*ec2.Client)
	}
	return b.ec2.(*ec2.Client)
}

// countTagged counts live instances tagged canopy:id=id in moto.
func countTagged(t *testing.T, c *ec2.Client, id string) int {
	t.Helper()
	out, err := c.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: awsv2.String("tag:" + tagID), Values: []string{id}},
		{Name: awsv2.String("instance-state-name"), Values: liveStates}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range out.Reservations {
		n += len(r.Instances)
	}
	return n
}

// eventually polls cond until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testWriter sends the backend's log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
