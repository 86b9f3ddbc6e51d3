// Package plan orders the benchmark's cells: every scenario at every
// concurrency, repeated, with the order rotated per repetition (rep r
// runs the scenarios shifted by r, and the concurrencies too) so that no
// scenario always runs first, on a cold cache, or last, on a warm machine.
// A scenario's concurrencies run together, so it is set up once per
// repetition. It also parses the list flags (BENCH_C, BENCH_SCENARIOS).
package plan
