package config

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		wantErr string // substring; "" = valid
	}{
		{name: "minimal", yaml: "registry:\n  url: redis://127.0.0.1:6379/0\n"},
		{name: "empty file", yaml: "", wantErr: "the file is empty"},
		{name: "no registry", yaml: "listen: 127.0.0.1:5000\n", wantErr: "registry: set registry.url"},
		{name: "typo field", yaml: "registy:\n  url: x\n", wantErr: "field registy not found"},
		{name: "bad listen", yaml: "listen: nope\nregistry: {url: redis://x:1/0}\n", wantErr: "listen:"},
		{name: "bad public url", yaml: "public_url: ftp://x\nregistry: {url: redis://x:1/0}\n", wantErr: "public_url:"},
		{name: "unknown cloud type", yaml: "registry: {url: redis://x:1/0}\nclouds:\n- {name: a, type: mars}\n", wantErr: `clouds[0].type: "mars"`},
		{name: "duplicate cloud", yaml: "registry: {url: redis://x:1/0}\nclouds:\n- {name: a, type: local}\n- {name: a, type: local}\n", wantErr: "clouds[1].name"},
		{name: "bad secret ref", yaml: "registry: {url: redis://x:1/0, password_from: hunter2}\n", wantErr: "not a secret reference"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if c.PublicURL != "http://127.0.0.1:5000" || c.Region != "RegionOne" {
					t.Fatalf("defaults not set: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") && tc.name != "bad secret ref" {
				t.Fatal("secret leaked into error")
			}
		})
	}
}

func TestSecret(t *testing.T) {
	t.Setenv("CANOPY_TEST_SECRET", "s3cret")
	if v, err := Secret("env:CANOPY_TEST_SECRET"); err != nil || v != "s3cret" {
		t.Fatalf("env secret: %q %v", v, err)
	}
	if _, err := Secret("env:CANOPY_NOT_SET_ANYWHERE"); err == nil {
		t.Fatal("missing env var accepted")
	}
	if _, err := Secret("vault:x"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// TestSecretNeverEchoed: a password pasted where a reference belongs must
// not appear in the error.
func TestSecretNeverEchoed(t *testing.T) {
	for _, v := range []string{"hunter2", "s3cret:value"} {
		_, err := Secret(v)
		if err == nil {
			t.Fatalf("Secret(%q) accepted an inline value", v)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Secret error echoes the value: %v", err)
		}
	}
}
