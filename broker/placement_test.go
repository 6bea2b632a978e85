package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/broker/brokertest"
	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/scheduler"
)

// federated is an env whose broker places with the real scheduler over two
// clouds: "east" with hosts e1 and e2 (more room, so chosen first) and
// "west" with host w1.
type federated struct {
	*env
	sched      *scheduler.Scheduler
	east, west *brokertest.Backend
}

func newFederated(t *testing.T) *federated {
	t.Helper()
	e := newEnv(t, nil)
	ctx := context.Background()
	f := &federated{env: e, sched: scheduler.New(e.reg, scheduler.Options{}),
		east: brokertest.NewBackend("east"), west: brokertest.NewBackend("west")}
	host := func(name string, ram int) proxies.Host {
		return proxies.Host{Name: name, AvailabilityZone: "nova", Up: true, Enabled: true, VCPUs: 8, RAMMB: ram, DiskGB: 100}
	}
	if err := f.sched.SyncHosts(ctx, "east", []proxies.Host{host("e1", 16384), host("e2", 16384)}); err != nil {
		t.Fatal(err)
	}
	if err := f.sched.SyncHosts(ctx, "west", []proxies.Host{host("w1", 4096)}); err != nil {
		t.Fatal(err)
	}
	f.b = broker.New(e.reg, f.sched, e.images, e.ports, map[string]proxies.Backend{"east": f.east, "west": f.west},
		slog.New(slog.DiscardHandler), broker.Options{PollInterval: time.Millisecond, Quota: broker.Quota{Instances: 10, Cores: 20, RAM: 51200}})
	t.Cleanup(f.b.Close)
	return f
}

func (f *federated) boot(t *testing.T, mut func(*broker.CreateRequest)) (string, error) {
	t.Helper()
	made, err := f.create(t, mut)
	if err != nil {
		return "", err
	}
	return made[0].ID, nil
}

// TestRefusedCreateGoesToNextCandidate: a cloud that refuses a server (out
// of capacity: that host; out of quota: that whole cloud) sends it to the
// next candidate without the client seeing a failure; when every candidate
// refuses, the server goes ERROR with "No valid host was found" and each
// refusal in the fault's details, holding no claim.
func TestRefusedCreateGoesToNextCandidate(t *testing.T) {
	capacity := proxies.Errorf(proxies.ErrCapacity, "CreateServer", "InsufficientInstanceCapacity in this zone")
	quota := proxies.Errorf(proxies.ErrQuota, "CreateServer", "vCPU limit reached for the account")
	cases := []struct {
		name             string
		eastErr, westErr error
		wantStatus       string
		wantCloud        string
		wantEastCreates  int // attempts at east (one per host tried there)
		wantDetails      []string
	}{
		{"no refusal", nil, nil, "ACTIVE", "east", 1, nil},
		{"east out of capacity: both its hosts tried, then west", capacity, nil, "ACTIVE", "west", 2, nil},
		{"east out of quota: the whole cloud skipped", quota, nil, "ACTIVE", "west", 1, nil},
		{"every candidate refuses", capacity, capacity, "ERROR", "", 2,
			[]string{"cloud east host e", "cloud west host w1: InsufficientInstanceCapacity in this zone"}},
		{"quota at east, capacity at west: no candidate left", quota, capacity, "ERROR", "", 1,
			[]string{"cloud east host e", "vCPU limit reached", "cloud west host w1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFederated(t)
			f.east.CreateErr, f.west.CreateErr = c.eastErr, c.westErr
			id, err := f.boot(t, nil)
			if err != nil {
				t.Fatalf("create answered %v; a refusal must not reach the client", err)
			}
			s := f.waitStatus(t, id, c.wantStatus)
			creates := 0
			for _, call := range f.east.Calls() {
				if call == "create "+id {
					creates++
				}
			}
			if creates != c.wantEastCreates {
				t.Errorf("east saw %d creates (%v); want %d", creates, f.east.Calls(), c.wantEastCreates)
			}
			claims, err := f.sched.Claims(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if c.wantStatus == "ACTIVE" {
				if s.Routing.Cloud != c.wantCloud || !f.backendFor(c.wantCloud).Has(id) {
					t.Errorf("server on %s/%s; want it built on %s", s.Routing.Cloud, s.Routing.Host, c.wantCloud)
				}
				if s.Fault != nil {
					t.Errorf("an ACTIVE server with a fault: %+v", s.Fault)
				}
				if len(claims) != 1 || claims[0].Cloud != s.Routing.Cloud || claims[0].Host != s.Routing.Host {
					t.Errorf("claims %+v; want exactly one, on %s/%s", claims, s.Routing.Cloud, s.Routing.Host)
				}
				return
			}
			if s.Fault == nil || s.Fault.Message != "No valid host was found. " {
				t.Fatalf("fault %+v; want Nova's No valid host", s.Fault)
			}
			for _, want := range c.wantDetails {
				if !strings.Contains(s.Fault.Details, want) {
					t.Errorf("fault details %q do not mention %q", s.Fault.Details, want)
				}
			}
			if len(claims) != 0 {
				t.Errorf("a server no cloud took still holds claims %+v", claims)
			}
			if f.east.Has(id) || f.west.Has(id) {
				t.Error("a refused server was left at a backend")
			}
		})
	}
}

// TestLateRefusalGoesToNextCandidate: a cloud that accepts a server and
// then fails it for lack of room (a bottom OpenStack's "No valid host")
// is a refusal too: its server is removed and the next candidate builds
// it; any other build fault stays the server's error.
func TestLateRefusalGoesToNextCandidate(t *testing.T) {
	for _, c := range []struct {
		fault, wantStatus, wantCloud string
	}{
		{"No valid host was found. There are not enough hosts available.", "ACTIVE", "west"},
		{"InsufficientInstanceCapacity: We currently do not have sufficient m5.large capacity", "ACTIVE", "west"},
		{"the image is corrupt", "ERROR", ""},
	} {
		t.Run(c.fault, func(t *testing.T) {
			f := newFederated(t)
			f.east.BuildFault, f.east.BuildPolls = c.fault, 1
			id, err := f.boot(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := f.waitStatus(t, id, c.wantStatus)
			if f.east.Has(id) {
				t.Error("the server east failed is still at east")
			}
			if c.wantStatus == "ERROR" {
				if s.Fault == nil || !strings.Contains(s.Fault.Message, c.fault) {
					t.Errorf("fault %+v; want the build's own fault", s.Fault)
				}
				if f.west.Has(id) {
					t.Error("a server with a build fault was sent elsewhere")
				}
				return
			}
			if s.Routing.Cloud != c.wantCloud || !f.west.Has(id) || s.Fault != nil {
				t.Errorf("server on %s (fault %+v); want it ACTIVE on %s", s.Routing.Cloud, s.Fault, c.wantCloud)
			}
			claims, err := f.sched.Claims(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(claims) != 1 || claims[0].Cloud != "west" {
				t.Errorf("claims %+v; want one, on west", claims)
			}
		})
	}
}

func (f *federated) backendFor(cloud string) *brokertest.Backend {
	if cloud == "east" {
		return f.east
	}
	return f.west
}

// TestSchedulerHints: same_host, different_host and Canopy's cloud hint
// steer the placement; a cloud the gateway does not know is a 400 naming
// it; same_host naming no placed server leaves no valid host, as in Nova.
func TestSchedulerHints(t *testing.T) {
	f := newFederated(t)
	first, err := f.boot(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := f.waitStatus(t, first, "ACTIVE")
	steps := []struct {
		name   string
		hints  broker.SchedulerHints
		status string
		check  func(got string) bool // given "cloud/host"
	}{
		{"same_host", broker.SchedulerHints{SameHost: []string{first}}, "ACTIVE",
			func(got string) bool { return got == a.Routing.Cloud+"/"+a.Routing.Host }},
		{"different_host", broker.SchedulerHints{DifferentHost: []string{first}}, "ACTIVE",
			func(got string) bool { return got != a.Routing.Cloud+"/"+a.Routing.Host }},
		{"cloud", broker.SchedulerHints{Cloud: "west"}, "ACTIVE",
			func(got string) bool { return got == "west/w1" }},
		{"same_host with a server that runs nowhere", broker.SchedulerHints{SameHost: []string{"5a1e0000-0000-4000-8000-000000000000"}}, "ERROR",
			func(got string) bool { return true }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			id, err := f.boot(t, func(r *broker.CreateRequest) { r.SchedulerHints = st.hints })
			if err != nil {
				t.Fatal(err)
			}
			s := f.waitStatus(t, id, st.status)
			if got := s.Routing.Cloud + "/" + s.Routing.Host; !st.check(got) {
				t.Errorf("placed on %s", got)
			}
			if st.status == "ERROR" && (s.Fault == nil || !strings.Contains(s.Fault.Details, "same_host")) {
				t.Errorf("fault %+v; want No valid host with the same_host reason", s.Fault)
			}
		})
	}
	_, err = f.boot(t, func(r *broker.CreateRequest) { r.SchedulerHints.Cloud = "mars" })
	var pe *proxies.Error
	if !errors.Is(err, proxies.ErrInvalid) || !errors.As(err, &pe) || !strings.Contains(pe.Message, "mars") {
		t.Errorf("cloud hint naming an unknown cloud: %v; want ErrInvalid naming it", err)
	}
}
