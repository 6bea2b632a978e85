package openstack

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// Metadata keys every bottom server carries: the top id makes creates
// idempotent and lets the sync loop adopt bottom servers after a restart.
const (
	metaID      = "canopy_id"
	metaProject = "canopy_project"
)

// serverRef is where a top server lives in the bottom.
type serverRef struct {
	scope    *scope
	bottomID string
}

// novaServer is the part of Nova's server body this package reads.
type novaServer struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Status     string            `json:"status"`
	Metadata   map[string]string `json:"metadata"`
	VMState    string            `json:"OS-EXT-STS:vm_state"`
	TaskState  *string           `json:"OS-EXT-STS:task_state"`
	PowerState *int              `json:"OS-EXT-STS:power_state"`
	AZ         string            `json:"OS-EXT-AZ:availability_zone"`
	LaunchedAt string            `json:"OS-SRV-USG:launched_at"`
	Fault      *struct {
		Message string `json:"message"`
	} `json:"fault"`
}

// gone reports a server Nova still shows but that is deleted.
func (s novaServer) gone() bool {
	st := strings.ToUpper(s.Status)
	return st == "DELETED" || st == "SOFT_DELETED" || s.VMState == "deleted" || s.VMState == "soft-deleted"
}

// status turns Nova's view into the contract's.
func (b *Backend) status(s novaServer) proxies.ServerStatus {
	st := proxies.ServerStatus{ID: s.Metadata[metaID], BottomID: s.ID, Host: b.hostName(s.AZ)}
	if s.TaskState != nil {
		st.TaskState = *s.TaskState
	}
	switch strings.ToUpper(s.Status) {
	case "BUILD":
		st.State = proxies.StateBuilding
	case "SHUTOFF", "SHELVED", "SHELVED_OFFLOADED", "SUSPENDED", "PAUSED":
		st.State = proxies.StateStopped
	case "ERROR":
		st.State = proxies.StateError
	case "DELETED", "SOFT_DELETED":
		st.State = proxies.StateDeleted
	case "REBOOT", "HARD_REBOOT":
		st.State = proxies.StateActive
		if st.TaskState == "" {
			st.TaskState = "rebooting"
		}
	case "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "MIGRATING":
		st.State = proxies.StateActive
		if s.VMState == "stopped" {
			st.State = proxies.StateStopped
		}
		if st.TaskState == "" {
			st.TaskState = "resize_migrating"
		}
	case "REBUILD":
		st.State = proxies.StateActive
		if st.TaskState == "" {
			st.TaskState = "rebuilding"
		}
	default:
		st.State = proxies.StateActive
	}
	switch {
	case s.PowerState != nil:
		st.PowerState = proxies.PowerState(*s.PowerState)
	case st.State == proxies.StateActive:
		st.PowerState = proxies.PowerRunning
	case st.State == proxies.StateStopped:
		st.PowerState = proxies.PowerShutdown
	}
	if s.Fault != nil && st.State == proxies.StateError {
		st.Fault = s.Fault.Message
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999", s.LaunchedAt); err == nil {
		st.LaunchedAt = t.UTC()
	}
	return st
}

// CreateServer creates the server in the bottom project of spec.ProjectID.
// It first looks for a bottom server of the same name carrying
// canopy_id=spec.ID, so a retry finds the one it made.
func (b *Backend) CreateServer(ctx context.Context, spec proxies.ServerSpec) (proxies.ServerStatus, error) {
	const op = "CreateServer"
	ctx, cancel := b.call(ctx)
	defer cancel()
	if spec.ID == "" || spec.Name == "" {
		return proxies.ServerStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "a server needs a top id and a name")
	}
	unlock := b.lockID(spec.ID)
	defer unlock()
	s, err := b.scopeFor(ctx, spec.ProjectID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	if found, ok, err := b.findServerByName(ctx, s, spec.ID, spec.Name); err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	} else if ok {
		return b.status(found), nil
	}
	flavor, err := b.bottomFlavor(ctx, s, spec.Flavor)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	image, err := b.bottomImage(ctx, s, spec.ImageID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	meta := map[string]string{}
	for k, v := range spec.Metadata {
		meta[k] = v
	}
	meta[metaID], meta[metaProject] = spec.ID, spec.ProjectID
	opts := servers.CreateOpts{Name: spec.Name, ImageRef: image, FlavorRef: flavor, Metadata: meta,
		AvailabilityZone: b.bottomZone(spec.Host, spec.AvailabilityZone)}
	opts.Networks, err = b.bottomNICs(ctx, s, spec.NICs)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	if len(spec.UserData) > 0 {
		opts.UserData = []byte(base64.StdEncoding.EncodeToString(spec.UserData))
	}
	createOpts := keyNameOpts{CreateOpts: opts}
	if spec.PublicKey != "" {
		if createOpts.keyName, err = b.ensureKeypair(ctx, s, spec.PublicKey); err != nil {
			return proxies.ServerStatus{}, wrap(op, err)
		}
	}
	mv := mvNetworksAuto
	if b.maxMicro.atLeast(mvCreateTags) {
		mv, createOpts.Tags = mvCreateTags, []string{"canopy:" + spec.ID}
	}
	var created novaServer
	if err := servers.Create(ctx, b.computeAt(s, mv), createOpts, nil).ExtractInto(&created); err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	b.remember(spec.ID, s, created.ID)
	b.log.Info("bottom server created", "server", spec.ID, "bottom_id", created.ID, "project", s.projectID)
	got, err := b.getBottom(ctx, s, created.ID)
	if err != nil {
		st := proxies.ServerStatus{ID: spec.ID, BottomID: created.ID, State: proxies.StateBuilding, Host: b.hostName(b.bottomZone(spec.Host, spec.AvailabilityZone))}
		return st, nil
	}
	st := b.status(got)
	st.ID = spec.ID
	return st, nil
}

// keyNameOpts adds key_name, which gophercloud's CreateOpts leaves to the
// keypairs extension, to the create body.
type keyNameOpts struct {
	servers.CreateOpts
	keyName string
}

func (o keyNameOpts) ToServerCreateMap() (map[string]any, error) {
	m, err := o.CreateOpts.ToServerCreateMap()
	if err != nil {
		return nil, err
	}
	if o.keyName != "" {
		m["server"].(map[string]any)["key_name"] = o.keyName
	}
	return m, nil
}

// ensureKeypair makes (once) the bottom keypair holding publicKey, named
// after the key's hash so that every server with that key shares it.
func (b *Backend) ensureKeypair(ctx context.Context, s *scope, publicKey string) (string, error) {
	sum := sha256.Sum256([]byte(strings.TrimSpace(publicKey)))
	name := "canopy-" + hex.EncodeToString(sum[:8])
	if _, err := keypairs.Get(ctx, s.compute, name, nil).Extract(); err == nil {
		return name, nil
	} else if !isNotFound(err) {
		return "", err
	}
	_, err := keypairs.Create(ctx, s.compute, keypairs.CreateOpts{Name: name, PublicKey: publicKey}).Extract()
	if err != nil && !isConflict(err) {
		return "", err
	}
	return name, nil
}

func (b *Backend) remember(id string, s *scope, bottomID string) {
	b.mu.Lock()
	b.servers[id] = serverRef{scope: s, bottomID: bottomID}
	b.mu.Unlock()
}

func (b *Backend) forget(id string) {
	b.mu.Lock()
	delete(b.servers, id)
	b.mu.Unlock()
}

// findServerByName lists bottom servers named name and returns the one
// whose metadata carries top id.
func (b *Backend) findServerByName(ctx context.Context, s *scope, id, name string) (novaServer, bool, error) {
	list, err := b.listBottom(ctx, s, servers.ListOpts{Name: "^" + regexp.QuoteMeta(name) + "$"})
	if err != nil {
		return novaServer{}, false, err
	}
	for _, srv := range list {
		if srv.Metadata[metaID] == id && !srv.gone() {
			b.remember(id, s, srv.ID)
			return srv, true, nil
		}
	}
	return novaServer{}, false, nil
}

func (b *Backend) listBottom(ctx context.Context, s *scope, opts servers.ListOpts) ([]novaServer, error) {
	pages, err := servers.List(s.compute, opts).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	var list []novaServer
	if err := servers.ExtractServersInto(pages, &list); err != nil {
		return nil, err
	}
	return list, nil
}

func (b *Backend) getBottom(ctx context.Context, s *scope, bottomID string) (novaServer, error) {
	var srv novaServer
	err := servers.Get(ctx, s.compute, bottomID).ExtractInto(&srv)
	if err == nil && srv.gone() {
		return srv, proxies.Errorf(proxies.ErrNotFound, "GetServer", "the server is deleted in the bottom cloud")
	}
	return srv, err
}

// lookup finds where top server id lives: the cache, else a scan of every
// bottom project this backend uses for canopy_id=id.
func (b *Backend) lookup(ctx context.Context, op, id string) (serverRef, novaServer, error) {
	b.mu.Lock()
	ref, ok := b.servers[id]
	b.mu.Unlock()
	if ok {
		srv, err := b.getBottom(ctx, ref.scope, ref.bottomID)
		if err == nil {
			return ref, srv, nil
		}
		if !isNotFound(err) {
			return ref, srv, wrap(op, err)
		}
		b.forget(id)
		return ref, srv, proxies.Errorf(proxies.ErrNotFound, op, "server %s does not exist in the bottom cloud", id)
	}
	for _, s := range b.allScopes() {
		list, err := b.listBottom(ctx, s, servers.ListOpts{})
		if err != nil {
			return serverRef{}, novaServer{}, wrap(op, err)
		}
		for _, srv := range list {
			if srv.Metadata[metaID] == id && !srv.gone() {
				b.remember(id, s, srv.ID)
				return serverRef{scope: s, bottomID: srv.ID}, srv, nil
			}
		}
	}
	return serverRef{}, novaServer{}, proxies.Errorf(proxies.ErrNotFound, op, "server %s does not exist in the bottom cloud", id)
}

// GetServer reports the bottom server of top id; ErrNotFound when none.
func (b *Backend) GetServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, srv, err := b.lookup(ctx, "GetServer", id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if strings.EqualFold(srv.Status, "VERIFY_RESIZE") {
		b.confirmResize(ctx, ref)
	}
	st := b.status(srv)
	st.ID = id
	return st, nil
}

// ListServers reports every bottom server carrying a canopy_id, in every
// bottom project this backend uses.
func (b *Backend) ListServers(ctx context.Context) ([]proxies.ServerStatus, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	var out []proxies.ServerStatus
	for _, s := range b.allScopes() {
		list, err := b.listBottom(ctx, s, servers.ListOpts{})
		if err != nil {
			return nil, wrap("ListServers", err)
		}
		for _, srv := range list {
			if srv.Metadata[metaID] == "" || srv.gone() {
				continue
			}
			b.remember(srv.Metadata[metaID], s, srv.ID)
			out = append(out, b.status(srv))
		}
	}
	return out, nil
}

// action runs one server action on the bottom and reports the server after.
func (b *Backend) action(ctx context.Context, op, id string, do func(ctx context.Context, ref serverRef) error) (proxies.ServerStatus, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if err := do(ctx, ref); err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	srv, err := b.getBottom(ctx, ref.scope, ref.bottomID)
	if err != nil {
		return proxies.ServerStatus{}, wrap(op, err)
	}
	st := b.status(srv)
	st.ID = id
	return st, nil
}

// StartServer powers the server on (409 → ErrConflict when it runs).
func (b *Backend) StartServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return b.action(ctx, "StartServer", id, func(ctx context.Context, ref serverRef) error {
		return servers.Start(ctx, ref.scope.compute, ref.bottomID).ExtractErr()
	})
}

// StopServer powers the server off (409 → ErrConflict when it is stopped).
func (b *Backend) StopServer(ctx context.Context, id string) (proxies.ServerStatus, error) {
	return b.action(ctx, "StopServer", id, func(ctx context.Context, ref serverRef) error {
		return servers.Stop(ctx, ref.scope.compute, ref.bottomID).ExtractErr()
	})
}

// RebootServer reboots softly or hard.
func (b *Backend) RebootServer(ctx context.Context, id string, kind proxies.RebootKind) (proxies.ServerStatus, error) {
	how := servers.SoftReboot
	if kind == proxies.RebootHard {
		how = servers.HardReboot
	}
	return b.action(ctx, "RebootServer", id, func(ctx context.Context, ref serverRef) error {
		return servers.Reboot(ctx, ref.scope.compute, ref.bottomID, servers.RebootOpts{Type: how}).ExtractErr()
	})
}

// DeleteServer deletes the bottom server; nil when it is already gone. A
// 409 (the bottom is mid-task) is retried: delete is always safe to repeat.
func (b *Backend) DeleteServer(ctx context.Context, id string) error {
	const op = "DeleteServer"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, id)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	made, err := b.canopyPorts(ctx, ref.scope, ref.bottomID)
	if err != nil {
		return wrap(op, err)
	}
	for attempt := 0; ; attempt++ {
		err = servers.Delete(ctx, ref.scope.compute, ref.bottomID).ExtractErr()
		if !isConflict(err) || attempt >= 5 {
			break
		}
		if serr := sleep(ctx, time.Duration(100<<attempt)*time.Millisecond); serr != nil {
			break
		}
	}
	if err != nil && !isNotFound(err) {
		return wrap(op, err)
	}
	b.forget(id)
	b.deletePorts(ctx, ref.scope, made)
	return nil
}

// ConsoleOutput returns the bottom's serial console log.
func (b *Backend) ConsoleOutput(ctx context.Context, id string, lines int) (string, error) {
	const op = "ConsoleOutput"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, id)
	if err != nil {
		return "", err
	}
	out, err := servers.ShowConsoleOutput(ctx, ref.scope.compute, ref.bottomID, servers.ShowConsoleOutputOpts{Length: max(lines, 0)}).Extract()
	if err != nil {
		return "", wrap(op, err)
	}
	return out, nil
}

// SnapshotServer captures the root disk as a bottom image named after and
// tagged with the top image id (property canopy_id); a retry finds it.
func (b *Backend) SnapshotServer(ctx context.Context, id, imageID string) (proxies.ImageStatus, error) {
	const op = "SnapshotServer"
	ctx, cancel := b.call(ctx)
	defer cancel()
	ref, _, err := b.lookup(ctx, op, id)
	if err != nil {
		return proxies.ImageStatus{}, err
	}
	unlock := b.lockID(imageID)
	defer unlock()
	if img, ok, err := b.findImage(ctx, ref.scope, imageID); err != nil {
		return proxies.ImageStatus{}, wrap(op, err)
	} else if ok {
		return b.imageStatus(imageID, img), nil
	}
	c := b.computeAt(ref.scope, mvImageIDBody)
	res := servers.CreateImage(ctx, c, ref.bottomID, servers.CreateImageOpts{
		Name: "canopy-" + imageID, Metadata: map[string]string{metaID: imageID}})
	bottomID, err := res.ExtractImageID()
	if err != nil {
		return proxies.ImageStatus{}, wrap(op, err)
	}
	b.mu.Lock()
	b.images[imageID] = bottomID
	b.mu.Unlock()
	return proxies.ImageStatus{ID: imageID, BottomID: bottomID, Location: b.imageLocation(bottomID)}, nil
}
