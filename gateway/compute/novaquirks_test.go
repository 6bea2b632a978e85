package compute_test

import (
	"net/http"
	"strings"
	"testing"
)

// Nova behaviours tempest's interop tests hold us to.

func TestAccessIPv6IsCanonical(t *testing.T) {
	h := newHarness(t)
	id := h.boot(tokMember, createTempest)
	srv := h.do("GET", "/compute/v2.1/servers/"+id, tokMember, "", "").json(t)["server"].(map[string]any)
	// tempest: str(netaddr.IPAddress('0000:0000:0000:0000:0000:babe:220.12.22.2'))
	if got := srv["accessIPv6"]; got != "::babe:dc0c:1602" {
		t.Fatalf("accessIPv6 = %v, want the canonical ::babe:dc0c:1602", got)
	}
}

func TestMinCountAloneSetsMaxCount(t *testing.T) {
	h := newHarness(t)
	body := `{"server": {"name": "multi", "imageRef": "` + imageID + `", "flavorRef": "1", "min_count": 2, "networks": [{"uuid": "` + netA + `"}]}}`
	r := h.do("POST", "/compute/v2.1/servers", tokMember, "", body)
	if r.status != http.StatusAccepted {
		t.Fatalf("min_count without max_count: %d %s", r.status, r.body)
	}
	list := h.do("GET", "/compute/v2.1/servers?name=multi", tokMember, "", "").json(t)["servers"].([]any)
	if len(list) != 2 {
		t.Fatalf("made %d servers, want 2", len(list))
	}
}

func TestGenerateX509Keypair(t *testing.T) {
	h := newHarness(t)
	r := h.do("POST", "/compute/v2.1/os-keypairs", tokMember, "2.2", `{"keypair": {"name": "win", "type": "x509"}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("x509 generate: %d %s", r.status, r.body)
	}
	kp := r.json(t)["keypair"].(map[string]any)
	if !strings.Contains(kp["public_key"].(string), "BEGIN CERTIFICATE") || !strings.Contains(kp["private_key"].(string), "PRIVATE KEY") {
		t.Fatalf("keypair: %v", kp)
	}
	if kp["type"] != "x509" || kp["fingerprint"] == "" {
		t.Fatalf("type/fingerprint: %v", kp)
	}
}
