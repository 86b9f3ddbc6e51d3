package stats

import (
	"math"
	"testing"
	"time"
)

func ms(xs ...int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	// 1..100 ms: the p-th percentile is p ms exactly.
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, p := range []float64{1, 50, 90, 99, 100} {
		if got, want := Percentile(s, p), time.Duration(p)*time.Millisecond; got != want {
			t.Errorf("p%v of 1..100 = %v, want %v", p, got, want)
		}
	}
	// Ten samples: p99 is the largest, p50 the fifth, p90 the ninth.
	ten := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for p, want := range map[float64]time.Duration{50: 5 * time.Millisecond, 90: 9 * time.Millisecond, 99: 10 * time.Millisecond, 0.1: time.Millisecond} {
		if got := Percentile(ten, p); got != want {
			t.Errorf("p%v of 1..10 = %v, want %v", p, got, want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v, want 0", got)
	}
}

func TestSummarizeSortsInPlace(t *testing.T) {
	s := ms(30, 10, 20, 50, 40)
	got := Summarize(s)
	want := Summary{N: 5, P50: 30 * time.Millisecond, P90: 50 * time.Millisecond, P99: 50 * time.Millisecond, Max: 50 * time.Millisecond}
	if got != want {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	if s[0] != 10*time.Millisecond || s[4] != 50*time.Millisecond {
		t.Errorf("samples not sorted in place: %v", s)
	}
	if (Summarize(nil) != Summary{}) {
		t.Errorf("Summarize(nil) not zero")
	}
}

func TestSpread(t *testing.T) {
	odd := Of([]float64{3, 1, 2})
	if odd.Median != 2 || odd.Min != 1 || odd.Max != 3 || odd.N != 3 {
		t.Errorf("Of(3,1,2) = %+v", odd)
	}
	even := Of([]float64{4, 1, 3, 2})
	if even.Median != 2.5 || even.Min != 1 || even.Max != 4 {
		t.Errorf("Of(4,1,3,2) = %+v", even)
	}
	if r := odd.RelativeSpread(); r != 1 {
		t.Errorf("relative spread of 1..3 = %v, want 1", r)
	}
	withNaN := Of([]float64{math.NaN(), 5})
	if withNaN.Median != 5 || withNaN.N != 1 {
		t.Errorf("NaN not left out: %+v", withNaN)
	}
	none := Of(nil)
	if !math.IsNaN(none.Median) || none.N != 0 || !math.IsNaN(none.RelativeSpread()) {
		t.Errorf("Of(nil) = %+v", none)
	}
}

func TestRatio(t *testing.T) {
	if r := Ratio(3, 2); r != 1.5 {
		t.Errorf("Ratio(3,2) = %v", r)
	}
	for _, c := range [][2]float64{{1, 0}, {math.NaN(), 1}, {1, math.NaN()}} {
		if r := Ratio(c[0], c[1]); !math.IsNaN(r) {
			t.Errorf("Ratio(%v,%v) = %v, want NaN", c[0], c[1], r)
		}
	}
}
