package armsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
)

// Direct upload to a managed disk: a disk created with createOption Upload
// is ReadyToUpload; grantAccess (Write) makes it ActiveUpload and answers a
// SAS URL on this server (/blob/<token>?sv=…&sig=…), where Put Page writes
// ranges as Azure storage does (512-aligned, at most 4 MiB, inside the
// disk, only while the SAS is active); revokeAccess ends the upload: the
// disk is Unattached when the last 512 bytes are a fixed-VHD footer for
// the disk's size, else back to ReadyToUpload (an upload Azure would not
// accept as a disk). The written pages are kept sparsely, per 512 bytes.

const (
	mib        = 1 << 20
	gib        = 1 << 30
	footerSize = 512
	minUpload  = 20*mib + footerSize
	maxUpload  = 32*1024*gib + footerSize
	maxPage    = 4 * mib
)

type (
	diskGrant  = armcompute.DisksClientGrantAccessResponse
	diskRevoke = armcompute.DisksClientRevokeAccessResponse
)

// pageBlob is an upload disk's bytes.
type pageBlob struct {
	diskKey string
	size    int64
	token   string // the SAS path token; "" when no SAS is active
	pages   map[int64][]byte
}

func (st *state) grantAccess(ctx context.Context, rg, name string, g armcompute.GrantAccessData) (azfake.PollerResponder[diskGrant], azfake.ErrorResponder) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id(rg, compute, "disks", name)
	k := key(id)
	d, ok := st.disks[k]
	if !ok {
		return fail[diskGrant](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
	}
	if g.Access == nil || (*g.Access != armcompute.AccessLevelWrite && *g.Access != armcompute.AccessLevelRead) {
		return fail[diskGrant](ctx, http.StatusBadRequest, "InvalidParameter", "access must be Read or Write")
	}
	if g.DurationInSeconds == nil || *g.DurationInSeconds <= 0 {
		return fail[diskGrant](ctx, http.StatusBadRequest, "InvalidParameter", "durationInSeconds is required")
	}
	state := armcompute.DiskStateUnattached
	if d.Properties.DiskState != nil {
		state = *d.Properties.DiskState
	}
	var next armcompute.DiskState
	switch {
	case *g.Access == armcompute.AccessLevelWrite && (state == armcompute.DiskStateReadyToUpload || state == armcompute.DiskStateActiveUpload):
		next = armcompute.DiskStateActiveUpload
	case *g.Access == armcompute.AccessLevelWrite:
		return fail[diskGrant](ctx, http.StatusConflict, "OperationNotAllowed", "Disk %s is %s; write access is only granted to a disk created for upload.", name, state)
	case d.ManagedBy != nil || state == armcompute.DiskStateReadyToUpload || state == armcompute.DiskStateActiveUpload:
		return fail[diskGrant](ctx, http.StatusConflict, "OperationNotAllowed", "Disk %s is %s; read access needs an unattached disk.", name, state)
	default:
		next = armcompute.DiskStateActiveSAS
	}
	b := st.blobs[k]
	if b == nil {
		size := int64(0)
		if cd := d.Properties.CreationData; cd != nil && cd.UploadSizeBytes != nil {
			size = *cd.UploadSizeBytes
		}
		b = &pageBlob{diskKey: k, size: size, pages: map[int64][]byte{}}
		st.blobs[k] = b
	}
	if b.token == "" {
		var t [16]byte
		_, _ = rand.Read(t[:])
		b.token = hex.EncodeToString(t[:])
	}
	d.Properties.DiskState = to.Ptr(next)
	sas := fmt.Sprintf("%s/blob/%s?sv=2021-08-06&sr=b&sp=%s&sig=armsim", s.URL, b.token, map[armcompute.AccessLevel]string{armcompute.AccessLevelWrite: "rw", armcompute.AccessLevelRead: "r"}[*g.Access])
	// A no-op commit keeps the operation pending, so its polls answer
	// the SAS (an ended POST operation has no resource to show).
	return lro(ctx, s, http.StatusAccepted, diskGrant{AccessURI: armcompute.AccessURI{AccessSAS: to.Ptr(sas)}}, func() {})
}

func (st *state) revokeAccess(ctx context.Context, rg, name string) (azfake.PollerResponder[diskRevoke], azfake.ErrorResponder) {
	s := st.s
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id(rg, compute, "disks", name)
	k := key(id)
	d, ok := st.disks[k]
	if !ok {
		return fail[diskRevoke](ctx, http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", id)
	}
	b := st.blobs[k]
	if b != nil {
		b.token = ""
	}
	if d.Properties.DiskState != nil {
		switch *d.Properties.DiskState {
		case armcompute.DiskStateActiveUpload:
			next := armcompute.DiskStateReadyToUpload
			if b != nil && b.footerOK() {
				next = armcompute.DiskStateUnattached
			}
			d.Properties.DiskState = to.Ptr(next)
		case armcompute.DiskStateActiveSAS:
			d.Properties.DiskState = to.Ptr(armcompute.DiskStateUnattached)
		}
	}
	return lro(ctx, s, http.StatusAccepted, diskRevoke{}, func() {})
}

// footerOK reports whether the blob ends with a fixed-VHD footer whose
// sizes match the blob and whose checksum is right.
func (b *pageBlob) footerOK() bool {
	f := b.pages[(b.size-footerSize)/512]
	return footerError(f, b.size-footerSize) == ""
}

// footerError says what is wrong with a VHD footer for a disk of size bytes.
func footerError(f []byte, size int64) string {
	if len(f) != footerSize {
		return "no VHD footer was written"
	}
	if string(f[:8]) != "conectix" {
		return "the last 512 bytes are not a VHD footer (cookie)"
	}
	if binary.BigEndian.Uint32(f[60:]) != 2 {
		return "the VHD is not a fixed disk"
	}
	if int64(binary.BigEndian.Uint64(f[48:])) != size || int64(binary.BigEndian.Uint64(f[40:])) != size {
		return fmt.Sprintf("the VHD footer's size is not the disk's %d bytes", size)
	}
	var sum uint32
	for i, c := range f {
		if i < 64 || i >= 68 {
			sum += uint32(c)
		}
	}
	if ^sum != binary.BigEndian.Uint32(f[64:]) {
		return "the VHD footer's checksum is wrong"
	}
	return ""
}

// serveBlob is the page-blob endpoint of an upload SAS.
func (s *Sim) serveBlob(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.URL.Path, "/blob/")
	s.mu.Lock()
	var b *pageBlob
	for _, pb := range s.st.blobs {
		if pb.token != "" && pb.token == tok {
			b = pb
		}
	}
	var state armcompute.DiskState
	if b != nil {
		if d := s.st.disks[b.diskKey]; d != nil && d.Properties.DiskState != nil {
			state = *d.Properties.DiskState
		}
	}
	s.mu.Unlock()
	if b == nil || r.URL.Query().Get("sig") == "" {
		writeBlobError(w, http.StatusForbidden, "AuthenticationFailed", "the SAS is not valid or has been revoked")
		return
	}
	s.mu.Lock()
	s.calls["Blob."+r.Method]++
	s.mu.Unlock()
	if r.Method == http.MethodGet {
		if state != armcompute.DiskStateActiveSAS {
			writeBlobError(w, http.StatusForbidden, "AuthorizationPermissionMismatch", "the SAS does not allow reads")
			return
		}
		s.mu.Lock()
		data := b.bytes()
		s.mu.Unlock()
		_, _ = io.Copy(w, bytes.NewReader(data))
		return
	}
	if r.Method != http.MethodPut || r.URL.Query().Get("comp") != "page" {
		writeBlobError(w, http.StatusBadRequest, "UnsupportedHttpVerb", "only Put Page (PUT ?comp=page) is simulated")
		return
	}
	if state != armcompute.DiskStateActiveUpload {
		writeBlobError(w, http.StatusForbidden, "AuthorizationPermissionMismatch", "the SAS does not allow writes")
		return
	}
	if mode := r.Header.Get("x-ms-page-write"); mode != "update" && mode != "clear" {
		writeBlobError(w, http.StatusBadRequest, "InvalidHeaderValue", "x-ms-page-write must be update or clear")
		return
	}
	rng := r.Header.Get("x-ms-range")
	if rng == "" {
		rng = r.Header.Get("Range")
	}
	start, end, ok := parseRange(rng)
	n := end - start + 1
	if !ok || start%512 != 0 || n%512 != 0 || n > maxPage || end >= b.size {
		writeBlobError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidPageRange", fmt.Sprintf("range %q is not 512-aligned, is over 4 MiB or is outside the blob", rng))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPage+1))
	if r.Header.Get("x-ms-page-write") == "clear" {
		body = make([]byte, n)
	} else if err != nil || int64(len(body)) != n {
		writeBlobError(w, http.StatusBadRequest, "InvalidHeaderValue", "the body length does not match the range")
		return
	}
	if end == b.size-1 {
		if msg := footerError(body[n-footerSize:], b.size-footerSize); msg != "" {
			writeBlobError(w, http.StatusBadRequest, "InvalidVhdFooter", msg)
			return
		}
	}
	s.mu.Lock()
	for off := int64(0); off < n; off += 512 {
		page := body[off : off+512]
		if allZero(page) {
			delete(b.pages, (start+off)/512)
		} else {
			b.pages[(start+off)/512] = bytes.Clone(page)
		}
	}
	s.mu.Unlock()
	w.Header().Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(http.StatusCreated)
}

func (b *pageBlob) bytes() []byte {
	out := make([]byte, b.size)
	for i, p := range b.pages {
		copy(out[i*512:], p)
	}
	return out
}

func allZero(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

func parseRange(h string) (start, end int64, ok bool) {
	a, b, found := strings.Cut(strings.TrimPrefix(h, "bytes="), "-")
	if !found || !strings.HasPrefix(h, "bytes=") {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	return start, end, err1 == nil && err2 == nil && start >= 0 && end >= start
}

func writeBlobError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s</Message></Error>", code, msg)
}

// UploadedImage returns the bytes written to the upload disk name (the
// whole blob, footer included) and its state; nil when it has none.
func (s *Sim) UploadedImage(name string) ([]byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, b := range s.st.blobs {
		if strings.HasSuffix(k, "/disks/"+strings.ToLower(name)) {
			st := ""
			if d := s.st.disks[k]; d != nil && d.Properties.DiskState != nil {
				st = string(*d.Properties.DiskState)
			}
			return b.bytes(), st
		}
	}
	return nil, ""
}
