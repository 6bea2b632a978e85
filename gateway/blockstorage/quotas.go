package blockstorage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Quota is a project's block-storage quota (-1: unlimited).
type Quota struct {
	Volumes            int `json:"volumes"`
	Snapshots          int `json:"snapshots"`
	Gigabytes          int `json:"gigabytes"`
	Backups            int `json:"backups"`
	BackupGigabytes    int `json:"backup_gigabytes"`
	Groups             int `json:"groups"`
	PerVolumeGigabytes int `json:"per_volume_gigabytes"`
}

// quotaFields are the quota set's keys, in Cinder's order.
var quotaFields = []string{"volumes", "snapshots", "gigabytes", "backups", "backup_gigabytes", "groups", "per_volume_gigabytes"}

// withDefaults fills an all-zero quota with Cinder's defaults.
func (q Quota) withDefaults() Quota {
	if q == (Quota{}) {
		return Quota{Volumes: 10, Snapshots: 10, Gigabytes: 1000, Backups: 10, BackupGigabytes: 1000, Groups: 10, PerVolumeGigabytes: -1}
	}
	return q
}

func (q Quota) asMap() map[string]int {
	return map[string]int{"volumes": q.Volumes, "snapshots": q.Snapshots, "gigabytes": q.Gigabytes, "backups": q.Backups,
		"backup_gigabytes": q.BackupGigabytes, "groups": q.Groups, "per_volume_gigabytes": q.PerVolumeGigabytes}
}

// Usage and per-project limit overrides live in two hashes under the
// project's hash tag; the reservation script reads the limit and changes the
// usage in one step, so concurrent creates never both take the last slot.
func usageKey(project string) string  { return registry.Key(project, "volume_usage") }
func limitsKey(project string) string { return registry.Key(project, "volume_quota") }

// reserveScript adds the (resource, amount, default limit) triples of ARGV to
// the usage in KEYS[1] when all fit under the limits (KEYS[2] overrides the
// defaults); it answers {1} or {0, resource, used, limit}.
var reserveScript = redis.NewScript(`
for i = 1, #ARGV, 3 do
  local res, amt = ARGV[i], tonumber(ARGV[i+1])
  local limit = tonumber(redis.call('HGET', KEYS[2], res) or ARGV[i+2])
  local used = tonumber(redis.call('HGET', KEYS[1], res) or '0')
  if amt > 0 and limit >= 0 and used + amt > limit then return {0, res, used, limit} end
end
for i = 1, #ARGV, 3 do
  local amt = tonumber(ARGV[i+1])
  if amt ~= 0 then redis.call('HINCRBY', KEYS[1], ARGV[i], amt) end
end
return {1}`)

// QuotaError is a refused reservation.
type QuotaError struct {
	Resource               string
	Requested, Used, Limit int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota %s exceeded: requested %d, used %d of %d", e.Resource, e.Requested, e.Used, e.Limit)
}

// fault renders the refusal as Cinder's 413 overLimit.
func (e *QuotaError) fault() *wire.Error {
	switch e.Resource {
	case "gigabytes":
		return wire.Errorf(http.StatusRequestEntityTooLarge, "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested %dG, quota is %dG and %dG has been consumed.", e.Requested, e.Limit, e.Used)
	case "snapshots":
		return wire.Errorf(http.StatusRequestEntityTooLarge, "SnapshotLimitExceeded: Maximum number of snapshots allowed (%d) exceeded", e.Limit)
	}
	return wire.Errorf(http.StatusRequestEntityTooLarge, "VolumeLimitExceeded: Maximum number of volumes allowed (%d) exceeded for quota 'volumes'.", e.Limit)
}

// reserve takes quota for the given amounts, atomically.
func (s *Service) reserve(ctx context.Context, project string, amounts map[string]int) error {
	q := s.opts.Quota.asMap()
	var args []any
	for _, f := range []string{"volumes", "snapshots", "gigabytes"} {
		if n, ok := amounts[f]; ok {
			args = append(args, f, n, q[f])
		}
	}
	res, err := reserveScript.Run(ctx, s.reg.Client(), []string{usageKey(project), limitsKey(project)}, args...).Slice()
	if err != nil {
		return err
	}
	if ok, _ := res[0].(int64); ok == 1 {
		return nil
	}
	if len(res) < 4 {
		return fmt.Errorf("blockstorage: unexpected quota answer %v", res)
	}
	name, _ := res[1].(string)
	used, _ := res[2].(int64)
	limit, _ := res[3].(int64)
	return (&QuotaError{Resource: name, Requested: amounts[name], Used: int(used), Limit: int(limit)}).fault()
}

// release gives quota back.
func (s *Service) release(ctx context.Context, project string, amounts map[string]int) error {
	pipe := s.reg.Client().Pipeline()
	for f, n := range amounts {
		if n != 0 {
			pipe.HIncrBy(ctx, usageKey(project), f, -int64(n))
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

// quotaOf reads a project's effective limits and usage.
func (s *Service) quotaOf(ctx context.Context, project string) (limits, used map[string]int, err error) {
	limits = s.opts.Quota.asMap()
	over, err := s.reg.Client().HGetAll(ctx, limitsKey(project)).Result()
	if err != nil {
		return nil, nil, err
	}
	for k, v := range over {
		if n, err := strconv.Atoi(v); err == nil {
			limits[k] = n
		}
	}
	u, err := s.reg.Client().HGetAll(ctx, usageKey(project)).Result()
	if err != nil {
		return nil, nil, err
	}
	used = map[string]int{}
	for _, f := range quotaFields {
		n, _ := strconv.Atoi(u[f])
		used[f] = max(n, 0)
	}
	return limits, used, nil
}

// canSeeProject: members see their own project's quota, admins any.
func canSeeProject(p *wire.Principal, project string) error {
	if p.IsAdmin() || p.ProjectID == project {
		return nil
	}
	return wire.Forbidden("Policy doesn't allow volume_extension:quotas:show to be performed.")
}

func (s *Service) showQuota(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	if err := canSeeProject(wire.PrincipalFrom(r.Context()), project); err != nil {
		return err
	}
	limits, used, err := s.quotaOf(r.Context(), project)
	if err != nil {
		return err
	}
	body := map[string]any{"id": project}
	usage := r.URL.Query().Get("usage")
	for _, f := range quotaFields {
		if usage == "true" || usage == "True" || usage == "1" {
			body[f] = map[string]int{"limit": limits[f], "in_use": used[f], "reserved": 0}
		} else {
			body[f] = limits[f]
		}
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": body})
	return nil
}

func (s *Service) showQuotaDefaults(w http.ResponseWriter, r *http.Request) error {
	body := map[string]any{"id": r.PathValue("project")}
	for k, v := range s.opts.Quota.asMap() {
		body[k] = v
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": body})
	return nil
}

// updateQuota sets a project's limits (admin only). Lowering a limit below
// the usage is allowed, as Cinder allows it without skip_validation=false.
func (s *Service) updateQuota(w http.ResponseWriter, r *http.Request) error {
	if !wire.PrincipalFrom(r.Context()).IsAdmin() {
		return wire.Forbidden("Policy doesn't allow volume_extension:quotas:update to be performed.")
	}
	var req struct {
		QuotaSet map[string]json.RawMessage `json:"quota_set"`
	}
	if err := wire.DecodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.QuotaSet == nil {
		return wire.BadRequest("Missing required element 'quota_set' in request body.")
	}
	set := map[string]any{}
	known := s.opts.Quota.asMap()
	for k, raw := range req.QuotaSet {
		if k == "id" || k == "tenant_id" {
			continue
		}
		if _, ok := known[k]; !ok {
			return wire.BadRequest("Bad key(s) in quota set: %s", k)
		}
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return wire.BadRequest("Quota %s must be an integer.", k)
			}
			if n, err = strconv.Atoi(str); err != nil {
				return wire.BadRequest("Quota %s must be an integer.", k)
			}
		}
		if n < -1 {
			return wire.BadRequest("Quota limit %d for %s must be -1 or greater.", n, k)
		}
		set[k] = n
	}
	project := r.PathValue("project")
	if len(set) > 0 {
		if err := s.reg.Client().HSet(r.Context(), limitsKey(project), set).Err(); err != nil {
			return err
		}
	}
	limits, _, err := s.quotaOf(r.Context(), project)
	if err != nil {
		return err
	}
	body := map[string]any{}
	for _, f := range quotaFields {
		body[f] = limits[f]
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"quota_set": body})
	return nil
}

// deleteQuota reverts a project to the default limits (admin only).
func (s *Service) deleteQuota(w http.ResponseWriter, r *http.Request) error {
	if !wire.PrincipalFrom(r.Context()).IsAdmin() {
		return wire.Forbidden("Policy doesn't allow volume_extension:quotas:delete to be performed.")
	}
	if err := s.reg.Client().Del(r.Context(), limitsKey(r.PathValue("project"))).Err(); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// limits is Cinder's GET /limits: the absolute limits and usage.
func (s *Service) limits(w http.ResponseWriter, r *http.Request) error {
	p := wire.PrincipalFrom(r.Context())
	limits, used, err := s.quotaOf(r.Context(), p.ProjectID)
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": map[string]int{
		"maxTotalVolumes": limits["volumes"], "maxTotalSnapshots": limits["snapshots"],
		"maxTotalVolumeGigabytes": limits["gigabytes"], "maxTotalBackups": limits["backups"],
		"maxTotalBackupGigabytes": limits["backup_gigabytes"],
		"totalVolumesUsed":        used["volumes"], "totalSnapshotsUsed": used["snapshots"], "totalGigabytesUsed": used["gigabytes"],
		"totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0,
	}}})
	return nil
}
