package registry

import "strings"

// CloudTag is the hash tag under which a cloud's scheduling keys live (its
// host inventory and the capacity claims on it), so that a claim and the
// host record it changes sit in one Cluster slot and change in one script.
func CloudTag(cloud string) string { return "{c:" + cloud + "}" }

// CloudKey builds a key under a cloud's hash tag: CloudKey("local", "host", "sim-1").
func CloudKey(cloud string, parts ...string) string {
	return CloudTag(cloud) + ":" + strings.Join(parts, ":")
}
