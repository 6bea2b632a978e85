package compute

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/canopy-cloud/canopy/broker"
	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// createBody is POST /servers. Fields whose JSON type Nova leaves open
// (counts, flavorRef, networks, config_drive) stay raw until checked.
type createBody struct {
	Server         *serverCreate   `json:"server"`
	SchedulerHints json.RawMessage `json:"os:scheduler_hints"`
	SchHnt         json.RawMessage `json:"OS-SCH-HNT:scheduler_hints"`
}

type serverCreate struct {
	Name             *string           `json:"name"`
	ImageRef         *string           `json:"imageRef"`
	FlavorRef        json.RawMessage   `json:"flavorRef"`
	Networks         json.RawMessage   `json:"networks"`
	KeyName          *string           `json:"key_name"`
	UserData         *string           `json:"user_data"`
	Metadata         map[string]string `json:"metadata"`
	AvailabilityZone *string           `json:"availability_zone"`
	AccessIPv4       *string           `json:"accessIPv4"`
	AccessIPv6       *string           `json:"accessIPv6"`
	AdminPass        *string           `json:"adminPass"`
	DiskConfig       *string           `json:"OS-DCF:diskConfig"`
	ConfigDrive      json.RawMessage   `json:"config_drive"`
	SecurityGroups   []struct {
		Name string `json:"name"`
	} `json:"security_groups"`
	MinCount             json.RawMessage   `json:"min_count"`
	MaxCount             json.RawMessage   `json:"max_count"`
	ReturnReservationID  json.RawMessage   `json:"return_reservation_id"`
	Description          *string           `json:"description"`
	Tags                 []string          `json:"tags"`
	BlockDeviceMapping   []json.RawMessage `json:"block_device_mapping"`
	BlockDeviceMappingV2 []json.RawMessage `json:"block_device_mapping_v2"`
	Personality          []json.RawMessage `json:"personality"`
	TrustedCerts         []string          `json:"trusted_image_certificates"`
	Host                 *string           `json:"host"`
	HypervisorHostname   *string           `json:"hypervisor_hostname"`
}

// createParsed is a decoded, type-checked create.
type createParsed struct {
	req           broker.CreateRequest
	adminPass     string
	group         string
	returnResv    bool
	explicitNoNet bool
}

// parseCreate decodes and validates a create body for microversion v. It
// needs no registry: everything here is Nova's JSON-schema layer.
func parseCreate(body []byte, v wire.Version) (*createParsed, error) {
	var b createBody
	if err := wire.DecodeBytes(body, &b, true); err != nil {
		return nil, err
	}
	sc := b.Server
	if sc == nil {
		return nil, wire.BadRequest("Invalid input for field/attribute server. Value: None. 'server' is a required property")
	}
	out := &createParsed{}
	req := &out.req
	if sc.Name == nil {
		return nil, wire.BadRequest("Invalid input for field/attribute server. Value: %s. 'name' is a required property", compact(body))
	}
	if err := checkName("name", *sc.Name); err != nil {
		return nil, err
	}
	req.Name = *sc.Name
	if sc.FlavorRef == nil {
		return nil, wire.BadRequest("Invalid input for field/attribute server. Value: %s. 'flavorRef' is a required property", compact(body))
	}
	flavor, err := stringOrInt("flavorRef", sc.FlavorRef)
	if err != nil {
		return nil, err
	}
	if flavor == "" {
		return nil, invalidField("flavorRef", "", "'' is too short")
	}
	req.FlavorID = lastSegment(flavor)
	if sc.ImageRef == nil || *sc.ImageRef == "" {
		if len(sc.BlockDeviceMappingV2) == 0 && len(sc.BlockDeviceMapping) == 0 {
			return nil, wire.BadRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
		}
	} else {
		ref := lastSegment(*sc.ImageRef)
		if !isUUID(ref) {
			return nil, wire.BadRequest("Invalid imageRef provided.")
		}
		req.ImageID = ref
	}
	if len(sc.BlockDeviceMappingV2) > 0 || len(sc.BlockDeviceMapping) > 0 {
		boot, err := parseBootVolume(sc.BlockDeviceMappingV2, sc.BlockDeviceMapping, req.ImageID, v)
		if err != nil {
			return nil, err
		}
		req.BootVolume = boot
		if boot != nil {
			if _, ok := boot.Root(); ok {
				req.ImageID = "" // volume-backed: the volume is the root disk
			}
		}
	}
	if len(sc.Personality) > 0 {
		if v.AtLeast(2, 57) {
			return nil, wire.BadRequest("Additional properties are not allowed ('personality' was unexpected)")
		}
		return nil, wire.NotImplemented("File injection (personality) is not supported by this cloud.")
	}
	if err := parseNetworks(sc.Networks, v, out); err != nil {
		return nil, err
	}
	if sc.KeyName != nil {
		req.KeyName = *sc.KeyName
	}
	if sc.UserData != nil {
		if err := checkUserData(*sc.UserData); err != nil {
			return nil, err
		}
		req.UserData = *sc.UserData
	}
	if err := checkMetadata("metadata", sc.Metadata); err != nil {
		return nil, err
	}
	req.Metadata = sc.Metadata
	if sc.AvailabilityZone != nil {
		az, host, _ := strings.Cut(*sc.AvailabilityZone, ":")
		req.AvailabilityZone, req.ForceHost = az, host
	}
	for field, p := range map[string]*string{"accessIPv4": sc.AccessIPv4, "accessIPv6": sc.AccessIPv6} {
		if p == nil {
			continue
		}
		ver := 4
		if field == "accessIPv6" {
			ver = 6
		}
		if err := checkIP(field, *p, ver); err != nil {
			return nil, err
		}
	}
	if sc.AccessIPv4 != nil {
		req.AccessIPv4 = *sc.AccessIPv4
	}
	if sc.AccessIPv6 != nil {
		req.AccessIPv6 = canonicalIP(*sc.AccessIPv6)
	}
	if sc.DiskConfig != nil {
		if *sc.DiskConfig != "AUTO" && *sc.DiskConfig != "MANUAL" {
			return nil, invalidField("OS-DCF:diskConfig", *sc.DiskConfig, "'"+*sc.DiskConfig+"' is not one of ['AUTO', 'MANUAL']")
		}
		req.DiskConfig = *sc.DiskConfig
	}
	if sc.ConfigDrive != nil {
		cd, err := boolish("config_drive", sc.ConfigDrive)
		if err != nil {
			return nil, err
		}
		req.ConfigDrive = cd
	}
	for _, g := range sc.SecurityGroups {
		if g.Name == "" {
			return nil, invalidField("name", "", "'' is too short")
		}
		req.SecurityGroups = append(req.SecurityGroups, g.Name)
	}
	if len(req.SecurityGroups) == 0 {
		req.SecurityGroups = []string{"default"}
	}
	if req.MinCount, err = count("min_count", sc.MinCount); err != nil {
		return nil, err
	}
	if req.MaxCount, err = count("max_count", sc.MaxCount); err != nil {
		return nil, err
	}
	if sc.MaxCount == nil {
		// Nova: max_count defaults to min_count.
		req.MaxCount = req.MinCount
	}
	if req.MinCount > req.MaxCount {
		return nil, wire.BadRequest("min_count must be <= max_count")
	}
	if sc.ReturnReservationID != nil {
		if out.returnResv, err = boolish("return_reservation_id", sc.ReturnReservationID); err != nil {
			return nil, err
		}
	}
	if sc.Description != nil {
		if !v.AtLeast(2, 19) {
			return nil, wire.BadRequest("Additional properties are not allowed ('description' was unexpected)")
		}
		if err := checkDescription(*sc.Description); err != nil {
			return nil, err
		}
		d := *sc.Description
		req.Description = &d
	}
	if sc.Tags != nil {
		if !v.AtLeast(2, 52) {
			return nil, wire.BadRequest("Additional properties are not allowed ('tags' was unexpected)")
		}
		if len(sc.Tags) > 50 {
			return nil, invalidField("tags", fmt.Sprint(sc.Tags), "is too long")
		}
		for _, t := range sc.Tags {
			if err := checkTag(t); err != nil {
				return nil, err
			}
		}
		req.Tags = sc.Tags
	}
	if sc.TrustedCerts != nil {
		if !v.AtLeast(2, 63) {
			return nil, wire.BadRequest("Additional properties are not allowed ('trusted_image_certificates' was unexpected)")
		}
		return nil, wire.NotImplemented("Trusted image certificate validation is not supported by this cloud.")
	}
	if sc.Host != nil || sc.HypervisorHostname != nil {
		if !v.AtLeast(2, 74) {
			return nil, wire.BadRequest("Additional properties are not allowed ('host' was unexpected)")
		}
		if sc.Host != nil {
			req.ForceHost = *sc.Host
		}
	}
	if sc.AdminPass != nil {
		out.adminPass = *sc.AdminPass
	}
	hints := b.SchedulerHints
	if hints == nil {
		hints = b.SchHnt
	}
	if hints != nil {
		var h map[string]json.RawMessage
		if err := json.Unmarshal(hints, &h); err != nil {
			return nil, invalidField("os:scheduler_hints", compact(hints), "is not of type 'object'")
		}
		if g, ok := h["group"]; ok {
			if err := json.Unmarshal(g, &out.group); err != nil || !isUUID(out.group) {
				return nil, invalidField("group", compact(g), "is not a 'uuid'")
			}
		}
		for _, k := range []string{"same_host", "different_host"} {
			raw, ok := h[k]
			if !ok {
				continue
			}
			ids, err := uuidOrList(raw)
			if err != nil {
				return nil, invalidField(k, compact(raw), "is not a 'uuid'")
			}
			if k == "same_host" {
				out.req.SchedulerHints.SameHost = ids
			} else {
				out.req.SchedulerHints.DifferentHost = ids
			}
		}
		if raw, ok := h["cloud"]; ok {
			// Canopy's own hint: place on this cloud only.
			if err := json.Unmarshal(raw, &out.req.SchedulerHints.Cloud); err != nil || out.req.SchedulerHints.Cloud == "" {
				return nil, invalidField("cloud", compact(raw), "is not a non-empty string")
			}
		}
	}
	return out, nil
}

// uuidOrList reads Nova's same_host/different_host hint: one server uuid
// or a list of them.
func uuidOrList(raw json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if !isUUID(one) {
			return nil, errors.New("not a uuid")
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	for _, id := range list {
		if !isUUID(id) {
			return nil, errors.New("not a uuid")
		}
	}
	return list, nil
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// parseNetworks reads "networks": a list, or "auto"/"none" from 2.37 (which
// also makes the field required).
func parseNetworks(raw json.RawMessage, v wire.Version, out *createParsed) error {
	if raw == nil {
		if v.AtLeast(2, 37) {
			return wire.BadRequest("Invalid input for field/attribute server. 'networks' is a required property")
		}
		out.req.AutoNetwork = true
		return nil
	}
	var word string
	if json.Unmarshal(raw, &word) == nil {
		if !v.AtLeast(2, 37) || (word != "auto" && word != "none") {
			return invalidField("networks", word, "'"+word+"' is not of type 'array'")
		}
		out.req.AutoNetwork = word == "auto"
		out.explicitNoNet = word == "none"
		return nil
	}
	var list []struct {
		UUID    *string `json:"uuid"`
		Port    *string `json:"port"`
		FixedIP *string `json:"fixed_ip"`
		Tag     *string `json:"tag"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return invalidField("networks", compact(raw), "is not a valid list of networks")
	}
	seenPorts := map[string]bool{}
	for _, n := range list {
		var nr broker.NetworkRequest
		if n.Port != nil && *n.Port != "" {
			if !isUUID(*n.Port) {
				return invalidField("port", *n.Port, "'"+*n.Port+"' is not a 'uuid'")
			}
			if seenPorts[*n.Port] {
				return wire.BadRequest("Duplicate networks (%s) are not allowed", *n.Port)
			}
			seenPorts[*n.Port] = true
			nr.PortID = *n.Port
		} else {
			if n.UUID == nil {
				return wire.BadRequest("Bad network format: missing 'uuid'")
			}
			if !isUUID(*n.UUID) {
				return wire.BadRequest("Bad networks format: network uuid is not in proper format (%s)", *n.UUID)
			}
			nr.NetworkID = *n.UUID
		}
		if n.FixedIP != nil {
			if err := checkIP("fixed_ip", *n.FixedIP, 0); err != nil && *n.FixedIP != "" {
				return invalidField("fixed_ip", *n.FixedIP, "'"+*n.FixedIP+"' is not a 'ipv4'")
			}
			nr.FixedIP = *n.FixedIP
		}
		out.req.Networks = append(out.req.Networks, nr)
	}
	return nil
}

func stringOrInt(field string, raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := n.Int64(); err == nil {
			return n.String(), nil
		}
	}
	return "", invalidField(field, compact(raw), compact(raw)+" is not of type 'string', 'integer'")
}

// count is Nova's positive_integer: an integer or a string of digits, >= 1.
func count(field string, raw json.RawMessage) (int, error) {
	if raw == nil {
		return 1, nil
	}
	s, err := stringOrInt(field, raw)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.Atoi(s)
	if perr != nil {
		return 0, invalidField(field, s, "'"+s+"' does not match '^[0-9]*$'")
	}
	if n < 1 {
		return 0, invalidField(field, s, s+" is less than the minimum of 1")
	}
	return n, nil
}

// boolish is Nova's parameter_types.boolean: JSON booleans and the usual strings.
func boolish(field string, raw json.RawMessage) (bool, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "1", "t", "true", "on", "y", "yes":
			return true, nil
		case "0", "f", "false", "off", "n", "no", "":
			return false, nil
		}
	}
	return false, invalidField(field, compact(raw), compact(raw)+" is not of type 'boolean', 'string'")
}

// createServer answers POST /servers: 202 with the first server's id,
// links and admin password, and its Location.
func (s *Service) createServer(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	pc, err := parseCreate(body, v)
	if err != nil {
		return err
	}
	ctx := r.Context()
	c := caller(r)
	pc.req.Caller = c
	if err := s.resolveCreate(ctx, c, pc); err != nil {
		return err
	}
	made, err := s.b.CreateServers(ctx, pc.req)
	if err != nil {
		return err
	}
	if pc.group != "" {
		s.joinGroup(ctx, pc.group, made)
	}
	if pc.returnResv {
		wire.WriteJSON(w, http.StatusAccepted, map[string]any{"reservation_id": "r-" + made[0].ID[:8]})
		return nil
	}
	first := made[0]
	pass := pc.adminPass
	if pass == "" {
		pass = newPassword()
	}
	base := wire.BaseURL(r)
	sgs := make([]map[string]string, 0, len(first.SecurityGroups))
	for _, g := range first.SecurityGroups {
		sgs = append(sgs, map[string]string{"name": g})
	}
	w.Header().Set("Location", base+"/compute/v2.1/servers/"+first.ID)
	wire.WriteJSON(w, http.StatusAccepted, map[string]any{"server": map[string]any{
		"id": first.ID, "links": selfLinks(base, "servers", first.ID), "OS-DCF:diskConfig": diskConfig(first),
		"security_groups": sgs, "adminPass": pass,
	}})
	return nil
}

// resolveCreate checks what the request names in the registry before the
// broker commits anything: key pair, availability zone, server group,
// metadata quota.
func (s *Service) resolveCreate(ctx context.Context, c broker.Caller, pc *createParsed) error {
	if pc.req.KeyName != "" {
		kp, err := s.keypairs.ByName(ctx, registry.Global, c.UserID+"/"+pc.req.KeyName)
		if errors.Is(err, registry.ErrNotFound) {
			return wire.BadRequest("Invalid key_name provided.")
		}
		if err != nil {
			return err
		}
		pc.req.PublicKey = kp.PublicKey
	}
	if az := pc.req.AvailabilityZone; az != "" {
		zones, err := s.opts.Zones(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, z := range zones {
			found = found || (z.Name == az && z.Available)
		}
		if !found {
			return wire.BadRequest("The requested availability zone is not available: %s", az)
		}
	}
	if pc.req.ForceHost != "" && !c.IsAdmin {
		return wire.Forbidden("Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.")
	}
	if q := s.b.Quota().MetadataItems; q >= 0 && len(pc.req.Metadata) > q {
		return wire.Forbidden("Quota exceeded for metadata_items: Requested %d, but already used 0 of %d metadata_items", len(pc.req.Metadata), q)
	}
	if pc.group != "" {
		g, err := s.groups.Get(ctx, c.ProjectID, pc.group)
		if err != nil || g == nil {
			return wire.BadRequest("Invalid input for field/attribute group. Value: %s. Server group %s could not be found.", pc.group, pc.group)
		}
		pc.req.ServerGroupID = pc.group
	}
	return nil
}

// readBody reads a JSON request body within the API limit.
func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, wire.MaxBodyBytes)); err != nil {
		return nil, wire.Errorf(http.StatusRequestEntityTooLarge, "Request is too large.")
	}
	return buf.Bytes(), nil
}

// newPassword is a random admin password as Nova generates one (12
// characters from an unambiguous alphabet).
func newPassword() string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// canonicalIP is Nova's rendering of an access address: the canonical text
// form ("0000:…:babe:220.12.22.2" is stored as "::babe:dc0c:1602"). An empty
// or unparsable value is kept as given (checkIP has already judged it).
func canonicalIP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}
