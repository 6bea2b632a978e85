package localcloud

import (
	"context"
	"net/netip"
	"sync"

	"github.com/canopy-cloud/canopy/proxies"
)

// networkStore realises tenant networks for the pool. Simulated hosts need
// no bridge, so a network is realised once its spec is checked and recorded
// under a Linux-style bridge name (what a KVM host will create).
type networkStore struct {
	mu   sync.Mutex
	nets map[string]proxies.NetworkStatus
}

var _ proxies.NetworkDriver = (*networkStore)(nil)

func newNetworkStore() *networkStore {
	return &networkStore{nets: make(map[string]proxies.NetworkStatus)}
}

// EnsureNetwork realises spec, or returns the network already realised.
func (s *networkStore) EnsureNetwork(ctx context.Context, spec proxies.NetworkSpec) (proxies.NetworkStatus, error) {
	const op = "EnsureNetwork"
	if spec.ID == "" {
		return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "the network needs an id")
	}
	if spec.MTU < 0 {
		return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "network %s: mtu %d is negative", spec.ID, spec.MTU)
	}
	for _, sn := range spec.Subnets {
		pfx, err := netip.ParsePrefix(sn.CIDR)
		if err != nil {
			return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "subnet %s: cidr %q is not a CIDR", sn.ID, sn.CIDR)
		}
		if sn.GatewayIP != "" {
			gw, err := netip.ParseAddr(sn.GatewayIP)
			if err != nil || !pfx.Contains(gw) {
				return proxies.NetworkStatus{}, proxies.Errorf(proxies.ErrInvalid, op, "subnet %s: gateway_ip %q is not in %s", sn.ID, sn.GatewayIP, sn.CIDR)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.nets[spec.ID]; ok {
		return st, nil
	}
	st := proxies.NetworkStatus{ID: spec.ID, BottomID: bridgeName(spec.ID), Ready: true}
	s.nets[spec.ID] = st
	return st, nil
}

// has reports whether network id is realised.
func (s *networkStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.nets[id]
	return ok
}

// DeleteNetwork forgets a network. Idempotent.
func (s *networkStore) DeleteNetwork(ctx context.Context, id string) error {
	s.mu.Lock()
	delete(s.nets, id)
	s.mu.Unlock()
	return nil
}

// bridgeName is the Linux bridge a KVM host would use for network id
// (interface names are at most 15 bytes), as Neutron's "brq" names.
func bridgeName(id string) string {
	if len(id) > 11 {
		id = id[:11]
	}
	return "brq" + id
}
