// Command loadgen runs podvirt's admission benchmark (issue #16) against a
// running cluster, and writes its report. test/bench/bench-system.sh
// (make bench-system) brings the environment and runs it; see
// test/bench/README.md.
//
//	loadgen run     measure every scenario x concurrency x repetition,
//	                one JSON line per cell (--out)
//	loadgen report  bench/report.md and bench/latency.png from the lines
//	loadgen restore put back what an interrupted run changed (--state)
//
// A cell is N server-side dry-run creates of the example VMI with unique
// names, after a warm-up, by C client-go workers (unthrottled); the CPU
// of the kube-apiserver and of the scenario's webhook processes is read
// from /proc/PID/stat before and after the measured requests.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	case "restore":
		err = restoreCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loadgen run|report|restore [flags] (-h for each)")
	os.Exit(2)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[loadgen] "+format+"\n", args...)
}
