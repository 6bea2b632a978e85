package scheduler

import (
	"slices"
	"strings"
)

// Image properties the ImagePropertiesFilter reads (Glance's names; the
// older unprefixed ones are accepted as Nova accepts them).
const (
	ImageArchitecture   = "hw_architecture"
	ImageHypervisorType = "img_hv_type"
	ImageVMMode         = "hw_vm_mode"
)

// ImagePropertiesFilter keeps the hosts that can run the request's image,
// like Nova's: the image's architecture, hypervisor type and VM mode
// properties (Request.ImageProperties) must be among what the host
// supports. A host supports the architectures in its "architecture" label
// (comma-separated; x86_64 when it has none, and i686 beside x86_64), the
// hypervisor types its hypervisor_type implies (HostHypervisorTypes: the
// value os-hypervisors shows) and the hvm VM mode. An image without these
// properties fits everywhere.
type ImagePropertiesFilter struct{}

// Name is Nova's filter name.
func (ImagePropertiesFilter) Name() string { return "ImagePropertiesFilter" }

// Pass reports whether h can run the image.
func (f ImagePropertiesFilter) Pass(h HostState, req Request) bool {
	return imageRuleOf(&req).passHost(&h)
}

func (ImagePropertiesFilter) applies(req *Request) bool { return imageRuleOf(req).any() }

func (ImagePropertiesFilter) prepare(_ []HostState, req *Request) Filter { return imageRuleOf(req) }

// imageRule is an image's requirements, canonical ("" = any).
type imageRule struct{ arch, hvType, vmMode string }

func (imageRule) Name() string { return "ImagePropertiesFilter" }

func (r imageRule) Pass(h HostState, _ Request) bool { return r.passHost(&h) }

func (r imageRule) pass(h *HostState, _ *Request) bool { return r.passHost(h) }

func (r imageRule) any() bool { return r.arch != "" || r.hvType != "" || r.vmMode != "" }

func (r imageRule) passHost(h *HostState) bool {
	return (r.arch == "" || slices.Contains(HostArchitectures(h), r.arch)) &&
		(r.hvType == "" || slices.Contains(HostHypervisorTypes(h.HypervisorType), r.hvType)) &&
		(r.vmMode == "" || r.vmMode == "hvm")
}

// why says which property h cannot serve, for Explain.
func (r imageRule) why(h *HostState, _ *Request) string {
	switch {
	case r.arch != "" && !slices.Contains(HostArchitectures(h), r.arch):
		return "the image's architecture is " + r.arch + "; host " + h.Host + " runs " + strings.Join(HostArchitectures(h), ", ")
	case r.hvType != "" && !slices.Contains(HostHypervisorTypes(h.HypervisorType), r.hvType):
		return "the image needs hypervisor type " + r.hvType + "; host " + h.Host + " (" + h.HypervisorType + ") offers " +
			list(HostHypervisorTypes(h.HypervisorType))
	}
	return "the image needs VM mode " + r.vmMode + "; host " + h.Host + " runs hvm guests only"
}

// imageRuleOf reads the image's requirements from its properties.
func imageRuleOf(req *Request) imageRule {
	p := req.ImageProperties
	if len(p) == 0 {
		return imageRule{}
	}
	return imageRule{
		arch:   canonicalArch(first(p, ImageArchitecture, "architecture")),
		hvType: canonicalHVType(first(p, ImageHypervisorType, "hypervisor_type")),
		vmMode: canonicalVMMode(first(p, ImageVMMode, "vm_mode")),
	}
}

func first(p map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(p[k]); v != "" {
			return v
		}
	}
	return ""
}

// canonicalArch is Nova's Architecture.canonicalize, with the Debian names.
func canonicalArch(a string) string {
	a = strings.ToLower(a)
	switch a {
	case "i386", "i486", "i586", "x86_32", "x86_32p":
		return "i686"
	case "amd64", "x64", "x86-64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "armhf":
		return "armv7l"
	case "ppc64el":
		return "ppc64le"
	}
	return a
}

// canonicalHVType is Nova's HVType.canonicalize.
func canonicalHVType(t string) string {
	t = strings.ToLower(t)
	if t == "xapi" {
		return "xen"
	}
	return t
}

// canonicalVMMode is Nova's VMMode.canonicalize.
func canonicalVMMode(m string) string {
	switch m = strings.ToLower(m); m {
	case "pv":
		return "xen"
	case "hv", "baremetal":
		return "hvm"
	}
	return m
}

// HostArchitectures are the guest architectures h runs: its
// "architecture" label (comma-separated), else x86_64; an x86_64 host also
// runs i686 guests, as Nova's libvirt driver reports.
func HostArchitectures(h *HostState) []string {
	label := h.Labels["architecture"]
	if label == "" {
		return x86Arches
	}
	var out []string
	for a := range strings.SplitSeq(label, ",") {
		if a = canonicalArch(strings.TrimSpace(a)); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if slices.Contains(out, "x86_64") && !slices.Contains(out, "i686") {
		out = append(out, "i686")
	}
	return out
}

var x86Arches = []string{"x86_64", "i686"}

// HostHypervisorTypes are the image hypervisor types (img_hv_type) a host
// of the given hypervisor_type runs, as Nova would report them for the
// backend: a local KVM host runs kvm and qemu images, a TCG one qemu; a
// bare-metal machine ironic (Nova's ironic driver: baremetal); vSphere
// vmware; Azure hyperv; AWS (Nitro) kvm; a bottom OpenStack kvm and qemu
// (libvirt, the usual driver). Other values stand for themselves.
func HostHypervisorTypes(hypervisorType string) []string {
	switch strings.ToLower(hypervisorType) {
	case "kvm":
		return hvKVM
	case "qemu":
		return hvQEMU
	case "ironic", "baremetal":
		return hvIronic
	case "vmware vcenter server", "vmware":
		return hvVMware
	case "azure", "hyperv":
		return hvHyperV
	case "ec2":
		return hvEC2
	case "openstack":
		return hvOpenStack
	case "fake":
		return hvFake
	case "":
		return nil
	}
	return []string{strings.ToLower(hypervisorType)}
}

var (
	hvKVM       = []string{"kvm", "qemu"}
	hvQEMU      = []string{"qemu"}
	hvIronic    = []string{"ironic", "baremetal"}
	hvVMware    = []string{"vmware"}
	hvHyperV    = []string{"hyperv"}
	hvEC2       = []string{"kvm"}
	hvOpenStack = []string{"kvm", "qemu"}
	hvFake      = []string{"fake"}
)
