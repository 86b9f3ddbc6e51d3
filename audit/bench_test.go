package audit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend measures durable Appends (real fsyncs, in the test's
// temporary directory) from 1 and 16 concurrent writers. ns/op is per
// Append, so appends/s = 1e9 / ns/op; fsyncs/append shows group commit.
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			var syncs atomic.Int64
			w := openTestWriter(b, b.TempDir(), "bench-0", func(o *Options) {
				o.SyncFile = func(f *os.File) error {
					syncs.Add(1)
					return f.Sync()
				}
			})
			defer w.Close()
			rec := decisionRecord(1)
			ctx := context.Background()
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := w.Append(ctx, rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(syncs.Load())/float64(b.N), "fsyncs/append")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
