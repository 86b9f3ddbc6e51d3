package report

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"
)

func cell(s string, c, rep int, p50, p99, rate, api, wh float64, errs int) Cell {
	cpu := map[string]float64{CPUAPIServer: api}
	if !math.IsNaN(wh) {
		cpu[CPUWebhook] = wh
	}
	lat := make([]int64, 100)
	for i := range lat {
		lat[i] = int64(p50*1000) + int64(i)*10
	}
	return Cell{Type: TypeCell, Scenario: s, C: c, Rep: rep, N: 100, OK: 100 - errs, Errors: errs,
		P50Ms: p50, P90Ms: p50 * 2, P99Ms: p99, CreatesPerSec: rate, CPUPerAdmissionUs: cpu, LatenciesUs: lat, HostCoresBusy: 1.5}
}

func sample() *Results {
	nan := math.NaN()
	return &Results{
		Run: Run{Type: TypeRun, Started: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Environment: "dev: test",
			Object: "examples/vmi-tiny.yaml", Rules: "test/bench/testdata/rules-16.tsv", N: 100, Warmup: 5, Reps: 3, C: []int{1, 16},
			Scenarios: []ScenarioInfo{
				{Name: "none", Label: "no webhooks"},
				{Name: "noop", Label: "no-op webhook", Webhook: "noop"},
				{Name: "podvirt-16", Label: "podvirt, 16 VMIPolicies", Webhook: "podvirt"},
			}},
		Cells: []Cell{
			cell("none", 1, 0, 2, 10, 300, 100, nan, 0),
			cell("none", 1, 1, 3, 12, 280, 110, nan, 0),
			cell("none", 1, 2, 2.5, 11, 290, 90, nan, 0),
			cell("noop", 1, 0, 4, 20, 200, 150, 50, 0),
			cell("noop", 1, 1, 4, 22, 210, 150, 50, 0),
			cell("noop", 1, 2, 4, 18, 190, 150, 50, 0),
			cell("podvirt-16", 1, 0, 8, 40, 100, 160, 240, 1),
			cell("podvirt-16", 1, 1, 8, 44, 100, 160, 240, 0),
			cell("podvirt-16", 1, 2, 8, 36, 100, 160, 240, 2),
			cell("podvirt-16", 16, 0, 30, 90, 400, 160, 240, 0),
		},
		Skips: []Skip{{Type: TypeSkip, Scenario: "kyverno-16", Reason: "kyverno did not start: no binary"}},
	}
}

func TestRowsMediansAndRatios(t *testing.T) {
	rows := Rows(sample())
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	want := []struct {
		s string
		c int
	}{{"none", 1}, {"noop", 1}, {"podvirt-16", 1}, {"podvirt-16", 16}}
	for i, w := range want {
		if rows[i].Scenario.Name != w.s || rows[i].C != w.c {
			t.Errorf("row %d is %s@%d, want %s@%d", i, rows[i].Scenario.Name, rows[i].C, w.s, w.c)
		}
	}
	none := rows[0]
	if none.P50.Median != 2.5 || none.P99.Median != 11 || none.P99.Min != 10 || none.P99.Max != 12 || none.Rate.Median != 290 {
		t.Errorf("none: %+v", none)
	}
	// No webhook process: total CPU is the apiserver's alone.
	if none.CPUTotal.Median != 100 || none.CPUWebhook.N != 0 {
		t.Errorf("none CPU: total %+v webhook %+v", none.CPUTotal, none.CPUWebhook)
	}
	pv := rows[2]
	if pv.Errors != 3 || pv.Requests != 300 || pv.Reps != 3 {
		t.Errorf("podvirt-16@1 errors %d requests %d reps %d", pv.Errors, pv.Requests, pv.Reps)
	}
	q := pv.RatiosTo(Find(rows, BaselineNoop, 1))
	if q.P50 != 2 || q.P99 != 2 || q.Rate != 0.5 || q.CPUTotal != 2 {
		t.Errorf("ratios to noop = %+v", q)
	}
	q = pv.RatiosTo(Find(rows, BaselineNone, 1))
	if q.P50 != 3.2 || q.CPUTotal != 4 {
		t.Errorf("ratios to none = %+v", q)
	}
	if r := rows[3].RatiosTo(Find(rows, BaselineNoop, 16)); !math.IsNaN(r.P50) {
		t.Errorf("ratio to a missing baseline = %v, want NaN", r.P50)
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	s := sample()
	if err := w.Write(&s.Run); err != nil {
		t.Fatal(err)
	}
	for i := range s.Cells {
		if err := w.Write(&s.Cells[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(&s.Skips[0]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("nope"); err == nil {
		t.Error("a string written as a record")
	}
	got, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Cells) != len(s.Cells) || len(got.Skips) != 1 || got.Run.N != 100 || got.Cells[6].Errors != 1 {
		t.Errorf("round trip: %d cells, %d skips, run %+v", len(got.Cells), len(got.Skips), got.Run)
	}
	if _, err := Parse(strings.NewReader(`{"type":"cell"}` + "\n")); err == nil {
		t.Error("results without a run record parsed")
	}
	if _, err := Parse(strings.NewReader(`{"type":"run"}` + "\n" + `{"type":"what"}` + "\n")); err == nil {
		t.Error("unknown record type parsed")
	}
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	if err := Markdown(&b, sample(), "latency.png"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| no webhooks | 1 | 2.50 | 5.00 | 11.0 | 10.0–12.0 | 290 | 280–300 | 0 / 300 | 100 | (none) | 100 | 1.50 |",
		"| podvirt, 16 VMIPolicies | 1 | 8.00 | 16.0 | 40.0 | 36.0–44.0 | 100 | 100–100 | 3 / 300 | 160 | 240 | 400 | 1.50 |",
		// One repetition: no range.
		"| podvirt, 16 VMIPolicies | 16 | 30.0 | 60.0 | 90.0 | – | 400 | – | 0 / 100 | 160 | 240 | 400 | 1.50 |",
		"## Ratios to the no-op webhook",
		"| podvirt, 16 VMIPolicies | 1 | 2.00 | 2.00 | 0.50 | 2.00 |",
		"| podvirt, 16 VMIPolicies | 16 | – | – | – | – |",
		"## Ratios to no webhooks",
		"| podvirt, 16 VMIPolicies | 1 | 3.20 | 3.64 | 0.34 | 4.00 |",
		"- `kyverno-16`: kyverno did not start: no binary",
		"concurrency C = 1, 16; 3 repetition(s)",
		"- Environment: dev: test",
		"![latency CDFs](latency.png)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
}

func TestMarkdownWithoutBaselines(t *testing.T) {
	s := sample()
	s.Cells = s.Cells[6:]
	var b strings.Builder
	if err := Markdown(&b, s, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Not measured in this run (scenario `noop`).") {
		t.Errorf("missing baseline not said:\n%s", b.String())
	}
	if strings.Contains(b.String(), "latency.png") {
		t.Error("chart referenced without one")
	}
}

func TestChart(t *testing.T) {
	var buf bytes.Buffer
	if err := Chart(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != chartWidth || b.Dy() != 2*panelHeight {
		t.Errorf("chart is %v, want %dx%d", b, chartWidth, 2*panelHeight)
	}
	// Every scenario's colour is drawn (curve or legend) in the C=1 panel.
	counts := map[[3]uint32]int{}
	for y := 0; y < panelHeight; y++ {
		for x := 0; x < chartWidth; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			counts[[3]uint32{r >> 8, g >> 8, b >> 8}]++
		}
	}
	for i := 0; i < 3; i++ {
		p := palette[i]
		if counts[[3]uint32{uint32(p.R), uint32(p.G), uint32(p.B)}] < 50 {
			t.Errorf("colour %d (%v) hardly drawn: %d pixels", i, p, counts[[3]uint32{uint32(p.R), uint32(p.G), uint32(p.B)}])
		}
	}
	if err := Chart(&buf, &Results{}); err == nil {
		t.Error("a chart of nothing")
	}
}

func TestNum(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 2.671: "2.67", 18.46: "18.5", 290.4: "290", math.NaN(): "–"} {
		if got := num(x); got != want {
			t.Errorf("num(%v) = %q, want %q", x, got, want)
		}
	}
}
