// Package stats holds the arithmetic of the admission benchmark: exact
// percentiles of a cell's latency samples (every sample is kept and
// sorted, nothing is binned), and the median and spread of a figure across
// a cell's repetitions. Pure functions of the standard library only.
package stats
