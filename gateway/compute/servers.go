package compute

import (
	"cmp"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// showServer answers GET /servers/{id}. A name is not an id: 404, so that
// clients go on to list with ?name= as they do against Nova.
func (s *Service) showServer(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	srv, err := s.b.GetServer(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	m := renderServer(wire.BaseURL(r), srv, v, viewDetail, isAdmin(r))
	if err := s.addVolumes(r, v, []*serverDoc{m}); err != nil {
		return err
	}
	s.addServerGroups(m, srv, v)
	wire.WriteJSON(w, http.StatusOK, map[string]any{"server": m})
	return nil
}

// addServerGroups adds the 2.71 server_groups field (show and update only).
func (s *Service) addServerGroups(d *serverDoc, srv *registry.Server, v wire.Version) {
	if !v.AtLeast(2, 71) {
		return
	}
	groups := []string{}
	if srv.ServerGroupID != "" {
		groups = append(groups, srv.ServerGroupID)
	}
	d.ServerGroups = &groups
}

// updateBody is PUT /servers/{id}.
type updateBody struct {
	Server *struct {
		Name        *string `json:"name"`
		AccessIPv4  *string `json:"accessIPv4"`
		AccessIPv6  *string `json:"accessIPv6"`
		DiskConfig  *string `json:"OS-DCF:diskConfig"`
		Description *string `json:"description"`
		// descriptionSet tells an explicit null from an absent field.
	} `json:"server"`
}

func (s *Service) updateServer(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	var body updateBody
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	if body.Server == nil {
		return wire.BadRequest("Invalid input for field/attribute server. Value: None. None is not of type 'object'")
	}
	u := body.Server
	if u.Name != nil {
		if err := checkName("name", *u.Name); err != nil {
			return err
		}
	}
	if u.AccessIPv4 != nil {
		if err := checkIP("accessIPv4", *u.AccessIPv4, 4); err != nil {
			return err
		}
	}
	if u.AccessIPv6 != nil {
		if err := checkIP("accessIPv6", *u.AccessIPv6, 6); err != nil {
			return err
		}
		c := canonicalIP(*u.AccessIPv6)
		u.AccessIPv6 = &c
	}
	if u.DiskConfig != nil && *u.DiskConfig != "AUTO" && *u.DiskConfig != "MANUAL" {
		return wire.BadRequest("Invalid input for field/attribute OS-DCF:diskConfig. Value: %s. '%s' is not one of ['AUTO', 'MANUAL']", *u.DiskConfig, *u.DiskConfig)
	}
	if u.Description != nil {
		if !v.AtLeast(2, 19) {
			return wire.BadRequest("Additional properties are not allowed ('description' was unexpected)")
		}
		if err := checkDescription(*u.Description); err != nil {
			return err
		}
	}
	srv, err := s.b.UpdateServer(r.Context(), caller(r), r.PathValue("id"), func(srv *registry.Server) error {
		if u.Name != nil {
			srv.Name = *u.Name
		}
		if u.AccessIPv4 != nil {
			srv.AccessIPv4 = *u.AccessIPv4
		}
		if u.AccessIPv6 != nil {
			srv.AccessIPv6 = *u.AccessIPv6
		}
		if u.DiskConfig != nil {
			srv.DiskConfig = *u.DiskConfig
		}
		if u.Description != nil {
			d := *u.Description
			srv.Description = &d
		}
		return nil
	})
	if err != nil {
		return err
	}
	mode := viewUpdate
	if v.AtLeast(2, 75) {
		mode = viewDetail
	}
	m := renderServer(wire.BaseURL(r), srv, v, mode, isAdmin(r))
	if err := s.addVolumes(r, v, []*serverDoc{m}); err != nil {
		return err
	}
	s.addServerGroups(m, srv, v)
	wire.WriteJSON(w, http.StatusOK, map[string]any{"server": m})
	return nil
}

func (s *Service) deleteServer(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	if err := s.b.DeleteServer(r.Context(), caller(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validStatuses are the statuses Nova accepts as a list filter.
var validStatuses = map[string]bool{
	"ACTIVE": true, "BUILD": true, "DELETED": true, "ERROR": true, "HARD_REBOOT": true, "MIGRATING": true,
	"PASSWORD": true, "PAUSED": true, "REBOOT": true, "REBUILD": true, "RESCUE": true, "RESIZE": true,
	"REVERT_RESIZE": true, "SHELVED": true, "SHELVED_OFFLOADED": true, "SHUTOFF": true, "SOFT_DELETED": true,
	"SUSPENDED": true, "UNKNOWN": true, "VERIFY_RESIZE": true,
}

// knownListParams are the query parameters of GET /servers (2.75 rejects others).
var knownListParams = map[string]bool{
	"limit": true, "marker": true, "sort_key": true, "sort_dir": true, "name": true, "status": true, "image": true,
	"flavor": true, "changes-since": true, "changes-before": true, "all_tenants": true, "ip": true, "ip6": true,
	"project_id": true, "tenant_id": true, "availability_zone": true, "key_name": true, "locked": true, "tags": true,
	"tags-any": true, "not-tags": true, "not-tags-any": true, "host": true, "reservation_id": true, "deleted": true,
	"user_id": true, "access_ip_v4": true, "access_ip_v6": true, "description": true, "vm_state": true,
	"task_state": true, "power_state": true, "created_at": true, "uuid": true, "hostname": true, "node": true,
	"launched_at": true, "terminated_at": true, "display_name": true, "display_description": true, "config_drive": true,
	"progress": true, "launch_index": true, "updated_at": true, "soft_deleted": true, "kernel_id": true, "ramdisk_id": true,
	"root_device_name": true, "key_pair": true, "image_ref": true, "instance_type_id": true, "flavor_id": true,
}

// serverFilter is a parsed GET /servers query.
type serverFilter struct {
	name, ip, ip6        *regexp.Regexp
	status               string
	image, flavor        string
	zone, keyName        string
	changesSince, before time.Time
	locked               *bool
	tags, tagsAny        []string
	notTags, notTagsAny  []string
	projectID            string
	none                 bool // a filter no server can pass (unknown status before 2.38)
}

func (f *serverFilter) active() bool {
	return f.name != nil || f.ip != nil || f.ip6 != nil || f.status != "" || f.image != "" || f.flavor != "" ||
		f.zone != "" || f.keyName != "" || !f.changesSince.IsZero() || !f.before.IsZero() || f.locked != nil ||
		f.tags != nil || f.tagsAny != nil || f.notTags != nil || f.notTagsAny != nil || f.projectID != "" || f.none
}

func lastSegment(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func parseFilter(q url.Values, v wire.Version, admin bool) (serverFilter, string, error) {
	var f serverFilter
	if v.AtLeast(2, 75) {
		for k := range q {
			if !knownListParams[k] {
				return f, "", wire.BadRequest("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed ('%s' was unexpected)", k, q.Get(k), k)
			}
		}
	}
	scope := ""
	if at, ok := q["all_tenants"]; ok {
		val := strings.ToLower(at[0])
		if val == "" || val == "1" || val == "true" || val == "t" || val == "yes" || val == "y" || val == "on" {
			if !admin {
				return f, "", wire.Forbidden("Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed.")
			}
			scope = "*"
		}
	}
	if scope == "*" {
		f.projectID = cmp.Or(q.Get("project_id"), q.Get("tenant_id"))
	}
	var err error
	compile := func(param string) (*regexp.Regexp, error) {
		s := q.Get(param)
		if s == "" {
			return nil, nil
		}
		re, cerr := regexp.Compile(s)
		if cerr != nil {
			re = regexp.MustCompile(regexp.QuoteMeta(s))
		}
		return re, nil
	}
	if f.name, err = compile("name"); err != nil {
		return f, "", err
	}
	if s := q.Get("ip"); s != "" {
		f.ip, _ = compile("ip")
		f.ip = regexp.MustCompile("^(?:" + f.ip.String() + ")")
	}
	if s := q.Get("ip6"); s != "" {
		f.ip6, _ = compile("ip6")
		f.ip6 = regexp.MustCompile("^(?:" + f.ip6.String() + ")")
	}
	if st := q.Get("status"); st != "" {
		st = strings.ToUpper(st)
		if !validStatuses[st] {
			if v.AtLeast(2, 38) {
				return f, "", wire.BadRequest("Invalid status value")
			}
			f.none = true
		}
		f.status = st
	}
	f.image, f.flavor = lastSegment(q.Get("image")), lastSegment(q.Get("flavor"))
	f.zone, f.keyName = q.Get("availability_zone"), q.Get("key_name")
	for param, dst := range map[string]*time.Time{"changes-since": &f.changesSince, "changes-before": &f.before} {
		if s := q.Get(param); s != "" {
			if param == "changes-before" && !v.AtLeast(2, 66) {
				continue
			}
			t, perr := parseISOTime(s)
			if perr != nil {
				return f, "", wire.BadRequest("Invalid input for query parameters %s. Value: %s. '%s' is not a 'date-time'", param, s, s)
			}
			*dst = t
		}
	}
	if !f.changesSince.IsZero() && !f.before.IsZero() && f.before.Before(f.changesSince) {
		return f, "", wire.BadRequest("The value of changes-since must be less than or equal to changes-before.")
	}
	if s := q.Get("locked"); s != "" && v.AtLeast(2, 73) {
		b, perr := strconv.ParseBool(s)
		if perr != nil {
			return f, "", wire.BadRequest("Unrecognized value '%s', acceptable values are: '1', '0', 'true', 'false', 'yes', 'no'", s)
		}
		f.locked = &b
	}
	if v.AtLeast(2, 26) {
		split := func(p string) []string {
			if s := q.Get(p); s != "" {
				return strings.Split(s, ",")
			}
			return nil
		}
		f.tags, f.tagsAny, f.notTags, f.notTagsAny = split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any")
	}
	return f, scope, nil
}

// parseISOTime reads the ISO 8601 forms clients send to changes-since.
func parseISOTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, strconv.ErrSyntax
}

func (f *serverFilter) match(s *registry.Server) bool {
	switch {
	case f.none:
		return false
	case f.projectID != "" && s.ProjectID != f.projectID:
		return false
	case f.name != nil && !f.name.MatchString(s.Name):
		return false
	case f.status != "" && s.Status != f.status:
		return false
	case f.image != "" && s.ImageID != f.image:
		return false
	case f.flavor != "" && s.Flavor.ID != f.flavor:
		return false
	case f.zone != "" && s.AvailabilityZone != f.zone:
		return false
	case f.keyName != "" && s.KeyName != f.keyName:
		return false
	case !f.changesSince.IsZero() && s.Updated.Before(f.changesSince):
		return false
	case !f.before.IsZero() && s.Updated.After(f.before):
		return false
	case f.locked != nil && s.Locked != *f.locked:
		return false
	}
	if f.ip != nil || f.ip6 != nil {
		ok := false
		for _, a := range s.Addresses {
			if (a.Version == 4 && f.ip != nil && f.ip.MatchString(a.Addr)) || (a.Version == 6 && f.ip6 != nil && f.ip6.MatchString(a.Addr)) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	has := func(t string) bool { return slices.Contains(s.Tags, t) }
	if f.tags != nil && !all(f.tags, has) || f.tagsAny != nil && !anyOf(f.tagsAny, has) ||
		f.notTags != nil && all(f.notTags, has) || f.notTagsAny != nil && anyOf(f.notTagsAny, has) {
		return false
	}
	return true
}

func all(xs []string, p func(string) bool) bool {
	for _, x := range xs {
		if !p(x) {
			return false
		}
	}
	return true
}

func anyOf(xs []string, p func(string) bool) bool {
	return slices.ContainsFunc(xs, p)
}

// sortKeys maps Nova's sort keys to comparisons of records.
var sortKeys = map[string]func(a, b *registry.Server) int{
	"created_at":        func(a, b *registry.Server) int { return a.Created.Compare(b.Created) },
	"updated_at":        func(a, b *registry.Server) int { return a.Updated.Compare(b.Updated) },
	"display_name":      func(a, b *registry.Server) int { return cmp.Compare(a.Name, b.Name) },
	"uuid":              func(a, b *registry.Server) int { return cmp.Compare(a.ID, b.ID) },
	"vm_state":          func(a, b *registry.Server) int { return cmp.Compare(a.VMState, b.VMState) },
	"task_state":        func(a, b *registry.Server) int { return cmp.Compare(a.TaskState, b.TaskState) },
	"power_state":       func(a, b *registry.Server) int { return cmp.Compare(a.PowerState, b.PowerState) },
	"availability_zone": func(a, b *registry.Server) int { return cmp.Compare(a.AvailabilityZone, b.AvailabilityZone) },
	"key_name":          func(a, b *registry.Server) int { return cmp.Compare(a.KeyName, b.KeyName) },
	"project_id":        func(a, b *registry.Server) int { return cmp.Compare(a.ProjectID, b.ProjectID) },
	"user_id":           func(a, b *registry.Server) int { return cmp.Compare(a.UserID, b.UserID) },
	"launched_at":       func(a, b *registry.Server) int { return a.LaunchedAt.Compare(b.LaunchedAt) },
	"image_ref":         func(a, b *registry.Server) int { return cmp.Compare(a.ImageID, b.ImageID) },
	"locked":            func(a, b *registry.Server) int { return cmp.Compare(boolInt(a.Locked), boolInt(b.Locked)) },
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listServers answers GET /servers and /servers/detail from the registry.
func (s *Service) listServers(detail bool) handler {
	return func(w http.ResponseWriter, r *http.Request, v wire.Version) error {
		q := r.URL.Query()
		admin := isAdmin(r)
		f, scope, err := parseFilter(q, v, admin)
		if err != nil {
			return err
		}
		if scope == "" {
			scope = caller(r).ProjectID
		}
		page, werr := wire.ParsePaging(r, s.opts.MaxLimit)
		if werr != nil {
			return werr
		}
		if q.Get("limit") == "0" {
			page.Limit = 0
		}
		sortKey, sortDir := cmp.Or(q.Get("sort_key"), "created_at"), cmp.Or(q.Get("sort_dir"), "desc")
		less, ok := sortKeys[sortKey]
		if !ok {
			return wire.BadRequest("Invalid input for query parameters sort_key. Value: %s.", sortKey)
		}
		if sortDir != "asc" && sortDir != "desc" {
			return wire.BadRequest("Invalid input for query parameters sort_dir. Value: %s. '%s' is not one of ['asc', 'desc']", sortDir, sortDir)
		}
		var list []*registry.Server
		ctx := r.Context()
		if !f.active() && sortKey == "created_at" && sortDir == "desc" {
			if q.Get("limit") == "0" {
				list = nil
			} else if list, err = s.b.Servers().List(ctx, scope, registry.Page{Marker: page.Marker, Limit: page.Limit, Desc: true}); err != nil {
				if err == registry.ErrMarkerNotFound {
					return wire.BadRequest("marker [%s] not found", page.Marker)
				}
				return err
			}
		} else {
			if list, err = s.b.Servers().List(ctx, scope, registry.Page{Desc: true}); err != nil {
				return err
			}
			list = slices.DeleteFunc(list, func(x *registry.Server) bool { return !f.match(x) })
			slices.SortStableFunc(list, func(a, b *registry.Server) int {
				c := less(a, b)
				if c == 0 {
					c = b.Created.Compare(a.Created)
				}
				if sortDir == "desc" {
					return -c
				}
				return c
			})
			if page.Marker != "" {
				i := slices.IndexFunc(list, func(x *registry.Server) bool { return x.ID == page.Marker })
				if i < 0 {
					return wire.BadRequest("marker [%s] not found", page.Marker)
				}
				list = list[i+1:]
			}
			if q.Get("limit") == "0" {
				list = nil
			} else if page.Limit > 0 && len(list) > page.Limit {
				list = list[:page.Limit]
			}
		}
		base := wire.BaseURL(r)
		out := make([]any, 0, len(list))
		docs := make([]*serverDoc, 0, len(list))
		for _, srv := range list {
			if detail {
				d := renderServer(base, srv, v, viewDetail, admin)
				docs = append(docs, d)
				out = append(out, d)
			} else {
				out = append(out, serverRef{ID: srv.ID, Name: srv.Name, Links: selfLinks(base, "servers", srv.ID)})
			}
		}
		if err := s.addVolumes(r, v, docs); err != nil {
			return err
		}
		body := map[string]any{"servers": out}
		if page.Limit > 0 && len(list) == page.Limit {
			body["servers_links"] = nextLink(r, base, list[len(list)-1].ID)
		}
		wire.WriteJSON(w, http.StatusOK, body)
		return nil
	}
}

// serverRef is a server in the plain list.
type serverRef struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Links links  `json:"links"`
}

// nextLink is the "next" link of a full page, keeping the query.
func nextLink(r *http.Request, base, marker string) links {
	q := r.URL.Query()
	q.Set("marker", marker)
	return links{{Rel: "next", Href: base + r.URL.Path + "?" + q.Encode()}}
}

// listIPs answers GET /servers/{id}/ips.
func (s *Service) listIPs(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	srv, err := s.b.GetServer(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"addresses": addresses(srv, false)})
	return nil
}

// showIPs answers GET /servers/{id}/ips/{network}.
func (s *Service) showIPs(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	srv, err := s.b.GetServer(r.Context(), caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	name := r.PathValue("network")
	addrs := addresses(srv, false)
	if _, ok := addrs[name]; !ok {
		return wire.NotFound("Instance is not a member of specified network")
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{name: addrs[name]})
	return nil
}
