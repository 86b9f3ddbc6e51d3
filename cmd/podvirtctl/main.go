// Command podvirtctl is podvirt's CLI. It only wires internal/podvirtctl.
package main

import (
	"fmt"
	"os"

	"github.com/podvirt/podvirt/internal/podvirtctl"
)

func main() {
	if err := podvirtctl.NewRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podvirtctl:", err)
		os.Exit(1)
	}
}
