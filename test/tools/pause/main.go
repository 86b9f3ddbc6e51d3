// Command pause is the pod sandbox ("pause") program of the local test node:
// it sleeps until SIGTERM or SIGINT and then exits 0. As PID 1 of a Pod that
// shares its process namespace it also reaps orphaned children. Build it
// static (CGO_ENABLED=0) and pack it with test/tools/ocipack as
// podvirt.io/pause:dev.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
