// Package openstack is Canopy's proxy into an existing OpenStack cloud (the
// "bottom"), driven through gophercloud v2 with the bottom's own Keystone
// tokens. Canopy is itself an OpenStack, so a bottom can be another Canopy.
//
// What a Canopy resource becomes in the bottom:
//
//   - a project: one bottom project per top project (project_map, else
//     canopy-<top project id> created on first use when admin is true, else
//     the credential's own project); see ProjectMapper.
//   - a server: a Nova server named as the top one, with metadata
//     canopy_id=<top id> and canopy_project=<top project>, plus the tag
//     canopy:<top id> from microversion 2.52. A create first lists servers by
//     name and matches canopy_id, so a retry finds what it made. Flavors map
//     through flavor_map, else the smallest bottom flavor that fits; images
//     through image_map, else the imported copy, else the same id. Resize is
//     confirmed automatically; rebuild keeps the canopy_* metadata.
//   - an image: a Glance image canopy-<top id> with property canopy_id,
//     checked against the spec's md5 and sha512 after upload.
//   - a network, subnet, port, security group, router: the Neutron resource
//     named canopy-<top id>; floating IPs carry canopy:<top id> in their
//     description. Addresses are the bottom's own (it allocates them).
//     External networks are never created: network_map names the bottom's.
//   - a volume or volume snapshot: a Cinder v3 one named canopy-<top id> with
//     metadata canopy_id; attachments go through the bottom Nova.
//   - inventory: one pseudo-host <cloud>:<bottom zone> per bottom
//     availability zone, sized from the bottom's /limits (and hypervisor
//     statistics for admin credentials).
//
// Declared unsupported: live migration (the bottom's hosts are its own) and
// visible hosts. Every call has a deadline (timeout); 413/429 with
// Retry-After and 503 are retried with backoff, 409 only where repeating is
// safe (delete). Errors are typed proxies errors whose messages never carry
// the bottom's body or a credential.
package openstack
