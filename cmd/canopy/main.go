// Command canopy is the one binary of Canopy: the all-in-one development
// cloud, the production gateway, and small operator tools.
//
//	canopy dev                       everything in one process, in-memory registry, simulated local pool
//	canopy gateway --config FILE     the gateway against a real Redis, configured by canopy.yaml
//	canopy fernet-rotate --key-repository DIR
//	canopy version
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/canopy-cloud/canopy/cmd/canopy/version"
)

const usage = `canopy — an OpenStack cloud made of other clouds

Usage:
  canopy dev [flags]                 run everything in one process (in-memory registry, simulated hosts)
  canopy gateway --config FILE       run the gateway configured by canopy.yaml against a real Redis
  canopy agent [flags]               the host agent of one KVM host: registers it and heartbeats
                                     (see canopy agent --help)
  canopy admin [flags] COMMAND       drive the admin API: clouds (health, capacity, disable/enable)
                                     and routings (where each resource lives); see canopy admin --help
  canopy fernet-rotate --key-repository DIR [--max-active N]
                                     rotate the Fernet token keys (as keystone-manage fernet_rotate)
  canopy version                     print the version

Run "canopy <command> --help" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "dev":
		err = runDev(ctx, os.Args[2:])
	case "gateway":
		err = runGateway(ctx, os.Args[2:])
	case "agent":
		err = runAgent(ctx, os.Args[2:])
	case "admin":
		err = runAdmin(ctx, os.Args[2:])
	case "fernet-rotate":
		err = runFernetRotate(os.Args[2:])
	case "version", "--version", "-v":
		fmt.Println("canopy", version.Version)
	case "help", "--help", "-h":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "canopy: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "canopy:", err)
		os.Exit(1)
	}
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
