// Package version carries the build's version, set by the Makefile with -ldflags.
package version

// Version is the release or git describe of this build.
var Version = "dev"
