// Package program is what runs inside the launcher Pod. The guest's QEMU
// process is started by the node's libvirt; the launcher container holds the
// Pod's place on the node (its cgroup, its resources) while the domain
// runs, and ends when the kubelet stops it.
package program

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Options configure the launcher.
type Options struct {
	// Domain is the libvirt domain name this launcher stands for.
	Domain string
	// Out receives progress lines.
	Out io.Writer
}

// Run waits until ctx is done (SIGTERM from the kubelet), then returns.
func Run(ctx context.Context, opts Options) error {
	if opts.Domain == "" {
		return fmt.Errorf("--domain is required")
	}
	fmt.Fprintf(opts.Out, "%s launcher for domain %s: waiting\n", time.Now().UTC().Format(time.RFC3339), opts.Domain)
	<-ctx.Done()
	fmt.Fprintf(opts.Out, "%s launcher for domain %s: stopping\n", time.Now().UTC().Format(time.RFC3339), opts.Domain)
	return nil
}
