package compute

import (
	"testing"
	"unicode/utf8"

	"github.com/canopy-cloud/canopy/gateway/wire"
)

// FuzzCreateServerRequest feeds the create decoder arbitrary bodies: it must
// never panic, and whatever it accepts must satisfy Nova's schema rules.
func FuzzCreateServerRequest(f *testing.F) {
	seeds := []string{
		`{"server": {"name": "vm1", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "flavorRef": "1", "networks": [{"uuid": "3b3a4c5e-0000-4000-8000-00000000000a"}]}}`,
		`{"server": {"name": "vm", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "flavorRef": 1, "min_count": "2", "max_count": 3, "networks": "auto"}}`,
		`{"server": {"name": "x", "flavorRef": "1", "block_device_mapping_v2": [{}]}}`,
		`{"server": {"name": "", "imageRef": null}}`,
		`{"server": {"name": "vm", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "flavorRef": "1", "metadata": {"a": "b"}, "user_data": "aGk=", "accessIPv4": "1.2.3.4"}}`,
		`{"server": []}`, `[]`, `null`, `{"server": {"name": "vm", "networks": [{"port": 1}]}}`,
		`{"os:scheduler_hints": {"group": 5}, "server": {"name": "a", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "flavorRef": "1"}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), 1)
		f.Add([]byte(s), 79)
	}
	f.Fuzz(func(t *testing.T, body []byte, minor int) {
		v := wire.Version{Major: 2, Minor: 1 + (minor&0xff)%79}
		pc, err := parseCreate(body, v)
		if err != nil {
			if _, ok := err.(*wire.Error); !ok {
				t.Fatalf("error %T %v is not a wire fault", err, err)
			}
			return
		}
		req := pc.req
		if n := utf8.RuneCountInString(req.Name); n < 1 || n > 255 {
			t.Fatalf("accepted name of %d characters", n)
		}
		if req.MinCount < 1 || req.MaxCount < req.MinCount {
			t.Fatalf("accepted counts %d..%d", req.MinCount, req.MaxCount)
		}
		if !isUUID(req.ImageID) || req.FlavorID == "" {
			t.Fatalf("accepted image %q flavor %q", req.ImageID, req.FlavorID)
		}
		for _, n := range req.Networks {
			if (n.NetworkID == "") == (n.PortID == "") {
				t.Fatalf("accepted network request %+v", n)
			}
		}
	})
}
