package libvirt

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/canopy-cloud/canopy/proxies"
)

// MetadataNS is the XML namespace of Canopy's element in a domain's
// <metadata>; the element is the durable tag that ties the domain to its
// top id.
const MetadataNS = "https://canopy-cloud.dev/xmlns/libvirt/instance/1"

// domainPrefix starts the name of every domain Canopy defines.
const domainPrefix = "canopy-"

// instanceMeta is Canopy's element in a domain's <metadata>.
type instanceMeta struct {
	XMLName xml.Name   `xml:"https://canopy-cloud.dev/xmlns/libvirt/instance/1 instance"`
	ID      string     `xml:"id"`
	Project string     `xml:"project,omitempty"`
	Name    string     `xml:"name,omitempty"`
	Image   string     `xml:"image,omitempty"`
	Created string     `xml:"created,omitempty"`
	Flavor  flavorMeta `xml:"flavor"`
	Ports   []portMeta `xml:"port"`
}

// portMeta is one NIC of the domain as Canopy gave it.
type portMeta struct {
	ID      string `xml:"id,attr"`
	Network string `xml:"network,attr"`
	MAC     string `xml:"mac,attr,omitempty"`
	IPs     string `xml:"ips,attr,omitempty"`    // comma-separated
	Groups  string `xml:"groups,attr,omitempty"` // security group ids, comma-separated
}

func metaPort(n proxies.NIC) portMeta {
	return portMeta{ID: n.PortID, Network: n.NetworkID, MAC: n.MACAddress,
		IPs: strings.Join(n.FixedIPs, ","), Groups: strings.Join(n.SecurityGroupIDs, ",")}
}

func (p portMeta) nic() proxies.NIC {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	return proxies.NIC{PortID: p.ID, NetworkID: p.Network, MACAddress: p.MAC, FixedIPs: split(p.IPs), SecurityGroupIDs: split(p.Groups)}
}

type flavorMeta struct {
	ID     string `xml:"id,attr"`
	Name   string `xml:"name,attr,omitempty"`
	VCPUs  int    `xml:"vcpus,attr"`
	RAMMB  int    `xml:"ram_mb,attr"`
	DiskGB int    `xml:"disk_gb,attr"`
}

func (f flavorMeta) flavor() proxies.Flavor {
	return proxies.Flavor{ID: f.ID, Name: f.Name, VCPUs: f.VCPUs, RAMMB: f.RAMMB, DiskGB: f.DiskGB}
}

func metaFlavor(f proxies.Flavor) flavorMeta {
	return flavorMeta{ID: f.ID, Name: f.Name, VCPUs: f.VCPUs, RAMMB: f.RAMMB, DiskGB: f.DiskGB}
}

// domainName is the libvirt name of server id.
func domainName(id string) string { return domainPrefix + id }

// validID accepts the ids Canopy mints (UUIDs) and other plain tokens; an id
// names a directory, so nothing that could escape it passes.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// domainSpec is everything a domain's XML is built from.
type domainSpec struct {
	Type     string // kvm or qemu
	Meta     instanceMeta
	RootDisk string
	SeedISO  string
	Console  string
	NICs     []proxies.NIC
}

// nicAlias is the libvirt user alias of the NIC of port portID, by which a
// detach finds it.
func nicAlias(portID string) string { return "ua-port-" + portID }

// tapName is the host side of a NIC (at most 15 bytes), as Nova's "tap"
// plus the port id's head.
func tapName(portID string) string {
	p := strings.ReplaceAll(portID, "-", "")
	if len(p) > 11 {
		p = p[:11]
	}
	return "tap" + p
}

// interfaceXML is one NIC plugged into its network's bridge.
func interfaceXML(n proxies.NIC, bridge string) libvirtxml.DomainInterface {
	iface := libvirtxml.DomainInterface{
		Source: &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: bridge}},
		Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		Alias:  &libvirtxml.DomainAlias{Name: nicAlias(n.PortID)},
	}
	if n.PortID != "" {
		iface.Target = &libvirtxml.DomainInterfaceTarget{Dev: tapName(n.PortID)}
		iface.FilterRef = filterRef(n)
	}
	if n.MACAddress != "" {
		iface.MAC = &libvirtxml.DomainInterfaceMAC{Address: n.MACAddress}
	}
	return iface
}

// buildDomainXML renders the domain of s.
func buildDomainXML(s domainSpec, bridge func(networkID string) string) (string, error) {
	meta, err := xml.Marshal(s.Meta)
	if err != nil {
		return "", err
	}
	port := uint(0)
	d := libvirtxml.Domain{
		Type:     s.Type,
		Name:     domainName(s.Meta.ID),
		Title:    s.Meta.Name,
		Metadata: &libvirtxml.DomainMetadata{XML: string(meta)},
		Memory:   &libvirtxml.DomainMemory{Value: uint(s.Meta.Flavor.RAMMB), Unit: "MiB"},
		VCPU:     &libvirtxml.DomainVCPU{Value: uint(max(s.Meta.Flavor.VCPUs, 1))},
		OS: &libvirtxml.DomainOS{
			Type:        &libvirtxml.DomainOSType{Type: "hvm", Arch: "x86_64", Machine: "pc"},
			BootDevices: []libvirtxml.DomainBootDevice{{Dev: "hd"}},
		},
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		Clock:      &libvirtxml.DomainClock{Offset: "utc"},
		OnPoweroff: "destroy", OnReboot: "restart", OnCrash: "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{
				{
					Device: "disk",
					Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
					Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.RootDisk}},
					Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
				},
				{
					Device:   "cdrom",
					Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
					Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.SeedISO}},
					Target:   &libvirtxml.DomainDiskTarget{Dev: "hdc", Bus: "ide"},
					ReadOnly: &libvirtxml.DomainDiskReadOnly{},
				},
			},
			// A pty whose output virtlogd logs to the console file: the
			// log is rotated (virtlogd's max_size) and survives restarts.
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port},
				Log:    &libvirtxml.DomainChardevLog{File: s.Console, Append: "on"},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
	for _, n := range s.NICs {
		d.Devices.Interfaces = append(d.Devices.Interfaces, interfaceXML(n, bridge(n.NetworkID)))
	}
	return d.Marshal()
}

// parsedDomain is what the host reads back from a domain's XML.
type parsedDomain struct {
	meta     instanceMeta
	uuid     string
	rootDisk string
	console  string
	nics     map[string]string // port id → MAC
	disks    map[string]string // target dev → source file (volumes and root)
}

// parseDomainXML reads a domain's XML; ok is false for domains Canopy did
// not define.
func parseDomainXML(doc string) (parsedDomain, bool, error) {
	var d libvirtxml.Domain
	if err := d.Unmarshal(doc); err != nil {
		return parsedDomain{}, false, err
	}
	if !strings.HasPrefix(d.Name, domainPrefix) || d.Metadata == nil {
		return parsedDomain{}, false, nil
	}
	var m instanceMeta
	if err := xml.Unmarshal([]byte(extractMeta(d.Metadata.XML)), &m); err != nil || m.ID == "" {
		return parsedDomain{}, false, nil
	}
	p := parsedDomain{meta: m, uuid: d.UUID, nics: map[string]string{}, disks: map[string]string{}}
	if d.Devices != nil {
		for _, disk := range d.Devices.Disks {
			if disk.Device != "disk" || disk.Source == nil || disk.Source.File == nil || disk.Target == nil {
				continue
			}
			p.disks[disk.Target.Dev] = disk.Source.File.File
			if disk.Target.Dev == "vda" {
				p.rootDisk = disk.Source.File.File
			}
		}
		for _, s := range d.Devices.Serials {
			switch {
			case p.console != "":
			case s.Log != nil && s.Log.File != "":
				p.console = s.Log.File
			case s.Source != nil && s.Source.File != nil:
				p.console = s.Source.File.Path
			}
		}
		for _, i := range d.Devices.Interfaces {
			if i.Alias != nil && strings.HasPrefix(i.Alias.Name, "ua-port-") && i.MAC != nil {
				p.nics[strings.TrimPrefix(i.Alias.Name, "ua-port-")] = i.MAC.Address
			}
		}
	}
	return p, true, nil
}

// extractMeta finds Canopy's element among a <metadata>'s children (other
// tools may keep their own elements there).
func extractMeta(inner string) string {
	dec := xml.NewDecoder(strings.NewReader(inner))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != MetadataNS || se.Name.Local != "instance" {
			continue
		}
		var m instanceMeta
		if err := dec.DecodeElement(&m, &se); err != nil {
			return ""
		}
		out, err := xml.Marshal(m)
		if err != nil {
			return ""
		}
		return string(out)
	}
}

// createdAt is the time the domain was created, from its metadata.
func (m instanceMeta) createdAt() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, m.Created)
	return t
}

// redefineXML returns doc changed by mutate, with Canopy's metadata element
// rewritten (other tools' elements in <metadata> are dropped).
func redefineXML(doc string, mutate func(*libvirtxml.Domain, *instanceMeta)) (string, error) {
	var d libvirtxml.Domain
	if err := d.Unmarshal(doc); err != nil {
		return "", err
	}
	if d.Metadata == nil {
		return "", fmt.Errorf("domain %s has no Canopy metadata", d.Name)
	}
	var m instanceMeta
	if err := xml.Unmarshal([]byte(extractMeta(d.Metadata.XML)), &m); err != nil {
		return "", err
	}
	mutate(&d, &m)
	meta, err := xml.Marshal(m)
	if err != nil {
		return "", err
	}
	d.Metadata.XML = string(meta)
	return d.Marshal()
}
