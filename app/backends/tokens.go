package backends

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/canopy-cloud/canopy/registry"
)

// RegistryTokenStore keeps a cloud proxy's small durable strings (Azure's
// long-running-operation resume tokens and resource-group index) in one
// Redis hash of the registry, so a gateway restart resumes an operation
// instead of starting it again.
type RegistryTokenStore struct {
	rdb redis.UniversalClient
	key string
}

// NewRegistryTokenStore returns the store of cloud in reg.
func NewRegistryTokenStore(reg *registry.Registry, cloud string) *RegistryTokenStore {
	return &RegistryTokenStore{rdb: reg.Client(), key: registry.CloudKey(cloud, "tokens")}
}

// Get returns the value of key and whether it exists.
func (s *RegistryTokenStore) Get(ctx context.Context, key string) (string, bool, error) {
	v, err := s.rdb.HGet(ctx, s.key, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return v, err == nil, err
}

// Put sets key to value.
func (s *RegistryTokenStore) Put(ctx context.Context, key, value string) error {
	return s.rdb.HSet(ctx, s.key, key, value).Err()
}

// Delete removes key (nil when it is absent).
func (s *RegistryTokenStore) Delete(ctx context.Context, key string) error {
	return s.rdb.HDel(ctx, s.key, key).Err()
}

// List returns the keys that start with prefix, sorted.
func (s *RegistryTokenStore) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := s.rdb.HKeys(ctx, s.key).Result()
	if err != nil {
		return nil, err
	}
	out := keys[:0]
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// RegistryProjectMapper keeps, in the registry, which bottom project each
// top project maps to in one OpenStack cloud, so the mapping survives a
// restart and is shared by every gateway process. Entries of the cloud's
// explicit project_map win over recorded ones.
type RegistryProjectMapper struct {
	rdb      redis.UniversalClient
	key      string
	explicit map[string]string
}

// NewRegistryProjectMapper returns the mapper of cloud in reg.
func NewRegistryProjectMapper(reg *registry.Registry, cloud string, explicit map[string]string) *RegistryProjectMapper {
	return &RegistryProjectMapper{rdb: reg.Client(), key: registry.CloudKey(cloud, "projects"), explicit: explicit}
}

// BottomProject returns the bottom project of top and whether one is known.
func (m *RegistryProjectMapper) BottomProject(ctx context.Context, top string) (string, bool, error) {
	if b, ok := m.explicit[top]; ok {
		return b, true, nil
	}
	v, err := m.rdb.HGet(ctx, m.key, top).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return v, err == nil, err
}

// SetBottomProject records the bottom project of top.
func (m *RegistryProjectMapper) SetBottomProject(ctx context.Context, top, bottom string) error {
	return m.rdb.HSet(ctx, m.key, top, bottom).Err()
}
