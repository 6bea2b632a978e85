package registry_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/registry"
)

type thing struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	N       int       `json:"n"`
	Created time.Time `json:"created"`
}

// backends are the registry implementations the same suite runs against:
// the dev in-memory server and a real redis-server.
func backends(t *testing.T) map[string]func(t *testing.T) *registry.Registry {
	return map[string]func(t *testing.T) *registry.Registry{
		"dev": func(t *testing.T) *registry.Registry {
			dev, err := registry.StartDevServer(nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(dev.Close)
			r, err := dev.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		},
		"redis": RealRedis,
	}
}

// RealRedis connects to the redis-server named by CANOPY_TEST_REDIS
// (default redis://127.0.0.1:6379/9) and empties that database. In CI a
// missing server fails the test; elsewhere it skips.
func RealRedis(t *testing.T) *registry.Registry {
	url := os.Getenv("CANOPY_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/9"
	}
	r, err := registry.Open(context.Background(), registry.Options{URL: url})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("real redis required in CI: %v", err)
		}
		t.Skipf("no redis-server at %s: %v", url, err)
	}
	if err := r.Client().FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRegistrySuite(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("create get update delete", func(t *testing.T) { testCRUD(t, open(t)) })
			t.Run("unique names", func(t *testing.T) { testNames(t, open(t)) })
			t.Run("paging", func(t *testing.T) { testPaging(t, open(t)) })
			t.Run("concurrent compare-and-set", func(t *testing.T) { testCAS(t, open(t)) })
			t.Run("id re-created in another project", func(t *testing.T) { testOwnerMoves(t, open(t)) })
		})
	}
}

func coll(r *registry.Registry) *registry.Collection[thing] {
	return registry.NewCollection(r, "thing", func(v *thing) string { return v.Name })
}

func testCRUD(t *testing.T, r *registry.Registry) {
	ctx := context.Background()
	c := coll(r)
	now := time.Now().UTC()
	if err := c.Create(ctx, "p1", "a", now, &thing{ID: "a", Name: "alpha", Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, "p1", "a", now, &thing{ID: "a", Name: "other"}); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := c.Get(ctx, "p1", "a")
	if err != nil || got.Name != "alpha" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := c.Get(ctx, "p2", "a"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("get in other project: %v", err)
	}
	v, err := c.Lookup(ctx, "a")
	if err != nil || v.Project != "p1" || v.Gen != 1 {
		t.Fatalf("lookup: %+v %v", v, err)
	}
	if _, err := c.Update(ctx, "p1", "a", func(x *thing) error { x.N = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	v, _ = c.Lookup(ctx, "a")
	if v.Value.N != 7 || v.Gen != 2 {
		t.Fatalf("after update: %+v", v)
	}
	boom := errors.New("abort")
	if _, err := c.Update(ctx, "p1", "a", func(x *thing) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("aborted update: %v", err)
	}
	if err := c.Delete(ctx, "p1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "p1", "a"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.Lookup(ctx, "a"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("lookup after delete: %v", err)
	}
	if n, _ := c.Count(ctx, "p1"); n != 0 {
		t.Fatalf("count after delete = %d", n)
	}
}

func testNames(t *testing.T, r *registry.Registry) {
	ctx := context.Background()
	c := coll(r)
	now := time.Now()
	must(t, c.Create(ctx, "p", "1", now, &thing{ID: "1", Name: "x"}))
	if err := c.Create(ctx, "p", "2", now, &thing{ID: "2", Name: "x"}); !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	must(t, c.Create(ctx, "q", "3", now, &thing{ID: "3", Name: "x"})) // other project: fine
	got, err := c.ByName(ctx, "p", "x")
	if err != nil || got.ID != "1" {
		t.Fatalf("by name: %+v %v", got, err)
	}
	must(t, c.Create(ctx, "p", "4", now, &thing{ID: "4", Name: "y"}))
	if _, err := c.Update(ctx, "p", "4", func(v *thing) error { v.Name = "x"; return nil }); !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("rename onto taken name: %v", err)
	}
	_, err = c.Update(ctx, "p", "1", func(v *thing) error { v.Name = "z"; return nil })
	must(t, err)
	if _, err := c.ByName(ctx, "p", "x"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("old name still resolves: %v", err)
	}
	must(t, c.Delete(ctx, "p", "1"))
	if _, err := c.ByName(ctx, "p", "z"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("deleted name still resolves: %v", err)
	}
}

func testPaging(t *testing.T, r *registry.Registry) {
	ctx := context.Background()
	c := coll(r)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("id%02d", i)
		must(t, c.Create(ctx, "p", id, base.Add(time.Duration(i)*time.Second), &thing{ID: id}))
	}
	must(t, c.Create(ctx, "other", "zz", base, &thing{ID: "zz"}))
	cases := []struct {
		name string
		page registry.Page
		want []string
	}{
		{"first three", registry.Page{Limit: 3}, []string{"id00", "id01", "id02"}},
		{"after marker", registry.Page{Limit: 2, Marker: "id02"}, []string{"id03", "id04"}},
		{"newest first", registry.Page{Limit: 2, Desc: true}, []string{"id09", "id08"}},
		{"desc after marker", registry.Page{Limit: 2, Desc: true, Marker: "id08"}, []string{"id07", "id06"}},
		{"tail", registry.Page{Marker: "id08"}, []string{"id09"}},
		{"past the end", registry.Page{Marker: "id09"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.List(ctx, "p", tc.page)
			must(t, err)
			var ids []string
			for _, g := range got {
				ids = append(ids, g.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
		})
	}
	if _, err := c.List(ctx, "p", registry.Page{Marker: "nope"}); !errors.Is(err, registry.ErrMarkerNotFound) {
		t.Fatalf("unknown marker: %v", err)
	}
	all, err := c.List(ctx, "*", registry.Page{})
	must(t, err)
	if len(all) != 11 {
		t.Fatalf("all projects: %d records, want 11", len(all))
	}
}

func testCAS(t *testing.T, r *registry.Registry) {
	ctx := context.Background()
	c := coll(r)
	must(t, c.Create(ctx, "p", "ctr", time.Now(), &thing{ID: "ctr"}))
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := c.Update(ctx, "p", "ctr", func(v *thing) error { v.N++; return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := c.Get(ctx, "p", "ctr")
	must(t, err)
	if got.N != workers*each {
		t.Fatalf("lost updates: N = %d, want %d", got.N, workers*each)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testOwnerMoves checks that a lookup by id follows a record deleted and
// re-created under another project (Glance lets a client choose an image
// id), even after the first owner was cached.
func testOwnerMoves(t *testing.T, r *registry.Registry) {
	ctx := context.Background()
	c := coll(r)
	must(t, c.Create(ctx, "p1", "x", time.Now(), &thing{ID: "x", N: 1}))
	if v, err := c.Lookup(ctx, "x"); err != nil || v.Project != "p1" {
		t.Fatalf("first lookup: %+v %v", v, err)
	}
	must(t, c.Delete(ctx, "p1", "x"))
	if _, err := c.Lookup(ctx, "x"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("lookup of deleted record: %v", err)
	}
	must(t, c.Create(ctx, "p2", "x", time.Now(), &thing{ID: "x", N: 2}))
	v, err := c.Lookup(ctx, "x")
	if err != nil || v.Project != "p2" || v.Value.N != 2 {
		t.Fatalf("lookup after re-create: %+v %v", v, err)
	}
}
