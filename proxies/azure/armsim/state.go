package armsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	resfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/fake"
)

// state is the simulated subscription's resources, keyed by lower-case
// resource id. It is guarded by Sim.mu.
type state struct {
	s        *Sim
	rgs      map[string]*armresources.ResourceGroup
	vms      map[string]*armcompute.VirtualMachine
	power    map[string]string // vm id -> running, deallocated, stopped, starting...
	disks    map[string]*armcompute.Disk
	snaps    map[string]*armcompute.Snapshot
	images   map[string]*armcompute.Image
	vnets    map[string]*armnetwork.VirtualNetwork
	nics     map[string]*armnetwork.Interface
	nsgs     map[string]*armnetwork.SecurityGroup
	pips     map[string]*armnetwork.PublicIPAddress
	consoles map[string]string    // diag key -> serial log
	blobs    map[string]*pageBlob // disk id -> its upload blob
	rts      map[string]*armnetwork.RouteTable
	asgs     map[string]*armnetwork.ApplicationSecurityGroup
	nextIP   int
	skus     []*armcompute.ResourceSKU
}

func newState(s *Sim) *state {
	st := &state{s: s, rgs: map[string]*armresources.ResourceGroup{}, vms: map[string]*armcompute.VirtualMachine{},
		power: map[string]string{}, disks: map[string]*armcompute.Disk{}, snaps: map[string]*armcompute.Snapshot{},
		images: map[string]*armcompute.Image{}, vnets: map[string]*armnetwork.VirtualNetwork{},
		nics: map[string]*armnetwork.Interface{}, nsgs: map[string]*armnetwork.SecurityGroup{},
		pips: map[string]*armnetwork.PublicIPAddress{}, consoles: map[string]string{}, nextIP: 10,
		blobs: map[string]*pageBlob{}, rts: map[string]*armnetwork.RouteTable{}, asgs: map[string]*armnetwork.ApplicationSecurityGroup{}}
	st.skus = defaultSKUs(s.opts.Locations)
	return st
}

// sizes is the simulated VM size catalogue: name, vCPUs, memory GB.
var sizes = []struct {
	name       string
	vcpus      int
	memGB      float64
	restricted bool
}{
	{"Standard_B1ls", 1, 0.5, false}, {"Standard_B1s", 1, 1, false}, {"Standard_B1ms", 1, 2, false},
	{"Standard_B2s", 2, 4, false}, {"Standard_D2s_v5", 2, 8, false}, {"Standard_E2s_v5", 2, 16, true},
	{"Standard_D4s_v5", 4, 16, false}, {"Standard_D8s_v5", 8, 32, false},
}

func defaultSKUs(locs map[string][]string) []*armcompute.ResourceSKU {
	var out []*armcompute.ResourceSKU
	for _, z := range sizes {
		sku := &armcompute.ResourceSKU{Name: to.Ptr(z.name), ResourceType: to.Ptr("virtualMachines"), Tier: to.Ptr("Standard"),
			Capabilities: []*armcompute.ResourceSKUCapabilities{
				{Name: to.Ptr("vCPUs"), Value: to.Ptr(fmt.Sprint(z.vcpus))},
				{Name: to.Ptr("MemoryGB"), Value: to.Ptr(fmt.Sprint(z.memGB))},
			}}
		for loc, zones := range locs {
			sku.Locations = append(sku.Locations, to.Ptr(loc))
			sku.LocationInfo = append(sku.LocationInfo, &armcompute.ResourceSKULocationInfo{Location: to.Ptr(loc), Zones: to.SliceOfPtrs(zones...)})
			if z.restricted {
				sku.Restrictions = append(sku.Restrictions, &armcompute.ResourceSKURestrictions{
					Type: to.Ptr(armcompute.ResourceSKURestrictionsTypeLocation), Values: []*string{to.Ptr(loc)},
					ReasonCode: to.Ptr(armcompute.ResourceSKURestrictionsReasonCodeNotAvailableForSubscription)})
			}
		}
		out = append(out, sku)
	}
	// A disk SKU, to prove a client filters on resource type.
	out = append(out, &armcompute.ResourceSKU{Name: to.Ptr("Premium_LRS"), ResourceType: to.Ptr("disks")})
	return out
}

func sizeOf(name string) (vcpus int, ok bool) {
	for _, z := range sizes {
		if strings.EqualFold(z.name, name) && !z.restricted {
			return z.vcpus, true
		}
	}
	return 0, false
}

// Counts returns how many resources of each kind exist: "resourceGroups",
// "virtualMachines", "disks", "snapshots", "images", "virtualNetworks",
// "networkInterfaces", "networkSecurityGroups", "publicIPAddresses",
// "routeTables", "applicationSecurityGroups".
func (s *Sim) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	return map[string]int{"resourceGroups": len(st.rgs), "virtualMachines": len(st.vms), "disks": len(st.disks),
		"snapshots": len(st.snaps), "images": len(st.images), "virtualNetworks": len(st.vnets),
		"networkInterfaces": len(st.nics), "networkSecurityGroups": len(st.nsgs), "publicIPAddresses": len(st.pips),
		"routeTables": len(st.rts), "applicationSecurityGroups": len(st.asgs)}
}

// VMTags returns the tags of every VM, keyed by VM name.
func (s *Sim) VMTags() map[string]map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]string{}
	for _, vm := range s.st.vms {
		tags := map[string]string{}
		for k, v := range vm.Tags {
			if v != nil {
				tags[k] = *v
			}
		}
		out[*vm.Name] = tags
	}
	return out
}

// VMSubnets returns the subnet ids of the NICs of VM name ("" rg: any).
func (s *Sim) VMSubnets(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, vm := range s.st.vms {
		if !strings.EqualFold(*vm.Name, name) {
			continue
		}
		for _, ref := range vm.Properties.NetworkProfile.NetworkInterfaces {
			if nic := s.st.nics[key(*ref.ID)]; nic != nil {
				for _, ipc := range nic.Properties.IPConfigurations {
					out = append(out, *ipc.Properties.Subnet.ID)
				}
			}
		}
	}
	return out
}

// VMSize returns the size of VM name ("" when there is none).
func (s *Sim) VMSize(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, vm := range s.st.vms {
		if strings.EqualFold(*vm.Name, name) {
			return string(*vm.Properties.HardwareProfile.VMSize)
		}
	}
	return ""
}

// SetCoreLimit changes the regional vCPU quota.
func (s *Sim) SetCoreLimit(n int) {
	s.mu.Lock()
	s.opts.CoreLimit = n
	s.mu.Unlock()
}

func (s *Sim) id(rg, provider, kind, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s", s.opts.SubscriptionID, rg, provider, kind, name)
}

func key(id string) string { return strings.ToLower(id) }

// holder returns the per-request holder the HTTP handler put in ctx.
func holder(ctx context.Context) *opHolder {
	if h, ok := ctx.Value(holderKey{}).(*opHolder); ok {
		return h
	}
	return &opHolder{}
}

// as converts a model to a response that embeds it (JSON round trip).
func as[R any](v any) R {
	var r R
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &r)
	return r
}

// clone deep-copies a model.
func clone[T any](v *T) *T { r := as[T](v); return &r }

// lro answers a long-running operation: Polls+1 non-terminal responses
// (the first is the initial answer) with status nt, then final; commit runs
// when the terminal poll is served.
func lro[R any](ctx context.Context, s *Sim, nt int, final R, commit func()) (resp azfake.PollerResponder[R], e azfake.ErrorResponder) {
	for range s.opts.Polls + 1 {
		resp.AddNonTerminalResponse(nt, nil)
	}
	resp.SetTerminalResponse(http.StatusOK, final, nil)
	holder(ctx).commit = commit
	return resp, e
}

// gone answers a delete of a resource that does not exist: 204 at once.
func gone[R any]() (resp azfake.PollerResponder[R], e azfake.ErrorResponder) {
	var zero R
	resp.SetTerminalResponse(http.StatusNoContent, zero, nil)
	return resp, e
}

// fail answers an ARM error.
func fail[R any](ctx context.Context, status int, code, format string, args ...any) (resp azfake.PollerResponder[R], e azfake.ErrorResponder) {
	e.SetResponseError(status, code)
	holder(ctx).msg = fmt.Sprintf(format, args...)
	return resp, e
}

func failSync[R any](ctx context.Context, status int, code, format string, args ...any) (resp azfake.Responder[R], e azfake.ErrorResponder) {
	e.SetResponseError(status, code)
	holder(ctx).msg = fmt.Sprintf(format, args...)
	return resp, e
}

// get answers a GET of a resource held in m.
func get[T, R any](ctx context.Context, s *Sim, m map[string]*T, id string) (resp azfake.Responder[R], e azfake.ErrorResponder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := m[key(id)]
	if !ok {
		return failSync[R](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
	}
	resp.SetResponse(http.StatusOK, as[R](v), nil)
	return resp, e
}

// pages answers a list with values split into pages of PageSize.
func pages[R any](s *Sim, values any) (resp azfake.PagerResponder[R]) {
	rv := reflect.ValueOf(values)
	n := rv.Len()
	for i := 0; i < n || i == 0; i += s.opts.PageSize {
		end := min(i+s.opts.PageSize, n)
		page := rv.Slice(i, end).Interface()
		resp.AddPage(http.StatusOK, as[R](map[string]any{"value": page}), nil)
		if n == 0 {
			break
		}
	}
	return resp
}

// setMeta fills a model's ID, Name and Type fields.
func setMeta(v any, id, name, typ string) {
	rv := reflect.ValueOf(v).Elem()
	for f, val := range map[string]string{"ID": id, "Name": name, "Type": typ} {
		if fv := rv.FieldByName(f); fv.IsValid() && fv.CanSet() {
			fv.Set(reflect.ValueOf(to.Ptr(val)))
		}
	}
}

func (st *state) rgExists(rg string) bool {
	_, ok := st.rgs[strings.ToLower(rg)]
	return ok
}

func sortedKeys[T any](m map[string]*T) []*T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

func inRG[T any](m map[string]*T, sub, rg string) []*T {
	prefix := strings.ToLower("/subscriptions/" + sub + "/resourceGroups/" + rg + "/")
	var out []*T
	for _, v := range sortedKeys(m) {
		id := reflect.ValueOf(v).Elem().FieldByName("ID")
		if id.IsValid() && !id.IsNil() && strings.HasPrefix(key(id.Elem().String()), prefix) {
			out = append(out, v)
		}
	}
	return out
}

func (s *Sim) resourceServers() *resfake.ServerFactory {
	st := s.st
	return &resfake.ServerFactory{ResourceGroupsServer: resfake.ResourceGroupsServer{
		CreateOrUpdate: func(ctx context.Context, rg string, p armresources.ResourceGroup, _ *armresources.ResourceGroupsClientCreateOrUpdateOptions) (resp azfake.Responder[armresources.ResourceGroupsClientCreateOrUpdateResponse], e azfake.ErrorResponder) {
			if p.Location == nil || *p.Location == "" {
				return failSync[armresources.ResourceGroupsClientCreateOrUpdateResponse](ctx, http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			status := http.StatusOK
			if !st.rgExists(rg) {
				status = http.StatusCreated
			}
			p.ID = to.Ptr(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", s.opts.SubscriptionID, rg))
			p.Name, p.Type = to.Ptr(rg), to.Ptr("Microsoft.Resources/resourceGroups")
			p.Properties = &armresources.ResourceGroupProperties{ProvisioningState: to.Ptr("Succeeded")}
			st.rgs[strings.ToLower(rg)] = &p
			resp.SetResponse(status, armresources.ResourceGroupsClientCreateOrUpdateResponse{ResourceGroup: p}, nil)
			return resp, e
		},
		Get: func(ctx context.Context, rg string, _ *armresources.ResourceGroupsClientGetOptions) (resp azfake.Responder[armresources.ResourceGroupsClientGetResponse], e azfake.ErrorResponder) {
			s.mu.Lock()
			defer s.mu.Unlock()
			v, ok := st.rgs[strings.ToLower(rg)]
			if !ok {
				return failSync[armresources.ResourceGroupsClientGetResponse](ctx, http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
			}
			resp.SetResponse(http.StatusOK, armresources.ResourceGroupsClientGetResponse{ResourceGroup: *v}, nil)
			return resp, e
		},
	}}
}
