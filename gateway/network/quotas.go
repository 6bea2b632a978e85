package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
	"github.com/redis/go-redis/v9"
)

// Quota resources, with Neutron's default limits.
const (
	quotaNetwork      = "network"
	quotaSubnet       = "subnet"
	quotaPort         = "port"
	quotaRouter       = "router"
	quotaFloatingIP   = "floatingip"
	quotaSecGroup     = "security_group"
	quotaSecGroupRule = "security_group_rule"
	quotaSubnetPool   = "subnetpool"
)

var quotaDefaults = []struct {
	name  string
	limit int
}{
	{quotaNetwork, 100}, {quotaSubnet, 100}, {quotaPort, 500}, {quotaRouter, 10},
	{quotaFloatingIP, 50}, {quotaSecGroup, 10}, {quotaSecGroupRule, 100}, {quotaSubnetPool, -1},
}

// quotaKey holds a project's limits that differ from the defaults.
func quotaKey(projectID string) string { return registry.Key(projectID, "quota") }

// limits returns a project's limit of every resource (-1: unlimited).
func (s *Service) limits(ctx context.Context, projectID string) (map[string]int, error) {
	set, err := s.reg.Client().HGetAll(ctx, quotaKey(projectID)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make(map[string]int, len(quotaDefaults))
	for _, d := range quotaDefaults {
		out[d.name] = d.limit
		if v, ok := set[d.name]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				out[d.name] = n
			}
		}
	}
	return out, nil
}

// usage counts what a project holds of one resource.
func (s *Service) usage(ctx context.Context, projectID, resource string) (int, error) {
	var n int64
	var err error
	switch resource {
	case quotaNetwork:
		n, err = s.networks.Count(ctx, projectID)
	case quotaSubnet:
		n, err = s.subnets.Count(ctx, projectID)
	case quotaPort:
		n, err = s.ports.Count(ctx, projectID)
	case quotaRouter:
		n, err = s.routers.Count(ctx, projectID)
	case quotaSecGroup:
		n, err = s.secGroups.Count(ctx, projectID)
	case quotaSecGroupRule:
		n, err = s.ruleRefs.Count(ctx, projectID)
	case quotaFloatingIP:
		n, err = s.fips.Count(ctx, projectID)
	case quotaSubnetPool:
		n, err = s.subnetPools.Count(ctx, projectID)
	}
	return int(n), err
}

// quotaKinds maps each quota resource to the records it counts.
var quotaKinds = map[string]registry.Kind{
	quotaNetwork: registry.KindNetwork, quotaSubnet: registry.KindSubnet, quotaPort: registry.KindPort,
	quotaRouter: kindRouter, quotaFloatingIP: kindFloatingIP, quotaSecGroup: kindSecGroup, quotaSecGroupRule: kindSecGroupRule,
	quotaSubnetPool: kindSubnetPool,
}

// reservationTTL bounds how long a crashed create keeps its reservation.
const reservationTTL = time.Minute

func reservationsKey(projectID, resource string) string {
	return registry.Key(projectID, "quota", "resv", resource)
}

// reserveScript counts a project's records of one kind (the index) plus
// the reservations of creates in flight whose record does not exist yet,
// and reserves the new ids only if they fit under the limit (HGET of the
// project's quota hash, else the default). Every key is in the project's
// slot, so the count and the reservation are one atomic step: concurrent
// creates can never overshoot a limit.
//
// KEYS: quota hash, index, reservations. ARGV: resource, default limit,
// now (ms), expiry (ms), ids...
var reserveScript = redis.NewScript(`
local lim = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
if lim >= 0 then
  local used = redis.call('ZCARD', KEYS[2])
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    if not redis.call('ZSCORE', KEYS[2], id) then used = used + 1 end
  end
  if used + #ARGV - 4 > lim then return 0 end
end
for i = 5, #ARGV do redis.call('ZADD', KEYS[3], ARGV[4], ARGV[i]) end
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[4]) - tonumber(ARGV[3]))
return 1`)

// reserveQuota reserves ids (the records about to be created) of resource
// for a project, or refuses with Neutron's OverQuota (409). The returned
// release drops the reservation; call it once the creates are done
// (stored or failed).
func (s *Service) reserveQuota(ctx context.Context, projectID, resource string, ids ...string) (func(), error) {
	def := 0
	for _, d := range quotaDefaults {
		if d.name == resource {
			def = d.limit
		}
	}
	now := time.Now()
	args := []any{resource, def, now.UnixMilli(), now.Add(reservationTTL).UnixMilli()}
	for _, id := range ids {
		args = append(args, id)
	}
	key := reservationsKey(projectID, resource)
	ok, err := reserveScript.Run(ctx, s.reg.Client(),
		[]string{quotaKey(projectID), registry.IndexKey(projectID, quotaKinds[resource]), key}, args...).Int()
	if err != nil {
		return nil, err
	}
	if ok == 0 {
		return nil, conflict("OverQuota", "Quota exceeded for resources: ['%s'].", resource)
	}
	return func() {
		members := make([]any, len(ids))
		for i, id := range ids {
			members[i] = id
		}
		s.reg.Client().ZRem(context.WithoutCancel(ctx), key, members...)
	}, nil
}

// canReadQuota is Neutron's get_quota policy: one's own project, or admin.
func canReadQuota(p *wire.Principal, projectID string) error {
	if projectID != p.ProjectID && !p.IsAdmin() {
		return policyDenied("get_quota")
	}
	return nil
}

func (s *Service) showQuota(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("project_id")
	if err := canReadQuota(wire.PrincipalFrom(r.Context()), id); err != nil {
		return err
	}
	lim, err := s.limits(r.Context(), id)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota": lim})
	return nil
}

func (s *Service) showDefaultQuota(w http.ResponseWriter, r *http.Request) error {
	if err := canReadQuota(wire.PrincipalFrom(r.Context()), r.PathValue("project_id")); err != nil {
		return err
	}
	out := map[string]int{}
	for _, d := range quotaDefaults {
		out[d.name] = d.limit
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota": out})
	return nil
}

func (s *Service) showQuotaDetails(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("project_id")
	if err := canReadQuota(wire.PrincipalFrom(ctx), id); err != nil {
		return err
	}
	lim, err := s.limits(ctx, id)
	if err != nil {
		return err
	}
	out := map[string]any{}
	for _, d := range quotaDefaults {
		used, err := s.usage(ctx, id, d.name)
		if err != nil {
			return err
		}
		out[d.name] = map[string]int{"limit": lim[d.name], "used": used, "reserved": 0}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota": out})
	return nil
}

func (s *Service) updateQuota(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if !wire.PrincipalFrom(ctx).IsAdmin() {
		return policyDenied("update_quota")
	}
	id := r.PathValue("project_id")
	allowed := []string{"force", "check_limit"}
	for _, d := range quotaDefaults {
		allowed = append(allowed, d.name)
	}
	a, err := readBody(r, "quota", allowed)
	if err != nil {
		return err
	}
	set := map[string]any{}
	for _, d := range quotaDefaults {
		raw, ok := a[d.name]
		if !ok {
			continue
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		n, err := quotaValue(v)
		if err != nil {
			return invalidAttr(d.name, "%s", err.Error())
		}
		set[d.name] = n
	}
	if len(set) > 0 {
		if err := s.reg.Client().HSet(ctx, quotaKey(id), set).Err(); err != nil {
			return err
		}
	}
	lim, err := s.limits(ctx, id)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota": lim})
	return nil
}

// quotaValue converts a limit as Neutron does (an integer, also as a
// string, from -1 up).
func quotaValue(v any) (int, error) {
	var n int
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("'%v' is not an integer", x)
		}
		n = int(x)
	case string:
		var err error
		if n, err = strconv.Atoi(x); err != nil {
			return 0, fmt.Errorf("'%s' is not an integer", x)
		}
	default:
		return 0, fmt.Errorf("'%v' is not an integer", v)
	}
	if n < -1 {
		return 0, fmt.Errorf("'%d' is too small - must be at least '-1'", n)
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("'%d' is too large - must be no larger than '%d'", n, math.MaxInt32)
	}
	return n, nil
}

func (s *Service) deleteQuota(w http.ResponseWriter, r *http.Request) error {
	if !wire.PrincipalFrom(r.Context()).IsAdmin() {
		return policyDenied("delete_quota")
	}
	if err := s.reg.Client().Del(r.Context(), quotaKey(r.PathValue("project_id"))).Err(); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
