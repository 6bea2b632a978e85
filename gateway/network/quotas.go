package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

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
)

var quotaDefaults = []struct {
	name  string
	limit int
}{
	{quotaNetwork, 100}, {quotaSubnet, 100}, {quotaPort, 500}, {quotaRouter, 10},
	{quotaFloatingIP, 50}, {quotaSecGroup, 10}, {quotaSecGroupRule, 100},
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
		n = 0
	}
	return int(n), err
}

// checkQuota refuses a create of want more of resource beyond the project's
// limit with Neutron's OverQuota (409). The count and the create are not one
// transaction: concurrent creates can overshoot a limit by their number.
func (s *Service) checkQuota(ctx context.Context, projectID, resource string, want int) error {
	lim, err := s.limits(ctx, projectID)
	if err != nil {
		return err
	}
	limit := lim[resource]
	if limit < 0 {
		return nil
	}
	used, err := s.usage(ctx, projectID, resource)
	if err != nil {
		return err
	}
	if used+want > limit {
		return conflict("OverQuota", "Quota exceeded for resources: ['%s'].", resource)
	}
	return nil
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
