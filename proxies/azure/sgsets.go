package azure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/canopy-cloud/canopy/proxies"
)

// An Azure NIC takes one network security group, a Neutron port several.
// A port with more than one group gets a "set" NSG, canopy-sgset-<hash of
// the sorted group ids>, whose rules are the union of its members' rules
// (renumbered). The store remembers each set's members ("sgset/<name>")
// and each member's sets ("sgmember/<group id>/<name>"): ensuring a group
// rewrites the sets it is in, and deleting a group first deletes its sets,
// which fails with ErrConflict while a NIC still uses one.

func setName(groupIDs []string) string {
	ids := slices.Clone(groupIDs)
	sort.Strings(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	return "canopy-sgset-" + hex.EncodeToString(sum[:8])
}

// nsgFor is the NSG a NIC with these groups uses (nil for none).
func (b *Backend) nsgFor(ctx context.Context, op, rg string, groupIDs []string) (*armnetwork.SecurityGroup, error) {
	switch len(groupIDs) {
	case 0:
		return nil, nil
	case 1:
		id, err := b.nsgID(ctx, op, groupIDs[0])
		if err != nil {
			return nil, err
		}
		return &armnetwork.SecurityGroup{ID: &id}, nil
	}
	name := setName(groupIDs)
	members := slices.Clone(groupIDs)
	sort.Strings(members)
	if err := b.tokens.Put(ctx, "sgset/"+name, rg+"|"+strings.Join(members, ",")); err != nil {
		return nil, proxies.Errorf(proxies.ErrUnavailable, op, "the security group set could not be recorded")
	}
	for _, g := range members {
		if err := b.tokens.Put(ctx, "sgmember/"+g+"/"+name, rg); err != nil {
			return nil, proxies.Errorf(proxies.ErrUnavailable, op, "the security group set could not be recorded")
		}
	}
	id, err := b.writeSet(ctx, op, name)
	if err != nil {
		return nil, err
	}
	return &armnetwork.SecurityGroup{ID: &id}, nil
}

// writeSet (re)writes a set NSG from its members' current rules.
func (b *Backend) writeSet(ctx context.Context, op, name string) (string, error) {
	rec, ok, err := b.tokens.Get(ctx, "sgset/"+name)
	if err != nil || !ok {
		return "", proxies.Errorf(proxies.ErrNotFound, op, "security group set %s is unknown", name)
	}
	rg, list, _ := strings.Cut(rec, "|")
	var rules []*armnetwork.SecurityRule
	next := map[armnetwork.SecurityRuleDirection]int32{}
	for _, g := range strings.Split(list, ",") {
		grg := b.lookupRG(ctx, "sg", g)
		if grg == "" {
			return "", proxies.Errorf(proxies.ErrInvalid, op, "security group %s is not realised in this Azure cloud", g)
		}
		nsg, err := b.nsgs.Get(ctx, grg, sgName(g), nil)
		if err != nil {
			return "", mapErr(op, "could not read a member security group", err)
		}
		for _, r := range nsg.Properties.SecurityRules {
			p := r.Properties
			if p == nil || p.Access == nil || *p.Access != armnetwork.SecurityRuleAccessAllow {
				continue
			}
			c := *r
			cp := *p
			next[*p.Direction]++
			cp.Priority = to.Ptr(99 + next[*p.Direction])
			c.Properties, c.ID, c.Etag = &cp, nil, nil
			c.Name = to.Ptr(fmt.Sprintf("%s-%d", *r.Name, len(rules)))
			rules = append(rules, &c)
		}
	}
	deny, _ := nsgRules(op, nil, nil)
	rules = append(rules, deny...)
	res, err := run(ctx, b, name+"/nsg", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.SecurityGroupsClientCreateOrUpdateResponse], error) {
		return b.nsgs.BeginCreateOrUpdate(ctx, rg, name, armnetwork.SecurityGroup{Location: to.Ptr(b.cfg.Locations[0].Name),
			Tags:       map[string]*string{tagCloud: to.Ptr(b.name), "canopy-sgset": to.Ptr(list)},
			Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: rules}},
			&armnetwork.SecurityGroupsClientBeginCreateOrUpdateOptions{ResumeToken: tok})
	})
	if err != nil {
		return "", mapErr(op, "the security group set could not be written", err)
	}
	return *res.ID, nil
}

// refreshSets rewrites every set group id is a member of.
func (b *Backend) refreshSets(ctx context.Context, op, id string) error {
	keys, _ := b.tokens.List(ctx, "sgmember/"+id+"/")
	for _, k := range keys {
		if _, err := b.writeSet(ctx, op, k[strings.LastIndex(k, "/")+1:]); err != nil {
			return err
		}
	}
	return nil
}

// dropSets deletes the sets group id is in; ErrConflict while a NIC uses one.
func (b *Backend) dropSets(ctx context.Context, op, id string) error {
	keys, _ := b.tokens.List(ctx, "sgmember/"+id+"/")
	for _, k := range keys {
		name := k[strings.LastIndex(k, "/")+1:]
		rg, _, _ := b.tokens.Get(ctx, k)
		_, err := run(ctx, b, name+"/nsg-delete", func(ctx context.Context, tok string) (*runtime.Poller[armnetwork.SecurityGroupsClientDeleteResponse], error) {
			return b.nsgs.BeginDelete(ctx, rg, name, &armnetwork.SecurityGroupsClientBeginDeleteOptions{ResumeToken: tok})
		})
		if err != nil && !isNotFound(err) {
			return mapErr(op, "security group "+id+" is in use", err)
		}
		rec, _, _ := b.tokens.Get(ctx, "sgset/"+name)
		_, list, _ := strings.Cut(rec, "|")
		for _, g := range strings.Split(list, ",") {
			_ = b.tokens.Delete(ctx, "sgmember/"+g+"/"+name)
		}
		_ = b.tokens.Delete(ctx, "sgset/"+name)
	}
	return nil
}
