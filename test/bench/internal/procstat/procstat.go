package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports (the kernel exports
// it as a constant to user space; glibc's sysconf(_SC_CLK_TCK) returns it).
const ClockTicks = 100

// Stat is what the benchmark reads from one /proc/PID/stat line.
type Stat struct {
	PID   int
	Comm  string
	State byte
	// UTime and STime are in clock ticks (ClockTicks per second).
	UTime, STime uint64
}

// CPU is the process's user plus system time.
func (s Stat) CPU() time.Duration {
	return time.Duration(s.UTime+s.STime) * time.Second / ClockTicks
}

// ParseStat parses the content of /proc/PID/stat. The command name is
// in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func ParseStat(line []byte) (Stat, error) {
	open := bytes.IndexByte(line, '(')
	closing := bytes.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return Stat{}, fmt.Errorf("parsing /proc stat %q: no (comm)", truncate(line))
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(line[:open])))
	if err != nil {
		return Stat{}, fmt.Errorf("parsing /proc stat pid: %w", err)
	}
	// After "(comm) ": field 3 (state) is rest[0]; utime and stime are
	// fields 14 and 15, so rest[11] and rest[12].
	rest := strings.Fields(string(line[closing+1:]))
	if len(rest) < 13 || len(rest[0]) != 1 {
		return Stat{}, fmt.Errorf("parsing /proc stat of pid %d: %d fields after comm, want at least 13", pid, len(rest))
	}
	s := Stat{PID: pid, Comm: string(line[open+1 : closing]), State: rest[0][0]}
	if s.UTime, err = strconv.ParseUint(rest[11], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("parsing utime of pid %d: %w", pid, err)
	}
	if s.STime, err = strconv.ParseUint(rest[12], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("parsing stime of pid %d: %w", pid, err)
	}
	return s, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

// Reader reads processes under a proc root.
type Reader struct {
	// Root is the proc file system; empty means /proc.
	Root string
}

func (r Reader) root() string {
	if r.Root == "" {
		return "/proc"
	}
	return r.Root
}

// ErrGone says that a process exited (or never was).
var ErrGone = errors.New("process gone")

// Stat reads one process's stat.
func (r Reader) Stat(pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join(r.root(), strconv.Itoa(pid), "stat"))
	if errors.Is(err, os.ErrNotExist) {
		return Stat{}, fmt.Errorf("pid %d: %w", pid, ErrGone)
	}
	if err != nil {
		return Stat{}, fmt.Errorf("reading stat of pid %d: %w", pid, err)
	}
	s, err := ParseStat(b)
	if err != nil {
		return Stat{}, err
	}
	if s.State == 'Z' || s.State == 'X' {
		return Stat{}, fmt.Errorf("pid %d is a zombie: %w", pid, ErrGone)
	}
	return s, nil
}

// CPU sums the CPU time of pids. Every one must be alive: a process that
// exited during a measurement would make its delta meaningless.
func (r Reader) CPU(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		s, err := r.Stat(pid)
		if err != nil {
			return 0, err
		}
		total += s.CPU()
	}
	return total, nil
}

// PodPIDs returns the processes in the cgroup of the Pod with uid (as
// the kubelet names it, with dashes, or with underscores under the
// systemd cgroup driver), leaving out those whose command is in skip
// (e.g. "pause", the sandbox). Processes that exit while it scans are
// left out.
func (r Reader) PodPIDs(uid string, skip ...string) ([]int, error) {
	if uid == "" {
		return nil, errors.New("finding a Pod's processes: empty UID")
	}
	marks := []string{"pod" + uid, "pod" + strings.ReplaceAll(uid, "-", "_")}
	entries, err := os.ReadDir(r.root())
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", r.root(), err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(filepath.Join(r.root(), e.Name(), "cgroup"))
		if err != nil || !containsAny(string(cg), marks) {
			continue
		}
		s, err := r.Stat(pid)
		if err != nil {
			continue
		}
		if containsString(skip, s.Comm) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// ReadPIDFile reads a pid file (a decimal number and optional white space).
func ReadPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parsing pid file %s: %w", path, err)
	}
	return pid, nil
}
