// Command podvirt-launcher runs inside a VMI's launcher Pod. It only wires
// launcher/program to flags and signals.
//
//	podvirt-launcher --domain NS_NAME ...   the launcher container's process
//	podvirt-launcher console [--socket P]   the guest's serial console on
//	                                        stdin/stdout (podvirtctl console
//	                                        runs it through pods/exec)
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
	if len(os.Args) > 1 && os.Args[1] == "console" {
		console(os.Args[2:])
		return
	}
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

// console relays stdin and stdout to the guest's serial console until ^]
// or the end of stdin; with a TTY (the user's terminal), raw.
func console(args []string) {
	fs := flag.NewFlagSet("console", flag.ExitOnError)
	socket := fs.String("socket", program.ConsoleSocket, "the serial console's unix socket")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	restore, err := program.RawTerminal(os.Stdin)
	if err == nil {
		err = program.Console(ctx, program.ConsoleOptions{Socket: *socket, In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Escape: program.EscapeByte})
		restore()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "podvirt-launcher console: %v\r\n", err)
		os.Exit(1)
	}
}
