// Command podvirtctl is podvirt's CLI; installed as kubectl-podvirt it is
// the kubectl plugin `kubectl podvirt`. It only wires internal/podvirtctl.
package main

import (
	"fmt"
	"os"

	"github.com/podvirt/podvirt/internal/podvirtctl"
)

func main() {
	root := podvirtctl.NewRoot()
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", root.DisplayName(), err)
		os.Exit(podvirtctl.ExitCode(err))
	}
}
