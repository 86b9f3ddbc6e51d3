package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HostCPU is the machine's CPU time from the "cpu" line of /proc/stat.
type HostCPU struct {
	// Busy is all but idle and iowait; Total includes them.
	Busy, Total time.Duration
}

// ParseHostCPU parses the content of /proc/stat.
func ParseHostCPU(b []byte) (HostCPU, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var h HostCPU
		for i, s := range f[1:] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return HostCPU{}, fmt.Errorf("parsing /proc/stat cpu field %d: %w", i+1, err)
			}
			d := time.Duration(v) * time.Second / ClockTicks
			// Fields: user nice system idle iowait irq softirq steal
			// guest guest_nice; guest time is already in user/nice.
			if i >= 8 {
				break
			}
			h.Total += d
			if i != 3 && i != 4 {
				h.Busy += d
			}
		}
		return h, nil
	}
	return HostCPU{}, fmt.Errorf("parsing /proc/stat: no cpu line")
}

// HostCPU reads the machine's CPU time.
func (r Reader) HostCPU() (HostCPU, error) {
	b, err := os.ReadFile(filepath.Join(r.root(), "stat"))
	if err != nil {
		return HostCPU{}, fmt.Errorf("reading /proc/stat: %w", err)
	}
	return ParseHostCPU(b)
}
