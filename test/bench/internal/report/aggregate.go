package report

import (
	"math"
	"slices"

	"github.com/podvirt/podvirt/test/bench/internal/stats"
)

// Baselines: the scenarios that ratios are taken to.
const (
	BaselineNoop = "noop"
	BaselineNone = "none"
)

// Row is one scenario at one concurrency, over its repetitions.
type Row struct {
	Scenario ScenarioInfo
	C        int
	Reps     int
	Errors   int
	Requests int
	P50      stats.Spread
	P90      stats.Spread
	P99      stats.Spread
	Rate     stats.Spread
	// CPU µs per admission: the apiserver, the webhook process, and
	// their sum (per repetition, then the median).
	CPUAPIServer stats.Spread
	CPUWebhook   stats.Spread
	CPUTotal     stats.Spread
	// HostBusy is the machine's busy cores during the cells.
	HostBusy stats.Spread
}

// Ratios of a row to a baseline row (NaN where unknown).
type Ratios struct {
	P50, P99, Rate, CPUTotal float64
}

// RatiosTo returns r's medians divided by base's.
func (r Row) RatiosTo(base *Row) Ratios {
	if base == nil {
		return Ratios{math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	}
	return Ratios{
		P50:      stats.Ratio(r.P50.Median, base.P50.Median),
		P99:      stats.Ratio(r.P99.Median, base.P99.Median),
		Rate:     stats.Ratio(r.Rate.Median, base.Rate.Median),
		CPUTotal: stats.Ratio(r.CPUTotal.Median, base.CPUTotal.Median),
	}
}

func cpu(c Cell, group string) float64 {
	v, ok := c.CPUPerAdmissionUs[group]
	if !ok {
		return math.NaN()
	}
	return v
}

// Rows aggregates the cells: one row per scenario (in the run's scenario
// order, then any others by name) and concurrency (ascending).
func Rows(res *Results) []Row {
	type key struct {
		s string
		c int
	}
	groups := map[key][]Cell{}
	for _, c := range res.Cells {
		k := key{c.Scenario, c.C}
		groups[k] = append(groups[k], c)
	}
	infos := map[string]ScenarioInfo{}
	var order []string
	for _, s := range res.Run.Scenarios {
		infos[s.Name] = s
		order = append(order, s.Name)
	}
	var extra []string
	for k := range groups {
		if _, ok := infos[k.s]; !ok && !slices.Contains(extra, k.s) {
			extra = append(extra, k.s)
		}
	}
	slices.Sort(extra)
	for _, s := range extra {
		infos[s] = ScenarioInfo{Name: s, Label: s}
		order = append(order, s)
	}
	var rows []Row
	for _, s := range order {
		var cs []int
		for k := range groups {
			if k.s == s {
				cs = append(cs, k.c)
			}
		}
		slices.Sort(cs)
		for _, c := range cs {
			cells := groups[key{s, c}]
			row := Row{Scenario: infos[s], C: c, Reps: len(cells)}
			var p50, p90, p99, rate, api, wh, tot, busy []float64
			for _, cell := range cells {
				row.Errors += cell.Errors
				row.Requests += cell.N
				p50 = append(p50, cell.P50Ms)
				p90 = append(p90, cell.P90Ms)
				p99 = append(p99, cell.P99Ms)
				rate = append(rate, cell.CreatesPerSec)
				if cell.HostCoresBusy > 0 {
					busy = append(busy, cell.HostCoresBusy)
				}
				a, w := cpu(cell, CPUAPIServer), cpu(cell, CPUWebhook)
				api = append(api, a)
				wh = append(wh, w)
				if infos[s].Webhook == "" && math.IsNaN(w) {
					w = 0 // no webhook process: it costs nothing
				}
				tot = append(tot, a+w)
			}
			row.P50, row.P90, row.P99, row.Rate = stats.Of(p50), stats.Of(p90), stats.Of(p99), stats.Of(rate)
			row.CPUAPIServer, row.CPUWebhook, row.CPUTotal = stats.Of(api), stats.Of(wh), stats.Of(tot)
			row.HostBusy = stats.Of(busy)
			rows = append(rows, row)
		}
	}
	return rows
}

// Find returns the row of scenario at c, or nil.
func Find(rows []Row, scenario string, c int) *Row {
	for i := range rows {
		if rows[i].Scenario.Name == scenario && rows[i].C == c {
			return &rows[i]
		}
	}
	return nil
}
