package aws

import (
	"errors"
	"fmt"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

// seen is what one report of a server says, in Nova's terms.
type seen struct {
	State proxies.ServerState
	Power proxies.PowerState
	Task  string
}

func seenOf(st proxies.ServerStatus) seen { return seen{st.State, st.PowerState, st.TaskState} }

// settle polls GetServer until the server reports want, and returns every
// report before it; it fails after limit polls.
func settle(t *testing.T, b *Backend, id string, want seen, limit int) []seen {
	t.Helper()
	var before []seen
	for range limit {
		st, err := b.Servers().GetServer(t.Context(), id)
		if err != nil {
			t.Fatalf("GetServer(%s): %v", id, err)
		}
		if seenOf(st) == want {
			return before
		}
		before = append(before, seenOf(st))
	}
	t.Fatalf("server %s did not settle at %+v in %d polls; saw %+v", id, want, limit, before)
	return nil
}

// allAre fails unless every report in got is want (and there is at least
// one: the transition must be visible).
func allAre(t *testing.T, what string, got []seen, want seen) {
	t.Helper()
	if len(got) == 0 {
		t.Errorf("%s: no report showed the transition; want %+v before it settled", what, want)
	}
	for i, g := range got {
		if g != want {
			t.Errorf("%s: report #%d is %+v; want %+v", what, i+1, g, want)
		}
	}
}

var (
	building   = seen{proxies.StateBuilding, proxies.PowerNoState, "spawning"}
	active     = seen{proxies.StateActive, proxies.PowerRunning, ""}
	poweringOf = seen{proxies.StateActive, proxies.PowerRunning, "powering-off"}
	stopped    = seen{proxies.StateStopped, proxies.PowerShutdown, ""}
	poweringOn = seen{proxies.StateStopped, proxies.PowerShutdown, "powering-on"}
)

func stateSpec(id string) proxies.ServerSpec {
	return proxies.ServerSpec{ID: id, ProjectID: "p", Name: "vm-" + id, ImageID: "img-1", Flavor: proxies.Flavor{ID: "1", VCPUs: 1, RAMMB: 512}}
}

// TestTransitionsCreate: an instance pending for several describes is
// building (task spawning) from CreateServer on, and active once running;
// actions that need it running are refused while it builds.
func TestTransitionsCreate(t *testing.T) {
	b, f := newStateBackend(t, "aws-pending", 4)
	ctx := t.Context()
	st, err := b.Servers().CreateServer(ctx, stateSpec("s1"))
	if err != nil || seenOf(st) != building || st.ID != "s1" || st.BottomID == "" {
		t.Fatalf("CreateServer = %+v, %v; want s1 building with a bottom id", st, err)
	}
	if _, err := b.Servers().StopServer(ctx, "s1"); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("StopServer while pending = %v; want ErrConflict", err)
	}
	if _, err := b.Servers().RebootServer(ctx, "s1", proxies.RebootSoft); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("RebootServer while pending = %v; want ErrConflict", err)
	}
	if n := f.count("StopInstances") + f.count("RebootInstances"); n != 0 {
		t.Errorf("%d stop/reboot calls reached EC2 for a pending instance; want none", n)
	}
	allAre(t, "pending", settle(t, b, "s1", active, 6), building)
	again, err := b.Servers().CreateServer(ctx, stateSpec("s1"))
	if err != nil || again.BottomID != st.BottomID || seenOf(again) != active || f.count("RunInstances") != 1 {
		t.Errorf("CreateServer retry = %+v, %v (%d RunInstances); want the running instance %s, one launch", again, err, f.count("RunInstances"), st.BottomID)
	}
}

// TestTransitionsStopStart: stop returns with task powering-off while the
// instance is stopping and settles stopped; start returns stopped with task
// powering-on while it is pending again (not building) and settles active.
func TestTransitionsStopStart(t *testing.T) {
	b, f := newStateBackend(t, "aws-stop", 4)
	ctx := t.Context()
	if _, err := b.Servers().CreateServer(ctx, stateSpec("s2")); err != nil {
		t.Fatal(err)
	}
	settle(t, b, "s2", active, 6)

	st, err := b.Servers().StopServer(ctx, "s2")
	if err != nil || seenOf(st) != poweringOf {
		t.Fatalf("StopServer = %+v, %v; want %+v", st, err, poweringOf)
	}
	if _, err := b.Servers().StartServer(ctx, "s2"); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("StartServer while stopping = %v; want ErrConflict", err)
	}
	if _, err := b.Servers().StopServer(ctx, "s2"); !errors.Is(err, proxies.ErrConflict) {
		t.Errorf("StopServer while stopping = %v; want ErrConflict", err)
	}
	if n := f.count("StopInstances"); n != 1 {
		t.Errorf("%d StopInstances calls; want 1", n)
	}
	settle(t, b, "s2", stopped, 6) // the conflicts above used up describes: no transitional report required here

	st, err = b.Servers().StartServer(ctx, "s2")
	if err != nil || seenOf(st) != poweringOn {
		t.Fatalf("StartServer = %+v, %v; want %+v", st, err, poweringOn)
	}
	list, err := b.Servers().ListServers(ctx)
	if err != nil || len(list) != 1 || seenOf(list[0]) != poweringOn {
		t.Errorf("ListServers while starting = %+v, %v; want s2 %+v", list, err, poweringOn)
	}
	allAre(t, "starting", settle(t, b, "s2", active, 6), poweringOn)

	// A later stop and start cycle again: the first start's mark is gone.
	if _, err := b.Servers().StopServer(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	allAre(t, "stopping", settle(t, b, "s2", stopped, 6), poweringOf)
}

// TestTransitionsDelete: a terminated instance is gone for Canopy from the
// first shutting-down report on; a second delete is a no-op.
func TestTransitionsDelete(t *testing.T) {
	b, f := newStateBackend(t, "aws-delete", 4)
	ctx := t.Context()
	for i := range 2 {
		if _, err := b.Servers().CreateServer(ctx, stateSpec(fmt.Sprintf("d%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, b, "d0", active, 6)
	if err := b.Servers().DeleteServer(ctx, "d0"); err != nil {
		t.Fatalf("DeleteServer: %v", err)
	}
	if _, err := b.Servers().GetServer(ctx, "d0"); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetServer while shutting down = %v; want ErrNotFound", err)
	}
	if err := b.Servers().DeleteServer(ctx, "d0"); err != nil {
		t.Errorf("second DeleteServer = %v; want nil", err)
	}
	if n := f.count("TerminateInstances"); n != 1 {
		t.Errorf("%d TerminateInstances calls; want 1 (the second delete finds nothing to end)", n)
	}
	list, err := b.Servers().ListServers(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "d1" {
		t.Errorf("ListServers after the delete = %+v, %v; want d1 only", list, err)
	}
	f.mu.Lock()
	fi := f.insts[0]
	f.mu.Unlock()
	for range 5 { // let it reach terminated
		if _, err := b.Servers().ListServers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	state := fi.inst.State.Name
	f.mu.Unlock()
	if state != "terminated" {
		t.Errorf("the deleted instance is %s; want terminated", state)
	}
	if _, err := b.Servers().GetServer(ctx, "d0"); !errors.Is(err, proxies.ErrNotFound) {
		t.Errorf("GetServer once terminated = %v; want ErrNotFound", err)
	}
}
