package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canopy-cloud/canopy/proxies"
)

func TestKindOf(t *testing.T) {
	cases := []struct {
		code string
		want error
	}{
		{"InvalidInstanceID.NotFound", proxies.ErrNotFound},
		{"InvalidVolume.NotFound", proxies.ErrNotFound},
		{"InvalidAMIID.NotFound", proxies.ErrNotFound},
		{"IncorrectInstanceState", proxies.ErrConflict},
		{"VolumeInUse", proxies.ErrConflict},
		{"DependencyViolation", proxies.ErrConflict},
		{"InsufficientInstanceCapacity", proxies.ErrCapacity},
		{"InstanceLimitExceeded", proxies.ErrQuota},
		{"VcpuLimitExceeded", proxies.ErrQuota},
		{"AddressLimitExceeded", proxies.ErrQuota},
		{"RequestLimitExceeded", proxies.ErrUnavailable},
		{"AuthFailure", proxies.ErrUnavailable},
		{"InvalidParameterValue", proxies.ErrInvalid},
		{"MissingParameter", proxies.ErrInvalid},
		{"SomethingNew", proxies.ErrUnavailable},
	}
	for _, c := range cases {
		if got := kindOf(c.code); got != c.want {
			t.Errorf("kindOf(%s) = %v; want %v", c.code, got, c.want)
		}
	}
}

// ec2Error is an EC2 query-protocol error body.
func ec2Error(code, msg string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>req-1</RequestID></Response>`, code, msg)
}

// zonesOK is a DescribeAvailabilityZones answer with one zone.
const zonesOK = `<?xml version="1.0" encoding="UTF-8"?>
<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-2</requestId>
<availabilityZoneInfo><item><zoneName>us-east-1a</zoneName><zoneState>available</zoneState><regionName>us-east-1</regionName></item></availabilityZoneInfo>
</DescribeAvailabilityZonesResponse>`

// refuseQuota answers a Service Quotas call (JSON protocol) with
// AccessDenied, so that fake EC2 servers count EC2 calls only.
func refuseQuota(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-Amz-Target") == "" {
		return false
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(400)
	fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"no"}`)
	return true
}

// fakeEC2 is an httptest EC2 that answers with handler and counts calls.
func fakeEC2(t *testing.T, handler func(n int32, w http.ResponseWriter)) (*Backend, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseQuota(w, r) {
			return
		}
		handler(calls.Add(1), w)
	}))
	t.Cleanup(srv.Close)
	cfg := Config{Region: "us-east-1", Endpoint: srv.URL, AccessKeyID: "AKIAFAKE", SecretAccessKeyFrom: "env:CANOPY_TEST_AWS_SECRET",
		MaxAttempts: 3, CallTimeout: 2 * time.Second, maxBackoff: 5 * time.Millisecond}
	t.Setenv("CANOPY_TEST_AWS_SECRET", "fake-secret-value")
	b, err := New(t.Context(), "fake-"+t.Name(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, &calls
}

// TestErrorMapping drives real SDK calls against a server answering each
// EC2 error, and checks the kind and that the raw message (which could
// hold account ids) stays out of the safe message.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		code   string
		status int
		want   error
	}{
		{"InvalidInstanceID.NotFound", 400, proxies.ErrNotFound},
		{"InstanceLimitExceeded", 400, proxies.ErrQuota},
		{"InsufficientInstanceCapacity", 500, proxies.ErrCapacity},
		{"InvalidParameterValue", 400, proxies.ErrInvalid},
		{"UnauthorizedOperation", 403, proxies.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			b, _ := fakeEC2(t, func(_ int32, w http.ResponseWriter) {
				w.WriteHeader(c.status)
				fmt.Fprint(w, ec2Error(c.code, "account 123456789012 arn:aws:iam::123456789012:role/x"))
			})
			_, err := b.Inventory().Hosts(t.Context())
			if !errors.Is(err, c.want) {
				t.Fatalf("Hosts = %v; want %v", err, c.want)
			}
			var pe *proxies.Error
			if !errors.As(err, &pe) || pe.Cause == nil {
				t.Fatalf("error %v is not a *proxies.Error with a cause", err)
			}
			if msg := proxies.SafeMessage(err); strings.Contains(msg, "123456789012") || !strings.Contains(msg, c.code) {
				t.Errorf("safe message %q leaks the raw message or lacks the code", msg)
			}
			if strings.Contains(err.Error(), "fake-secret-value") {
				t.Errorf("the error (with its cause) carries the secret key: %v", err)
			}
		})
	}
}

// TestThrottlingRetried: RequestLimitExceeded twice, then an answer; the
// SDK's retryer must get through.
func TestThrottlingRetried(t *testing.T) {
	b, calls := fakeEC2(t, func(n int32, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(503)
			fmt.Fprint(w, ec2Error("RequestLimitExceeded", "Request limit exceeded."))
			return
		}
		fmt.Fprint(w, zonesOK)
	})
	hosts, err := b.Inventory().Hosts(t.Context())
	if err != nil || len(hosts) != 1 || hosts[0].AvailabilityZone != "us-east-1a" {
		t.Fatalf("Hosts = %+v, %v; want the one zone after two throttled attempts", hosts, err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d attempts; want 3", n)
	}
}

// TestThrottlingExhausted: always throttled → ErrUnavailable after
// max_attempts attempts.
func TestThrottlingExhausted(t *testing.T) {
	b, calls := fakeEC2(t, func(_ int32, w http.ResponseWriter) {
		w.WriteHeader(503)
		fmt.Fprint(w, ec2Error("RequestLimitExceeded", "Request limit exceeded."))
	})
	_, err := b.Inventory().Hosts(t.Context())
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Fatalf("Hosts = %v; want ErrUnavailable", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d attempts; want max_attempts = 3", n)
	}
}

// TestSlowEndpoint: an endpoint that never answers ends in ErrUnavailable
// at the call timeout, not a hang.
func TestSlowEndpoint(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	t.Setenv("CANOPY_TEST_AWS_SECRET", "x")
	b, err := New(t.Context(), "slow", Config{Region: "us-east-1", Endpoint: srv.URL, AccessKeyID: "AKIAFAKE",
		SecretAccessKeyFrom: "env:CANOPY_TEST_AWS_SECRET", CallTimeout: 300 * time.Millisecond, MaxAttempts: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.Servers().GetServer(t.Context(), "7f1e")
	if !errors.Is(err, proxies.ErrUnavailable) {
		t.Fatalf("GetServer on a hung endpoint = %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("GetServer took %v; want about the 300ms call timeout", d)
	}
}

// TestDownEndpoint: nothing listens → ErrUnavailable, quickly.
func TestDownEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	t.Setenv("CANOPY_TEST_AWS_SECRET", "x")
	b, err := New(t.Context(), "down", Config{Region: "us-east-1", Endpoint: url, AccessKeyID: "AKIAFAKE",
		SecretAccessKeyFrom: "env:CANOPY_TEST_AWS_SECRET", MaxAttempts: 2, maxBackoff: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := b.Inventory().Hosts(ctx); !errors.Is(err, proxies.ErrUnavailable) {
		t.Fatalf("Hosts on a closed port = %v; want ErrUnavailable", err)
	}
}

// TestVCPUQuotaFromServiceQuotas: Hosts sizes the zones from Service
// Quotas when it answers, and from vcpu_quota when it refuses.
func TestVCPUQuotaFromServiceQuotas(t *testing.T) {
	cases := []struct {
		name  string
		quota func(w http.ResponseWriter)
		want  int
	}{
		{"from the API", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"Quota":{"ServiceCode":"ec2","QuotaCode":"L-1216C47A","Value":96.0}}`)
		}, 96},
		{"refused: the fallback", func(w http.ResponseWriter) {
			w.Header().Set("X-Amzn-Errortype", "AccessDeniedException")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"no"}`)
		}, 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var quotaCalls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetServiceQuota") {
					quotaCalls.Add(1)
					w.Header().Set("Content-Type", "application/x-amz-json-1.1")
					c.quota(w)
					return
				}
				fmt.Fprint(w, zonesOK)
			}))
			t.Cleanup(srv.Close)
			t.Setenv("CANOPY_TEST_AWS_SECRET", "x")
			b, err := New(t.Context(), "quota", Config{Region: "us-east-1", Endpoint: srv.URL, AccessKeyID: "AKIAFAKE",
				SecretAccessKeyFrom: "env:CANOPY_TEST_AWS_SECRET", VCPUQuota: 40, MaxAttempts: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				hosts, err := b.Inventory().Hosts(t.Context())
				if err != nil || len(hosts) != 1 || hosts[0].VCPUs != c.want || hosts[0].RAMMB != c.want*DefaultRAMPerVCPUMB {
					t.Fatalf("Hosts = %+v, %v; want one zone of %d vCPUs", hosts, err, c.want)
				}
			}
			if n := quotaCalls.Load(); n != 1 {
				t.Errorf("%d GetServiceQuota calls for two inventories; want 1 (cached)", n)
			}
		})
	}
}
