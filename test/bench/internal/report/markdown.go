package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// num formats a figure with about three significant digits; "–" for NaN.
func num(x float64) string {
	switch a := math.Abs(x); {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "–"
	case a == 0:
		return "0"
	case a < 10:
		return fmt.Sprintf("%.2f", x)
	case a < 100:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

func ratio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f", x)
}

// spread renders "min–max" of a figure over repetitions.
func spread(min, max float64, n int) string {
	if n < 2 {
		return "–"
	}
	return num(min) + "–" + num(max)
}

// Markdown writes the report. chart is the PNG's file name beside it
// ("" for none).
func Markdown(w io.Writer, res *Results, chart string) error {
	rows := Rows(res)
	run := res.Run
	var b strings.Builder
	fmt.Fprintf(&b, "# Admission benchmark: what a VMI create costs\n\n")
	fmt.Fprintf(&b, "Written by test/bench/loadgen from %d cells (`make bench-system`; raw results in `results.jsonl` beside this file).\n\n", len(res.Cells))
	fmt.Fprintf(&b, "- Environment: %s\n", run.Environment)
	if run.Host != "" {
		fmt.Fprintf(&b, "- Host: %s\n", run.Host)
	}
	if run.Commit != "" {
		fmt.Fprintf(&b, "- Commit: %s\n", run.Commit)
	}
	fmt.Fprintf(&b, "- Started: %s\n", run.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Requests: server-side dry-run creates (`dryRun=All`) of %s with unique names, through client-go (QPS and Burst unthrottled, JSON); %d per cell after %d warm-up creates; concurrency C = %s; %d repetition(s), the order of scenarios (and of C) rotated per repetition.\n",
		run.Object, run.N, run.Warmup, joinInts(run.C), run.Reps)
	fmt.Fprintf(&b, "- Rules: %s.\n", run.Rules)
	fmt.Fprintf(&b, "- Figures are medians over the repetitions; ranges are min–max over them. Latency percentiles are exact (every sample kept, nearest rank). CPU is µs of utime+stime per admission (the cell's delta over its requests), from /proc/PID/stat of the kube-apiserver and of the webhook's processes (every replica summed); total = apiserver + webhook. Host cores busy: the whole machine's busy CPU time over the cell's wall time (/proc/stat), the load generator and anything else running included.\n")
	for _, n := range run.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n## Scenarios\n\n")
	for _, s := range run.Scenarios {
		wh := s.Webhook
		if wh == "" {
			wh = "none"
		}
		fmt.Fprintf(&b, "- `%s`: %s (webhook process: %s)\n", s.Name, s.Label, wh)
	}
	if len(res.Skips) > 0 {
		b.WriteString("\n## Not measured\n\n")
		seen := map[string]bool{}
		for _, s := range res.Skips {
			k := s.Scenario + "\x00" + s.Reason
			if seen[k] {
				continue
			}
			seen[k] = true
			fmt.Fprintf(&b, "- `%s`: %s\n", s.Scenario, s.Reason)
		}
	}

	b.WriteString("\n## Latency, throughput, CPU\n\n")
	b.WriteString("| scenario | C | p50 ms | p90 ms | p99 ms | p99 range | creates/s | creates/s range | errors / requests | apiserver CPU µs/adm | webhook CPU µs/adm | total CPU µs/adm | host cores busy |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		wh := num(r.CPUWebhook.Median)
		if r.Scenario.Webhook == "" {
			wh = "(none)"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %d / %d | %s | %s | %s | %s |\n",
			r.Scenario.Label, r.C, num(r.P50.Median), num(r.P90.Median), num(r.P99.Median),
			spread(r.P99.Min, r.P99.Max, r.P99.N), num(r.Rate.Median), spread(r.Rate.Min, r.Rate.Max, r.Rate.N),
			r.Errors, r.Requests, num(r.CPUAPIServer.Median), wh, num(r.CPUTotal.Median), num(r.HostBusy.Median))
	}

	for _, base := range []struct{ name, title string }{
		{BaselineNoop, "the no-op webhook"},
		{BaselineNone, "no webhooks"},
	} {
		if !slices.ContainsFunc(rows, func(r Row) bool { return r.Scenario.Name == base.name }) {
			fmt.Fprintf(&b, "\n## Ratios to %s\n\nNot measured in this run (scenario `%s`).\n", base.title, base.name)
			continue
		}
		fmt.Fprintf(&b, "\n## Ratios to %s\n\nEach figure divided by `%s`'s at the same C (creates/s below 1 is slower).\n\n", base.title, base.name)
		b.WriteString("| scenario | C | p50 | p99 | creates/s | total CPU per admission |\n|---|---|---|---|---|---|\n")
		for _, r := range rows {
			q := r.RatiosTo(Find(rows, base.name, r.C))
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", r.Scenario.Label, r.C, ratio(q.P50), ratio(q.P99), ratio(q.Rate), ratio(q.CPUTotal))
		}
	}
	var errs []string
	for _, c := range res.Cells {
		for _, e := range c.ErrorSamples {
			errs = append(errs, fmt.Sprintf("`%s` C=%d rep %d: %s", c.Scenario, c.C, c.Rep, e))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\n## Error samples\n\n")
		for i, e := range errs {
			if i == 20 {
				fmt.Fprintf(&b, "- ... and %d more\n", len(errs)-20)
				break
			}
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	if chart != "" {
		fmt.Fprintf(&b, "\n## Latency distributions\n\nCDF of every successful create's latency (all repetitions pooled), one panel per C (the legend gives the pooled p50 and p99, which can differ from the tables' medians of repetitions); latency on a log scale, the fraction on a nines scale (0.9, 0.99, 0.999 equally spaced).\n\n![latency CDFs](%s)\n", chart)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
