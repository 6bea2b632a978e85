package compute

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/canopy-cloud/canopy/gateway/wire"
	"github.com/canopy-cloud/canopy/registry"
)

// Keypairs belong to a user; they live in the global project under the
// unique name "<user_id>/<name>", with that as their record id too.

var keypairNameRe = regexp.MustCompile(`^[a-zA-Z0-9 _-]+$`)

func keypairID(userID, name string) string { return userID + "/" + name }

// keypairUser is whose key pairs a request addresses: the caller's, or
// (admin, 2.10) the user_id given.
func keypairUser(r *http.Request, v wire.Version, given string) (string, error) {
	c := caller(r)
	if given == "" || given == c.UserID {
		return c.UserID, nil
	}
	if !v.AtLeast(2, 10) {
		return c.UserID, nil
	}
	if !c.IsAdmin {
		return "", wire.Forbidden("Policy doesn't allow os_compute_api:os-keypairs:index to be performed.")
	}
	return given, nil
}

// fingerprint is Nova's: colon-separated MD5 of an SSH key, SHA-1 of an x509 cert.
func fingerprint(keyType, public string) (string, error) {
	if keyType == "x509" {
		blk, _ := pem.Decode([]byte(public))
		if blk == nil {
			return "", errors.New("not a PEM certificate")
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return "", err
		}
		sum := sha1.Sum(cert.Raw)
		parts := make([]string, len(sum))
		for i, b := range sum {
			parts[i] = fmt.Sprintf("%02x", b)
		}
		return strings.Join(parts, ":"), nil
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(public))
	if err != nil {
		return "", err
	}
	return ssh.FingerprintLegacyMD5(pk), nil
}

// generateKeypair makes an ed25519 key pair: the OpenSSH public line and
// the private key in OpenSSH PEM, which is returned to the user once.
func generateKeypair(comment string) (public, private string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	spk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return "", "", err
	}
	public = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spk))) + " " + comment
	return public, string(pem.EncodeToMemory(blk)), nil
}

func (s *Service) createKeypair(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	var body struct {
		Keypair *struct {
			Name      *string `json:"name"`
			PublicKey *string `json:"public_key"`
			Type      *string `json:"type"`
			UserID    *string `json:"user_id"`
		} `json:"keypair"`
	}
	if err := wire.DecodeJSON(r, &body, true); err != nil {
		return err
	}
	kb := body.Keypair
	if kb == nil || kb.Name == nil {
		return wire.BadRequest("Invalid input for field/attribute keypair. 'name' is a required property")
	}
	name := *kb.Name
	if len(name) == 0 || len(name) > 255 {
		return invalidField("name", name, "'"+name+"' must be 1-255 characters")
	}
	if !keypairNameRe.MatchString(name) {
		return wire.BadRequest("Keypair data is invalid: Keypair name contains unsafe characters")
	}
	keyType := "ssh"
	if kb.Type != nil {
		if !v.AtLeast(2, 2) {
			return wire.BadRequest("Additional properties are not allowed ('type' was unexpected)")
		}
		if *kb.Type != "ssh" && *kb.Type != "x509" {
			return invalidField("type", *kb.Type, "'"+*kb.Type+"' is not one of ['ssh', 'x509']")
		}
		keyType = *kb.Type
	}
	given := ""
	if kb.UserID != nil {
		if !v.AtLeast(2, 10) {
			return wire.BadRequest("Additional properties are not allowed ('user_id' was unexpected)")
		}
		given = *kb.UserID
	}
	userID, err := keypairUser(r, v, given)
	if err != nil {
		return err
	}
	kp := registry.Keypair{Name: name, UserID: userID, Type: keyType, Created: s.opts.Now()}
	private := ""
	if kb.PublicKey != nil && *kb.PublicKey != "" {
		kp.PublicKey = *kb.PublicKey
	} else if keyType == "x509" {
		if kp.PublicKey, private, err = generateX509(userID); err != nil {
			return err
		}
	} else if kp.PublicKey, private, err = generateKeypair("Generated-by-Nova"); err != nil {
		return err
	}
	if kp.Fingerprint, err = fingerprint(keyType, kp.PublicKey); err != nil {
		return wire.BadRequest("Keypair data is invalid: failed to generate fingerprint")
	}
	ctx := r.Context()
	if limit := s.b.Quota().KeyPairs; limit >= 0 {
		n, err := s.countKeypairs(r, userID)
		if err != nil {
			return err
		}
		if n >= limit {
			return wire.Forbidden("Quota exceeded, too many key pairs.")
		}
	}
	if err := s.keypairs.Create(ctx, registry.Global, keypairID(userID, name), kp.Created, &kp); errors.Is(err, registry.ErrExists) || errors.Is(err, registry.ErrNameTaken) {
		return wire.Conflict("Key pair '%s' already exists.", name)
	} else if err != nil {
		return err
	}
	out := map[string]any{"name": kp.Name, "public_key": kp.PublicKey, "fingerprint": kp.Fingerprint, "user_id": kp.UserID}
	if private != "" {
		out["private_key"] = private
	}
	status := http.StatusOK
	if v.AtLeast(2, 2) {
		out["type"] = kp.Type
		status = http.StatusCreated
	}
	wire.WriteJSON(w, status, map[string]any{"keypair": out})
	return nil
}

// countKeypairs counts a user's key pairs (for the key_pairs quota).
func (s *Service) countKeypairs(r *http.Request, userID string) (int, error) {
	all, err := s.userKeypairs(r, userID)
	return len(all), err
}

func (s *Service) userKeypairs(r *http.Request, userID string) ([]*registry.Keypair, error) {
	all, err := s.keypairs.List(r.Context(), registry.Global, registry.Page{})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, k := range all {
		if k.UserID == userID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (s *Service) listKeypairs(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	userID, err := keypairUser(r, v, r.URL.Query().Get("user_id"))
	if err != nil {
		return err
	}
	list, err := s.userKeypairs(r, userID)
	if err != nil {
		return err
	}
	var page wire.Paging
	if v.AtLeast(2, 35) {
		p, werr := wire.ParsePaging(r, 0)
		if werr != nil {
			return werr
		}
		page = p
		if page.Marker != "" {
			i := -1
			for j, k := range list {
				if k.Name == page.Marker {
					i = j
				}
			}
			if i < 0 {
				return wire.BadRequest("marker [%s] not found", page.Marker)
			}
			list = list[i+1:]
		}
		if page.Limit > 0 && len(list) > page.Limit {
			list = list[:page.Limit]
		}
	}
	out := make([]map[string]any, 0, len(list))
	for _, k := range list {
		e := map[string]any{"name": k.Name, "public_key": k.PublicKey, "fingerprint": k.Fingerprint}
		if v.AtLeast(2, 2) {
			e["type"] = k.Type
		}
		out = append(out, map[string]any{"keypair": e})
	}
	body := map[string]any{"keypairs": out}
	if page.Limit > 0 && len(list) == page.Limit {
		body["keypairs_links"] = nextLink(r, wire.BaseURL(r), list[len(list)-1].Name)
	}
	wire.WriteJSON(w, http.StatusOK, body)
	return nil
}

func (s *Service) getKeypair(r *http.Request, v wire.Version) (*registry.Keypair, error) {
	userID, err := keypairUser(r, v, r.URL.Query().Get("user_id"))
	if err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	kp, err := s.keypairs.Get(r.Context(), registry.Global, keypairID(userID, name))
	if errors.Is(err, registry.ErrNotFound) {
		return nil, wire.NotFound("Keypair %s not found for user %s", name, userID)
	}
	return kp, err
}

func (s *Service) showKeypair(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	kp, err := s.getKeypair(r, v)
	if err != nil {
		return err
	}
	h := fnv.New32a()
	h.Write([]byte(keypairID(kp.UserID, kp.Name)))
	out := map[string]any{
		"name": kp.Name, "public_key": kp.PublicKey, "fingerprint": kp.Fingerprint, "user_id": kp.UserID,
		"created_at": kp.Created.UTC().Format(usageTime), "updated_at": nil, "deleted_at": nil, "deleted": false,
		"id": int(h.Sum32() >> 1),
	}
	if v.AtLeast(2, 2) {
		out["type"] = kp.Type
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"keypair": out})
	return nil
}

func (s *Service) deleteKeypair(w http.ResponseWriter, r *http.Request, v wire.Version) error {
	if err := requireWriter(r); err != nil {
		return err
	}
	kp, err := s.getKeypair(r, v)
	if err != nil {
		return err
	}
	if err := s.keypairs.Delete(r.Context(), registry.Global, keypairID(kp.UserID, kp.Name)); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	if v.AtLeast(2, 2) {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusAccepted)
	}
	return nil
}
