package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// Cell is one measurement: a scenario at a concurrency in a repetition.
type Cell struct {
	// Seq is the cell's position in the whole run (0-based).
	Seq      int
	Rep      int
	Scenario string
	C        int
}

// Block is one scenario's cells of one repetition, run between its setup
// and its teardown.
type Block struct {
	Rep      int
	Scenario string
	Cells    []Cell
}

// Rotate returns xs shifted left by r (mod len): Rotate([a b c], 1) is
// [b c a].
func Rotate[T any](xs []T, r int) []T {
	n := len(xs)
	if n == 0 {
		return nil
	}
	r = ((r % n) + n) % n
	out := make([]T, 0, n)
	out = append(out, xs[r:]...)
	return append(out, xs[:r]...)
}

// Make returns the run's blocks: reps repetitions; in repetition r the
// scenarios rotated by r, each with the concurrencies rotated by r.
func Make(scenarios []string, cs []int, reps int) []Block {
	var blocks []Block
	seq := 0
	for r := 0; r < reps; r++ {
		for _, s := range Rotate(scenarios, r) {
			b := Block{Rep: r, Scenario: s}
			for _, c := range Rotate(cs, r) {
				b.Cells = append(b.Cells, Cell{Seq: seq, Rep: r, Scenario: s, C: c})
				seq++
			}
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// ParseInts parses "1,16,64" into positive integers.
func ParseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parsing %q: %w", s, err)
		}
		if n <= 0 {
			return nil, fmt.Errorf("parsing %q: %d is not positive", s, n)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parsing %q: no numbers", s)
	}
	return out, nil
}

// ParseNames parses "a,b" and checks every name is in known (an empty s
// means all of known, in known's order).
func ParseNames(s string, known []string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return append([]string(nil), known...), nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ok := false
		for _, k := range known {
			ok = ok || k == f
		}
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", f, strings.Join(known, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}
