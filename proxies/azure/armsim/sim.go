// Package armsim is a stateful, in-memory Azure Resource Manager for tests
// and `canopy dev`: the Azure SDK's generated fake servers (armcompute/v8,
// armnetwork/v9 and armresources fakes) behind a real HTTPS endpoint, with
// the state, validation and long-running-operation shapes that the fakes
// leave to their user.
//
// A client reaches it exactly as it reaches Azure: a cloud.Configuration
// whose ResourceManager endpoint is Sim.URL, and a bearer token from the
// small Entra ID (AAD) token endpoint the simulator also serves. Requests
// are routed by method and path to the fake method they belong to (the
// fakes themselves dispatch on an API name kept in the client's context,
// which does not cross HTTP). Long-running operations answer with
// Polls non-terminal polls before their terminal response, and their effect
// is committed when the terminal poll is served, so a resource is seen in
// its transitional state (Creating, Deleting, PowerState/starting...)
// while the operation runs, as on Azure.
//
// Faults: Throttle makes the next requests answer 429 with Retry-After and
// x-ms-ratelimit-remaining-* headers; Latency delays every request; Down
// refuses all of them with 503. Counts returns how many resources of each
// kind exist, so tests can prove that a retried create made no second one.
package armsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	computefake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"
	netfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9/fake"
	resfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/fake"
)

// Options shape a simulator.
type Options struct {
	// SubscriptionID and TenantID are the ids the simulator answers for.
	SubscriptionID string
	TenantID       string
	// Polls is the number of non-terminal polls every long-running
	// operation answers before its terminal one (default 2).
	Polls int
	// CoreLimit is the subscription's regional vCPU quota (default 100).
	CoreLimit int
	// Locations and their zones (default westeurope with zones 1, 2, 3).
	Locations map[string][]string
	// PageSize is the number of items per list page (default 50).
	PageSize int
}

// Sim is one simulated Azure subscription.
type Sim struct {
	// URL is the ARM (and token) endpoint, https://127.0.0.1:port.
	URL string

	opts    Options
	srv     *httptest.Server
	compute policy.Transporter
	network policy.Transporter
	res     policy.Transporter

	mu        sync.Mutex
	st        *state
	pending   map[string]*pendingOp
	throttle  int
	retryAftr int
	latency   time.Duration
	down      bool
	reads     int
	calls     map[string]int
}

type pendingOp struct {
	api    string
	commit func()
}

// opHolder carries, through the request context, the commit function a fake
// callback made for a long-running operation and its error message.
type opHolder struct {
	commit func()
	msg    string
}

type holderKey struct{}

// New starts a simulator. Close it when done.
func New(opts Options) *Sim {
	if opts.SubscriptionID == "" {
		opts.SubscriptionID = "00000000-0000-4000-8000-0000000000a1"
	}
	if opts.TenantID == "" {
		opts.TenantID = "00000000-0000-4000-8000-0000000000e1"
	}
	if opts.Polls <= 0 {
		opts.Polls = 2
	}
	if opts.CoreLimit <= 0 {
		opts.CoreLimit = 100
	}
	if len(opts.Locations) == 0 {
		opts.Locations = map[string][]string{"westeurope": {"1", "2", "3"}}
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 50
	}
	s := &Sim{opts: opts, pending: map[string]*pendingOp{}, calls: map[string]int{}, reads: 12000}
	s.st = newState(s)
	s.compute = computefake.NewServerFactoryTransport(s.computeServers())
	s.network = netfake.NewServerFactoryTransport(s.networkServers())
	s.res = resfake.NewServerFactoryTransport(s.resourceServers())
	s.srv = httptest.NewTLSServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the endpoint.
func (s *Sim) Close() { s.srv.Close() }

// SubscriptionID is the simulated subscription.
func (s *Sim) SubscriptionID() string { return s.opts.SubscriptionID }

// TenantID is the simulated tenant.
func (s *Sim) TenantID() string { return s.opts.TenantID }

// CertPEM is the endpoint's self-signed certificate, for a client's CA pool.
func (s *Sim) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Client is an HTTP client that trusts the endpoint.
func (s *Sim) Client() *http.Client { return s.srv.Client() }

// TLSConfig is a client TLS configuration that trusts the endpoint.
func (s *Sim) TLSConfig() *tls.Config {
	return s.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

// Throttle makes the next n ARM requests answer 429 with Retry-After
// retryAfterSeconds.
func (s *Sim) Throttle(n, retryAfterSeconds int) {
	s.mu.Lock()
	s.throttle, s.retryAftr = n, retryAfterSeconds
	s.mu.Unlock()
}

// SetLatency delays every request by d (until the client gives up).
func (s *Sim) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// SetRemaining sets the subscription's remaining read budget, reported in
// x-ms-ratelimit-remaining-subscription-reads (it drops by one a request).
func (s *Sim) SetRemaining(n int) {
	s.mu.Lock()
	s.reads = n
	s.mu.Unlock()
}

// SetDown makes every ARM request answer 503 while down is true.
func (s *Sim) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// Calls returns how many requests were made for an API name such as
// "VirtualMachinesClient.BeginCreateOrUpdate" (not counting the polls of a
// long-running operation, which count under the name + "/poll").
func (s *Sim) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[api]
}

// PendingOperations is the number of long-running operations not yet
// polled to their end.
func (s *Sim) PendingOperations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// route maps a request to the fake method it belongs to.
type route struct {
	method string
	re     *regexp.Regexp
	api    string
}

const seg = `[^/]+`

func rx(tail string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)^/subscriptions/` + seg + tail + `$`)
}

func rgp(provider, kind string) string {
	return `/resourceGroups/` + seg + `/providers/` + provider + `/` + kind + `/` + seg
}

func crud(client, provider, kind string, patch bool) []route {
	p := rx(rgp(provider, kind))
	r := []route{
		{http.MethodPut, p, client + ".BeginCreateOrUpdate"},
		{http.MethodGet, p, client + ".Get"},
		{http.MethodDelete, p, client + ".BeginDelete"},
	}
	if patch {
		r = append(r, route{http.MethodPatch, p, client + ".BeginUpdate"})
	}
	return r
}

var routes = func() []route {
	vm := rgp("Microsoft.Compute", "virtualMachines")
	r := []route{
		{http.MethodPut, rx(`/resourcegroups/` + seg), "ResourceGroupsClient.CreateOrUpdate"},
		{http.MethodGet, rx(`/resourcegroups/` + seg), "ResourceGroupsClient.Get"},
		{http.MethodDelete, rx(`/resourcegroups/` + seg), "ResourceGroupsClient.BeginDelete"},
		{http.MethodGet, rx(`/providers/Microsoft.Compute/virtualMachines`), "VirtualMachinesClient.NewListAllPager"},
		{http.MethodGet, rx(`/providers/Microsoft.Compute/skus`), "ResourceSKUsClient.NewListPager"},
		{http.MethodGet, rx(`/providers/Microsoft.Compute/locations/` + seg + `/usages`), "UsageClient.NewListPager"},
		{http.MethodGet, rx(`/resourceGroups/` + seg + `/providers/Microsoft.Compute/snapshots`), "SnapshotsClient.NewListByResourceGroupPager"},
		{http.MethodGet, rx(`/resourceGroups/` + seg + `/providers/Microsoft.Compute/images`), "ImagesClient.NewListByResourceGroupPager"},
		{http.MethodPost, rx(vm + `/start`), "VirtualMachinesClient.BeginStart"},
		{http.MethodPost, rx(vm + `/deallocate`), "VirtualMachinesClient.BeginDeallocate"},
		{http.MethodPost, rx(vm + `/powerOff`), "VirtualMachinesClient.BeginPowerOff"},
		{http.MethodPost, rx(vm + `/restart`), "VirtualMachinesClient.BeginRestart"},
		{http.MethodPost, rx(vm + `/retrieveBootDiagnosticsData`), "VirtualMachinesClient.RetrieveBootDiagnosticsData"},
		{http.MethodPost, rx(rgp("Microsoft.Compute", "disks") + `/beginGetAccess`), "DisksClient.BeginGrantAccess"},
		{http.MethodPost, rx(rgp("Microsoft.Compute", "disks") + `/endGetAccess`), "DisksClient.BeginRevokeAccess"},
	}
	r = append(r, crud("VirtualMachinesClient", "Microsoft.Compute", "virtualMachines", true)...)
	r = append(r, crud("DisksClient", "Microsoft.Compute", "disks", true)...)
	r = append(r, crud("SnapshotsClient", "Microsoft.Compute", "snapshots", false)...)
	r = append(r, crud("ImagesClient", "Microsoft.Compute", "images", false)...)
	r = append(r, crud("VirtualNetworksClient", "Microsoft.Network", "virtualNetworks", false)...)
	r = append(r, crud("InterfacesClient", "Microsoft.Network", "networkInterfaces", false)...)
	r = append(r, crud("SecurityGroupsClient", "Microsoft.Network", "networkSecurityGroups", false)...)
	r = append(r, crud("PublicIPAddressesClient", "Microsoft.Network", "publicIPAddresses", false)...)
	r = append(r, crud("RouteTablesClient", "Microsoft.Network", "routeTables", false)...)
	r = append(r, crud("ApplicationSecurityGroupsClient", "Microsoft.Network", "applicationSecurityGroups", false)...)
	return r
}()

// isNetworkAPI reports whether api belongs to the armnetwork fakes.
func isNetworkAPI(api string) bool {
	for _, c := range []string{"VirtualNetworksClient.", "InterfacesClient.", "SecurityGroupsClient.", "PublicIPAddressesClient.",
		"RouteTablesClient.", "ApplicationSecurityGroupsClient."} {
		if strings.HasPrefix(api, c) {
			return true
		}
	}
	return false
}

const pollSuffix = "/get/fake/status"

var pageSuffix = regexp.MustCompile(`/fake_page_\d+$`)

// ServeHTTP is the ARM endpoint.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/diag/"):
		s.serveDiag(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/blob/"):
		s.serveBlob(w, r)
		return
	case strings.Contains(r.URL.Path, "/oauth2/") || strings.Contains(r.URL.Path, "/.well-known/") || strings.HasPrefix(r.URL.Path, "/common/discovery"):
		s.serveToken(w, r)
		return
	}
	if !s.admit(w, r) {
		return
	}
	path := r.URL.Path
	isPoll := strings.HasSuffix(path, pollSuffix)
	base := pageSuffix.ReplaceAllString(strings.TrimSuffix(path, pollSuffix), "")
	api := ""
	s.mu.Lock()
	op := s.pending[strings.ToLower(base)]
	if isPoll && op != nil {
		api = op.api
	}
	s.mu.Unlock()
	if isPoll && op == nil {
		s.servePollAfterEnd(w, r, base)
		return
	}
	if api == "" {
		for _, rt := range routes {
			if (rt.method == r.Method || isPoll) && rt.re.MatchString(base) {
				api = rt.api
				break
			}
		}
	}
	if api == "" {
		writeError(w, http.StatusNotFound, "InvalidResourceType", fmt.Sprintf("the simulator does not serve %s %s", r.Method, path))
		return
	}
	s.mu.Lock()
	if isPoll {
		s.calls[api+"/poll"]++
	} else {
		s.calls[api]++
	}
	s.mu.Unlock()
	h := &opHolder{}
	req := r.Clone(context.WithValue(context.WithValue(r.Context(), runtime.CtxAPINameKey{}, api), holderKey{}, h))
	req.URL.Scheme, req.URL.Host, req.RequestURI = "https", r.Host, ""
	var tr policy.Transporter
	switch {
	case strings.HasPrefix(api, "ResourceGroupsClient."):
		tr = s.res
	case isNetworkAPI(api):
		tr = s.network
	default:
		tr = s.compute
	}
	resp, err := tr.Do(req)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.RawResponse != nil {
			resp = re.RawResponse
		} else {
			writeError(w, http.StatusBadRequest, "InvalidRequestContent", err.Error())
			return
		}
	}
	status := resp.Header.Get("Fake-Poller-Status")
	key := strings.ToLower(base)
	s.mu.Lock()
	switch {
	case !isPoll && h.commit != nil && status == "InProgress":
		s.pending[key] = &pendingOp{api: api, commit: h.commit}
	case !isPoll && h.commit != nil:
		h.commit()
	case isPoll && status != "" && status != "InProgress":
		if op := s.pending[key]; op != nil {
			delete(s.pending, key)
			op.commit()
		}
	}
	s.reads--
	reads := s.reads
	s.mu.Unlock()
	if resp.StatusCode >= 400 {
		code := resp.Header.Get("x-ms-error-code")
		msg := h.msg
		if msg == "" {
			msg = code
		}
		writeError(w, resp.StatusCode, code, msg)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("x-ms-ratelimit-remaining-subscription-reads", strconv.Itoa(max(reads, 0)))
	w.Header().Set("x-ms-ratelimit-remaining-subscription-writes", "1199")
	w.WriteHeader(resp.StatusCode)
	if resp.Body != nil {
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
	}
}

// servePollAfterEnd answers a poll of an operation that has ended (another
// client polled it to its end, or a resumed client polls late), as Azure's
// operation status stays readable: Succeeded, with the resource as it is
// now (204 when it is gone or the operation has no body).
func (s *Sim) servePollAfterEnd(w http.ResponseWriter, r *http.Request, base string) {
	w.Header().Set("Fake-Poller-Status", "Succeeded")
	for _, rt := range routes {
		if rt.method != http.MethodGet || !rt.re.MatchString(base) {
			continue
		}
		req := r.Clone(context.WithValue(context.WithValue(r.Context(), runtime.CtxAPINameKey{}, rt.api), holderKey{}, &opHolder{}))
		req.Method, req.URL.Path, req.URL.RawPath, req.RequestURI = http.MethodGet, base, "", ""
		req.URL.Scheme, req.URL.Host = "https", r.Host
		var tr policy.Transporter = s.compute
		if isNetworkAPI(rt.api) {
			tr = s.network
		}
		if resp, err := tr.Do(req); err == nil && resp.StatusCode == http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.Copy(w, resp.Body)
			_ = resp.Body.Close()
			return
		}
		break
	}
	w.WriteHeader(http.StatusNoContent)
}

// admit applies the injected faults; false when it answered the request.
func (s *Sim) admit(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	down, lat := s.down, s.latency
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	ra := s.retryAftr
	s.mu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-r.Context().Done():
			return false
		}
	}
	if down {
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the simulated region is down")
		return false
	}
	if throttled {
		w.Header().Set("Retry-After", strconv.Itoa(ra))
		w.Header().Set("x-ms-ratelimit-remaining-subscription-reads", "0")
		w.Header().Set("x-ms-ratelimit-remaining-subscription-writes", "0")
		writeError(w, http.StatusTooManyRequests, "TooManyRequests", "the request is being throttled")
		return false
	}
	if r.Header.Get("Authorization") != "Bearer "+simToken {
		writeError(w, http.StatusUnauthorized, "AuthenticationFailed", "missing or invalid bearer token")
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// simToken is the access token the simulated token endpoint issues.
const simToken = "armsim-access-token"

// serveToken is a minimal Entra ID endpoint: OpenID discovery and the
// client-credentials token grant, enough for azidentity's credentials.
func (s *Sim) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	tenant := s.opts.TenantID
	base := s.URL + "/" + tenant
	switch {
	case strings.Contains(r.URL.Path, "/.well-known/openid-configuration"):
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":                base + "/oauth2/v2.0/token",
			"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
			"issuer":                        base + "/v2.0",
			"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		})
	case strings.HasSuffix(r.URL.Path, "/token"):
		_ = r.ParseForm()
		if r.PostForm.Get("client_id") == "" {
			writeError(w, http.StatusBadRequest, "invalid_request", "client_id is required")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": simToken,
		})
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"tenant_discovery_endpoint": base + "/v2.0/.well-known/openid-configuration",
			"api-version": "1.1", "metadata": []any{}})
	}
}

// StaticToken is an azcore.TokenCredential that presents the simulator's
// token without a token endpoint (for unit tests of clients).
type StaticToken struct{}

// GetToken implements azcore.TokenCredential.
func (StaticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: simToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// serveDiag serves a VM's serial console log (the boot diagnostics blob).
func (s *Sim) serveDiag(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/diag/"), "/serial.log")
	s.mu.Lock()
	log, ok := s.st.consoles[id]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	_, _ = io.Copy(w, bytes.NewReader([]byte(log)))
}
