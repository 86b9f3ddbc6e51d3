package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Target makes one request. seq is unique within a run (names derive
// from it).
type Target interface {
	Do(ctx context.Context, seq int) error
}

// TargetFunc adapts a function to Target.
type TargetFunc func(ctx context.Context, seq int) error

// Do calls f.
func (f TargetFunc) Do(ctx context.Context, seq int) error { return f(ctx, seq) }

// MaxErrorSamples is how many error messages a Result keeps.
const MaxErrorSamples = 5

// Result is one phase's outcome.
type Result struct {
	// Latencies of the successful requests, in completion order.
	Latencies []time.Duration
	Errors    int
	// ErrorSamples are the first few error messages.
	ErrorSamples []string
	Elapsed      time.Duration
}

// Phase makes n requests with c concurrent workers, sequence numbers
// first..first+n-1, and returns when all are done or ctx ends (then the
// requests not made count as neither success nor error, and ctx's error
// is returned).
func Phase(ctx context.Context, t Target, first, n, c int) (Result, error) {
	if n < 0 || c <= 0 {
		return Result{}, fmt.Errorf("load phase: n=%d c=%d", n, c)
	}
	c = min(c, max(n, 1))
	var (
		next   atomic.Int64
		mu     sync.Mutex
		res    = Result{Latencies: make([]time.Duration, 0, n)}
		wg     sync.WaitGroup
		starts = time.Now()
	)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, n/c+1)
			var errs int
			var samples []string
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					break
				}
				t0 := time.Now()
				err := t.Do(ctx, first+i)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errs++
					if len(samples) < MaxErrorSamples {
						samples = append(samples, err.Error())
					}
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Errors += errs
			for _, s := range samples {
				if len(res.ErrorSamples) < MaxErrorSamples {
					res.ErrorSamples = append(res.ErrorSamples, s)
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(starts)
	return res, ctx.Err()
}
