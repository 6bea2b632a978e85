package libvirt

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"time"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// ensureBridge makes sure the Linux bridge of network networkID exists and
// is up. With bridges "existing" a missing bridge is an error: the operator
// (or the network agent) makes them.
func (h *Host) ensureBridge(ctx context.Context, op, networkID string) error {
	name := localcloud.BridgeName(networkID)
	if _, err := net.InterfaceByName(name); err == nil {
		return nil
	}
	if h.cfg.Bridges == "existing" {
		return proxies.Errorf(proxies.ErrUnavailable, op, "bridge %s of network %s does not exist on host %s", name, networkID, h.name)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, args := range [][]string{{"link", "add", "name", name, "type", "bridge"}, {"link", "set", name, "up"}} {
		var errb bytes.Buffer
		cmd := exec.CommandContext(ctx, "ip", args...)
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			if _, e := net.InterfaceByName(name); e == nil && args[1] == "add" {
				continue // made concurrently by another create
			}
			return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "could not create bridge " + name + " on host " + h.name,
				Cause: fmt.Errorf("ip %v: %w: %s", args, err, bytes.TrimSpace(errb.Bytes()))}
		}
	}
	return nil
}
