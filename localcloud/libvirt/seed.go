package libvirt

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canopy-cloud/canopy/proxies"
)

// isoTools are the ISO 9660 writers the host can make a config drive with,
// in order of preference, and the arguments that precede the source
// directory. Debian: `apt-get install genisoimage` (or xorriso).
var isoTools = []struct {
	name string
	args []string
}{
	{"genisoimage", []string{"-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"}},
	{"mkisofs", []string{"-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"}},
	{"xorriso", []string{"-as", "mkisofs", "-quiet", "-volid", "cidata", "-joliet", "-rock", "-output"}},
}

// isoTool finds the first ISO writer on PATH.
func isoTool() (string, []string, error) {
	for _, t := range isoTools {
		if p, err := exec.LookPath(t.name); err == nil {
			return p, t.args, nil
		}
	}
	return "", nil, fmt.Errorf("no ISO 9660 writer on PATH (install the Debian package genisoimage or xorriso)")
}

// seedFiles are the NoCloud files of a server.
type seedFiles struct {
	UserData, MetaData, NetworkConfig []byte
}

// nocloudSeed renders the cloud-init NoCloud files of spec: meta-data with
// instance-id = the top id, user-data as given (or a cloud-config with the
// key), and a version 2 network-config matching each NIC by MAC.
func nocloudSeed(spec proxies.ServerSpec, subnets map[string][]proxies.SubnetSpec) (seedFiles, error) {
	hostname := spec.Name
	if hostname == "" {
		hostname = "server-" + spec.ID
	}
	meta := map[string]any{"instance-id": spec.ID, "local-hostname": hostname}
	if spec.AvailabilityZone != "" {
		meta["availability_zone"] = spec.AvailabilityZone
	}
	if spec.PublicKey != "" {
		meta["public-keys"] = []string{strings.TrimSpace(spec.PublicKey)}
	}
	metaData, err := yaml.Marshal(meta)
	if err != nil {
		return seedFiles{}, err
	}
	userData := spec.UserData
	if len(userData) == 0 {
		userData = []byte("#cloud-config\n{}\n")
	}
	ethernets := map[string]any{}
	for i, n := range spec.NICs {
		eth := map[string]any{"match": map[string]string{"macaddress": strings.ToLower(n.MACAddress)}, "set-name": fmt.Sprintf("eth%d", i)}
		var addrs []string
		for _, ip := range n.FixedIPs {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return seedFiles{}, fmt.Errorf("port %s: fixed ip %q is not an address", n.PortID, ip)
			}
			bits := a.BitLen()
			for _, sn := range subnets[n.NetworkID] {
				p, err := netip.ParsePrefix(sn.CIDR)
				if err != nil || !p.Contains(a) {
					continue
				}
				bits = p.Bits()
				if gw := sn.GatewayIP; gw != "" && i == 0 {
					key := "gateway4"
					if a.Is6() {
						key = "gateway6"
					}
					eth[key] = gw
				}
				if len(sn.DNSNameservers) > 0 {
					eth["nameservers"] = map[string]any{"addresses": sn.DNSNameservers}
				}
			}
			addrs = append(addrs, netip.PrefixFrom(a, bits).String())
		}
		if len(addrs) > 0 {
			eth["addresses"] = addrs
		} else {
			eth["dhcp4"] = true
		}
		ethernets[fmt.Sprintf("eth%d", i)] = eth
	}
	network, err := yaml.Marshal(map[string]any{"version": 2, "ethernets": ethernets})
	if err != nil {
		return seedFiles{}, err
	}
	return seedFiles{UserData: userData, MetaData: metaData, NetworkConfig: network}, nil
}

// writeSeedISO writes the files as an ISO 9660 volume labelled "cidata" at
// path (cloud-init's NoCloud data source).
func writeSeedISO(ctx context.Context, path string, f seedFiles) error {
	tool, args, err := isoTool()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".seed-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for name, data := range map[string][]byte{"user-data": f.UserData, "meta-data": f.MetaData, "network-config": f.NetworkConfig} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var errb bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, append(args, path, dir)...)
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(tool), err, bytes.TrimSpace(errb.Bytes()))
	}
	// user-data may hold secrets: only root, and QEMU once libvirt has
	// labelled the disk for the domain, may read it.
	return os.Chmod(path, 0o600)
}
