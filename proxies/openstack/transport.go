package openstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// maxRetryAfter caps how long one Retry-After is honoured: a bottom that asks
// for longer is treated as unavailable rather than left to stall a request.
const maxRetryAfter = 10 * time.Second

// retryTransport retries the answers that mean "not done, try again": 413
// and 429 that carry Retry-After (Nova's rate limits), and 503. A request
// whose body cannot be replayed (a streamed image upload) is not retried.
// 409 is never retried here: only the callers know where it is safe.
type retryTransport struct {
	next    http.RoundTripper
	retries int
	// base is the first backoff when the answer has no Retry-After.
	base time.Duration
}

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := rt.next.RoundTrip(req)
		if err != nil || attempt >= rt.retries {
			return resp, err
		}
		wait, retry := retryAfter(resp, rt.base<<attempt)
		if !retry || (req.Body != nil && req.GetBody == nil) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// retryAfter says whether resp is worth retrying and after how long.
func retryAfter(resp *http.Response, backoff time.Duration) (time.Duration, bool) {
	ra := resp.Header.Get("Retry-After")
	switch resp.StatusCode {
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		if ra == "" {
			return 0, false // a 413 without Retry-After is a quota or size refusal
		}
	case http.StatusServiceUnavailable:
	default:
		return 0, false
	}
	if ra == "" {
		return backoff, true
	}
	if secs, err := strconv.Atoi(ra); err == nil {
		d := time.Duration(secs) * time.Second
		return d, d <= maxRetryAfter
	}
	if t, err := http.ParseTime(ra); err == nil {
		d := time.Until(t)
		return max(d, 0), d <= maxRetryAfter
	}
	return backoff, true
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newHTTPClient is the client every call to the bottom goes through: short
// connect timeouts (a down bottom answers ErrUnavailable quickly), optional
// private CAs, and the retry transport.
func newHTTPClient(cfg Config) (http.Client, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return http.Client{}, fmt.Errorf("openstack.cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return http.Client{}, fmt.Errorf("openstack.cacert: %s holds no PEM certificate", cfg.CACert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return http.Client{Transport: &retryTransport{next: tr, retries: cfg.Retries, base: 200 * time.Millisecond}}, nil
}
