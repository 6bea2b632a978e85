package scheduler

// Filters for the scheduler hints of a create (Request.Hints). Each applies
// only when its hint is given: Decide leaves the others out of the loop, so
// a decision without hints costs nothing more.

// SameHostFilter keeps the hosts of the servers a same_host hint names, like
// Nova's SameHostFilter.
type SameHostFilter struct{}

// Name is Nova's filter name.
func (SameHostFilter) Name() string { return "SameHostFilter" }

// Pass reports whether h runs one of the named servers.
func (f SameHostFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (SameHostFilter) applies(req *Request) bool { return len(req.Hints.SameHost) > 0 }

func (SameHostFilter) pass(h *HostState, req *Request) bool {
	return len(req.Hints.SameHost) == 0 || inHosts(req.Hints.SameHost, h)
}

// DifferentHostFilter drops the hosts of the servers a different_host hint
// names, like Nova's DifferentHostFilter.
type DifferentHostFilter struct{}

// Name is Nova's filter name.
func (DifferentHostFilter) Name() string { return "DifferentHostFilter" }

// Pass reports whether h runs none of the named servers.
func (f DifferentHostFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (DifferentHostFilter) applies(req *Request) bool { return len(req.Hints.DifferentHost) > 0 }

func (DifferentHostFilter) pass(h *HostState, req *Request) bool {
	return !inHosts(req.Hints.DifferentHost, h)
}

// CloudFilter keeps the hosts of the cloud a "cloud" hint names (Canopy's
// own hint: place this server on that cloud only).
type CloudFilter struct{}

// Name is the filter's name in explanations.
func (CloudFilter) Name() string { return "CloudFilter" }

// Pass reports whether h is in the requested cloud.
func (f CloudFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (CloudFilter) applies(req *Request) bool { return req.Hints.Cloud != "" }

func (CloudFilter) pass(h *HostState, req *Request) bool {
	return req.Hints.Cloud == "" || h.Cloud == req.Hints.Cloud
}

// RetryFilter drops the hosts and clouds whose backend already refused this
// server (Nova's old RetryFilter: hosts already attempted), so that a
// refusal sends the server to the next candidate.
type RetryFilter struct{}

// Name is Nova's filter name.
func (RetryFilter) Name() string { return "RetryFilter" }

// Pass reports whether h has not refused the server.
func (f RetryFilter) Pass(h HostState, req Request) bool { return f.pass(&h, &req) }

func (RetryFilter) applies(req *Request) bool {
	return len(req.Hints.RefusedHosts) > 0 || len(req.Hints.RefusedClouds) > 0
}

func (RetryFilter) pass(h *HostState, req *Request) bool {
	for _, c := range req.Hints.RefusedClouds {
		if c == h.Cloud {
			return false
		}
	}
	return !inHosts(req.Hints.RefusedHosts, h)
}

// inHosts reports whether h is one of hosts ("cloud/host").
func inHosts(hosts []string, h *HostState) bool {
	for _, e := range hosts {
		if isHost(e, h) {
			return true
		}
	}
	return false
}

// isHost reports whether e ("cloud/host") names h, without building the
// string (a filter runs over 10,000 hosts).
func isHost(e string, h *HostState) bool {
	c := len(h.Cloud)
	return len(e) == c+1+len(h.Host) && e[c] == '/' && e[:c] == h.Cloud && e[c+1:] == h.Host
}
