package azure

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/canopy-cloud/canopy/proxies/azure/armsim"
)

// DevSim starts the in-memory ARM simulator (armsim) and returns a Config
// that points the proxy at it: a custom endpoint and authority on the
// simulator, its certificate as ca_file and a client secret by file
// reference, one location (westeurope) whose zones 1-3 are the Canopy AZs
// azure-weu-1..3, and every image mapped to an Ubuntu marketplace image.
// stop closes the simulator and removes the temporary files. The simulator
// is not Azure: nothing is billed and nothing boots.
func DevSim(_ context.Context, opts armsim.Options) (cfg Config, sim *armsim.Sim, stop func(), err error) {
	dir, err := os.MkdirTemp("", "canopy-azure-sim-")
	if err != nil {
		return Config{}, nil, nil, fmt.Errorf("azure dev sim: %w", err)
	}
	sim = armsim.New(opts)
	stop = func() {
		sim.Close()
		_ = os.RemoveAll(dir)
	}
	ca, secret := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client-secret")
	if err := os.WriteFile(ca, sim.CertPEM(), 0o600); err != nil {
		stop()
		return Config{}, nil, nil, fmt.Errorf("azure dev sim: %w", err)
	}
	if err := os.WriteFile(secret, []byte("armsim-client-secret"), 0o600); err != nil {
		stop()
		return Config{}, nil, nil, fmt.Errorf("azure dev sim: %w", err)
	}
	cfg = Config{
		TenantID: sim.TenantID(), SubscriptionID: sim.SubscriptionID(),
		Credential: CredentialConfig{ClientID: "canopy-dev", ClientSecretFrom: "file:" + secret},
		Locations:  []Location{{Name: "westeurope", Zones: map[string]string{"1": "azure-weu-1", "2": "azure-weu-2", "3": "azure-weu-3"}}},
		Endpoint:   sim.URL, AuthorityHost: sim.URL + "/", CAFile: ca,
		ImageMap:     map[string]string{"*": "Canonical:ubuntu-24_04-lts:server:latest"},
		PollInterval: 2 * time.Millisecond, CallTimeout: 10 * time.Second, MaxRetries: 3,
		RateLimitPause: 20 * time.Millisecond,
		retryDelay:     5 * time.Millisecond,
	}
	return cfg, sim, stop, nil
}
