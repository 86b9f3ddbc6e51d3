// Command podvirtctl is podvirt's CLI; installed as kubectl-podvirt it is
// the kubectl plugin `kubectl podvirt`. It only wires internal/podvirtctl.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/podvirt/podvirt/internal/podvirtctl"
)

func main() {
	// Ctrl+C and SIGTERM end the command's context: a port forward closes
	// its listeners, a console restores the terminal.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := podvirtctl.NewRoot()
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", root.DisplayName(), err)
		os.Exit(podvirtctl.ExitCode(err))
	}
}
