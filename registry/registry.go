// Package registry holds all of Canopy's state in Redis: identity records,
// clouds, resource records with their routing (top id → cloud, bottom id),
// capacity claims, quota usage and jobs.
//
// It is written against go-redis's UniversalClient, so a standalone Redis,
// Sentinel and Cluster all work. Every key of a project carries the hash tag
// {p:<project>} so that a project's record, its indexes and its usage live in
// one Cluster slot and change together in one Lua script. Global records
// (flavors, users, clouds...) live under the project "_".
package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Global is the owner of records that belong to no project.
const Global = "_"

// Typed errors of the registry.
var (
	ErrNotFound       = errors.New("registry: not found")
	ErrExists         = errors.New("registry: already exists")
	ErrNameTaken      = errors.New("registry: name already in use")
	ErrConflict       = errors.New("registry: concurrent update, generation changed")
	ErrMarkerNotFound = errors.New("registry: marker not found")
)

// Kind names a kind of record.
type Kind string

// Options configure how the registry reaches Redis.
type Options struct {
	// URL is a redis:// or rediss:// URL of a standalone server.
	URL string `yaml:"url"`
	// Addrs with MasterName selects Sentinel; Addrs alone with more than one
	// address selects Cluster.
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	Password   string   `yaml:"-"`
	DB         int      `yaml:"db"`
}

// Registry is Canopy's state store.
type Registry struct {
	rdb    redis.UniversalClient
	owners *ownerCache
}

// Open connects to Redis as opts says and checks that it answers.
func Open(ctx context.Context, opts Options) (*Registry, error) {
	var rdb redis.UniversalClient
	switch {
	case opts.URL != "":
		o, err := redis.ParseURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("registry: bad redis URL: %w", err)
		}
		if opts.Password != "" {
			o.Password = opts.Password
		}
		o.PoolSize = 64
		rdb = redis.NewClient(o)
	case len(opts.Addrs) > 0:
		rdb = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs: opts.Addrs, MasterName: opts.MasterName, Password: opts.Password, DB: opts.DB, PoolSize: 64,
		})
	default:
		return nil, errors.New("registry: no Redis address: set registry.url (or registry.addrs)")
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("registry: redis does not answer: %w", err)
	}
	r := New(rdb)
	return r, nil
}

// New wraps an existing client. The caller keeps ownership of rdb only if it
// does not call Close.
func New(rdb redis.UniversalClient) *Registry {
	rdb.AddHook(metricsHook{})
	return &Registry{rdb: rdb, owners: newOwnerCache(1 << 18)}
}

// Client is the underlying Redis client, for packages that keep their own
// keys (claims, allocators, jobs) under the same layout rules.
func (r *Registry) Client() redis.UniversalClient { return r.rdb }

// Close closes the connection pool.
func (r *Registry) Close() error { return r.rdb.Close() }

// ProjectTag is the hash tag under which all of a project's keys live.
func ProjectTag(project string) string {
	if project == "" {
		project = Global
	}
	return "{p:" + project + "}"
}

func recKey(project string, kind Kind, id string) string {
	return ProjectTag(project) + ":" + string(kind) + ":" + id
}
func idxKey(project string, kind Kind) string {
	return ProjectTag(project) + ":" + string(kind) + ":idx"
}
func namesKey(project string, kind Kind) string {
	return ProjectTag(project) + ":" + string(kind) + ":names"
}
func ownerKey(kind Kind) string { return "{g}:" + string(kind) + ":owner" }
func allKey(kind Kind) string   { return "{g}:" + string(kind) + ":all" }

// score turns a creation time into a sorted-set score (microseconds, exact in
// a float64 for the next few centuries).
func score(t time.Time) float64 { return float64(t.UnixMicro()) }

// Lua scripts: each touches only keys of one project, so they run in Cluster.
var (
	createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
if ARGV[4] ~= '' then
  if redis.call('HSETNX', KEYS[3], ARGV[4], ARGV[5]) == 0 then return 'name' end
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'g', 1)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 'ok'`)
	updateScript = redis.NewScript(`
local g = redis.call('HGET', KEYS[1], 'g')
if not g then return 'missing' end
if g ~= ARGV[2] then return 'conflict' end
if ARGV[3] ~= ARGV[4] then
  if ARGV[4] ~= '' then
    if redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[5]) == 0 then return 'name' end
  end
  if ARGV[3] ~= '' then redis.call('HDEL', KEYS[2], ARGV[3]) end
end
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'g', 1)`)
	deleteScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then
  if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
end
return 1`)
)

// Raw is one stored record: its JSON bytes and its generation.
type Raw struct {
	Project string
	ID      string
	Gen     int64
	Data    []byte
}

// CreateRaw stores a new record. uniqueName, when set, must be unique among
// the project's records of this kind (keypairs, flavors by name...).
func (r *Registry) CreateRaw(ctx context.Context, kind Kind, project, id string, created time.Time, data []byte, uniqueName string) error {
	if project == "" {
		project = Global
	}
	// The owner index first: a crash between the two leaves an owner entry
	// without a record, which reads as not found and is overwritten on retry.
	if err := r.rdb.HSet(ctx, ownerKey(kind), id, project).Err(); err != nil {
		return err
	}
	res, err := createScript.Run(ctx, r.rdb,
		[]string{recKey(project, kind, id), idxKey(project, kind), namesKey(project, kind)},
		data, score(created), id, uniqueName, id).Text()
	if err != nil {
		return err
	}
	switch res {
	case "exists":
		return ErrExists
	case "name":
		return ErrNameTaken
	}
	return r.rdb.ZAdd(ctx, allKey(kind), redis.Z{Score: score(created), Member: id}).Err()
}

// OwnerOf returns the project that owns record id of kind.
func (r *Registry) OwnerOf(ctx context.Context, kind Kind, id string) (string, error) {
	p, err := r.rdb.HGet(ctx, ownerKey(kind), id).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	return p, err
}

// GetRaw reads a record of a known project.
func (r *Registry) GetRaw(ctx context.Context, kind Kind, project, id string) (Raw, error) {
	if project == "" {
		project = Global
	}
	vals, err := r.rdb.HMGet(ctx, recKey(project, kind, id), "d", "g").Result()
	if err != nil {
		return Raw{}, err
	}
	d, ok := vals[0].(string)
	if !ok {
		return Raw{}, ErrNotFound
	}
	var gen int64
	if g, ok := vals[1].(string); ok {
		fmt.Sscan(g, &gen)
	}
	return Raw{Project: project, ID: id, Gen: gen, Data: []byte(d)}, nil
}

// LookupRaw reads a record whose project is not known. The owner comes from
// a process-local cache when it can (see ownerCache), else from Redis.
func (r *Registry) LookupRaw(ctx context.Context, kind Kind, id string) (Raw, error) {
	if p, ok := r.owners.get(kind, id); ok {
		raw, err := r.GetRaw(ctx, kind, p, id)
		if !errors.Is(err, ErrNotFound) {
			return raw, err
		}
		r.owners.drop(kind, id)
	}
	p, err := r.OwnerOf(ctx, kind, id)
	if err != nil {
		return Raw{}, err
	}
	raw, err := r.GetRaw(ctx, kind, p, id)
	if err == nil {
		r.owners.put(kind, id, p)
	}
	return raw, err
}

// UpdateRaw replaces a record if its generation is still gen. oldName and
// newName move the record's unique-name entry. It returns the new generation.
func (r *Registry) UpdateRaw(ctx context.Context, kind Kind, project, id string, gen int64, data []byte, oldName, newName string) (int64, error) {
	if project == "" {
		project = Global
	}
	res, err := updateScript.Run(ctx, r.rdb, []string{recKey(project, kind, id), namesKey(project, kind)},
		data, gen, oldName, newName, id).Result()
	if err != nil {
		return 0, err
	}
	switch v := res.(type) {
	case int64:
		return v, nil
	case string:
		switch v {
		case "missing":
			return 0, ErrNotFound
		case "conflict":
			return 0, ErrConflict
		case "name":
			return 0, ErrNameTaken
		}
	}
	return 0, fmt.Errorf("registry: unexpected update answer %v", res)
}

// DeleteRaw removes a record and its index entries. Deleting a record that is
// already gone returns ErrNotFound.
func (r *Registry) DeleteRaw(ctx context.Context, kind Kind, project, id, uniqueName string) error {
	if project == "" {
		project = Global
	}
	n, err := deleteScript.Run(ctx, r.rdb, []string{recKey(project, kind, id), idxKey(project, kind), namesKey(project, kind)},
		id, uniqueName).Int()
	if err != nil {
		return err
	}
	pipe := r.rdb.Pipeline()
	pipe.HDel(ctx, ownerKey(kind), id)
	pipe.ZRem(ctx, allKey(kind), id)
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// IDByName resolves a unique name to an id within a project.
func (r *Registry) IDByName(ctx context.Context, kind Kind, project, name string) (string, error) {
	if project == "" {
		project = Global
	}
	id, err := r.rdb.HGet(ctx, namesKey(project, kind), name).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	return id, err
}

// Page selects a window of a sorted index.
type Page struct {
	Marker string // id of the last record of the previous page
	Limit  int    // 0: no limit
	Desc   bool   // newest first
}

// ListIDs returns the ids of a project's records of kind (all projects when
// project is "*"), in creation order, paged.
func (r *Registry) ListIDs(ctx context.Context, kind Kind, project string, page Page) ([]string, error) {
	key := idxKey(project, kind)
	if project == "*" {
		key = allKey(kind)
	} else if project == "" {
		key = idxKey(Global, kind)
	}
	start := int64(0)
	if page.Marker != "" {
		var rank int64
		var err error
		if page.Desc {
			rank, err = r.rdb.ZRevRank(ctx, key, page.Marker).Result()
		} else {
			rank, err = r.rdb.ZRank(ctx, key, page.Marker).Result()
		}
		if errors.Is(err, redis.Nil) {
			return nil, ErrMarkerNotFound
		}
		if err != nil {
			return nil, err
		}
		start = rank + 1
	}
	stop := int64(-1)
	if page.Limit > 0 {
		stop = start + int64(page.Limit) - 1
	}
	if page.Desc {
		return r.rdb.ZRevRange(ctx, key, start, stop).Result()
	}
	return r.rdb.ZRange(ctx, key, start, stop).Result()
}

// GetManyRaw reads records by id in one round trip. project "*" looks each
// owner up first. Ids whose record has vanished are skipped.
func (r *Registry) GetManyRaw(ctx context.Context, kind Kind, project string, ids []string) ([]Raw, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	owners := make([]string, len(ids))
	if project == "*" {
		vals, err := r.rdb.HMGet(ctx, ownerKey(kind), ids...).Result()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if s, ok := v.(string); ok {
				owners[i] = s
			}
		}
	} else {
		if project == "" {
			project = Global
		}
		for i := range owners {
			owners[i] = project
		}
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		if owners[i] == "" {
			continue
		}
		cmds[i] = pipe.HMGet(ctx, recKey(owners[i], kind, id), "d", "g")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]Raw, 0, len(ids))
	for i, c := range cmds {
		if c == nil {
			continue
		}
		vals := c.Val()
		d, ok := vals[0].(string)
		if !ok {
			continue
		}
		var gen int64
		if g, ok := vals[1].(string); ok {
			fmt.Sscan(g, &gen)
		}
		out = append(out, Raw{Project: owners[i], ID: ids[i], Gen: gen, Data: []byte(d)})
	}
	return out, nil
}

// Count returns how many records of kind a project holds ("*": all).
func (r *Registry) Count(ctx context.Context, kind Kind, project string) (int64, error) {
	key := idxKey(project, kind)
	if project == "*" {
		key = allKey(kind)
	} else if project == "" {
		key = idxKey(Global, kind)
	}
	return r.rdb.ZCard(ctx, key).Result()
}

// Key builds a key under a project's hash tag for packages that keep their own
// structures (claims, allocators): Key(project, "ipam", subnetID).
func Key(project string, parts ...string) string {
	return ProjectTag(project) + ":" + strings.Join(parts, ":")
}
