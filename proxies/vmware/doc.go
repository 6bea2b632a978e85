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
//   - A volume is, by vsphere.volumes (Backend.VolumeMode says which one a
//     vCenter got): "fcd", a first-class disk (vslm) named
//     "canopy-vol-<top id>" on the configured datastore; or "vmdk", a plain
//     VMDK file "[datastore] canopy-volumes/<top id>.vmdk" (made with
//     CreateVirtualDisk, attached as a VirtualDisk backed by that file with
//     no file operation, detached keeping the file, grown with
//     ExtendVirtualDisk, deleted with DeleteVirtualDisk) for a vCenter
//     without the vStorageObject API. "auto" (the default) is fcd when the
//     vCenter's vStorageObjectManager answers a list of the datastore's disks
//     and vmdk when it has none or answers that the method is missing. Attach
//     records the device in the VM's extraConfig (canopy.vol.<volume id>).
//     Snapshots: in fcd mode on a vCenter with CreateDiskFromSnapshot
//     (vSphere 6.7+, probed at connect with a disk that does not exist),
//     vSphere's own disk snapshots, and a volume from one uses that method;
//     otherwise (vmdk mode, or a vCenter 6.5 and vcsim) a snapshot is a full
//     copy "canopy-volumes/<volume id>.snap.<snapshot id>.vmdk"
//     (CopyVirtualDisk) and a volume from it another copy (registered as a
//     first-class disk in fcd mode). Each copy is staged as <name>.part.vmdk,
//     grown to its volume's (or the asked) size and moved into place whole,
//     so a retry never keeps half a copy. A server's delete detaches the volume
//     files it has first (destroying a VM deletes all its disks).
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
