package aws

import (
	"context"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// runCounter is the backend's EC2 client with its RunInstances calls
// counted.
type runCounter struct {
	ec2API
	n atomic.Int64
}

func (c *runCounter) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	c.n.Add(1)
	return c.ec2API.RunInstances(ctx, in, opts...)
}

// CountRunInstances wraps b's EC2 client so that RunInstances calls are
// counted, and returns the count (for the gateway tests, outside the
// package). Call it before b is used.
func CountRunInstances(b *Backend) func() int {
	c := &runCounter{ec2API: b.ec2}
	b.ec2 = c
	return func() int { return int(c.n.Load()) }
}
