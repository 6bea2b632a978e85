package backends

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/localcloud"
	"github.com/canopy-cloud/canopy/proxies/aws"
	"github.com/canopy-cloud/canopy/proxies/azure"
	"github.com/canopy-cloud/canopy/proxies/openstack"
	"github.com/canopy-cloud/canopy/proxies/vmware"
)

// TestExampleConfig keeps deploy/canopy.example.yaml true: it parses, and
// every cloud section decodes strictly into its proxy's Config and passes
// that proxy's validation.
func TestExampleConfig(t *testing.T) {
	for _, v := range []string{"CANOPY_ADMIN_PASSWORD", "EAST_PASSWORD", "VSPHERE_PASSWORD", "AZURE_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(v, "example")
	}
	b, err := os.ReadFile("../../deploy/canopy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	seen := map[string]bool{}
	for _, c := range cfg.Clouds {
		seen[c.Type] = true
		var err error
		switch c.Type {
		case "local":
			lc := localcloud.DefaultConfig()
			if err = c.Local.Decode(&lc); err == nil {
				err = lc.Validate()
			}
		case "openstack":
			var oc openstack.Config
			if err = decodeSection(c.OpenStack, &oc); err == nil {
				err = oc.Validate()
			}
		case "vsphere":
			var vc vmware.Config
			if err = decodeSection(c.VSphere, &vc); err == nil {
				err = vc.Validate()
			}
		case "aws":
			var ac aws.Config
			if err = decodeSection(c.AWS, &ac); err == nil {
				err = ac.Validate()
			}
		case "azure":
			var zc azure.Config
			if err = decodeSection(c.Azure, &zc); err == nil {
				err = zc.Validate()
			}
		}
		if err != nil {
			t.Errorf("clouds[%s] (%s): %v", c.Name, c.Type, err)
		}
	}
	for _, typ := range config.CloudTypes {
		if !seen[typ] {
			t.Errorf("the example shows no cloud of type %s", typ)
		}
	}
	// A typo in a section is an error naming the field.
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("auth_url: https://k/v3\nregoin_name: R\n"), &node); err != nil {
		t.Fatal(err)
	}
	var oc openstack.Config
	if err := decodeSection(*node.Content[0], &oc); err == nil || !strings.Contains(err.Error(), "regoin_name") {
		t.Errorf("a misspelt field: %v, want an error naming regoin_name", err)
	}
}
