package vmware

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/canopy-cloud/canopy/proxies"
)

// qemuFormats maps Glance disk formats that qemu-img converts to raw to
// qemu-img's names for them.
var qemuFormats = map[string]string{"qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx", "vdi": "vdi"}

// toRaw converts an image in format to a raw temporary file with qemu-img
// (Debian's qemu-utils) and returns it open, with a cleanup. An image with
// a backing or external data file is refused: converting it would read
// files of the gateway's host into the image.
func toRaw(ctx context.Context, op, format string, r io.Reader) (*os.File, func(), error) {
	qfmt, ok := qemuFormats[format]
	if !ok {
		return nil, nil, proxies.Errorf(proxies.ErrNotSupported, op, "the vSphere cloud cannot import disk_format %s; use raw, qcow2, vmdk, vhd, vhdx or vdi", format)
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return nil, nil, errorf(proxies.ErrNotSupported, op, err, "importing %s images needs qemu-img (qemu-utils) on the gateway; convert the image to raw or install it", format)
	}
	dir, err := os.MkdirTemp("", "canopy-vsphere-import-")
	if err != nil {
		return nil, nil, errorf(proxies.ErrUnavailable, op, err, "no room to convert the image")
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	fail := func(kind error, err error, msg string) (*os.File, func(), error) {
		cleanup()
		return nil, nil, errorf(kind, op, err, "%s", msg)
	}
	in, out := filepath.Join(dir, "in."+format), filepath.Join(dir, "out.raw")
	f, err := os.Create(in)
	if err == nil {
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fail(proxies.ErrUnavailable, err, "the image cannot be staged for conversion")
	}
	infoJSON, err := exec.CommandContext(ctx, qemuImg, "info", "--output=json", "-f", qfmt, in).Output()
	if err != nil {
		return fail(proxies.ErrInvalid, err, "the image is not a valid "+format+" disk")
	}
	var info struct {
		Backing        string `json:"backing-filename"`
		FormatSpecific struct {
			Data struct {
				DataFile string `json:"data-file"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal(infoJSON, &info); err != nil {
		return fail(proxies.ErrInvalid, err, "qemu-img cannot describe the image")
	}
	if info.Backing != "" || info.FormatSpecific.Data.DataFile != "" {
		return fail(proxies.ErrInvalid, nil, "the image refers to a backing or data file; upload a self-contained image")
	}
	if b, err := exec.CommandContext(ctx, qemuImg, "convert", "-f", qfmt, "-O", "raw", in, out).CombinedOutput(); err != nil {
		return fail(proxies.ErrInvalid, err, "qemu-img could not convert the image: "+firstLine(b))
	}
	_ = os.Remove(in)
	raw, err := os.Open(out)
	if err != nil {
		return fail(proxies.ErrUnavailable, err, "the converted image cannot be read")
	}
	return raw, func() { _ = raw.Close(); cleanup() }, nil
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}
