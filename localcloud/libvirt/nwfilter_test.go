package libvirt

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
)

// webGroup is a group in Neutron's vocabulary with one rule of each shape
// the translation handles.
var webGroup = proxies.SecurityGroupSpec{ID: "g-web", Name: "web", Rules: []proxies.SecurityGroupRule{
	{ID: "r1", Direction: "ingress", EtherType: "IPv4", Protocol: "tcp", PortMin: 22, PortMax: 22, RemoteIPPrefix: "192.0.2.7/24"},
	{ID: "r2", Direction: "egress", EtherType: "IPv4"},
	{ID: "r3", Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", PortMin: -1, PortMax: -1},
	{ID: "r4", Direction: "ingress", EtherType: "IPv4", Protocol: "icmp", PortMin: 8, PortMax: 0},
	{ID: "r5", Direction: "egress", EtherType: "IPv6", Protocol: "udp", PortMin: 53, PortMax: 53, RemoteIPPrefix: "2001:db8::/32"},
	{ID: "r6", Direction: "ingress", EtherType: "IPv4", Protocol: "17", PortMin: 1000, PortMax: 2000},
	{ID: "r7", Direction: "ingress", EtherType: "IPv6", Protocol: "icmp"},
}}

func TestGroupFilterXML(t *testing.T) {
	f, err := groupFilter(webGroup)
	if err != nil {
		t.Fatal(err)
	}
	doc := marshalCompact(t, f.Marshal)
	for _, want := range []string{
		`<filter name="canopy-sg-g-web" chain="root">`,
		`<uuid>` + filterUUID("canopy-sg-g-web") + `</uuid>`,
		`<rule action="accept" direction="in" priority="500"><tcp srcipaddr="192.0.2.0" srcipmask="24" dstportstart="22" dstportend="22"></tcp>`,
		`<rule action="accept" direction="out" priority="500"><all></all>`,
		`<rule action="accept" direction="in" priority="500"><icmp></icmp>`,
		`<icmp type="8"></icmp>`,
		`<rule action="accept" direction="out" priority="500"><udp-ipv6 dstipaddr="2001:db8::" dstipmask="32" dstportstart="53" dstportend="53"></udp-ipv6>`,
		`<udp dstportstart="1000" dstportend="2000"></udp>`,
		`<icmpv6></icmpv6>`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("group filter lacks %s:\n%s", want, doc)
		}
	}
	if x1, x2 := filterUUID("x"), filterUUID("x"); filterUUID("canopy-sg-a") == filterUUID("canopy-sg-b") || x1 != x2 {
		t.Error("filter UUIDs must be stable per name and differ between names")
	}
}

func TestGroupFilterRefusals(t *testing.T) {
	cases := []struct {
		name string
		rule proxies.SecurityGroupRule
		want error
	}{
		{"gre is not filterable", proxies.SecurityGroupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "gre"}, proxies.ErrNotSupported},
		{"dccp ports", proxies.SecurityGroupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "dccp", PortMin: 1, PortMax: 2}, proxies.ErrNotSupported},
		{"unexpanded remote group", proxies.SecurityGroupRule{Direction: "ingress", EtherType: "IPv4", RemoteGroupID: "g2"}, proxies.ErrInvalid},
		{"prefix of the other family", proxies.SecurityGroupRule{Direction: "ingress", EtherType: "IPv6", RemoteIPPrefix: "10.0.0.0/8"}, proxies.ErrInvalid},
		{"sideways", proxies.SecurityGroupRule{Direction: "sideways", EtherType: "IPv4"}, proxies.ErrInvalid},
		{"icmpv6 on IPv4", proxies.SecurityGroupRule{Direction: "ingress", EtherType: "IPv4", Protocol: "icmpv6"}, proxies.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := proxies.SecurityGroupSpec{ID: "g1", Rules: []proxies.SecurityGroupRule{c.rule}}
			if _, err := groupFilter(g); !errors.Is(err, c.want) {
				t.Errorf("groupFilter = %v; want %v", err, c.want)
			}
		})
	}
	if _, err := groupFilter(proxies.SecurityGroupSpec{ID: "../x"}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("groupFilter of id ../x = %v; want ErrInvalid", err)
	}
}

func TestPortFilterXML(t *testing.T) {
	f, err := portFilter("port-1", []string{"g1", "g2", "g1"})
	if err != nil {
		t.Fatal(err)
	}
	doc := marshalCompact(t, f.Marshal)
	for _, want := range []string{
		`<filter name="canopy-port-port-1" chain="root">`,
		`<filterref filter="clean-traffic"></filterref>`,
		`<filterref filter="canopy-sg-g1"></filterref>`,
		`<filterref filter="canopy-sg-g2"></filterref>`,
		`<rule action="accept" direction="in" priority="200"><all state="ESTABLISHED,RELATED"></all>`,
		`<rule action="accept" direction="out" priority="100"><udp srcportstart="68" dstportstart="67"></udp>`,
		`<rule action="drop" direction="in" priority="1000"><all></all>`,
		`<rule action="drop" direction="out" priority="1000"><all-ipv6></all-ipv6>`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("port filter lacks %s:\n%s", want, doc)
		}
	}
	if n := strings.Count(doc, `filter="canopy-sg-g1"`); n != 1 {
		t.Errorf("group g1 is referenced %d times; want once", n)
	}
	if _, err := portFilter("p", []string{"a/b"}); !errors.Is(err, proxies.ErrInvalid) {
		t.Errorf("portFilter with group a/b = %v; want ErrInvalid", err)
	}
}

func TestInterfaceFilterRef(t *testing.T) {
	n := proxies.NIC{PortID: "port-1", NetworkID: "net-1", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []string{"10.0.0.5", "2001:db8::5", "10.0.0.6"}}
	doc, err := buildDomainXML(domainSpec{Type: "qemu", Meta: instanceMeta{ID: "s1", Flavor: flavorMeta{RAMMB: 64}}, NICs: []proxies.NIC{n}},
		func(string) string { return "brqnet-1" })
	if err != nil {
		t.Fatal(err)
	}
	want := `<filterref filter="canopy-port-port-1"><parameter name="IP" value="10.0.0.5"></parameter><parameter name="IP" value="10.0.0.6"></parameter></filterref>`
	if !strings.Contains(compactXML(t, doc), want) {
		t.Errorf("domain XML lacks %s:\n%s", want, doc)
	}
}

// marshalCompact is compactXML of what marshal returns.
func marshalCompact(t *testing.T, marshal func() (string, error)) string {
	t.Helper()
	doc, err := marshal()
	if err != nil {
		t.Fatal(err)
	}
	return compactXML(t, doc)
}

// compactXML re-encodes doc without the indentation between elements, so
// a test can look for an element with its children as one string whatever
// the marshaller's layout. Text content, attributes and their order stay
// as they are.
func compactXML(t *testing.T, doc string) string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	var out bytes.Buffer
	enc := xml.NewEncoder(&out)
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parse XML: %v\n%s", err, doc)
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
			continue
		}
		if err := enc.EncodeToken(xml.CopyToken(tok)); err != nil {
			t.Fatalf("re-encode XML: %v\n%s", err, doc)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}
