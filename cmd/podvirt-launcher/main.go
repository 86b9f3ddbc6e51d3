// Command podvirt-launcher runs inside a VMI's launcher Pod. It only wires
// launcher/program to flags and signals.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/podvirt/podvirt/launcher/program"
)

func main() {
	domain := flag.String("domain", "", "libvirt domain name of the VMI (<namespace>_<name>)")
	waitFor := flag.String("wait-for-removal", "", "after SIGTERM, wait until this path is gone (the node agent's directory of the VMI, removed once the domain is)")
	serialLog := flag.String("serial-log", "", "the guest's serial log, streamed to stdout (kubectl logs)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := program.Run(ctx, program.Options{Domain: *domain, WaitForRemoval: *waitFor, Out: os.Stderr, SerialLog: *serialLog, Serial: os.Stdout}); err != nil {
		fmt.Fprintln(os.Stderr, "podvirt-launcher:", err)
		os.Exit(1)
	}
}
