package aws

import (
	"testing"

	"github.com/canopy-cloud/canopy/proxies"
	"github.com/canopy-cloud/canopy/proxies/contracttest"
)

func TestContract(t *testing.T) {
	needMoto(t)
	h := contracttest.Harness{
		New:   func(t *testing.T) proxies.Backend { return newMotoBackend(t, "aws-contract", nil) },
		Image: proxies.ImageSpec{ID: contractImage, Name: "contract", DiskFormat: "raw", ContainerFormat: "bare"},
	}
	contracttest.Run(t, h)
	contracttest.RunVolumes(t, h)
}
