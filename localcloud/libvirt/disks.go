package libvirt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

// gib is one GiB in bytes.
const gib = 1 << 30

// qemuImgTimeout bounds one qemu-img run (a convert of a large disk is the
// slowest).
const qemuImgTimeout = 30 * time.Minute

// imageInfo is the part of `qemu-img info --output=json` the host reads.
type imageInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
}

// qemuImg runs qemu-img with args under ctx and returns its stdout.
func qemuImg(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, qemuImgTimeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("qemu-img %s: %w: %s", args[0], err, bytes.TrimSpace(errb.Bytes()))
	}
	return out.Bytes(), nil
}

// inspect reads a disk file's format and virtual size.
func inspect(ctx context.Context, path string) (imageInfo, error) {
	out, err := qemuImg(ctx, "info", "--output=json", "-U", path)
	if err != nil {
		return imageInfo{}, err
	}
	var info imageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return imageInfo{}, fmt.Errorf("qemu-img info: %w", err)
	}
	return info, nil
}

// baseImage returns the cached base image imageID and its format, reading
// it from the image source on a miss. Only raw and self-contained qcow2
// images are accepted: a qcow2 whose header names a backing file could make
// QEMU read any file of the host.
func (h *Host) baseImage(ctx context.Context, op, imageID string) (string, imageInfo, error) {
	if !validID(imageID) {
		return "", imageInfo{}, proxies.Errorf(proxies.ErrInvalid, op, "image id %q is not valid", imageID)
	}
	h.images.Lock()
	defer h.images.Unlock()
	path := h.path("images", imageID)
	if _, err := os.Stat(path); err != nil {
		if err := h.fetchImage(ctx, op, imageID, path); err != nil {
			return "", imageInfo{}, err
		}
	}
	info, err := inspect(ctx, path)
	if err != nil {
		return "", imageInfo{}, &proxies.Error{Kind: proxies.ErrInvalid, Op: op, Message: "image " + imageID + " is not a disk image QEMU can read", Cause: err}
	}
	if (info.Format != "raw" && info.Format != "qcow2") || info.BackingFilename != "" {
		return "", imageInfo{}, proxies.Errorf(proxies.ErrInvalid, op, "image %s is %s; KVM hosts boot raw or self-contained qcow2 images", imageID, info.Format)
	}
	return path, info, nil
}

// fetchImage copies image imageID from the image source to path, through
// a temporary file so a cut copy never looks cached.
func (h *Host) fetchImage(ctx context.Context, op, imageID, path string) error {
	if h.opts.Images == nil {
		return proxies.Errorf(proxies.ErrNotFound, op, "image %s is not cached on host %s and the host has no image source", imageID, h.name)
	}
	r, _, err := h.opts.Images.Open(ctx, imageID)
	if err != nil {
		return &proxies.Error{Kind: proxies.ErrNotFound, Op: op, Message: "image " + imageID + " could not be read", Cause: err}
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "host " + h.name + " cannot cache images", Cause: err}
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, ctxReader{ctx, r})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return &proxies.Error{Kind: proxies.ErrUnavailable, Op: op, Message: "image " + imageID + " could not be cached on host " + h.name, Cause: err}
	}
	return nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// createOverlay makes path a qcow2 overlay on base, of diskGB GiB or the
// base's own size when that is larger (diskGB 0: the base's size).
func createOverlay(ctx context.Context, path, base string, info imageInfo, diskGB int) error {
	size := max(int64(diskGB)*gib, info.VirtualSize)
	_, err := qemuImg(ctx, "create", "-q", "-f", "qcow2", "-b", base, "-F", info.Format, path, strconv.FormatInt(size, 10))
	return err
}

// growDisk grows a qcow2 disk to diskGB GiB (never shrinks it).
func growDisk(ctx context.Context, path string, diskGB int) error {
	info, err := inspect(ctx, path)
	if err != nil {
		return err
	}
	if want := int64(diskGB) * gib; want > info.VirtualSize {
		_, err = qemuImg(ctx, "resize", "-q", path, strconv.FormatInt(want, 10))
	}
	return err
}
