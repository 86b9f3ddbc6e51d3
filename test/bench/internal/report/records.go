package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Record types.
const (
	TypeRun  = "run"
	TypeCell = "cell"
	TypeSkip = "skip"
)

// CPU groups of a cell.
const (
	CPUAPIServer = "apiserver"
	CPUWebhook   = "webhook"
	// CPULoadgen is the load generator itself.
	CPULoadgen = "loadgen"
)

// ScenarioInfo names a scenario.
type ScenarioInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// Webhook is what runs as "the webhook process" in this scenario
	// (podvirt, noop, kyverno), empty for none.
	Webhook string `json:"webhook,omitempty"`
}

// Run describes the whole run; the first line of a results file.
type Run struct {
	Type        string         `json:"type"`
	Started     time.Time      `json:"started"`
	Environment string         `json:"environment"`
	Commit      string         `json:"commit,omitempty"`
	Host        string         `json:"host,omitempty"`
	Object      string         `json:"object"`
	Rules       string         `json:"rules"`
	N           int            `json:"n"`
	Warmup      int            `json:"warmup"`
	Reps        int            `json:"reps"`
	C           []int          `json:"c"`
	Scenarios   []ScenarioInfo `json:"scenarios"`
	Notes       []string       `json:"notes,omitempty"`
}

// Cell is one measured cell.
type Cell struct {
	Type          string   `json:"type"`
	Seq           int      `json:"seq"`
	Rep           int      `json:"rep"`
	Scenario      string   `json:"scenario"`
	C             int      `json:"c"`
	N             int      `json:"n"`
	OK            int      `json:"ok"`
	Errors        int      `json:"errors"`
	ErrorSamples  []string `json:"errorSamples,omitempty"`
	ElapsedSec    float64  `json:"elapsedSec"`
	P50Ms         float64  `json:"p50Ms"`
	P90Ms         float64  `json:"p90Ms"`
	P99Ms         float64  `json:"p99Ms"`
	MaxMs         float64  `json:"maxMs"`
	CreatesPerSec float64  `json:"createsPerSec"`
	// CPUPerAdmissionUs is CPU µs per measured request, by group
	// (CPUAPIServer, CPUWebhook), from utime+stime deltas over the cell.
	CPUPerAdmissionUs map[string]float64 `json:"cpuPerAdmissionUs,omitempty"`
	// HostCoresBusy is the machine's busy CPU time over the measured
	// requests divided by their wall time (2 = both cores of a 2-core
	// machine busy), from /proc/stat: everything counts, other tenants too.
	HostCoresBusy float64 `json:"hostCoresBusy,omitempty"`
	// CPUPIDs are the processes summed per group.
	CPUPIDs map[string][]int `json:"cpuPids,omitempty"`
	// LatenciesUs are every successful request's latency, sorted.
	LatenciesUs []int64 `json:"latenciesUs,omitempty"`
}

// Skip says a scenario was not measured, and why.
type Skip struct {
	Type     string `json:"type"`
	Scenario string `json:"scenario"`
	Rep      int    `json:"rep"`
	Reason   string `json:"reason"`
}

// Results is a parsed results file.
type Results struct {
	Run   Run
	Cells []Cell
	Skips []Skip
}

// Parse reads a results file.
func Parse(r io.Reader) (*Results, error) {
	res := &Results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	haveRun := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var head struct{ Type string }
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("results line %d: %w", n, err)
		}
		var err error
		switch head.Type {
		case TypeRun:
			if haveRun {
				return nil, fmt.Errorf("results line %d: a second run record (one run per file)", n)
			}
			haveRun = true
			err = json.Unmarshal(line, &res.Run)
		case TypeCell:
			var c Cell
			err = json.Unmarshal(line, &c)
			res.Cells = append(res.Cells, c)
		case TypeSkip:
			var s Skip
			err = json.Unmarshal(line, &s)
			res.Skips = append(res.Skips, s)
		default:
			err = fmt.Errorf("unknown record type %q", head.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("results line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	if !haveRun {
		return nil, fmt.Errorf("results: no run record")
	}
	return res, nil
}

// Load parses the results file at path.
func Load(path string) (*Results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening results: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// Writer appends records to a results file, one JSON line each.
type Writer struct {
	w   io.Writer
	enc *json.Encoder
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, enc: json.NewEncoder(w)} }

// Write writes one record (a Run, Cell or Skip; Type is set here).
func (w *Writer) Write(rec any) error {
	switch r := rec.(type) {
	case *Run:
		r.Type = TypeRun
	case *Cell:
		r.Type = TypeCell
	case *Skip:
		r.Type = TypeSkip
	default:
		return fmt.Errorf("writing a %T: not a record", rec)
	}
	if err := w.enc.Encode(rec); err != nil {
		return fmt.Errorf("writing a record: %w", err)
	}
	if s, ok := w.w.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return fmt.Errorf("syncing results: %w", err)
		}
	}
	return nil
}
