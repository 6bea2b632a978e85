package network

import (
	"context"
	"errors"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/redis/go-redis/v9"
)

// This file serves Nova's os-interface (broker.InterfacePorts): one port
// read, and one port given back by the server that held it.

var _ broker.InterfacePorts = (*Service)(nil)

// ServerPort implements broker.InterfacePorts.
func (s *Service) ServerPort(ctx context.Context, projectID, portID string) (*registry.Port, error) {
	return s.ports.Get(ctx, projectID, portID)
}

// ReleaseServerPort implements broker.InterfacePorts: a port made for the
// server is deleted, a port the user brought is unbound, as
// ReleaseServerPorts does for all of a server's ports. Idempotent.
func (s *Service) ReleaseServerPort(ctx context.Context, projectID, serverID, portID string) error {
	key := serverPortsKey(projectID, serverID)
	how, err := s.reg.Client().HGet(ctx, key, portID).Result()
	if errors.Is(err, redis.Nil) {
		return nil // not the server's (any more)
	}
	if err != nil {
		return err
	}
	pt, err := s.ports.Get(ctx, projectID, portID)
	switch {
	case errors.Is(err, registry.ErrNotFound):
	case err != nil:
		return err
	case pt.DeviceID != serverID:
		// rebound elsewhere since
	case how == portCreated:
		if err := s.removePort(ctx, pt); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
	default:
		_, err = s.ports.Update(ctx, projectID, portID, func(pt *registry.Port) error {
			if pt.DeviceID != serverID {
				return nil
			}
			pt.DeviceID, pt.DeviceOwner, pt.Status, pt.BindingHost = "", "", "DOWN", ""
			pt.Revision++
			pt.Updated = s.now()
			return nil
		})
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
	}
	return s.reg.Client().HDel(ctx, key, portID).Err()
}
