package bootdisk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuildLayout(t *testing.T) {
	cases := []struct {
		name    string
		tag     string
		size    int
		wantErr bool
	}{
		{name: "one sector", tag: "a", size: 512},
		{name: "one MiB", tag: "canopy-boot-a", size: DefaultSize},
		{name: "not a multiple", tag: "a", size: 1000, wantErr: true},
		{name: "too small", tag: "a", size: 0, wantErr: true},
		{name: "tag too long", tag: strings.Repeat("x", 500), size: 512, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Build(tc.tag, tc.size)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(d) != tc.size || d[510] != 0x55 || d[511] != 0xAA {
				t.Fatalf("bad layout: len %d sig %x %x", len(d), d[510], d[511])
			}
			// The message address in "mov si" must point right after the code.
			if int(d[6])|int(d[7])<<8 != 0x7C00+len(code) {
				t.Fatalf("message address %#x, code is %d bytes", int(d[6])|int(d[7])<<8, len(code))
			}
			if !bytes.Contains(d[:512], []byte(Line(tc.tag))) {
				t.Fatal("line missing from boot sector")
			}
		})
	}
}

// TestBootsUnderQEMU boots the disk in QEMU (TCG) and reads COM1. It needs
// qemu-system-x86_64, which .ci/run installs; outside CI it is skipped when
// QEMU is absent.
func TestBootsUnderQEMU(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("qemu-system-x86_64 is required in CI (.ci/run installs qemu-system-x86)")
		}
		t.Skip("qemu-system-x86_64 not installed")
	}
	d, err := Build("qemu-test", DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(path, d, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "serial.log")
	cmd := exec.Command(qemu, "-nodefaults", "-display", "none", "-machine", "accel=tcg",
		"-drive", "file="+path+",format=raw,if=ide", "-serial", "file:"+out, "-no-reboot")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(out)
		if bytes.Contains(b, []byte(Line("qemu-test"))) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(out)
	t.Fatalf("guest did not print %q on COM1 within 30s; serial log: %q", Line("qemu-test"), b)
}

func TestBuildDiskCounterLayout(t *testing.T) {
	d, err := BuildDiskCounter("count", DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(counterCode) != 0x4A || d[510] != 0x55 || d[511] != 0xAA {
		t.Fatalf("code is %d bytes (want 0x4A), signature %x %x", len(counterCode), d[510], d[511])
	}
	msg := int(d[0x3A]) | int(d[0x3B])<<8
	digit := int(d[0x36]) | int(d[0x37])<<8
	if msg != 0x7C00+len(counterCode) || d[digit-0x7C00] != '?' {
		t.Fatalf("message at %#x, digit at %#x (%q); want %#x and the '?'", msg, digit, d[digit-0x7C00], 0x7C00+len(counterCode))
	}
	if !bytes.Contains(d[:512], []byte(Line("count")+" virtio-disks=?\r\n")) {
		t.Fatal("message missing from boot sector")
	}
}
