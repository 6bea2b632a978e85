package proxies

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// qemuFormats maps the Glance disk formats qemu-img turns into raw to
// qemu-img's names for them (a "vhd" upload may be dynamic, so it is
// converted too).
var qemuFormats = map[string]string{"qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx", "vdi": "vdi"}

// CanConvertToRaw reports whether ToRaw takes disk format format.
func CanConvertToRaw(format string) bool {
	_, ok := qemuFormats[format]
	return ok
}

// ToRaw converts an image in format to a raw temporary file with qemu-img
// (Debian's qemu-utils) and returns it open, with a cleanup; the proxies
// whose clouds import raw disks (vSphere, Azure) share it. cloud names the
// cloud kind in faults ("vSphere"). An image with a backing or external
// data file is refused: converting it would read files of the gateway's
// host into the image.
func ToRaw(ctx context.Context, op, cloud, format string, r io.Reader) (*os.File, func(), error) {
	qfmt, ok := qemuFormats[format]
	if !ok {
		return nil, nil, Errorf(ErrNotSupported, op, "the %s cloud cannot import disk_format %s; use raw, qcow2, vmdk, vhd, vhdx or vdi", cloud, format)
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return nil, nil, &Error{Kind: ErrNotSupported, Op: op, Cause: err,
			Message: "importing " + format + " images needs qemu-img (qemu-utils) on the gateway; convert the image to raw or install it"}
	}
	dir, err := os.MkdirTemp("", "canopy-import-")
	if err != nil {
		return nil, nil, &Error{Kind: ErrUnavailable, Op: op, Message: "no room to convert the image", Cause: err}
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	fail := func(kind, err error, msg string) (*os.File, func(), error) {
		cleanup()
		return nil, nil, &Error{Kind: kind, Op: op, Message: msg, Cause: err}
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
		return fail(ErrUnavailable, err, "the image cannot be staged for conversion")
	}
	infoJSON, err := exec.CommandContext(ctx, qemuImg, "info", "--output=json", "-f", qfmt, in).Output()
	if err != nil {
		return fail(ErrInvalid, err, "the image is not a valid "+format+" disk")
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
		return fail(ErrInvalid, err, "qemu-img cannot describe the image")
	}
	if info.Backing != "" || info.FormatSpecific.Data.DataFile != "" {
		return fail(ErrInvalid, nil, "the image refers to a backing or data file; upload a self-contained image")
	}
	if b, err := exec.CommandContext(ctx, qemuImg, "convert", "-f", qfmt, "-O", "raw", in, out).CombinedOutput(); err != nil {
		first, _, _ := strings.Cut(string(b), "\n")
		return fail(ErrInvalid, err, "qemu-img could not convert the "+format+" image: "+first)
	}
	_ = os.Remove(in)
	raw, err := os.Open(out)
	if err != nil {
		return fail(ErrUnavailable, err, "the converted image cannot be read")
	}
	return raw, func() { _ = raw.Close(); cleanup() }, nil
}
