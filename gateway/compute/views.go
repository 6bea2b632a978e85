package compute

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Nova's timestamp formats: created/updated carry a Z, launched_at does
// not (gophercloud parses both strictly).
const (
	novaTime     = "2006-01-02T15:04:05Z"
	usageTime    = "2006-01-02T15:04:05.000000"
	progressable = "ACTIVE BUILD REBUILD RESIZE VERIFY_RESIZE MIGRATING"
)

// view says which of Nova's server views to render.
type view int

const (
	viewDetail view = iota // show and list detail
	viewUpdate             // the update response before 2.75 (no extended attributes)
)

// link is one entry of a links list.
type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

type links = []link

func selfLinks(base, kind, id string) links {
	return links{
		{Rel: "self", Href: base + "/compute/v2.1/" + kind + "/" + id},
		{Rel: "bookmark", Href: base + "/compute/" + kind + "/" + id},
	}
}

// hostID is Nova's opaque host id: sha224 of project and host.
func hostID(project, host string) string {
	if host == "" {
		return ""
	}
	h := sha256.Sum224([]byte(project + host))
	return hex.EncodeToString(h[:])
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// addrDoc is one address of a server; the OS-EXT-IPS fields are shown in
// the detail view only.
type addrDoc struct {
	Version int    `json:"version"`
	Addr    string `json:"addr"`
	Type    string `json:"OS-EXT-IPS:type,omitempty"`
	MAC     string `json:"OS-EXT-IPS-MAC:mac_addr,omitempty"`
}

func addresses(s *registry.Server, extended bool) map[string][]addrDoc {
	out := make(map[string][]addrDoc, 1)
	for _, a := range s.Addresses {
		e := addrDoc{Version: a.Version, Addr: a.Addr}
		if extended {
			e.Type, e.MAC = a.Type, a.MAC
		}
		out[a.NetworkName] = append(out[a.NetworkName], e)
	}
	return out
}

func contains(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}

// jsonNull is an explicit null for a field that is present but empty;
// a nil json.RawMessage with omitempty leaves the field out instead.
var jsonNull = json.RawMessage("null")

// rawString is s as a JSON string, or null when null is set and s is "".
func rawString(s string, nullIfEmpty bool) json.RawMessage {
	if s == "" && nullIfEmpty {
		return jsonNull
	}
	b, _ := json.Marshal(s)
	return b
}

func rawPtr(p *string) json.RawMessage {
	if p == nil {
		return jsonNull
	}
	return rawString(*p, false)
}

type faultDoc struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Created string `json:"created"`
}

type idLinks struct {
	ID    string `json:"id"`
	Links links  `json:"links"`
}

type embeddedFlavor struct {
	VCPUs        int               `json:"vcpus"`
	RAM          int               `json:"ram"`
	Disk         int               `json:"disk"`
	Ephemeral    int               `json:"ephemeral"`
	Swap         int               `json:"swap"`
	OriginalName string            `json:"original_name"`
	ExtraSpecs   map[string]string `json:"extra_specs"`
}

// serverDoc is a server as Nova shows it. Fields a microversion or view
// does not have stay nil and are left out; fields that are present but
// empty hold an explicit null.
type serverDoc struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Status     string               `json:"status"`
	TenantID   string               `json:"tenant_id"`
	UserID     string               `json:"user_id"`
	Metadata   map[string]string    `json:"metadata"`
	HostID     string               `json:"hostId"`
	Image      any                  `json:"image"`
	Flavor     any                  `json:"flavor"`
	Created    string               `json:"created"`
	Updated    string               `json:"updated"`
	Addresses  map[string][]addrDoc `json:"addresses"`
	AccessIPv4 string               `json:"accessIPv4"`
	AccessIPv6 string               `json:"accessIPv6"`
	Links      links                `json:"links"`
	DiskConfig string               `json:"OS-DCF:diskConfig"`
	Progress   *int                 `json:"progress,omitempty"`
	Fault      *faultDoc            `json:"fault,omitempty"`

	Locked       *bool           `json:"locked,omitempty"`
	Description  json.RawMessage `json:"description,omitempty"`
	Tags         *[]string       `json:"tags,omitempty"`
	TrustedCerts json.RawMessage `json:"trusted_image_certificates,omitempty"`
	ServerGroups *[]string       `json:"server_groups,omitempty"`
	LockedReason json.RawMessage `json:"locked_reason,omitempty"`

	KeyName         json.RawMessage     `json:"key_name,omitempty"`
	SecurityGroups  []map[string]string `json:"security_groups,omitempty"`
	AZ              *string             `json:"OS-EXT-AZ:availability_zone,omitempty"`
	VMState         *string             `json:"OS-EXT-STS:vm_state,omitempty"`
	TaskState       json.RawMessage     `json:"OS-EXT-STS:task_state,omitempty"`
	PowerState      *int                `json:"OS-EXT-STS:power_state,omitempty"`
	LaunchedAt      json.RawMessage     `json:"OS-SRV-USG:launched_at,omitempty"`
	TerminatedAt    json.RawMessage     `json:"OS-SRV-USG:terminated_at,omitempty"`
	VolumesAttached *[]volumeRef        `json:"os-extended-volumes:volumes_attached,omitempty"`
	ConfigDrive     *string             `json:"config_drive,omitempty"`

	Host           json.RawMessage `json:"OS-EXT-SRV-ATTR:host,omitempty"`
	HypervisorHost json.RawMessage `json:"OS-EXT-SRV-ATTR:hypervisor_hostname,omitempty"`
	InstanceName   string          `json:"OS-EXT-SRV-ATTR:instance_name,omitempty"`
	Hostname       string          `json:"OS-EXT-SRV-ATTR:hostname,omitempty"`
	KernelID       *string         `json:"OS-EXT-SRV-ATTR:kernel_id,omitempty"`
	RamdiskID      *string         `json:"OS-EXT-SRV-ATTR:ramdisk_id,omitempty"`
	RootDeviceName string          `json:"OS-EXT-SRV-ATTR:root_device_name,omitempty"`
	UserData       json.RawMessage `json:"OS-EXT-SRV-ATTR:user_data,omitempty"`
	HostStatus     string          `json:"host_status,omitempty"`
}

var (
	emptyString = ""
	noVolumes   = []volumeRef{}
)

// renderServer shapes one server for microversion v, as Nova's view
// builder does, for the principal's role.
func renderServer(base string, s *registry.Server, v wire.Version, mode view, admin bool) *serverDoc {
	d := &serverDoc{
		ID: s.ID, Name: s.Name, Status: s.Status, TenantID: s.ProjectID, UserID: s.UserID,
		Metadata: s.Metadata, HostID: hostID(s.ProjectID, s.Routing.Host),
		Created: s.Created.UTC().Format(novaTime), Updated: s.Updated.UTC().Format(novaTime),
		Addresses: addresses(s, mode == viewDetail), AccessIPv4: s.AccessIPv4, AccessIPv6: s.AccessIPv6,
		Links: selfLinks(base, "servers", s.ID), DiskConfig: diskConfig(s),
	}
	if d.Metadata == nil {
		d.Metadata = map[string]string{}
	}
	if s.ImageID != "" {
		d.Image = idLinks{ID: s.ImageID, Links: links{{Rel: "bookmark", Href: base + "/compute/images/" + s.ImageID}}}
	} else {
		d.Image = ""
	}
	if v.AtLeast(2, 47) {
		specs := s.Flavor.ExtraSpecs
		if specs == nil {
			specs = map[string]string{}
		}
		d.Flavor = embeddedFlavor{VCPUs: s.Flavor.VCPUs, RAM: s.Flavor.RAMMB, Disk: s.Flavor.DiskGB, OriginalName: s.Flavor.Name, ExtraSpecs: specs}
	} else {
		d.Flavor = idLinks{ID: s.Flavor.ID, Links: links{{Rel: "bookmark", Href: base + "/compute/flavors/" + s.Flavor.ID}}}
	}
	if contains(progressable, s.Status) {
		p := s.Progress
		d.Progress = &p
	}
	if s.Fault != nil && (s.Status == "ERROR" || s.Status == "DELETED") {
		d.Fault = &faultDoc{Code: s.Fault.Code, Message: s.Fault.Message, Created: s.Fault.Created.UTC().Format(novaTime)}
	}
	if v.AtLeast(2, 9) {
		l := s.Locked
		d.Locked = &l
	}
	if v.AtLeast(2, 19) {
		d.Description = rawPtr(s.Description)
	}
	if v.AtLeast(2, 26) {
		tags := s.Tags
		if tags == nil {
			tags = []string{}
		}
		d.Tags = &tags
	}
	if v.AtLeast(2, 63) {
		d.TrustedCerts = jsonNull
	}
	if v.AtLeast(2, 73) {
		d.LockedReason = rawPtr(s.LockedReason)
	}
	if mode == viewUpdate {
		return d
	}
	d.SecurityGroups = make([]map[string]string, 0, len(s.SecurityGroups))
	for _, g := range s.SecurityGroups {
		d.SecurityGroups = append(d.SecurityGroups, map[string]string{"name": g})
	}
	if len(d.SecurityGroups) == 0 {
		d.SecurityGroups = nil
	}
	d.KeyName = rawString(s.KeyName, true)
	d.AZ, d.VMState, d.PowerState = &s.AvailabilityZone, &s.VMState, &s.PowerState
	d.TaskState = rawString(s.TaskState, true)
	d.LaunchedAt = rawTime(s.LaunchedAt)
	d.TerminatedAt = rawTime(s.TerminatedAt)
	d.VolumesAttached = &noVolumes
	d.ConfigDrive = &s.ConfigDrive
	if admin {
		d.Host = rawString(s.Routing.Host, true)
		d.HypervisorHost = d.Host
		d.InstanceName = "instance-" + s.ID[:min(8, len(s.ID))]
		if v.AtLeast(2, 3) {
			d.Hostname = hostname(s.Name)
			d.KernelID, d.RamdiskID = &emptyString, &emptyString
			d.RootDeviceName = "/dev/vda"
			d.UserData = rawString(s.UserData, true)
		}
		if v.AtLeast(2, 16) && s.Routing.Host != "" {
			d.HostStatus = "UP"
		}
	}
	return d
}

func rawTime(t time.Time) json.RawMessage {
	if t.IsZero() {
		return jsonNull
	}
	return json.RawMessage(`"` + t.UTC().Format(usageTime) + `"`)
}

func timeOrNil(t time.Time, layout string) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(layout)
}

func diskConfig(s *registry.Server) string {
	if s.DiskConfig == "" {
		return "MANUAL"
	}
	return s.DiskConfig
}

// hostname is Nova's sanitised hostname of a display name.
func hostname(name string) string {
	out := make([]byte, 0, len(name))
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		case c == ' ', c == '_', c == '.':
			out = append(out, '-')
		}
	}
	for len(out) > 0 && (out[0] == '-' || out[0] == '.') {
		out = out[1:]
	}
	if len(out) > 63 {
		out = out[:63]
	}
	for len(out) > 0 && out[len(out)-1] == '-' {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return "server"
	}
	return string(out)
}

func isAdmin(r *http.Request) bool { return wire.PrincipalFrom(r.Context()).IsAdmin() }
