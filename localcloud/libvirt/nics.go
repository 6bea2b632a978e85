package libvirt

import (
	"context"
	"encoding/xml"
	"slices"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies"
)

// DomainNICs reports the NICs of server id, as its metadata records them.
func (h *Host) DomainNICs(ctx context.Context, id string) ([]proxies.NIC, error) {
	d, err := h.lookup(ctx, "DomainNICs", id)
	if err != nil {
		return nil, err
	}
	out := make([]proxies.NIC, 0, len(d.p.meta.Ports))
	for _, p := range d.p.meta.Ports {
		n := p.nic()
		if n.MACAddress == "" {
			n.MACAddress = d.p.nics[p.ID] // the one libvirt generated
		}
		out = append(out, n)
	}
	return out, nil
}

// setMeta rewrites the domain's Canopy metadata, in its persistent
// definition and, when it runs, live.
func (h *Host) setMeta(lv *golibvirt.Libvirt, d dom, m instanceMeta) error {
	doc, err := xml.Marshal(m)
	if err != nil {
		return err
	}
	flags := golibvirt.DomainAffectConfig
	if d.state == golibvirt.DomainRunning || d.state == golibvirt.DomainPaused {
		flags |= golibvirt.DomainAffectLive
	}
	return lv.DomainSetMetadata(d.ref, int32(golibvirt.DomainMetadataElement), golibvirt.OptString{string(doc)},
		golibvirt.OptString{"canopy"}, golibvirt.OptString{MetadataNS}, flags)
}

// deviceFlags applies a device change to the definition and, when the
// domain runs, to the live guest.
func deviceFlags(d dom) uint32 {
	f := uint32(golibvirt.DomainDeviceModifyConfig)
	if d.state == golibvirt.DomainRunning || d.state == golibvirt.DomainPaused {
		f |= uint32(golibvirt.DomainDeviceModifyLive)
	}
	return f
}

// AttachDomainNIC plugs nic into server id (hot-plugged when it runs).
// Attaching a port the server has changes nothing.
func (h *Host) AttachDomainNIC(ctx context.Context, id string, nic proxies.NIC) (proxies.ServerStatus, error) {
	const op = "AttachNIC"
	if err := h.beginTask(op, "interface_attach", id, "interface_attaching"); err != nil {
		return proxies.ServerStatus{}, err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	if slices.ContainsFunc(d.p.meta.Ports, func(p portMeta) bool { return p.ID == nic.PortID }) {
		return h.settled(ctx, op, id)
	}
	if err := h.ensureBridge(ctx, op, nic.NetworkID); err != nil {
		return proxies.ServerStatus{}, err
	}
	iface := interfaceXML(nic, localcloud.BridgeName(nic.NetworkID))
	doc, err := iface.Marshal()
	if err != nil {
		return proxies.ServerStatus{}, &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "could not describe port " + nic.PortID, Cause: err}
	}
	m := d.p.meta
	m.Ports = append(slices.Clip(m.Ports), metaPort(nic))
	err = h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		if err := definePortFilters(lv, []proxies.NIC{nic}); err != nil {
			return err
		}
		if err := lv.DomainAttachDeviceFlags(d.ref, doc, deviceFlags(d)); err != nil {
			h.undefinePortFilters(lv, []string{nic.PortID})
			return err
		}
		return h.setMeta(lv, d, m)
	})
	if err != nil {
		return proxies.ServerStatus{}, err
	}
	return h.settled(ctx, op, id)
}

// DetachDomainNIC unplugs port portID from server id; nil when it has no
// such port. A live unplug needs the guest's cooperation (ACPI hot-plug): a
// guest that ignores it keeps the device until its next power off.
func (h *Host) DetachDomainNIC(ctx context.Context, id, portID string) error {
	const op = "DetachNIC"
	if err := h.beginTask(op, "interface_detach", id, "interface_detaching"); err != nil {
		return err
	}
	defer h.setTask(id, "")
	d, err := h.lookup(ctx, op, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.p.meta.Ports, func(p portMeta) bool { return p.ID == portID })
	if i < 0 {
		return nil
	}
	port := d.p.meta.Ports[i]
	iface := libvirtxml.DomainInterface{MAC: &libvirtxml.DomainInterfaceMAC{Address: d.p.nics[portID]}}
	doc, err := iface.Marshal()
	if err != nil {
		return &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "could not describe port " + portID, Cause: err}
	}
	m := d.p.meta
	m.Ports = slices.Delete(slices.Clone(m.Ports), i, i+1)
	return h.do(ctx, op, func(lv *golibvirt.Libvirt) error {
		if d.p.nics[port.ID] != "" {
			if err := lv.DomainDetachDeviceFlags(d.ref, doc, deviceFlags(d)); err != nil {
				return err
			}
		}
		if err := h.setMeta(lv, d, m); err != nil {
			return err
		}
		h.undefinePortFilters(lv, []string{port.ID})
		return nil
	})
}
