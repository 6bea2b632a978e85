package libvirt

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"libvirt.org/go/libvirtxml"

	"github.com/canopy-cloud/canopy/proxies"
)

func TestDomainXMLRoundTrip(t *testing.T) {
	meta := instanceMeta{ID: "0b5c-id", Project: "p1", Name: "vm1", Image: "img", Created: "2026-11-29T10:00:00Z",
		Flavor: flavorMeta{ID: "2", Name: "m1.small", VCPUs: 2, RAMMB: 2048, DiskGB: 20},
		Ports:  []portMeta{metaPort(proxies.NIC{PortID: "port-1", NetworkID: "net-1", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []string{"10.0.0.5"}})}}
	doc, err := buildDomainXML(domainSpec{Type: "kvm", Meta: meta, RootDisk: "/s/root.qcow2", SeedISO: "/s/seed.iso", Console: "/s/console.log",
		NICs: []proxies.NIC{{PortID: "port-1", NetworkID: "net-1", MACAddress: "fa:16:3e:00:00:01"}}}, func(n string) string { return "brq" + n })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<domain type="kvm">`, `<name>canopy-0b5c-id</name>`, `<memory unit="MiB">2048</memory>`, `<vcpu>2</vcpu>`,
		`<source bridge="brqnet-1">`, `<mac address="fa:16:3e:00:00:01">`, `<target dev="vda" bus="virtio">`, `<log file="/s/console.log" append="on">`,
		`xmlns="` + MetadataNS + `"`, `<alias name="ua-port-port-1">`} {
		if !strings.Contains(doc, want) {
			t.Errorf("domain XML lacks %s:\n%s", want, doc)
		}
	}
	p, ok, err := parseDomainXML(doc)
	if err != nil || !ok {
		t.Fatalf("parseDomainXML = %v, %v", ok, err)
	}
	if p.meta.ID != meta.ID || p.meta.Flavor != meta.Flavor || p.rootDisk != "/s/root.qcow2" || p.console != "/s/console.log" ||
		p.nics["port-1"] != "fa:16:3e:00:00:01" || len(p.meta.Ports) != 1 || p.meta.Ports[0].nic().FixedIPs[0] != "10.0.0.5" {
		t.Errorf("parsed %+v", p)
	}
	// libvirt writes the namespace with a prefix; the metadata still parses.
	prefixed := strings.Replace(doc, `<instance xmlns="`+MetadataNS+`">`, `<canopy:instance xmlns:canopy="`+MetadataNS+`">`, 1)
	prefixed = strings.Replace(prefixed, `</instance>`, `</canopy:instance>`, 1)
	if p2, ok, _ := parseDomainXML(prefixed); !ok || p2.meta.ID != meta.ID {
		t.Errorf("prefixed metadata parsed as %+v, %v", p2.meta, ok)
	}
	if _, ok, _ := parseDomainXML(`<domain type="kvm"><name>someone-else</name></domain>`); ok {
		t.Error("a domain Canopy did not define was taken as Canopy's")
	}
}

func TestCPUTraits(t *testing.T) {
	cpu := &libvirtxml.CapsHostCPU{Arch: "x86_64", Model: "Skylake-Client-IBRS", FeatureFlags: []libvirtxml.CapsHostCPUFeatureFlag{{Name: "sse4.2"}, {Name: "avx2"}, {Name: "avx512-bf16"}}}
	got := strings.Join(cpuTraits(cpu), " ")
	want := "CUSTOM_CPU_MODEL_SKYLAKE_CLIENT_IBRS HW_CPU_X86_AVX2 HW_CPU_X86_AVX512_BF16 HW_CPU_X86_SSE42"
	if got != want {
		t.Errorf("cpuTraits = %s; want %s", got, want)
	}
}

func TestTailLines(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"a\r\nb\r\nc\r\n", 0, "a\nb\nc\n"},
		{"a\nb\nc", 2, "b\nc\n"},
		{"", 5, ""},
		{"x\n", 9, "x\n"},
	}
	for _, c := range cases {
		if got := tailLines(c.in, c.n); got != c.want {
			t.Errorf("tailLines(%q, %d) = %q; want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestNoCloudSeed(t *testing.T) {
	spec := proxies.ServerSpec{ID: "top-id", Name: "web", PublicKey: "ssh-ed25519 AAAA k\n",
		NICs: []proxies.NIC{{PortID: "p", NetworkID: "n", MACAddress: "FA:16:3E:00:00:01", FixedIPs: []string{"10.0.0.5"}},
			{PortID: "q", NetworkID: "other", MACAddress: "fa:16:3e:00:00:02", FixedIPs: []string{"192.0.2.7"}}}}
	f, err := nocloudSeed(spec, map[string][]proxies.SubnetSpec{"n": {{CIDR: "10.0.0.0/24", GatewayIP: "10.0.0.1", DNSNameservers: []string{"9.9.9.9"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := yaml.Unmarshal(f.MetaData, &meta); err != nil || meta["instance-id"] != "top-id" || meta["local-hostname"] != "web" {
		t.Errorf("meta-data %s (%v); want instance-id top-id", f.MetaData, err)
	}
	var net struct {
		Version   int `yaml:"version"`
		Ethernets map[string]struct {
			Match     map[string]string `yaml:"match"`
			Addresses []string          `yaml:"addresses"`
			Gateway4  string            `yaml:"gateway4"`
		} `yaml:"ethernets"`
	}
	if err := yaml.Unmarshal(f.NetworkConfig, &net); err != nil {
		t.Fatal(err)
	}
	e0, e1 := net.Ethernets["eth0"], net.Ethernets["eth1"]
	if net.Version != 2 || e0.Match["macaddress"] != "fa:16:3e:00:00:01" || e0.Addresses[0] != "10.0.0.5/24" || e0.Gateway4 != "10.0.0.1" {
		t.Errorf("eth0 = %+v (version %d)", e0, net.Version)
	}
	if e1.Addresses[0] != "192.0.2.7/32" || e1.Gateway4 != "" {
		t.Errorf("eth1 (subnet unknown) = %+v; want a /32 and no gateway", e1)
	}
	if !strings.HasPrefix(string(f.UserData), "#cloud-config") {
		t.Errorf("user-data without user data = %q; want an empty cloud-config", f.UserData)
	}
	spec.UserData = []byte("#!/bin/sh\necho hi\n")
	if f, _ := nocloudSeed(spec, nil); string(f.UserData) != string(spec.UserData) {
		t.Errorf("user-data = %q; want the server's own", f.UserData)
	}
	spec.NICs[0].FixedIPs = []string{"not-an-ip"}
	if _, err := nocloudSeed(spec, nil); err == nil {
		t.Error("a NIC with a bad fixed IP made a seed")
	}
}
