package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"gopkg.in/yaml.v3"
)

const adminUsage = `Usage: canopy admin [flags] COMMAND [ARGS]

Drives Canopy's admin API (service type canopy-admin; admin role needed).
Credentials come from clouds.yaml (--os-cloud or OS_CLOUD), else from the
OS_* environment variables, as with openstackclient.

Commands:
  cloud list                         every cloud: type, health, zones, capacity, placement state
  cloud show NAME                    one cloud with its hosts
  cloud register FILE                register a cloud while the gateway runs; FILE (or - for stdin)
                                     holds one entry of canopy.yaml's clouds: list (name, type,
                                     availability_zone and the type's section, credentials by reference)
  cloud update NAME FILE             change a registered cloud: the keys in FILE replace the stored ones
  cloud remove NAME                  remove a registered cloud that holds no server, volume or snapshot
  cloud disable NAME [--reason R]    take a cloud out of new placements (what runs there stays)
  cloud enable NAME                  put it back
  cloud drift NAME                   what the sync loop found there: corrections, missing servers, orphans
  cloud redo NAME                    push again, now, every change the cloud is waiting for
  job list [--cloud C] [--type build|push]
                                     the work in flight: server builds and tasks, pending pushes
  job show ID                        one resource's job: state, progress, the error of a failed build
  routing list [--project P] [--cloud C] [--type server|volume|snapshot] [--state S] [--limit N]
                                     where each resource lives
  routing show ID                    where one resource lives
  residency show PROJECT             the countries and regions a project's servers may be placed in
  residency set PROJECT [--countries DE,FR] [--regions R1,R2]
                                     replace them (both empty: no restriction)
  explain --flavor ID [--zone Z] [--project P] | --server ID
                                     where the scheduler would place it now: every host, with the
                                     filter that dropped it or the weights that ranked it

Flags:
`

// runAdmin runs `canopy admin ...`.
func runAdmin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("canopy admin", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), adminUsage); fs.PrintDefaults() }
	osCloud := fs.String("os-cloud", os.Getenv("OS_CLOUD"), "cloud name in clouds.yaml")
	format := fs.String("f", "table", "output format: table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("-f %q: use table or json", *format)
	}
	rest := fs.Args()
	if len(rest) < 2 && (len(rest) == 0 || rest[0] != "explain") {
		fs.Usage()
		return fmt.Errorf("canopy admin needs a command, e.g. `canopy admin cloud list`")
	}
	cmd, cargs := rest[0], rest[1:]
	if cmd != "explain" {
		cmd, cargs = rest[0]+" "+rest[1], rest[2:]
	}
	sub := flag.NewFlagSet("canopy admin "+cmd, flag.ContinueOnError)
	reason := sub.String("reason", "", "why the cloud is disabled (cloud disable)")
	project := sub.String("project", "", "filter by project id (routing list)")
	cloud := sub.String("cloud", "", "filter by cloud (routing list, job list)")
	typ := sub.String("type", "", "filter by type: server, volume or snapshot (routing list); build or push (job list)")
	state := sub.String("state", "", "filter by routing state (routing list)")
	limit := sub.Int("limit", 0, "at most this many (routing list)")
	flavor := sub.String("flavor", "", "flavor id (explain)")
	server := sub.String("server", "", "server id (explain)")
	zone := sub.String("zone", "", "availability zone (explain)")
	countries := sub.String("countries", "", "comma-separated ISO 3166-1 alpha-2 codes (residency set)")
	regions := sub.String("regions", "", "comma-separated region names (residency set)")
	var pos []string
	for len(cargs) > 0 { // positional arguments may come before or after flags
		if err := sub.Parse(cargs); err != nil {
			return err
		}
		if sub.NArg() == 0 {
			break
		}
		pos = append(pos, sub.Arg(0))
		cargs = sub.Args()[1:]
	}
	need := func(n int) error {
		if len(pos) != n {
			return fmt.Errorf("canopy admin %s takes %d argument(s), got %d", cmd, n, len(pos))
		}
		return nil
	}

	client, err := adminClient(ctx, *osCloud)
	if err != nil {
		return err
	}
	var out any
	switch cmd {
	case "cloud list":
		if err = need(0); err == nil {
			out, err = adminDo(ctx, client, http.MethodGet, "clouds", nil)
		}
	case "cloud show":
		if err = need(1); err == nil {
			out, err = adminDo(ctx, client, http.MethodGet, "clouds/"+url.PathEscape(pos[0]), nil)
		}
	case "cloud disable", "cloud enable":
		if err = need(1); err == nil {
			body := map[string]any{"enabled": cmd == "cloud enable"}
			if *reason != "" {
				body["disabled_reason"] = *reason
			}
			out, err = adminDo(ctx, client, http.MethodPatch, "clouds/"+url.PathEscape(pos[0]), map[string]any{"cloud": body})
		}
	case "cloud register":
		if err = need(1); err == nil {
			var entry map[string]any
			if entry, err = readEntryFile(pos[0]); err == nil {
				out, err = adminDoCodes(ctx, client, http.MethodPost, "clouds", map[string]any{"cloud": entry}, 200, 201)
			}
		}
	case "cloud update":
		if err = need(2); err == nil {
			var entry map[string]any
			if entry, err = readEntryFile(pos[1]); err == nil {
				out, err = adminDo(ctx, client, http.MethodPatch, "clouds/"+url.PathEscape(pos[0]), map[string]any{"cloud": entry})
			}
		}
	case "cloud remove":
		if err = need(1); err == nil {
			if _, err = adminDoCodes(ctx, client, http.MethodDelete, "clouds/"+url.PathEscape(pos[0]), nil, 204); err == nil {
				fmt.Printf("cloud %s removed\n", pos[0])
				return nil
			}
		}
	case "residency show":
		if err = need(1); err == nil {
			out, err = adminDo(ctx, client, http.MethodGet, "projects/"+url.PathEscape(pos[0])+"/residency", nil)
		}
	case "residency set":
		if err = need(1); err == nil {
			body := map[string]any{"countries": splitList(*countries), "regions": splitList(*regions)}
			out, err = adminDo(ctx, client, http.MethodPut, "projects/"+url.PathEscape(pos[0])+"/residency", map[string]any{"residency": body})
		}
	case "cloud drift":
		if err = need(1); err == nil {
			out, err = adminDo(ctx, client, http.MethodGet, "clouds/"+url.PathEscape(pos[0])+"/drift", nil)
		}
	case "cloud redo":
		if err = need(1); err == nil {
			out, err = adminDo(ctx, client, http.MethodPost, "clouds/"+url.PathEscape(pos[0])+"/redo", nil)
		}
	case "job list":
		if err = need(0); err == nil {
			q := url.Values{}
			if *cloud != "" {
				q.Set("cloud", *cloud)
			}
			if *typ != "" {
				q.Set("type", *typ)
			}
			path := "jobs"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			out, err = adminDo(ctx, client, http.MethodGet, path, nil)
		}
	case "job show":
		if err = need(1); err == nil {
			out, err = adminDo(ctx, client, http.MethodGet, "jobs/"+url.PathEscape(pos[0]), nil)
		}
	case "routing list":
		if err = need(0); err == nil {
			q := url.Values{}
			for k, v := range map[string]string{"project_id": *project, "cloud": *cloud, "resource_type": *typ, "state": *state} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if *limit > 0 {
				q.Set("limit", fmt.Sprint(*limit))
			}
			path := "routings"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			out, err = adminDo(ctx, client, http.MethodGet, path, nil)
		}
	case "routing show":
		if err = need(1); err == nil {
			out, err = adminDo(ctx, client, http.MethodGet, "routings/"+url.PathEscape(pos[0]), nil)
		}
	case "explain":
		if err = need(0); err == nil {
			body := map[string]any{}
			for k, v := range map[string]string{"flavor_id": *flavor, "server_id": *server, "availability_zone": *zone, "project_id": *project} {
				if v != "" {
					body[k] = v
				}
			}
			out, err = adminDo(ctx, client, http.MethodPost, "scheduler/explain", map[string]any{"explain": body})
		}
	default:
		fs.Usage()
		return fmt.Errorf("canopy admin: unknown command %q", cmd)
	}
	if err != nil {
		return err
	}
	return printAdmin(os.Stdout, *format, out)
}

// adminClient authenticates like openstackclient and finds the admin API.
func adminClient(ctx context.Context, osCloud string) (*gophercloud.ServiceClient, error) {
	var ao gophercloud.AuthOptions
	var eo gophercloud.EndpointOpts
	var err error
	if osCloud != "" || os.Getenv("OS_AUTH_URL") == "" {
		var opts []clouds.ParseOption
		if osCloud != "" {
			opts = append(opts, clouds.WithCloudName(osCloud))
		}
		ao, eo, _, err = clouds.Parse(opts...)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w (set --os-cloud/OS_CLOUD with a clouds.yaml, or the OS_* variables `canopy dev` prints)", err)
		}
	} else if ao, err = openstack.AuthOptionsFromEnv(); err != nil {
		return nil, fmt.Errorf("credentials from OS_* variables: %w", err)
	} else {
		eo.Region = os.Getenv("OS_REGION_NAME")
	}
	pc, err := openstack.AuthenticatedClient(ctx, ao)
	if err != nil {
		return nil, fmt.Errorf("authentication: %w", err)
	}
	eo.Type = "canopy-admin"
	u, err := pc.EndpointLocator(eo)
	if err != nil {
		return nil, fmt.Errorf("the catalog has no canopy-admin endpoint: %w", err)
	}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: strings.TrimRight(u, "/") + "/", Type: "canopy-admin"}, nil
}

func adminDo(ctx context.Context, c *gophercloud.ServiceClient, method, path string, body any) (any, error) {
	return adminDoCodes(ctx, c, method, path, body, 200)
}

func adminDoCodes(ctx context.Context, c *gophercloud.ServiceClient, method, path string, body any, codes ...int) (any, error) {
	var out any
	opts := &gophercloud.RequestOpts{OkCodes: codes}
	if method != http.MethodDelete {
		opts.JSONResponse = &out
	}
	if body != nil {
		opts.JSONBody = body
	}
	_, err := c.Request(ctx, method, c.Endpoint+path, opts)
	if err != nil {
		return nil, adminError(err)
	}
	return out, nil
}

// readEntryFile reads a cloud entry (YAML or JSON, canopy.yaml's shape) from
// path, or from stdin for "-".
func readEntryFile(path string) (map[string]any, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	var entry map[string]any
	if err := yaml.Unmarshal(raw, &entry); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if entry == nil {
		return nil, fmt.Errorf("%s: no cloud entry (expected a mapping with name, type and the type's section)", path)
	}
	// A file copied from canopy.yaml may hold the clouds: list itself.
	if list, ok := entry["clouds"].([]any); ok {
		if len(list) != 1 {
			return nil, fmt.Errorf("%s: holds %d clouds; register one at a time", path, len(list))
		}
		if m, ok := list[0].(map[string]any); ok {
			entry = m
		}
	}
	return entry, nil
}

// splitList is a comma-separated flag as a list ([] when empty).
func splitList(s string) []string {
	out := []string{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// adminError shows the API's own fault message.
func adminError(err error) error {
	var ue gophercloud.ErrUnexpectedResponseCode
	if e, ok := err.(gophercloud.ErrUnexpectedResponseCode); ok {
		ue = e
		var f map[string]struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(ue.Body, &f) == nil {
			for _, v := range f {
				if v.Message != "" {
					return fmt.Errorf("%d: %s", ue.Actual, v.Message)
				}
			}
		}
	}
	return err
}

func printAdmin(w io.Writer, format string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	m, _ := v.(map[string]any)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	switch {
	case m["clouds"] != nil:
		fmt.Fprintln(tw, "NAME\tTYPE\tHEALTH\tENABLED\tZONES\tHOSTS\tVCPUS (USED/TOTAL)\tRAM MB (USED/TOTAL)")
		for _, c := range m["clouds"].([]any) {
			cloudRow(tw, c.(map[string]any))
		}
	case m["cloud"] != nil:
		c := m["cloud"].(map[string]any)
		fmt.Fprintln(tw, "NAME\tTYPE\tHEALTH\tENABLED\tZONES\tHOSTS\tVCPUS (USED/TOTAL)\tRAM MB (USED/TOTAL)")
		cloudRow(tw, c)
		if r, ok := c["disabled_reason"].(string); ok {
			fmt.Fprintf(tw, "\ndisabled: %s\n", r)
		}
		if h, _ := c["health"].(map[string]any); h["error"] != nil {
			fmt.Fprintf(tw, "\nlast error: %v\n", h["error"])
		}
		if hs, _ := c["hosts"].([]any); len(hs) > 0 {
			fmt.Fprintln(tw, "\nHOST\tZONE\tTYPE\tSTATE\tSTATUS\tVCPUS\tRAM MB")
			for _, h := range hs {
				h := h.(map[string]any)
				fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v/%v\t%v/%v\n", h["name"], h["availability_zone"], h["hypervisor_type"], h["state"], h["status"],
					h["vcpus_used"], h["vcpus"], h["memory_mb_used"], h["memory_mb"])
			}
		}
	case m["routings"] != nil:
		fmt.Fprintln(tw, "TYPE\tID\tNAME\tPROJECT\tCLOUD\tHOST\tBOTTOM ID\tSTATE")
		for _, r := range m["routings"].([]any) {
			routingRow(tw, r.(map[string]any))
		}
	case m["explanation"] != nil:
		ex := m["explanation"].(map[string]any)
		fmt.Fprintf(tw, "filters: %v\nweighers: %v\n\n", ex["filters"], ex["weighers"])
		fmt.Fprintln(tw, "RANK\tCLOUD\tHOST\tZONE\tWEIGHT\tREJECTED BY")
		hosts, _ := ex["hosts"].([]any)
		for _, h := range hosts {
			h := h.(map[string]any)
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\n", orDash(h["rank"]), h["cloud"], h["host"], h["availability_zone"], h["weight"], orDash(h["rejected_by"]))
		}
	case m["jobs"] != nil:
		fmt.Fprintln(tw, "TYPE\tCLOUD\tRESOURCE\tID\tPROJECT\tSTATE\tTASK")
		for _, j := range m["jobs"].([]any) {
			j := j.(map[string]any)
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\n", j["type"], orDash(j["cloud"]), j["resource_type"], j["resource_id"], j["project_id"], j["state"], orDash(j["task_state"]))
		}
	case m["job"] != nil:
		j := m["job"].(map[string]any)
		for _, k := range []string{"type", "cloud", "resource_type", "resource_id", "project_id", "state", "task_state", "progress", "updated", "error"} {
			if v, ok := j[k]; ok && v != "" {
				fmt.Fprintf(tw, "%s\t%v\n", k, v)
			}
		}
	case m["redo"] != nil:
		r := m["redo"].(map[string]any)
		fmt.Fprintf(tw, "cloud %v: %v pushed, %v still pending\n", r["cloud"], r["pushed"], r["still_pending"])
		if e, ok := r["error"]; ok {
			fmt.Fprintf(tw, "%v\n", e)
		}
	case m["residency"] != nil:
		r := m["residency"].(map[string]any)
		fmt.Fprintf(tw, "project %v\ncountries:\t%v\nregions:\t%v\n", r["project_id"], listOrAny(r["countries"]), listOrAny(r["regions"]))
	case m["routing"] != nil:
		fmt.Fprintln(tw, "TYPE\tID\tNAME\tPROJECT\tCLOUD\tHOST\tBOTTOM ID\tSTATE")
		routingRow(tw, m["routing"].(map[string]any))
	default:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return nil
}

func cloudRow(w io.Writer, c map[string]any) {
	h, _ := c["health"].(map[string]any)
	capa, _ := c["capacity"].(map[string]any)
	zones := []string{}
	for _, z := range c["availability_zones"].([]any) {
		zones = append(zones, fmt.Sprint(z))
	}
	fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%s\t%v\t%v/%v\t%v/%v\n", c["name"], c["type"], h["status"], c["enabled"], strings.Join(zones, ","), c["host_count"],
		capa["vcpus_used"], capa["vcpus"], capa["memory_mb_used"], capa["memory_mb"])
}

func routingRow(w io.Writer, r map[string]any) {
	fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%v\t%v\t%v\t%v\n", r["resource_type"], r["resource_id"], r["name"], r["project_id"], r["cloud"],
		orDash(r["host"]), orDash(r["bottom_id"]), r["state"])
}

// listOrAny shows a residency list, "any" when empty.
func listOrAny(v any) string {
	l, _ := v.([]any)
	if len(l) == 0 {
		return "any"
	}
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

func orDash(v any) any {
	if v == nil || v == "" {
		return "-"
	}
	return v
}
