package blockstorage

import (
	"errors"
	"testing"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// FuzzDecodeCreate: any body either decodes to a command with a sane size
// or is refused with a 4xx fault; nothing panics.
func FuzzDecodeCreate(f *testing.F) {
	for _, seed := range []string{
		`{"volume": {"size": 1}}`,
		`{"volume": {"size": "2", "name": "n", "metadata": {"a": "b"}}}`,
		`{"volume": {"size": null, "snapshot_id": "s"}}`,
		`{"volume": {"size": -1}}`,
		`{"volume": {"size": 1e99}}`,
		`{"volume": {"size": "99999999999999999999"}}`,
		`{"volume": {"imageRef": "i", "source_volid": "v", "size": 1}}`,
		`{"volume": null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cmd, err := decodeCreate(body)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) || we.Status < 400 || we.Status >= 500 {
				t.Fatalf("refusal %v is not a 4xx fault", err)
			}
			return
		}
		if cmd.Size < 0 || (cmd.Size == 0 && cmd.SnapshotID == "" && cmd.SourceVolID == "" && cmd.BackupID == "") {
			t.Fatalf("accepted a create with size %d and no source: %s", cmd.Size, body)
		}
		if cmd.Metadata == nil {
			t.Fatal("accepted a create with nil metadata")
		}
	})
}

func TestParseMetadataFilter(t *testing.T) {
	cases := []struct {
		name, in string
		want     map[string]string
		bad      bool
	}{
		{"python dict", "{'k1': 'v1', 'k2': 'v2'}", map[string]string{"k1": "v1", "k2": "v2"}, false},
		{"json", `{"k": "v"}`, map[string]string{"k": "v"}, false},
		{"empty", "{}", map[string]string{}, false},
		{"not a dict", "k=v", nil, true},
		{"no colon", "{'k'}", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseMetadataFilter(c.in)
			if (err != nil) != c.bad {
				t.Fatalf("err = %v; want bad=%v", err, c.bad)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v; want %v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("got %v; want %v", got, c.want)
				}
			}
		})
	}
}
