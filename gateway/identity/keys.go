package identity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fernet/fernet-go"
)

// DefaultMaxActiveKeys is Keystone's default [fernet_tokens] max_active_keys:
// a staged key, the primary and one secondary.
const DefaultMaxActiveKeys = 3

// keyRing is a loaded Fernet key repository: the primary signs new tokens,
// every key (staged, primary, secondaries) validates.
type keyRing struct {
	primary *fernet.Key
	all     []*fernet.Key
	sig     string // file names and sizes, to notice a rotation
}

// loadKeys reads a Keystone-layout key repository: files named 0..N, each a
// base64url 32-byte key; 0 is staged and the highest index is primary. An
// empty or missing directory is set up as `keystone-manage fernet_setup` does.
func loadKeys(dir string) (*keyRing, error) {
	if dir == "" {
		return nil, errors.New("identity: key_repository is empty; set it to a directory for Fernet keys")
	}
	idx, err := keyIndexes(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(idx) == 0) {
		if err := setupKeys(dir); err != nil {
			return nil, err
		}
		idx, err = keyIndexes(dir)
	}
	if err != nil {
		return nil, err
	}
	if !slices.Contains(idx, 0) || len(idx) < 2 {
		return nil, fmt.Errorf("identity: key repository %s needs a staged key 0 and a primary key (found %v); run canopy fernet-rotate", dir, idx)
	}
	ring := &keyRing{}
	var sig strings.Builder
	// Primary first: fernet-go tries keys in order, and most tokens are
	// signed with the primary.
	for i := len(idx) - 1; i >= 0; i-- {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(idx[i])))
		if err != nil {
			return nil, fmt.Errorf("identity: read Fernet key: %w", err)
		}
		k, err := fernet.DecodeKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("identity: Fernet key %s/%d is not a base64 32-byte key", dir, idx[i])
		}
		ring.all = append(ring.all, k)
		fmt.Fprintf(&sig, "%d:%s;", idx[i], b)
	}
	ring.primary = ring.all[0]
	ring.sig = sig.String()
	return ring, nil
}

// keyIndexes lists the numeric key files of dir, ascending.
func keyIndexes(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var idx []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 0 || e.IsDir() {
			continue
		}
		idx = append(idx, n)
	}
	slices.Sort(idx)
	return idx, nil
}

// setupKeys creates a repository with a staged and a primary key.
func setupKeys(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("identity: create key repository: %w", err)
	}
	if err := writeNewKey(dir, 0); err != nil {
		return err
	}
	return RotateKeys(dir, DefaultMaxActiveKeys)
}

func writeNewKey(dir string, index int) error {
	var k fernet.Key
	if err := k.Generate(); err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".tmp-"+strconv.Itoa(index))
	if err := os.WriteFile(tmp, []byte(k.Encode()), 0o600); err != nil {
		return fmt.Errorf("identity: write Fernet key: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, strconv.Itoa(index)))
}

// RotateKeys is `keystone-manage fernet_rotate`: the staged key 0 becomes the
// new primary, a fresh staged key is written, and the oldest secondaries are
// removed so that at most maxActive keys remain. Tokens signed by the old
// primary keep validating until their key is purged. Every gateway replica
// must get the same repository (copy it after rotating, as with Keystone).
func RotateKeys(dir string, maxActive int) error {
	if maxActive < 2 {
		return fmt.Errorf("identity: max active keys must be at least 2 (staged and primary), got %d", maxActive)
	}
	idx, err := keyIndexes(dir)
	if err != nil {
		return fmt.Errorf("identity: read key repository: %w", err)
	}
	if !slices.Contains(idx, 0) {
		if err := writeNewKey(dir, 0); err != nil {
			return err
		}
		idx = append([]int{0}, idx...)
	}
	newPrimary := idx[len(idx)-1] + 1
	if err := os.Rename(filepath.Join(dir, "0"), filepath.Join(dir, strconv.Itoa(newPrimary))); err != nil {
		return fmt.Errorf("identity: promote staged key: %w", err)
	}
	if err := writeNewKey(dir, 0); err != nil {
		return err
	}
	// Keys other than the new staged one, newest first; keep maxActive-1.
	rest := append(idx[1:], newPrimary)
	slices.Reverse(rest)
	for len(rest) > maxActive-1 {
		old := rest[len(rest)-1]
		rest = rest[:len(rest)-1]
		if err := os.Remove(filepath.Join(dir, strconv.Itoa(old))); err != nil {
			return fmt.Errorf("identity: purge old key: %w", err)
		}
	}
	return nil
}
