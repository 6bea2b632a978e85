package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// ErrNoMoto is the error StartMoto (and DevSim) return when moto is not
// installed; its text names what to install.
var ErrNoMoto = errors.New("moto server is not installed: install Debian's python3-moto (trixie) or `pip install 'moto[server]'`, so that `python3 -m moto.server` runs")

// Moto is a moto server (an EC2 simulator) this process started.
type Moto struct {
	// Endpoint is its base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	cmd      *exec.Cmd
	done     chan error
}

// StartMoto starts `python3 -m moto.server` on a free loopback port and
// waits until it answers. Stop it with Stop. The error is ErrNoMoto when
// moto is not installed.
func StartMoto(ctx context.Context) (*Moto, error) {
	python, err := exec.LookPath("python3")
	if err != nil {
		return nil, ErrNoMoto
	}
	if err := exec.CommandContext(ctx, python, "-c", "import moto.server").Run(); err != nil {
		return nil, ErrNoMoto
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(python, "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto: %w", err)
	}
	m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan error, 1)}
	go func() { m.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(m.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return m, nil
		}
		select {
		case err := <-m.done:
			return nil, fmt.Errorf("moto exited before answering: %v", err)
		case <-ctx.Done():
			m.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, fmt.Errorf("moto did not answer on %s within 30s", m.Endpoint)
		}
	}
}

// Reset drops every resource moto holds (POST /moto-api/reset).
func (m *Moto) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto reset answered %s", resp.Status)
	}
	return nil
}

// Stop kills the moto process this Moto started and waits for it.
func (m *Moto) Stop() {
	if m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
	}
	<-m.done
}

// SimRegion is the region DevSim's configuration uses.
const SimRegion = "us-east-1"

// SimImageBucket is the S3 bucket (in moto) SimConfig imports images
// through.
const SimImageBucket = "canopy-sim-images"

// SimConfig returns a Config for the moto server at endpoint: a static
// key whose secret (moto checks none) is written to a file under dir,
// every image id of imageIDs mapped to one of moto's stock AMIs, and image
// import through SimImageBucket and the simulated VM Import of
// vmimportsim.go (moto has none).
func SimConfig(ctx context.Context, endpoint, dir string, imageIDs ...string) (Config, error) {
	secret := filepath.Join(dir, "aws-sim-secret")
	if err := os.WriteFile(secret, []byte("moto-does-not-check\n"), 0o600); err != nil {
		return Config{}, err
	}
	cfg := Config{Region: SimRegion, Endpoint: endpoint, AccessKeyID: "AKIACANOPYSIM",
		SecretAccessKeyFrom: "file:" + secret, AMIMap: map[string]string{},
		ImageBucket: SimImageBucket, simVMImport: true, importPoll: 10 * time.Millisecond}
	if len(imageIDs) > 0 {
		c := ec2.New(ec2.Options{Region: SimRegion, BaseEndpoint: awsv2.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("AKIACANOPYSIM", "moto", "")})
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
		if err != nil {
			return Config{}, fmt.Errorf("listing moto's AMIs: %w", err)
		}
		if len(out.Images) == 0 {
			return Config{}, errors.New("moto lists no stock AMI")
		}
		for _, id := range imageIDs {
			cfg.AMIMap[id] = awsv2.ToString(out.Images[0].ImageId)
		}
	}
	return cfg, nil
}

// DevSim starts a moto server and returns a Config pointing at it (images
// imageIDs mapped to a stock AMI) and a function that stops it and removes
// its files. It is what `canopy dev --aws-sim` runs: a simulated AWS, never
// presented as the real cloud.
func DevSim(ctx context.Context, imageIDs ...string) (Config, func(), error) {
	dir, err := os.MkdirTemp("", "canopy-aws-sim-")
	if err != nil {
		return Config{}, nil, err
	}
	m, err := StartMoto(ctx)
	if err != nil {
		os.RemoveAll(dir)
		return Config{}, nil, err
	}
	stop := func() { m.Stop(); os.RemoveAll(dir) }
	cfg, err := SimConfig(ctx, m.Endpoint, dir, imageIDs...)
	if err != nil {
		stop()
		return Config{}, nil, err
	}
	return cfg, stop, nil
}
