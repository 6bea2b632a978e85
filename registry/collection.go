package registry

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Collection is a typed view of one kind of record. T is a plain struct that
// marshals to JSON; the collection knows how to read its id, project, creation
// time and (optionally) unique name.
type Collection[T any] struct {
	r    *Registry
	kind Kind
	// Name returns the record's unique name within its project, or "" when
	// the kind has no unique names.
	Name func(*T) string
}

// NewCollection returns a typed collection of kind. name may be nil.
func NewCollection[T any](r *Registry, kind Kind, name func(*T) string) *Collection[T] {
	if name == nil {
		name = func(*T) string { return "" }
	}
	return &Collection[T]{r: r, kind: kind, Name: name}
}

// Kind is the collection's record kind.
func (c *Collection[T]) Kind() Kind { return c.kind }

// maxCASAttempts bounds the compare-and-set retries of Update; each lost
// race means another writer made progress, so this is only ever reached by a
// pathological hot key.
const maxCASAttempts = 1000

// Versioned is a record together with the generation it was read at.
type Versioned[T any] struct {
	Project string
	Gen     int64
	Value   *T
}

// Create stores v as record id of project.
func (c *Collection[T]) Create(ctx context.Context, project, id string, created time.Time, v *T) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.r.CreateRaw(ctx, c.kind, project, id, created, data, c.Name(v))
}

// Get reads a record of a known project.
func (c *Collection[T]) Get(ctx context.Context, project, id string) (*T, error) {
	v, err := c.GetVersioned(ctx, project, id)
	if err != nil {
		return nil, err
	}
	return v.Value, nil
}

// GetVersioned reads a record of a known project with its generation.
func (c *Collection[T]) GetVersioned(ctx context.Context, project, id string) (Versioned[T], error) {
	raw, err := c.r.GetRaw(ctx, c.kind, project, id)
	if err != nil {
		return Versioned[T]{}, err
	}
	return decode[T](raw)
}

// Lookup reads a record by id alone (one more round trip, for the owner).
func (c *Collection[T]) Lookup(ctx context.Context, id string) (Versioned[T], error) {
	raw, err := c.r.LookupRaw(ctx, c.kind, id)
	if err != nil {
		return Versioned[T]{}, err
	}
	return decode[T](raw)
}

func decode[T any](raw Raw) (Versioned[T], error) {
	v := new(T)
	if err := json.Unmarshal(raw.Data, v); err != nil {
		return Versioned[T]{}, err
	}
	return Versioned[T]{Project: raw.Project, Gen: raw.Gen, Value: v}, nil
}

// Update applies fn to the current record and stores the result with a
// compare-and-set on the generation, retrying when another writer got there
// first. fn may be called several times and must not have side effects; it may
// return an error to abort.
func (c *Collection[T]) Update(ctx context.Context, project, id string, fn func(*T) error) (*T, error) {
	for attempt := 0; ; attempt++ {
		cur, err := c.GetVersioned(ctx, project, id)
		if err != nil {
			return nil, err
		}
		oldName := c.Name(cur.Value)
		if err := fn(cur.Value); err != nil {
			return nil, err
		}
		data, err := json.Marshal(cur.Value)
		if err != nil {
			return nil, err
		}
		_, err = c.r.UpdateRaw(ctx, c.kind, project, id, cur.Gen, data, oldName, c.Name(cur.Value))
		if errors.Is(err, ErrConflict) && attempt < maxCASAttempts && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, err
		}
		return cur.Value, nil
	}
}

// Delete removes a record.
func (c *Collection[T]) Delete(ctx context.Context, project, id string) error {
	name := ""
	if cur, err := c.Get(ctx, project, id); err == nil {
		name = c.Name(cur)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	return c.r.DeleteRaw(ctx, c.kind, project, id, name)
}

// List returns a page of a project's records ("*": every project's).
func (c *Collection[T]) List(ctx context.Context, project string, page Page) ([]*T, error) {
	ids, err := c.r.ListIDs(ctx, c.kind, project, page)
	if err != nil {
		return nil, err
	}
	return c.GetMany(ctx, project, ids)
}

// GetMany reads records by id in one round trip, skipping missing ones.
func (c *Collection[T]) GetMany(ctx context.Context, project string, ids []string) ([]*T, error) {
	raws, err := c.r.GetManyRaw(ctx, c.kind, project, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(raws))
	for _, raw := range raws {
		v := new(T)
		if err := json.Unmarshal(raw.Data, v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ByName reads the record with a unique name in a project.
func (c *Collection[T]) ByName(ctx context.Context, project, name string) (*T, error) {
	id, err := c.r.IDByName(ctx, c.kind, project, name)
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, project, id)
}

// Count returns the number of records a project holds ("*": all).
func (c *Collection[T]) Count(ctx context.Context, project string) (int64, error) {
	return c.r.Count(ctx, c.kind, project)
}
