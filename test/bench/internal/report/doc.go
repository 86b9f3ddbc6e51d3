// Package report turns the benchmark's results (JSON lines: one run
// record, then a record per cell or skipped scenario) into its report:
// per scenario and concurrency, the median over repetitions of p50, p90,
// p99, creates/s and CPU per admission, with their spread, ratios to the
// no-op webhook and to no webhooks, as Markdown (bench/report.md); and the
// latency distributions as a PNG chart (bench/latency.png), drawn with
// the standard library's image packages and a bitmap font.
package report
