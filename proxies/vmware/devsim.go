package vmware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmware/govmomi/simulator"
)

// Names in the simulator's VPX inventory that DevSim's Config points at.
const (
	devSimZone     = "vsphere-sim"
	devSimTemplate = "/DC0/vm/DC0_C0_RP0_VM0"
)

// sim is a running in-process vCenter simulator.
type sim struct {
	model  *simulator.Model
	server *simulator.Server
	cfg    Config
	dir    string
}

func startSim(edit func(*simulator.Model)) (*sim, error) {
	model := simulator.VPX()
	if edit != nil {
		edit(model)
	}
	if err := model.Create(); err != nil {
		model.Remove()
		return nil, fmt.Errorf("vcsim: %w", err)
	}
	server := model.Service.NewServer()
	s := &sim{model: model, server: server}
	dir, err := os.MkdirTemp("", "canopy-vcsim-")
	if err != nil {
		s.close()
		return nil, err
	}
	s.dir = dir
	pw := make([]byte, 12)
	_, _ = rand.Read(pw)
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(hex.EncodeToString(pw)), 0o600); err != nil {
		s.close()
		return nil, err
	}
	u := *server.URL
	u.User = nil
	s.cfg = Config{
		URL: u.String(), Username: "canopy", PasswordFrom: "file:" + pwFile,
		Datacenter: "DC0", Clusters: []Cluster{{Path: "DC0_C0", AvailabilityZone: devSimZone}},
		Datastore: "LocalDS_0", Folder: "canopy", DVS: "DVS0", PortGroupPrefix: "canopy-",
		Templates: map[string]string{},
	}
	return s, nil
}

func (s *sim) close() {
	s.server.Close()
	s.model.Remove()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// DevSim starts govmomi's in-process vCenter simulator (simulator.VPX: one
// datacenter DC0, cluster DC0_C0 of 3 hosts, datastore LocalDS_0, switch
// DVS0) and returns a Config pointing at it, with the cluster as
// availability zone "vsphere-sim". Each of imageIDs is mapped to one of the
// simulator's VMs as its template, so servers of those images can be built
// without importing them. stop shuts the simulator down. For `canopy dev`
// and tests only: nothing in it is a real vCenter.
func DevSim(ctx context.Context, imageIDs ...string) (cfg Config, stop func(), err error) {
	if err := ctx.Err(); err != nil {
		return Config{}, nil, err
	}
	s, err := startSim(nil)
	if err != nil {
		return Config{}, nil, err
	}
	for _, id := range imageIDs {
		s.cfg.Templates[id] = devSimTemplate
	}
	return s.cfg, s.close, nil
}
