package network

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// listQuery is one list request as Neutron reads it: filters by field name
// (repeated values OR), fields=, sort_key/sort_dir, limit/marker/page_reverse.
type listQuery struct {
	filters     map[string][]string
	fields      []string
	sortKeys    []string
	sortDesc    []bool
	limit       int
	marker      string
	pageReverse bool
}

var pagingParams = []string{"limit", "marker", "page_reverse", "sort_key", "sort_dir", "fields"}

// parseList reads r's query. filterable names the fields the resource may be
// filtered and sorted on; anything else is a 400 (Neutron's filter validation).
func parseList(r *http.Request, filterable []string) (listQuery, error) {
	q := r.URL.Query()
	lq := listQuery{filters: map[string][]string{}}
	for k, vs := range q {
		if slices.Contains(pagingParams, k) {
			continue
		}
		if !slices.Contains(filterable, k) {
			return lq, badRequest("[%s] is invalid attribute for filtering", k)
		}
		lq.filters[k] = vs
	}
	for _, f := range q["fields"] {
		for _, part := range strings.Split(f, ",") {
			if part = strings.TrimSpace(part); part != "" {
				lq.fields = append(lq.fields, part)
			}
		}
	}
	keys, dirs := q["sort_key"], q["sort_dir"]
	if len(dirs) > 0 && len(dirs) != len(keys) {
		return lq, badRequest("The number of sort_keys and sort_dirs must be same")
	}
	for i, k := range keys {
		if !slices.Contains(filterable, k) || k == "fixed_ips" {
			return lq, badRequest("%s is an invalid attribute for sort_keys", k)
		}
		desc := false
		if len(dirs) > 0 {
			switch dirs[i] {
			case "asc":
			case "desc":
				desc = true
			default:
				return lq, badRequest("%s is an invalid value for sort_dir, valid value is 'asc' and 'desc'", dirs[i])
			}
		}
		lq.sortKeys = append(lq.sortKeys, k)
		lq.sortDesc = append(lq.sortDesc, desc)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return lq, badRequest("Invalid input for limit. Reason: '%s' is not a valid non-negative integer.", s)
		}
		lq.limit = n
	}
	lq.marker = q.Get("marker")
	if pr := q.Get("page_reverse"); pr != "" {
		b, err := strconv.ParseBool(strings.ToLower(pr))
		if err != nil {
			return lq, badRequest("Invalid input for page_reverse. Reason: '%s' cannot be converted to boolean.", pr)
		}
		lq.pageReverse = b
	}
	return lq, nil
}

// matches reports whether a rendered resource passes every filter.
func (lq listQuery) matches(item map[string]any) bool {
	for k, want := range lq.filters {
		if k == "fixed_ips" {
			if !matchFixedIPs(item[k], want) {
				return false
			}
			continue
		}
		got := filterString(item[k])
		ok := false
		for _, w := range want {
			if _, isBool := item[k].(bool); isBool {
				w = strings.ToLower(w)
			}
			if w == got {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchFixedIPs applies Neutron's fixed_ips=ip_address=X / subnet_id=Y filter:
// every given condition must hold for some address of the port.
func matchFixedIPs(v any, conds []string) bool {
	ips, _ := v.([]map[string]any)
	for _, c := range conds {
		k, val, _ := strings.Cut(c, "=")
		found := false
		for _, ip := range ips {
			switch k {
			case "ip_address", "subnet_id":
				found = found || ip[k] == val
			case "ip_address_substr":
				s, _ := ip["ip_address"].(string)
				found = found || strings.Contains(s, val)
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func filterString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case *string:
		if x == nil {
			return ""
		}
		return *x
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// compare orders two rendered items by the sort keys, then by id.
func (lq listQuery) compare(a, b map[string]any) int {
	for i, k := range lq.sortKeys {
		c := compareValues(a[k], b[k])
		if lq.sortDesc[i] {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	if len(lq.sortKeys) == 0 {
		return 0 // keep the registry's creation order
	}
	return cmp.Compare(filterString(a["id"]), filterString(b["id"]))
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case int:
		if y, ok := b.(int); ok {
			return cmp.Compare(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmp.Compare(strconv.FormatBool(x), strconv.FormatBool(y))
		}
	}
	return cmp.Compare(filterString(a), filterString(b))
}

// respond filters, sorts, pages and projects items and writes Neutron's
// collection body with <collection>_links when paging.
func respond(w http.ResponseWriter, r *http.Request, lq listQuery, collection, kind string, items []map[string]any) error {
	kept := items[:0]
	for _, it := range items {
		if lq.matches(it) {
			kept = append(kept, it)
		}
	}
	slices.SortStableFunc(kept, lq.compare)
	if lq.pageReverse {
		slices.Reverse(kept)
	}
	if lq.marker != "" {
		i := slices.IndexFunc(kept, func(it map[string]any) bool { return it["id"] == lq.marker })
		if i < 0 {
			return notFound(kind, lq.marker)
		}
		kept = kept[i+1:]
	}
	if lq.limit > 0 && len(kept) > lq.limit {
		kept = kept[:lq.limit]
	}
	if lq.pageReverse {
		slices.Reverse(kept)
	}
	out := make([]map[string]any, len(kept))
	for i, it := range kept {
		out[i] = project(it, lq.fields)
	}
	body := map[string]any{collection: out}
	if links := pageLinks(r, lq, collection, kept); len(links) > 0 {
		body[collection+"_links"] = links
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}

// pageLinks follows neutron.api.api_common.get_pagination_links.
func pageLinks(r *http.Request, lq listQuery, collection string, items []map[string]any) []map[string]string {
	if lq.limit == 0 || len(items) == 0 {
		return nil
	}
	base := collectionURL(wire.BaseURL(r), collection)
	var links []map[string]string
	if !(len(items) < lq.limit && !lq.pageReverse) {
		q := cloneQuery(r.URL.Query())
		q.Set("marker", filterString(items[len(items)-1]["id"]))
		q.Del("page_reverse")
		links = append(links, map[string]string{"rel": "next", "href": base + "?" + q.Encode()})
	}
	if !(len(items) < lq.limit && lq.pageReverse) {
		q := cloneQuery(r.URL.Query())
		q.Set("marker", filterString(items[0]["id"]))
		q.Set("page_reverse", "True")
		links = append(links, map[string]string{"rel": "previous", "href": base + "?" + q.Encode()})
	}
	return links
}

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// project keeps only the requested fields (all when none are asked for).
func project(item map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return item
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := item[f]; ok {
			out[f] = v
		}
	}
	return out
}

// showFields applies fields= to a single-resource GET.
func showFields(r *http.Request) []string {
	var out []string
	for _, f := range r.URL.Query()["fields"] {
		for _, part := range strings.Split(f, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// listScope is the registry scope a list call reads: the caller's project,
// or every project ("*") for an admin, who then filters by project_id.
func listScope(p *wire.Principal) string {
	if p.IsAdmin() {
		return "*"
	}
	return p.ProjectID
}
