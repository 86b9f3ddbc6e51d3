package procstat

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const procStat = `cpu  1000 50 300 8000 100 20 30 0 400 0
cpu0 500 25 150 4000 50 10 15 0 200 0
intr 12345
`

func TestParseHostCPU(t *testing.T) {
	h, err := ParseHostCPU([]byte(procStat))
	if err != nil {
		t.Fatal(err)
	}
	// busy: user+nice+system+irq+softirq+steal = 1400 ticks; total adds
	// idle and iowait: 9500 ticks; guest is inside user and not added.
	if h.Busy != 14*time.Second || h.Total != 95*time.Second {
		t.Errorf("ParseHostCPU = %+v", h)
	}
	for _, bad := range []string{"intr 1\n", "cpu 1 2 x 4 5\n"} {
		if _, err := ParseHostCPU([]byte(bad)); err == nil {
			t.Errorf("ParseHostCPU(%q) did not fail", bad)
		}
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "stat"), []byte(procStat), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := (Reader{Root: root}).HostCPU(); err != nil || got != h {
		t.Errorf("Reader.HostCPU = %+v, %v", got, err)
	}
	if _, err := (Reader{}).HostCPU(); err != nil {
		t.Errorf("the real /proc/stat: %v", err)
	}
}
