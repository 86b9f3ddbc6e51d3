// Package program is what runs inside the launcher Pod. The guest's QEMU
// process is started by the node's libvirt; the launcher container holds the
// Pod's place on the node (its cgroup, its resources, its volumes) while
// the domain runs, and ends when the kubelet stops it and the node agent
// is done with the domain.
//
// The same binary's `console` subcommand (Console), run in that container
// through pods/exec, relays the guest's serial console.
package program

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// Options configure the launcher.
type Options struct {
	// Domain is the libvirt domain name this launcher stands for.
	Domain string
	// WaitForRemoval, when set, is a path the launcher waits to be gone
	// after SIGTERM before it returns: the node agent's directory of the
	// VMI in the Pod's state volume, removed once the domain is gone.
	// Until the Pod's containers end, the kubelet keeps the Pod's volumes
	// (the guest's disks) and its cgroup (the guest's QEMU); the kubelet's
	// SIGKILL at the end of the grace period bounds the wait.
	WaitForRemoval string
	// Out receives progress lines.
	Out io.Writer
	// SerialLog, when set, is the guest's serial log in the Pod's state
	// volume; what the guest writes there is copied to Serial (the
	// container's stdout), so `kubectl logs`, log shipping and log alerts
	// work for the VM's console as for any Pod.
	SerialLog string
	Serial    io.Writer
	// PollInterval is how often WaitForRemoval is checked; 200ms when
	// zero.
	PollInterval time.Duration
}

// Run waits until ctx is done (SIGTERM from the kubelet), then until
// WaitForRemoval is gone, then returns.
func Run(ctx context.Context, opts Options) error {
	if opts.Domain == "" {
		return fmt.Errorf("--domain is required")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(opts.Out, "%s launcher for domain %s: %s\n", time.Now().UTC().Format(time.RFC3339), opts.Domain, fmt.Sprintf(format, args...))
	}
	logf("waiting")
	if opts.SerialLog != "" && opts.Serial != nil {
		go followSerialLog(ctx, opts.SerialLog, opts.Serial, opts.PollInterval)
	}
	<-ctx.Done()
	if opts.WaitForRemoval != "" {
		interval := opts.PollInterval
		if interval <= 0 {
			interval = 200 * time.Millisecond
		}
		logged := false
		for {
			_, err := os.Lstat(opts.WaitForRemoval)
			if os.IsNotExist(err) {
				break
			}
			if !logged {
				// Any other error (EACCES) is waited out too: the kubelet
				// ends the wait at the grace period.
				logf("waiting for the node agent to remove %s (err: %v)", opts.WaitForRemoval, err)
				logged = true
			}
			time.Sleep(interval)
		}
	}
	logf("stopping")
	return nil
}
