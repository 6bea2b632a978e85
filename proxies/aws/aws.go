// Package aws is Canopy's proxy into one AWS account and region, over
// aws-sdk-go-v2 and EC2.
//
// The mapping:
//
//   - A Canopy server is an EC2 instance. RunInstances carries ClientToken =
//     the top id, and the instance, its root volume and its network
//     interfaces are tagged canopy:id (the top id), canopy:project and Name;
//     before running an instance the backend looks the top id up by tag, so
//     a retried create finds the instance it made (moto ignores ClientToken;
//     real EC2 honours both). Servers of a multi-create that differ only in
//     id and name share one RunInstances (batch.go; not when their NICs
//     carry fixed addresses, which EC2 takes for one instance only). The flavor becomes the instance type of
//     instance_type_map, else the cheapest type that fits (DescribeInstanceTypes,
//     cached, priced by price_table or a small built-in on-demand table).
//     The image becomes the AMI of ami_map, else the AMI Canopy imported or
//     snapshotted for it (tagged canopy:id); the resolution is cached per
//     image and dropped when RunInstances answers InvalidAMIID.NotFound or
//     .Unavailable, or the image is deleted. A public key is imported as a key pair named after its
//     fingerprint. Start, stop, soft reboot, console output (base64-decoded)
//     and snapshot (CreateImage) map one to one; hard reboot and resize
//     run in the background as stop → (ModifyInstanceAttribute) → start.
//     EC2's transitional states read as Nova's task states: pending is
//     building (task spawning), or stopped with task powering-on after
//     StartServer; stopping is active with task powering-off; shutting-down
//     and terminated instances are gone.
//
//   - Availability zones are pseudo-hosts: Inventory reports one host per
//     zone, sized from the account's on-demand vCPU quota (Service Quotas
//     L-1216C47A, cached; vcpu_quota when that API does not answer), split
//     evenly. A server is refused with ErrCapacity in a zone its network's
//     subnet is not in, so the scheduler tries another candidate. A server
//     given no zone and no network, like a volume given no zone, lands in
//     the first zone (of availability_zones, else of the region), so that
//     the two can be attached: EBS attaches within one zone only.
//
//   - A Canopy network lives in its project's VPC (one VPC per project,
//     tagged canopy:project and canopy:kind=vpc, primary CIDR vpc_cidr, with a
//     secondary CIDR block added for a subnet outside it); each top subnet
//     becomes one EC2 subnet tagged with its top id (or the subnet_map
//     entry), in the first zone: EC2 subnets live in one zone. One subnet
//     per zone (the top subnet's range carved into per-zone slices) was
//     weighed and not done, because it cannot keep the registry's addresses
//     valid: the registry allocates a port's fixed IP from the whole top
//     subnet before the backend is called and without knowing the zone, so
//     a server scheduled in one zone may hold an address of another zone's
//     slice; and EC2 reserves the first four and the last address of every
//     subnet, so each extra slice puts five reserved addresses inside the
//     registry's allocation pool, which it would hand out and RunInstances
//     would refuse. Both need zone-aware allocation pools in the registry.
//     A top subnet in a zone of its own is the way to spread a network over
//     zones today. An external network has no bottom resource: EC2's
//     internet gateway is the external network.
//
//   - Security groups are VPC security groups converged rule by rule;
//     routers are route tables plus the VPC's internet gateway (a 0.0.0.0/0
//     route when the router has an external gateway); floating IPs are
//     Elastic IPs, whose public address AWS chooses (FloatingIPStatus.PublicAddress).
//
//   - Volumes are EBS volumes (the Cinder type when it names an EBS type,
//     else gp3), attached at /dev/sdf…/dev/sdp, extended with ModifyVolume;
//     volume snapshots are EBS snapshots.
//
//   - Images are imported through VM Import: the bytes go to S3
//     (image_bucket, created when missing; PutObject, or a multipart upload
//     over 64 MiB), ImportSnapshot makes an EBS snapshot of the disk (raw,
//     vmdk or vhd in a bare container; other formats answer ErrNotSupported),
//     the task is polled with DescribeImportSnapshotTasks (progress logged),
//     and RegisterImage makes the AMI, tagged canopy:id, whose
//     ec2://<region>/<ami> is the image's location. Retries are idempotent:
//     the AMI is found by tag, a finished snapshot by its canopy:image tag
//     (no second upload), a running task by its ClientToken (derived from
//     the top id), an upload by its key and size. An image in ami_map is
//     never imported. The VM Import service role (import_role, default
//     vmimport) must be able to read the bucket.
//
// Simulated: moto 5.x has no VM Import (no ImportImage, ImportSnapshot or
// Describe*Tasks). SimConfig (tests, `canopy dev --sim aws`) puts
// vmimportsim.go in front of moto: it implements ImportSnapshot and
// DescribeImportSnapshotTasks itself (statuses pending → converting →
// completed, with progress), reads the object from moto's S3 and makes the
// snapshot in moto (CreateVolume of the disk's size, CreateSnapshot);
// RegisterImage, S3 and everything else are moto's. A real endpoint never
// goes through it.
//
// Declared unsupported: ImportImage of OVA or qcow2 images (convert them
// first), cloning a volume (SourceVolumeID), IPv6 subnets, live migration,
// NIC hot-plug and rebuild.
//
// Rate limits: every attempt of a call first takes a token from a
// client-side bucket shared by every backend of the same account and region,
// following EC2's documented request-token buckets (describe, mutating,
// resource-intensive such as RunInstances), waiting at most
// rate_wait_timeout (waits of a second or more are logged; a call that gets
// no token answers unavailable, throttled); call_timeout then bounds the
// attempt itself, not the wait. Throttled answers (RequestLimitExceeded) are
// retried by the SDK's standard retryer with jittered backoff. ListServers is the
// sync helper: one filtered, paginated DescribeInstances for all servers.
package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/canopy-cloud/canopy/config"
	"github.com/canopy-cloud/canopy/proxies"
)

// Tags Canopy puts on every bottom resource.
const (
	tagID      = "canopy:id"      // the top (Canopy) id
	tagProject = "canopy:project" // the top project id
	tagCloud   = "canopy:cloud"   // the backend's name in canopy.yaml
	tagKind    = "canopy:kind"    // vpc, igw... for resources with no top id
	tagNetwork = "canopy:network" // a subnet's top network id
	tagPort    = "canopy:port"    // a network interface's top port id
	tagVolume  = "canopy:volume"  // a snapshot's top volume id
)

// Backend is one AWS account in one region. It implements proxies.Backend,
// proxies.VolumeBackend, proxies.Resizer, proxies.SecurityGroupDriver,
// proxies.RouterDriver, proxies.FloatingIPDriver and proxies.BatchCreator.
type Backend struct {
	name string
	cfg  Config
	ec2  ec2API
	log  *slog.Logger

	types *catalogue // the region's instance types, shared

	sq       quotaAPI
	quotaMu  sync.Mutex
	quota    int // vCPU quota, cached
	quotaAt  time.Time
	zonesMu  sync.Mutex
	zones    []string // available zones, cached
	zonesAt  time.Time
	vpcMu    sync.Mutex // serialises the per-project VPC ensure
	subnetMu sync.Mutex // serialises subnet find-then-create in this process
	tasksMu  sync.Mutex
	tasks    map[string]string // top server id → background task (resize_migrating, rebooting_hard)
	amiMu    sync.Mutex
	amis     map[string]string // top image id → AMI, cached by amiFor
	importMu sync.Mutex
	imports  map[string]*sync.Mutex // top image id → the lock of its import in this process
	s3       s3API
	startsMu sync.Mutex
	starts   map[string]bool // top server ids StartServer started, until seen past pending
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

var (
	_ proxies.Backend             = (*Backend)(nil)
	_ proxies.VolumeBackend       = (*Backend)(nil)
	_ proxies.Resizer             = (*Backend)(nil)
	_ proxies.SecurityGroupDriver = (*Backend)(nil)
	_ proxies.RouterDriver        = (*Backend)(nil)
	_ proxies.FloatingIPDriver    = (*Backend)(nil)
)

// New builds the backend named name from cfg. It resolves credentials and
// builds the SDK client but calls no AWS API: the first call does.
func New(ctx context.Context, name string, cfg Config, log *slog.Logger) (*Backend, error) {
	return newBackend(ctx, name, cfg, log)
}

// newBackend is New with extra SDK middleware (tests count calls with it).
func newBackend(ctx context.Context, name string, cfg Config, log *slog.Logger, extra ...func(*middleware.Stack) error) (*Backend, error) {
	if name == "" {
		return nil, errors.New("aws: the cloud needs a name")
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(cfg.CallTimeout)),
		awsconfig.WithRetryer(func() awsv2.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				if cfg.maxBackoff > 0 {
					o.MaxBackoff = cfg.maxBackoff
				}
			})
		}),
	}
	if cfg.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKeyID != "" {
		secret, err := config.Secret(cfg.SecretAccessKeyFrom)
		if err != nil {
			return nil, fmt.Errorf("aws.secret_access_key_from: %w", err)
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, secret, "")))
	}
	acfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws: loading the SDK configuration (profile %q): %w", cfg.Profile, err)
	}
	if cfg.RoleARN != "" {
		acfg.Credentials = awsv2.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(acfg), cfg.RoleARN))
	}
	buckets := bucketsFor(cfg.accountKey(), cfg.RateScale)
	client := ec2.NewFromConfig(acfg, func(o *ec2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = awsv2.String(cfg.Endpoint)
		}
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			// After the retry middleware: every attempt takes a token, then
			// has call_timeout for itself.
			return st.Finalize.Insert(rateLimit(buckets, cfg.RateWaitTimeout, cfg.CallTimeout, log.With("cloud", name)), "Retry", middleware.After)
		})
		o.APIOptions = append(o.APIOptions, extra...)
	})
	sq := servicequotas.NewFromConfig(acfg, func(o *servicequotas.Options) {
		if ep := cfg.quotasEndpoint(); ep != "" {
			o.BaseEndpoint = awsv2.String(ep)
		}
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(callTimeout(cfg.CallTimeout), middleware.Before)
		})
	})
	// S3 carries image uploads: no per-request timeout (an upload takes as
	// long as the image is big; import_timeout bounds the import), path-style
	// addressing on a custom endpoint.
	s3c := s3.NewFromConfig(acfg, func(o *s3.Options) {
		o.HTTPClient = awshttp.NewBuildableClient()
		if cfg.Endpoint != "" {
			o.BaseEndpoint = awsv2.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
	})
	var api ec2API = client
	if cfg.simVMImport {
		api = &vmImportSim{ec2API: client, s3: s3c, zone: cfg.Region + "a"}
	}
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Backend{name: name, cfg: cfg, ec2: api, s3: s3c, sq: sq, log: log.With("cloud", name), types: catalogueFor(cfg.Endpoint + "|" + cfg.Region),
		tasks: map[string]string{}, bgCtx: bgCtx, bgCancel: cancel}, nil
}

// accountKey identifies the account and region whose request buckets a
// backend shares (never a secret: the key id is public, the secret is not
// part of it).
func (c *Config) accountKey() string {
	return c.Endpoint + "|" + c.Profile + "|" + c.AccessKeyID + "|" + c.RoleARN + "|" + c.Region
}

// Close stops the background tasks (resize, hard reboot) and waits for them.
func (b *Backend) Close() error {
	b.bgCancel()
	b.bg.Wait()
	return nil
}

// Name is the cloud's name in canopy.yaml.
func (b *Backend) Name() string { return b.name }

// Capabilities declares what EC2 does through this backend.
func (b *Backend) Capabilities() proxies.Capabilities {
	return proxies.Capabilities{
		Servers: true, StartStop: true, Reboot: true, HardReboot: true, Snapshot: true,
		ConsoleOutput: true, Resize: true, UserData: true, Keypairs: true, Images: true,
		Networks: true, SecurityGroups: true, Routers: true, FloatingIPs: true, Volumes: true,
		MaxServersBatch: maxBatch,
	}
}

// Servers returns the server driver (the backend itself).
func (b *Backend) Servers() proxies.ServerDriver { return serverDriver{b} }

// Images returns the image driver.
func (b *Backend) Images() proxies.ImageDriver { return imageDriver{b} }

// Networks returns the network driver.
func (b *Backend) Networks() proxies.NetworkDriver { return networkDriver{b} }

// Inventory returns the inventory driver.
func (b *Backend) Inventory() proxies.InventoryDriver { return inventoryDriver{b} }

// Volumes returns the EBS volume driver.
func (b *Backend) Volumes() proxies.VolumeDriver { return volumeDriver{b} }

// callTimeout bounds one whole Service Quotas call (all its attempts; that
// client has no request buckets) when the caller's context has no earlier
// deadline.
func callTimeout(d time.Duration) middleware.InitializeMiddleware {
	return middleware.InitializeMiddlewareFunc("CanopyCallTimeout", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return next.HandleInitialize(ctx, in)
	})
}

// tagList builds EC2 tags from key, value pairs, leaving out empty values.
func tagList(kv ...string) []ec2Tag {
	out := make([]ec2Tag, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, ec2Tag{Key: awsv2.String(kv[i]), Value: awsv2.String(kv[i+1])})
		}
	}
	return out
}
