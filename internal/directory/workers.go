package directory

import (
	"context"
	"sync"
	"time"
)

// runBounded calls do(ctx, j) for j in 0..n-1, at most conc at a time,
// until deadline passes: the jobs not started by then go to skipped
// instead. ctx carries the deadline to each do. Bulk member writes and
// invitation writes share it.
func runBounded(ctx context.Context, deadline time.Duration, conc, n int, do func(context.Context, int), skipped func(int)) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for j := range next {
				do(ctx, j)
			}
		})
	}
	for j := range n {
		if ctx.Err() != nil {
			skipped(j)
			continue
		}
		select {
		case next <- j:
		case <-ctx.Done():
			skipped(j)
		}
	}
	close(next)
	wg.Wait()
}
