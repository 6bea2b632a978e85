package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/identity"
	"github.com/canopy-cloud/canopy/gateway/image"
	"github.com/canopy-cloud/canopy/localcloud/bootdisk"
	"github.com/canopy-cloud/canopy/registry"
)

// DevUser is one account `canopy dev` bootstraps.
type DevUser struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Project  string `json:"project"`
	Role     string `json:"role"`
}

// DevImage is one image `canopy dev` bootstraps: a raw disk that boots and
// prints bootdisk.Line(Name) on its serial console.
type DevImage struct {
	ID   string
	Name string
}

// DevImages are the two bootstrapped images. Their ids are fixed so that
// scripts and docs can name them across restarts.
var DevImages = []DevImage{
	{ID: "a1b2c3d4-0000-4000-8000-00000000000a", Name: "canopy-boot-a"},
	{ID: "a1b2c3d4-0000-4000-8000-00000000000b", Name: "canopy-boot-b"},
}

// DevFlavors are the bootstrapped flavors (m1.* as in devstack).
var DevFlavors = []registry.Flavor{
	{ID: "1", Name: "m1.tiny", VCPUs: 1, RAMMB: 512, DiskGB: 1, RxTxFactor: 1, IsPublic: true},
	{ID: "2", Name: "m1.small", VCPUs: 1, RAMMB: 2048, DiskGB: 20, RxTxFactor: 1, IsPublic: true},
	{ID: "3", Name: "m1.medium", VCPUs: 2, RAMMB: 4096, DiskGB: 40, RxTxFactor: 1, IsPublic: true},
	{ID: "4", Name: "m1.large", VCPUs: 4, RAMMB: 8192, DiskGB: 80, RxTxFactor: 1, IsPublic: true},
}

// DevPrivateCIDR is the CIDR of each project's `private` network.
const DevPrivateCIDR = "10.0.0.0/24"

// DevPublicName and DevPublicCIDR describe the external network floating IPs
// and router gateways come from (devstack's choice of range).
const (
	DevPublicName = "public"
	DevPublicCIDR = "172.24.4.0/24"
)

// LoadOrCreateDevUsers returns the dev accounts, with passwords kept in
// <dataDir>/dev-users.json so that a restart against a durable registry
// (--redis) keeps working credentials.
func LoadOrCreateDevUsers(dataDir string) ([]DevUser, error) {
	path := filepath.Join(dataDir, "dev-users.json")
	b, err := os.ReadFile(path)
	if err == nil {
		var users []DevUser
		if err := json.Unmarshal(b, &users); err != nil {
			return nil, fmt.Errorf("%s is corrupt (delete it to start afresh): %w", path, err)
		}
		return users, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	users := []DevUser{
		{Name: "admin", Project: "admin", Role: "admin"},
		{Name: "demo", Project: "demo", Role: "member"},
		{Name: "alt", Project: "alt", Role: "member"},
	}
	for i := range users {
		var buf [12]byte
		if _, err := rand.Read(buf[:]); err != nil {
			return nil, err
		}
		users[i].Password = hex.EncodeToString(buf[:])
	}
	b, _ = json.MarshalIndent(users, "", "  ")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return users, os.WriteFile(path, b, 0o600)
}

// BootstrapDev creates (idempotently) everything `canopy dev` promises: the
// users and projects, flavors, the two bootable images and a `private`
// network with a subnet in every project. It returns project ids by name.
func (a *App) BootstrapDev(ctx context.Context, users []DevUser) (map[string]string, error) {
	var bu []identity.BootstrapUser
	for _, u := range users {
		roles := []string{u.Role}
		if u.Role == "admin" {
			roles = []string{"admin", "member", "reader"}
		} else if u.Role == "member" {
			roles = []string{"member", "reader"}
		}
		bu = append(bu, identity.BootstrapUser{Name: u.Name, Password: u.Password, Project: u.Project, Roles: roles})
	}
	res, err := a.Identity.Bootstrap(ctx, bu)
	if err != nil {
		return nil, fmt.Errorf("bootstrap identity: %w", err)
	}
	projects := map[string]string{}
	for _, u := range users {
		projects[u.Project] = res[u.Name].ProjectID
	}
	for _, f := range DevFlavors {
		if err := a.Compute.EnsureFlavor(ctx, f); err != nil {
			return nil, fmt.Errorf("bootstrap flavor %s: %w", f.Name, err)
		}
	}
	for _, im := range DevImages {
		disk, err := bootdisk.Build(im.Name, bootdisk.DefaultSize)
		if err != nil {
			return nil, err
		}
		if _, err := a.Image.EnsureImage(ctx, image.ImageSeed{
			ID: im.ID, Name: im.Name, Owner: projects["admin"], Visibility: "public",
			DiskFormat: "raw", ContainerFormat: "bare", MinDisk: 1,
			Properties: map[string]string{"hw_serial_console_line": bootdisk.Line(im.Name), "architecture": "x86_64"},
			Data:       disk,
		}); err != nil {
			return nil, fmt.Errorf("bootstrap image %s: %w", im.Name, err)
		}
	}
	a.Network.SetAdminProject(projects["admin"])
	if _, _, err := a.Network.EnsureExternalNetwork(ctx, DevPublicName, DevPublicCIDR); err != nil {
		return nil, fmt.Errorf("bootstrap external network: %w", err)
	}
	names := make([]string, 0, len(projects))
	for n := range projects {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, _, err := a.Network.EnsureNetwork(ctx, projects[n], "private", DevPrivateCIDR); err != nil {
			return nil, fmt.Errorf("bootstrap network of %s: %w", n, err)
		}
	}
	return projects, nil
}

// WriteCloudsYAML writes a clouds.yaml with one entry per user and returns
// its path.
func WriteCloudsYAML(dataDir, authURL, region string, users []DevUser) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by `canopy dev`. Use: export OS_CLIENT_CONFIG_FILE=<this file> OS_CLOUD=demo\nclouds:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "  %s:\n    auth:\n      auth_url: %s\n      username: %s\n      password: %q\n      project_name: %s\n"+
			"      user_domain_name: Default\n      project_domain_name: Default\n    region_name: %s\n    interface: public\n    identity_api_version: 3\n",
			u.Name, authURL, u.Name, u.Password, u.Project, region)
	}
	path := filepath.Join(dataDir, "clouds.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
