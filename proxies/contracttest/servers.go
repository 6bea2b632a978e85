package contracttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// servers runs the server lifecycle in order on one backend: each step
// builds on the one before, so a failed create stops the group.
func (s *suite) servers(t *testing.T) {
	b := s.h.New(t)
	caps := b.Capabilities()
	d := b.Servers()
	if !caps.Servers {
		s.serversUnsupported(t, b)
		return
	}
	s.importImage(t, b)
	before, err := d.ListServers(t.Context())
	if err != nil {
		t.Fatalf("ListServers: %v", err)
	}
	spec := s.serverSpec()
	var created proxies.ServerStatus
	if !t.Run("create", func(t *testing.T) {
		st, err := d.CreateServer(t.Context(), spec)
		if err != nil {
			t.Fatalf("CreateServer: %v", err)
		}
		if st.State != proxies.StateBuilding && st.State != proxies.StateActive {
			t.Errorf("CreateServer state = %q; want building or active", st.State)
		}
		if st.ID != spec.ID || st.BottomID == "" || st.Host == "" {
			t.Errorf("CreateServer = %+v; want top id %s, a bottom id and a host", st, spec.ID)
		}
		created = st
		s.wantSettled(t, b, spec.ID, proxies.StateActive, proxies.PowerRunning)
	}) {
		t.FailNow()
	}
	t.Cleanup(func() { _ = d.DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })

	t.Run("create_retry_is_idempotent", func(t *testing.T) {
		st, err := d.CreateServer(t.Context(), spec)
		if err != nil {
			t.Fatalf("CreateServer retried: %v", err)
		}
		if st.BottomID != created.BottomID {
			t.Errorf("CreateServer retried made bottom id %s; want the first server's %s", st.BottomID, created.BottomID)
		}
		after, err := d.ListServers(t.Context())
		if err != nil {
			t.Fatalf("ListServers: %v", err)
		}
		if n := count(after, spec.ID); n != 1 || len(after) != len(before)+1 {
			t.Errorf("after a retried create ListServers has %d servers (%d with id %s); want %d (exactly one)", len(after), n, spec.ID, len(before)+1)
		}
	})
	t.Run("get_unknown_is_not_found", func(t *testing.T) {
		if _, err := d.GetServer(t.Context(), newID()); !errors.Is(err, proxies.ErrNotFound) {
			t.Errorf("GetServer(unknown) error = %v; want ErrNotFound", err)
		}
	})
	if caps.StartStop {
		t.Run("stop", func(t *testing.T) {
			s.call(t, "StopServer", func(ctx context.Context) (proxies.ServerStatus, error) { return d.StopServer(ctx, spec.ID) })
			s.wantSettled(t, b, spec.ID, proxies.StateStopped, proxies.PowerShutdown)
		})
		t.Run("stop_stopped_conflicts", func(t *testing.T) {
			if _, err := d.StopServer(t.Context(), spec.ID); !errors.Is(err, proxies.ErrConflict) {
				t.Errorf("StopServer of a stopped server error = %v; want ErrConflict (Nova answers 409)", err)
			}
			s.settle(t, b, spec.ID)
		})
		t.Run("start", func(t *testing.T) {
			s.call(t, "StartServer", func(ctx context.Context) (proxies.ServerStatus, error) { return d.StartServer(ctx, spec.ID) })
			s.wantSettled(t, b, spec.ID, proxies.StateActive, proxies.PowerRunning)
		})
	}
	for _, kind := range []proxies.RebootKind{proxies.RebootSoft, proxies.RebootHard} {
		if (kind == proxies.RebootSoft && !caps.Reboot) || (kind == proxies.RebootHard && !caps.HardReboot) {
			continue
		}
		t.Run("reboot_"+strings.ToLower(string(kind)), func(t *testing.T) {
			s.call(t, "RebootServer", func(ctx context.Context) (proxies.ServerStatus, error) { return d.RebootServer(ctx, spec.ID, kind) })
			s.wantSettled(t, b, spec.ID, proxies.StateActive, proxies.PowerRunning)
		})
	}
	if caps.ConsoleOutput {
		t.Run("console_output", func(t *testing.T) {
			all, err := d.ConsoleOutput(t.Context(), spec.ID, 0)
			if err != nil || strings.TrimSpace(all) == "" {
				t.Fatalf("ConsoleOutput(all) = %q, %v; want the serial log of a booted server", all, err)
			}
			two, err := d.ConsoleOutput(t.Context(), spec.ID, 2)
			if n := len(strings.Split(strings.TrimRight(two, "\n"), "\n")); err != nil || n > 2 {
				t.Errorf("ConsoleOutput(2 lines) = %d lines, %v; want at most 2", n, err)
			}
		})
	}
	if caps.Snapshot {
		t.Run("snapshot", func(t *testing.T) {
			img := newID()
			st, err := d.SnapshotServer(t.Context(), spec.ID, img)
			if err != nil || st.ID != img {
				t.Fatalf("SnapshotServer = %+v, %v; want image %s", st, err, img)
			}
			s.wantSettled(t, b, spec.ID, proxies.StateActive, proxies.PowerRunning)
		})
	}
	t.Run("unsupported", func(t *testing.T) { s.undeclared(t, b, spec.ID) })
	t.Run("delete_is_idempotent", func(t *testing.T) {
		for i := range 2 {
			if err := d.DeleteServer(t.Context(), spec.ID); err != nil {
				t.Fatalf("DeleteServer #%d = %v; want nil (delete is idempotent)", i+1, err)
			}
		}
		s.waitGone(t, b, spec.ID)
		after, err := d.ListServers(t.Context())
		if err != nil || count(after, spec.ID) != 0 {
			t.Errorf("ListServers after delete = %d servers with id %s, %v; want none", count(after, spec.ID), spec.ID, err)
		}
	})
}

// undeclared checks that every server capability declared false answers
// ErrNotSupported on a live server.
func (s *suite) undeclared(t *testing.T, b proxies.Backend, id string) {
	caps, d, ctx := b.Capabilities(), b.Servers(), t.Context()
	checks := []struct {
		name     string
		declared bool
		call     func() error
	}{
		{"start", caps.StartStop, func() error { _, err := d.StartServer(ctx, id); return err }},
		{"stop", caps.StartStop, func() error { _, err := d.StopServer(ctx, id); return err }},
		{"reboot_soft", caps.Reboot, func() error { _, err := d.RebootServer(ctx, id, proxies.RebootSoft); return err }},
		{"reboot_hard", caps.HardReboot, func() error { _, err := d.RebootServer(ctx, id, proxies.RebootHard); return err }},
		{"snapshot", caps.Snapshot, func() error { _, err := d.SnapshotServer(ctx, id, newID()); return err }},
		{"console_output", caps.ConsoleOutput, func() error { _, err := d.ConsoleOutput(ctx, id, 0); return err }},
		{"user_data", caps.UserData, func() error {
			return s.createWith(t, b, func(sp *proxies.ServerSpec) { sp.UserData = []byte("#cloud-config\n") })
		}},
		{"keypairs", caps.Keypairs, func() error {
			return s.createWith(t, b, func(sp *proxies.ServerSpec) { sp.KeyName, sp.PublicKey = "contract", contractKey })
		}},
	}
	for _, c := range checks {
		if c.declared {
			continue
		}
		t.Run(c.name, func(t *testing.T) { wantNotSupported(t, c.name, c.call) })
	}
}

// serversUnsupported checks a backend that runs no servers at all.
func (s *suite) serversUnsupported(t *testing.T, b proxies.Backend) {
	d, ctx, id := b.Servers(), t.Context(), newID()
	wantNotSupported(t, "CreateServer", func() error { return s.createWith(t, b, func(*proxies.ServerSpec) {}) })
	wantNotSupported(t, "StartServer", func() error { _, err := d.StartServer(ctx, id); return err })
	wantNotSupported(t, "StopServer", func() error { _, err := d.StopServer(ctx, id); return err })
	wantNotSupported(t, "RebootServer", func() error { _, err := d.RebootServer(ctx, id, proxies.RebootSoft); return err })
	wantNotSupported(t, "SnapshotServer", func() error { _, err := d.SnapshotServer(ctx, id, newID()); return err })
	wantNotSupported(t, "ConsoleOutput", func() error { _, err := d.ConsoleOutput(ctx, id, 0); return err })
}

// createWith creates a server with spec changed by edit, deleting it again if
// the backend made it.
func (s *suite) createWith(t *testing.T, b proxies.Backend, edit func(*proxies.ServerSpec)) error {
	spec := s.serverSpec()
	edit(&spec)
	_, err := b.Servers().CreateServer(t.Context(), spec)
	if err == nil {
		t.Cleanup(func() { _ = b.Servers().DeleteServer(context.WithoutCancel(t.Context()), spec.ID) })
	}
	return err
}

func (s *suite) serverSpec() proxies.ServerSpec {
	id := newID()
	return proxies.ServerSpec{ID: id, ProjectID: "contract", Name: "contract-" + shortID(id), Flavor: s.h.Flavor,
		ImageID: s.h.ImageID, Metadata: map[string]string{"canopy.contract": "true"}}
}

// call runs one lifecycle action and fails the test on an error.
func (s *suite) call(t *testing.T, op string, fn func(context.Context) (proxies.ServerStatus, error)) {
	t.Helper()
	if _, err := fn(t.Context()); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// settle waits until server id has no operation in progress and returns it.
func (s *suite) settle(t *testing.T, b proxies.Backend, id string) (proxies.ServerStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	defer cancel()
	if s.h.Settle != nil {
		s.h.Settle(ctx, b, id)
	}
	pause := time.Millisecond
	for {
		st, err := b.Servers().GetServer(ctx, id)
		if err != nil || (st.State != proxies.StateBuilding && st.TaskState == "") {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(pause*2, 250*time.Millisecond)
	}
}

// wantSettled waits for id to settle and checks its state and power state.
func (s *suite) wantSettled(t *testing.T, b proxies.Backend, id string, state proxies.ServerState, power proxies.PowerState) {
	t.Helper()
	st, err := s.settle(t, b, id)
	if err != nil {
		t.Fatalf("waiting for server %s: %v (last status %+v)", id, err, st)
	}
	if st.State != state || st.PowerState != power {
		t.Fatalf("server %s settled in %s/power %d (fault %q); want %s/power %d", id, st.State, st.PowerState, st.Fault, state, power)
	}
}

// waitGone waits until GetServer answers ErrNotFound.
func (s *suite) waitGone(t *testing.T, b proxies.Backend, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	defer cancel()
	for {
		if s.h.Settle != nil {
			s.h.Settle(ctx, b, id)
		}
		st, err := b.Servers().GetServer(ctx, id)
		if errors.Is(err, proxies.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("GetServer after delete error = %v; want ErrNotFound", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("server %s still exists after delete: %+v", id, st)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func count(list []proxies.ServerStatus, id string) int {
	n := 0
	for _, st := range list {
		if st.ID == id {
			n++
		}
	}
	return n
}

// contractKey is a well-formed SSH public key for the keypair check.
const contractKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVx9Dz6aXEvZ2Gw8ZbyN3m0nVxN6qXbLr3Zp2YqB1dC contract@canopy"
