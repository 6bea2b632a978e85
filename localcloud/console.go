package localcloud

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"strings"
)

// maxConsoleLines bounds a simulated console (older lines roll off, as a
// real serial log file is rotated).
const maxConsoleLines = 2000

// bootLog is the serial output of one simulated boot: a kernel banner that
// says plainly the machine is simulated, then cloud-init's usual lines with
// the server's name, id, image and key. It never prints the boot disk's
// CANOPY-BOOT-OK line: that line proves guest code ran, and none does here.
func bootLog(host string, d *domain) []string {
	s := d.spec
	t := float64(d.boots-1) * 0.001
	hostname := s.Name
	if hostname == "" {
		hostname = "server-" + s.ID
	}
	lines := []string{
		fmt.Sprintf("[    %.6f] Linux version 6.1.0-canopy-sim (Canopy simulated guest; hypervisor_type fake on host %s)", t, host),
		fmt.Sprintf("[    %.6f] Command line: BOOT_IMAGE=/boot/vmlinuz root=LABEL=cloudimg-rootfs ro console=ttyS0", t),
		fmt.Sprintf("[    %.6f] DMI: OpenStack Foundation OpenStack Nova, BIOS Canopy-simulated 01/01/2011", t),
		fmt.Sprintf("[    %.6f] Memory: %dK available, %d vCPUs", t+0.01, s.Flavor.RAMMB*1024, s.Flavor.VCPUs),
		fmt.Sprintf("[    %.6f] EXT4-fs (vda1): mounted filesystem (root disk %d GB, image %s)", t+0.9, s.Flavor.DiskGB, s.ImageID),
		"[  OK  ] Reached target Network.",
		"cloud-init[412]: Cloud-init v. 23.1 running 'init' (simulated).",
		"cloud-init[412]: ci-info: instance-id: " + s.ID,
		"cloud-init[412]: ci-info: local-hostname: " + hostname,
		"cloud-init[412]: ci-info: availability-zone: " + s.AvailabilityZone,
	}
	for _, n := range s.NICs {
		lines = append(lines, fmt.Sprintf("cloud-init[412]: ci-info: | eth | %s | %s | network %s |", n.MACAddress, strings.Join(n.FixedIPs, ","), n.NetworkID))
	}
	if s.PublicKey != "" {
		lines = append(lines, "cloud-init[412]: ci-info: Authorized keys for user canopy: "+keyFingerprint(s.PublicKey)+" "+s.KeyName)
	}
	lines = append(lines,
		"cloud-init[412]: Cloud-init v. 23.1 finished. Datasource DataSourceOpenStack.",
		"",
		"Canopy simulated guest "+hostname+" ttyS0 (no guest code runs on a simulated host)",
		"",
		hostname+" login: ",
	)
	return lines
}

// shutdownLog is the serial output of a clean power-off.
func shutdownLog(d *domain) []string {
	return []string{
		"[  OK  ] Stopped target Network.",
		"[  OK  ] Reached target Power-Off.",
		"reboot: Power down",
	}
}

// keyFingerprint is an SSH key's MD5 fingerprint, as cloud-init prints it.
func keyFingerprint(pub string) string {
	f := strings.Fields(pub)
	if len(f) < 2 {
		return "(unparsable key)"
	}
	raw, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "(unparsable key)"
	}
	sum := md5.Sum(raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return f[0] + " " + strings.Join(parts, ":")
}

// tail joins the last n lines (all when n <= 0), bounding what is kept.
func tail(lines []string, n int) string {
	if n > 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// appendConsole appends to a console, rolling off the oldest lines.
func appendConsole(console []string, lines ...string) []string {
	console = append(console, lines...)
	if over := len(console) - maxConsoleLines; over > 0 {
		console = append(console[:0], console[over:]...)
	}
	return console
}
