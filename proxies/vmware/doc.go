// Package vmware is Canopy's proxy into a VMware vCenter, through govmomi.
//
// The mapping, from Canopy's (OpenStack's) resources to vSphere's:
//
//   - A server is a virtual machine named "canopy-<top id>" in the
//     configured folder, cloned from the template of its image, with the top
//     id also in extraConfig "canopy.id" (the durable tag the sync loop can
//     adopt from). A create first looks the VM up by that name, so a retried
//     create finds the VM it made. The flavor sets CPUs and memory and grows
//     (never shrinks) the root disk; user data and keys reach cloud-init's
//     VMware datasource through guestinfo.userdata and guestinfo.metadata
//     (base64). Each NIC is a vmxnet3 card on the network's port group with
//     the MAC the registry allocated.
//   - Each configured cluster (or resource pool) is one availability zone and
//     one pseudo-host in the inventory; capacity is the sum of its connected
//     hosts that are not in maintenance, storage the datastore's.
//   - An image is a VM template: a mapped one (templates in the config), one
//     made by ImportImage (the raw disk uploaded to the datastore as the flat
//     extent of a VMDK with a descriptor beside it, attached to a new VM that
//     is marked a template; qcow2, vmdk, vhd, vhdx and vdi are converted to
//     raw with qemu-img first), or a server's snapshot (a clone to a
//     template).
//   - A network is a port group: mapped (network_map) or created as
//     "<port_group_prefix><top id>" on the configured distributed switch.
//     Each created port group gets its own VLAN from vsphere.vlans; without
//     that range they carry no VLAN and isolation is the physical network's.
//   - A port is a NIC with its MAC; the port id is kept in extraConfig
//     (canopy.nic.<port id>), so NICs attach and detach by port.
//   - A volume is a first-class disk (vslm) named "canopy-vol-<top id>" on
//     the configured datastore; attach records the device in the VM's
//     extraConfig (canopy.vol.<volume id>). A volume from a snapshot uses
//     CreateDiskFromSnapshot (vSphere 6.7+; vcsim lacks it and answers
//     ErrNotSupported).
//   - Watch follows power states through one PropertyCollector filter over
//     a ContainerView of the folder, for the broker's sync loop.
//
// Declared unsupported, and why: console output (the vSphere API cannot read
// a VM's serial console), security groups, routers and floating IPs (they
// need NSX, which this proxy does not drive), live migration (vMotion is not
// wired), rebuild; volumes from images or from other volumes. A soft reboot
// needs VMware Tools running in the guest (else ErrConflict; a hard reboot
// resets the VM).
package vmware
