package openstack

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// microversion is a Nova API microversion, 2.x.
type microversion struct{ major, minor int }

func (v microversion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func (v microversion) atLeast(o microversion) bool {
	return v.major > o.major || (v.major == o.major && v.minor >= o.minor)
}

func parseMicroversion(s string) (microversion, error) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil {
		return microversion{}, fmt.Errorf("%q is not a microversion", s)
	}
	return microversion{a, b}, nil
}

// Microversions this package asks for, each the lowest that has what the
// call needs.
var (
	mvBase         = microversion{2, 1}
	mvNetworksAuto = microversion{2, 37} // "networks": "auto" / "none"
	mvImageIDBody  = microversion{2, 45} // createImage returns {"image_id"}
	mvCreateTags   = microversion{2, 52} // tags in the create body
	mvRebuildKey   = microversion{2, 54} // key_name on rebuild
)

// discoverMicroversion reads the maximum microversion of the bottom compute
// (GET on the versioned endpoint). A bottom that does not announce one is
// treated as 2.1, the base every Nova speaks.
func discoverMicroversion(ctx context.Context, c *gophercloud.ServiceClient) (microversion, error) {
	var doc struct {
		Version struct {
			Version string `json:"version"`
		} `json:"version"`
	}
	_, err := c.Get(ctx, c.Endpoint, &doc, &gophercloud.RequestOpts{OkCodes: []int{200, 300}})
	if err != nil {
		return microversion{}, err
	}
	if doc.Version.Version == "" {
		return mvBase, nil
	}
	return parseMicroversion(doc.Version.Version)
}

// computeAt returns a copy of s's compute client speaking microversion want
// when the bottom has it, else the bottom's maximum (callers check
// b.maxMicro first where the feature matters).
func (b *Backend) computeAt(s *scope, want microversion) *gophercloud.ServiceClient {
	c := *s.compute
	v := want
	if !b.maxMicro.atLeast(want) {
		v = b.maxMicro
	}
	c.Microversion = v.String()
	return &c
}
