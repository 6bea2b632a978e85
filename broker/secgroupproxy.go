package broker

import (
	"context"
	"errors"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/registry"
)

// The os-security-groups proxy: Nova passes these straight to Neutron and
// turns Neutron's refusals into its own faults, which these methods do.

func (b *Broker) groupStore(op string) (SecurityGroupStore, error) {
	st, ok := b.secgroups.(SecurityGroupStore)
	if !ok {
		return nil, proxies.Errorf(proxies.ErrNotSupported, op, "Security groups are not available in this cloud.")
	}
	return st, nil
}

// groupFault turns the network service's typed refusals into Nova's.
func groupFault(op, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return notFound(op, "Security group %s not found.", id)
	case errors.Is(err, proxies.ErrConflict):
		return invalid(op, "%s", proxies.SafeMessage(err))
	}
	return err
}

// ListSecurityGroups lists the caller's project's groups.
func (b *Broker) ListSecurityGroups(ctx context.Context, c Caller) ([]SecurityGroup, error) {
	st, err := b.groupStore("ListSecurityGroups")
	if err != nil {
		return nil, err
	}
	return st.ListSecurityGroups(ctx, c.ProjectID)
}

// GetSecurityGroup reads one of the caller's project's groups.
func (b *Broker) GetSecurityGroup(ctx context.Context, c Caller, id string) (SecurityGroup, error) {
	const op = "GetSecurityGroup"
	st, err := b.groupStore(op)
	if err != nil {
		return SecurityGroup{}, err
	}
	g, err := st.GetSecurityGroup(ctx, c.ProjectID, id)
	return g, groupFault(op, id, err)
}

// CreateSecurityGroup makes a group in the caller's project.
func (b *Broker) CreateSecurityGroup(ctx context.Context, c Caller, name, description string) (SecurityGroup, error) {
	const op = "CreateSecurityGroup"
	st, err := b.groupStore(op)
	if err != nil {
		return SecurityGroup{}, err
	}
	g, err := st.CreateSecurityGroup(ctx, c.ProjectID, name, description)
	if errors.Is(err, proxies.ErrQuota) {
		return g, err
	}
	return g, groupFault(op, name, err)
}

// UpdateSecurityGroup renames a group and sets its description.
func (b *Broker) UpdateSecurityGroup(ctx context.Context, c Caller, id, name, description string) (SecurityGroup, error) {
	const op = "UpdateSecurityGroup"
	st, err := b.groupStore(op)
	if err != nil {
		return SecurityGroup{}, err
	}
	g, err := st.UpdateSecurityGroup(ctx, c.ProjectID, id, name, description)
	return g, groupFault(op, id, err)
}

// DeleteSecurityGroup deletes a group no port uses; the default group and
// groups in use are refused with 400, as Nova does.
func (b *Broker) DeleteSecurityGroup(ctx context.Context, c Caller, id string) error {
	const op = "DeleteSecurityGroup"
	st, err := b.groupStore(op)
	if err != nil {
		return err
	}
	return groupFault(op, id, st.DeleteSecurityGroup(ctx, c.ProjectID, id))
}
