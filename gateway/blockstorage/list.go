package blockstorage

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// sortKey is one key of Cinder's sort=key:dir,key:dir.
type sortKey struct {
	key  string
	desc bool
}

// listQuery is the paging and sorting part of a Cinder list.
type listQuery struct {
	limit, offset int
	marker        string
	sort          []sortKey
}

// sortable are the keys a list may be sorted by, with Cinder's aliases.
var sortable = map[string]string{"id": "id", "name": "name", "display_name": "name", "status": "status",
	"size": "size", "created_at": "created_at", "updated_at": "updated_at", "availability_zone": "availability_zone",
	"volume_id": "volume_id", "bootable": "bootable"}

// parseListQuery reads limit, marker, offset and sort (or sort_key and
// sort_dir); the default order is newest first, as Cinder's.
func parseListQuery(q url.Values) (listQuery, error) {
	var lq listQuery
	for _, f := range []struct {
		name string
		dst  *int
	}{{"limit", &lq.limit}, {"offset", &lq.offset}} {
		if s := q.Get(f.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return lq, wire.BadRequest("Invalid input received: %s param must be an integer and non-negative, got %q.", f.name, s)
			}
			*f.dst = n
		}
	}
	if _, ok := q["limit"]; !ok {
		lq.limit = -1
	}
	lq.marker = q.Get("marker")
	spec := q.Get("sort")
	if spec == "" && q.Get("sort_key") != "" {
		spec = q.Get("sort_key")
		if d := q.Get("sort_dir"); d != "" {
			spec += ":" + d
		}
	} else if spec == "" && q.Get("sort_dir") != "" {
		spec = "created_at:" + q.Get("sort_dir")
	}
	if spec == "" {
		spec = "created_at:desc"
	}
	for _, part := range strings.Split(spec, ",") {
		k, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
		key, ok := sortable[k]
		if !ok {
			return lq, wire.BadRequest("Invalid input received: Invalid sort key %s.", k)
		}
		switch strings.ToLower(dir) {
		case "", "desc":
			lq.sort = append(lq.sort, sortKey{key, true})
		case "asc":
			lq.sort = append(lq.sort, sortKey{key, false})
		default:
			return lq, wire.BadRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'.")
		}
	}
	return lq, nil
}

// fieldsOf exposes a record's sortable fields.
type fieldsOf[T any] func(*T, string) any

// page sorts items, then applies marker, offset and limit. It reports
// whether items remain after the page.
func page[T any](items []*T, lq listQuery, id func(*T) string, field fieldsOf[T]) ([]*T, bool, error) {
	slices.SortStableFunc(items, func(a, b *T) int {
		for _, k := range append(lq.sort, sortKey{"created_at", true}, sortKey{"id", true}) {
			c := compareAny(field(a, k.key), field(b, k.key))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	if lq.marker != "" {
		i := slices.IndexFunc(items, func(t *T) bool { return id(t) == lq.marker })
		if i < 0 {
			return nil, false, wire.BadRequest("Invalid input received: marker [%s] not found", lq.marker)
		}
		items = items[i+1:]
	}
	if lq.offset > 0 {
		items = items[min(lq.offset, len(items)):]
	}
	// Cinder links a next page whenever a page is full, even when it
	// happens to be the last (tempest's pagination tests expect that).
	if lq.limit >= 0 && len(items) >= lq.limit {
		return items[:lq.limit], lq.limit > 0, nil
	}
	return items, false, nil
}

func compareAny(a, b any) int {
	switch x := a.(type) {
	case int:
		return cmp.Compare(x, b.(int))
	case time.Time:
		return x.Compare(b.(time.Time))
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	}
	return 0
}

// nextLink is the "next" link of a page that has more after it.
func nextLink(r *http.Request, lastID string) []any {
	q := r.URL.Query()
	q.Set("marker", lastID)
	q.Del("offset")
	return []any{map[string]any{"rel": "next", "href": wire.BaseURL(r) + r.URL.Path + "?" + q.Encode()}}
}

// parseMetadataFilter reads Cinder's metadata filter, a Python dict literal
// ("{'k': 'v'}", as tempest and cinderclient send it) or JSON.
func parseMetadataFilter(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, wire.BadRequest("Invalid input received: metadata filter %q is not a dict.", s)
	}
	out := map[string]string{}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return out, nil
	}
	for _, pair := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(pair, ":")
		if !ok {
			return nil, wire.BadRequest("Invalid input received: metadata filter %q is not a dict.", s)
		}
		out[unquote(k)] = unquote(v)
	}
	return out, nil
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func hasMetadata(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
