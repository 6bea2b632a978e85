package backends

import (
	"slices"
	"testing"

	"github.com/canopy-cloud/canopy/proxies/azure"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/canopy-cloud/canopy/registry"
)

var _ azure.TokenStore = (*RegistryTokenStore)(nil)

func TestRegistryTokenStore(t *testing.T) {
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	reg, err := dev.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx := t.Context()
	s, other := NewRegistryTokenStore(reg, "az1"), NewRegistryTokenStore(reg, "az2")
	if _, ok, err := s.Get(ctx, "lro/x/stop"); ok || err != nil {
		t.Fatalf("Get on empty = %v, %v", ok, err)
	}
	for _, k := range []string{"lro/b/stop", "rg/vm/1", "lro/a/start"} {
		if err := s.Put(ctx, k, "v-"+k); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := s.Get(ctx, "rg/vm/1"); !ok || err != nil || v != "v-rg/vm/1" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
	keys, err := s.List(ctx, "lro/")
	if err != nil || !slices.Equal(keys, []string{"lro/a/start", "lro/b/stop"}) {
		t.Fatalf("List = %v, %v", keys, err)
	}
	if keys, _ := other.List(ctx, ""); len(keys) != 0 {
		t.Fatalf("another cloud's store sees %v", keys)
	}
	if err := s.Delete(ctx, "lro/a/start"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "lro/a/start"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.List(ctx, "lro/"); !slices.Equal(keys, []string{"lro/b/stop"}) {
		t.Fatalf("after delete: %v", keys)
	}
}

var _ openstack.ProjectMapper = (*RegistryProjectMapper)(nil)

func TestRegistryProjectMapper(t *testing.T) {
	dev, err := registry.StartDevServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	reg, err := dev.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx := t.Context()
	m := NewRegistryProjectMapper(reg, "east", map[string]string{"pinned": "b-pinned"})
	if b, ok, err := m.BottomProject(ctx, "pinned"); !ok || err != nil || b != "b-pinned" {
		t.Fatalf("explicit: %q %v %v", b, ok, err)
	}
	if _, ok, err := m.BottomProject(ctx, "p1"); ok || err != nil {
		t.Fatalf("unknown: %v %v", ok, err)
	}
	if err := m.SetBottomProject(ctx, "p1", "b1"); err != nil {
		t.Fatal(err)
	}
	if err := m.SetBottomProject(ctx, "pinned", "other"); err != nil {
		t.Fatal(err)
	}
	// A second process (a fresh mapper) sees the record; the explicit map still wins.
	m2 := NewRegistryProjectMapper(reg, "east", map[string]string{"pinned": "b-pinned"})
	if b, ok, _ := m2.BottomProject(ctx, "p1"); !ok || b != "b1" {
		t.Fatalf("after restart p1 = %q %v", b, ok)
	}
	if b, _, _ := m2.BottomProject(ctx, "pinned"); b != "b-pinned" {
		t.Fatalf("explicit lost to a record: %q", b)
	}
	if _, ok, _ := NewRegistryProjectMapper(reg, "west", nil).BottomProject(ctx, "p1"); ok {
		t.Fatal("another cloud sees east's mapping")
	}
}
