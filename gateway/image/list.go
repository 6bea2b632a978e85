package image

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

const (
	defaultLimit = 25
	maxLimit     = 1000
)

var sortKeys = []string{"name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at",
	"visibility", "owner", "min_disk", "min_ram", "protected"}

// listParams are the query parameters that are not property filters.
var listParams = []string{"limit", "marker", "sort_key", "sort_dir", "sort", "visibility", "member_status", "tag",
	"name", "status", "owner", "disk_format", "container_format", "protected", "os_hidden", "id", "size_min", "size_max", "size", "checksum", "os_hash_value", "min_disk", "min_ram"}

type sortSpec struct {
	key  string
	desc bool
}

func parseSort(q url.Values) ([]sortSpec, error) {
	var specs []sortSpec
	if s := q.Get("sort"); s != "" {
		if q.Has("sort_key") || q.Has("sort_dir") {
			return nil, wire.BadRequest("The syntax of the sort parameter cannot be mixed with sort_key/sort_dir.")
		}
		for _, part := range strings.Split(s, ",") {
			k, dir, _ := strings.Cut(strings.TrimSpace(part), ":")
			specs = append(specs, sortSpec{key: k, desc: dir != "asc"})
			if dir != "" && dir != "asc" && dir != "desc" {
				return nil, wire.BadRequest("Invalid sort direction: %s", dir)
			}
		}
	} else {
		dirs := q["sort_dir"]
		for i, k := range q["sort_key"] {
			d := "desc"
			if i < len(dirs) {
				d = dirs[i]
			} else if len(dirs) == 1 {
				d = dirs[0]
			}
			if d != "asc" && d != "desc" {
				return nil, wire.BadRequest("Invalid sort direction: %s", d)
			}
			specs = append(specs, sortSpec{key: k, desc: d == "desc"})
		}
		if len(specs) == 0 && len(dirs) > 0 {
			if dirs[0] != "asc" && dirs[0] != "desc" {
				return nil, wire.BadRequest("Invalid sort direction: %s", dirs[0])
			}
			specs = append(specs, sortSpec{key: "created_at", desc: dirs[0] == "desc"})
		}
	}
	for _, sp := range specs {
		if !slices.Contains(sortKeys, sp.key) {
			return nil, wire.BadRequest("Invalid sort key: %s.", sp.key)
		}
	}
	if len(specs) == 0 {
		specs = []sortSpec{{key: "created_at", desc: true}}
	}
	return specs, nil
}

func (s *Service) listImages(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := wire.PrincipalFrom(ctx)
	q := r.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return wire.BadRequest("limit param must be an integer")
		}
		limit = min(n, maxLimit)
	}
	specs, err := parseSort(q)
	if err != nil {
		return err
	}
	vis := q.Get("visibility")
	if vis != "" && vis != "all" && !slices.Contains(visibilities, vis) {
		return wire.BadRequest("Invalid visibility value: %s", vis)
	}
	memberStatus := q.Get("member_status")
	if memberStatus != "" && !slices.Contains([]string{"accepted", "pending", "rejected", "all"}, memberStatus) {
		return wire.BadRequest("Invalid status value: %s", memberStatus)
	}
	all, err := s.images.List(ctx, "*", registry.Page{})
	if err != nil {
		return err
	}
	var shared []string
	for _, img := range all {
		if img.Visibility == "shared" && !p.IsAdmin() && !isOwner(p, img) {
			shared = append(shared, img.ID)
		}
	}
	statuses, err := s.memberStatusesOf(ctx, shared, p.ProjectID)
	if err != nil {
		return err
	}
	if memberStatus == "" {
		memberStatus = "accepted"
	}
	var items []*registry.Image
	for _, img := range all {
		if matches(p, img, statuses[img.ID], q, vis, memberStatus) {
			items = append(items, img)
		}
	}
	slices.SortStableFunc(items, func(a, b *registry.Image) int {
		for _, sp := range specs {
			c := compareField(a, b, sp.key)
			if sp.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return -cmp.Compare(a.ID, b.ID)
	})
	if m := q.Get("marker"); m != "" {
		i := slices.IndexFunc(items, func(img *registry.Image) bool { return img.ID == m })
		if i < 0 {
			return wire.BadRequest("marker %s could not be found.", m)
		}
		items = items[i+1:]
	}
	page := items
	if len(page) > limit {
		page = page[:limit]
	}
	out := make([]map[string]any, len(page))
	for i, img := range page {
		out[i] = render(img)
	}
	body := map[string]any{"images": out, "first": imagesLink, "schema": imagesSchemaLink}
	if limit > 0 && len(page) == limit {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = slices.Clone(v)
		}
		nq.Set("marker", page[len(page)-1].ID)
		body["next"] = imagesLink + "?" + nq.Encode()
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}

// matches applies Glance's list filters to one image. ms is the caller's
// member status on img ("" when none): another project's shared image is
// listed only when ms matches memberStatus ("all" matches any status).
func matches(p *wire.Principal, img *registry.Image, ms string, q url.Values, vis, memberStatus string) bool {
	switch {
	case p.IsAdmin(), isOwner(p, img), img.Visibility == "public", img.Visibility == "community":
	case img.Visibility == "shared":
		if ms == "" || (memberStatus != "all" && ms != memberStatus) {
			return false
		}
	default:
		return false
	}
	switch vis {
	case "all":
	case "":
		if img.Visibility == "community" && !isOwner(p, img) {
			return false
		}
	default:
		if img.Visibility != vis {
			return false
		}
	}
	hidden := img.Properties[propHidden] == "true"
	if want := q.Get("os_hidden"); want != "" {
		if strconv.FormatBool(hidden) != strings.ToLower(want) {
			return false
		}
	} else if hidden {
		return false
	}
	for _, t := range q["tag"] {
		if !slices.Contains(img.Tags, t) {
			return false
		}
	}
	sizeText := ""
	if img.Size != nil {
		sizeText = strconv.FormatInt(*img.Size, 10)
	}
	fields := map[string]string{"name": img.Name, "status": img.Status, "owner": img.Owner, "disk_format": img.DiskFormat,
		"container_format": img.ContainerFormat, "protected": strconv.FormatBool(img.Protected), "id": img.ID,
		"size": sizeText, "checksum": img.Checksum, "os_hash_value": img.HashValue,
		"min_disk": strconv.Itoa(img.MinDisk), "min_ram": strconv.Itoa(img.MinRAM)}
	for k, v := range fields {
		if want, ok := q[k]; ok && !equalFilter(want[0], v, k == "protected") {
			return false
		}
	}
	size := int64(-1)
	if img.Size != nil {
		size = *img.Size
	}
	if v := q.Get("size_min"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && size < n {
			return false
		}
	}
	if v := q.Get("size_max"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && (size < 0 || size > n) {
			return false
		}
	}
	for k, vs := range q {
		if !slices.Contains(listParams, k) && img.Properties[k] != vs[0] {
			return false // any other parameter filters by an additional property
		}
	}
	return true
}

// equalFilter compares a filter value; "in:a,b" matches any of a list.
func equalFilter(want, got string, boolean bool) bool {
	if boolean {
		return strings.EqualFold(want, got)
	}
	if rest, ok := strings.CutPrefix(want, "in:"); ok {
		return slices.Contains(strings.Split(rest, ","), got)
	}
	return want == got
}

func compareField(a, b *registry.Image, key string) int {
	switch key {
	case "size":
		return cmp.Compare(sizeOf(a), sizeOf(b))
	case "min_disk":
		return cmp.Compare(a.MinDisk, b.MinDisk)
	case "min_ram":
		return cmp.Compare(a.MinRAM, b.MinRAM)
	case "created_at":
		return a.Created.Compare(b.Created)
	case "updated_at":
		return a.Updated.Compare(b.Updated)
	}
	return cmp.Compare(fmt.Sprint(render(a)[key]), fmt.Sprint(render(b)[key]))
}

func sizeOf(img *registry.Image) int64 {
	if img.Size == nil {
		return -1
	}
	return *img.Size
}
