package procstat

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// A real line of a kube-apiserver, with utime 4217 and stime 1032.
const apiserverStat = "1234 (kube-apiserver) S 1 1234 1234 0 -1 4194560 98273 0 12 0 4217 1032 0 0 20 0 14 0 5873 1436000256 75210 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

func TestParseStat(t *testing.T) {
	s, err := ParseStat([]byte(apiserverStat))
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != 1234 || s.Comm != "kube-apiserver" || s.State != 'S' || s.UTime != 4217 || s.STime != 1032 {
		t.Fatalf("ParseStat = %+v", s)
	}
	if got, want := s.CPU(), 52490*time.Millisecond; got != want {
		t.Errorf("CPU = %v, want %v", got, want)
	}
}

func TestParseStatCommWithSpacesAndParens(t *testing.T) {
	line := "77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 5 7 0 0 20 0 1 0 1 1 1 1"
	s, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.Comm != "a) b (c)" || s.State != 'R' || s.UTime != 5 || s.STime != 7 {
		t.Fatalf("ParseStat = %+v", s)
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, line := range []string{"", "12 no parens", "x (a) S 1 2", "12 (a) S 1 2 3", "12 (a) S 1 2 3 4 5 6 7 8 9 10 u 11"} {
		if _, err := ParseStat([]byte(line)); err == nil {
			t.Errorf("ParseStat(%q) did not fail", line)
		}
	}
}

// fakeProc writes a proc root with the given processes.
type fakeProcess struct {
	pid          int
	comm         string
	state        string
	utime, stime int
	cgroup       string
}

func fakeProc(t *testing.T, procs ...fakeProcess) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(p.pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		state := p.state
		if state == "" {
			state = "S"
		}
		stat := strconv.Itoa(p.pid) + " (" + p.comm + ") " + state + " 1 1 1 0 -1 0 0 0 0 0 " +
			strconv.Itoa(p.utime) + " " + strconv.Itoa(p.stime) + " 0 0 20 0 1 0 1 1 1\n"
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(p.cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a process directory.
	if err := os.MkdirAll(filepath.Join(root, "sys"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

const uid = "0b6f2c1e-8d7a-4c55-9a51-3f3e2a1b9c01"

func TestPodPIDs(t *testing.T) {
	root := fakeProc(t,
		fakeProcess{pid: 10, comm: "pause", cgroup: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b6f2c1e_8d7a_4c55_9a51_3f3e2a1b9c01.slice/cri-containerd-aa.scope\n"},
		fakeProcess{pid: 11, comm: "podvirt-control", cgroup: "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b6f2c1e_8d7a_4c55_9a51_3f3e2a1b9c01.slice/cri-containerd-bb.scope\n"},
		fakeProcess{pid: 12, comm: "podvirt-control", cgroup: "0::/kubepods/burstable/pod" + uid + "/cc\n"},
		fakeProcess{pid: 13, comm: "other", cgroup: "0::/kubepods/burstable/pod11111111-2222-3333-4444-555555555555/dd\n"},
		fakeProcess{pid: 14, comm: "podvirt-control", state: "Z", cgroup: "0::/kubepods/burstable/pod" + uid + "/cc\n"},
	)
	r := Reader{Root: root}
	got, err := r.PodPIDs(uid, "pause")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{11, 12}) {
		t.Errorf("PodPIDs = %v, want [11 12] (pause, zombie and other Pods left out)", got)
	}
	all, err := r.PodPIDs(uid)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("PodPIDs without skip = %v, want pause too", all)
	}
	if _, err := r.PodPIDs(""); err == nil {
		t.Error("PodPIDs(\"\") did not fail")
	}
}

func TestCPU(t *testing.T) {
	root := fakeProc(t,
		fakeProcess{pid: 20, comm: "a", utime: 150, stime: 50},
		fakeProcess{pid: 21, comm: "b", utime: 3, stime: 7},
		fakeProcess{pid: 22, comm: "z", state: "Z"},
	)
	r := Reader{Root: root}
	got, err := r.CPU([]int{20, 21})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2100 * time.Millisecond; got != want {
		t.Errorf("CPU = %v, want %v", got, want)
	}
	if _, err := r.CPU([]int{20, 99}); !errors.Is(err, ErrGone) {
		t.Errorf("CPU with a missing pid: err = %v, want ErrGone", err)
	}
	if _, err := r.CPU([]int{22}); !errors.Is(err, ErrGone) {
		t.Errorf("CPU of a zombie: err = %v, want ErrGone", err)
	}
}

func TestReadPIDFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.pid")
	if err := os.WriteFile(f, []byte("4321\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := ReadPIDFile(f); err != nil || pid != 4321 {
		t.Errorf("ReadPIDFile = %d, %v", pid, err)
	}
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPIDFile(f); err == nil {
		t.Error("ReadPIDFile of garbage did not fail")
	}
}

func TestSelfIsReadable(t *testing.T) {
	// The real /proc: this test process has a stat and some CPU time.
	s, err := Reader{}.Stat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != os.Getpid() {
		t.Errorf("Stat(self).PID = %d", s.PID)
	}
}
