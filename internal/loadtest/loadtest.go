// Package loadtest drives concurrent HTTP load at a target for a fixed time
// and reports throughput and latency percentiles. It is the engine of the
// `loadtest` command; it only ever targets the URLs it is given, which the
// command points at servers it started on loopback.
package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Target is one kind of request to send repeatedly.
type Target struct {
	Name   string
	Method string // "" means GET
	URL    string
	Header http.Header
	Body   []byte
	// Want is the expected status; 0 means 200. Any other status counts as an error.
	Want int
}

// Result is what one run measured.
type Result struct {
	Name          string
	Requests      int
	Errors        int
	Elapsed       time.Duration
	P50, P95, P99 time.Duration
	Bytes         int64 // response body bytes read

	latencies []time.Duration // sorted
}

// Merge combines runs of the same target (e.g. interleaved rounds) into one
// result: counts and elapsed time add up, percentiles come from all latencies.
func Merge(runs ...Result) Result {
	if len(runs) == 0 {
		return Result{}
	}
	out := Result{Name: runs[0].Name}
	for _, r := range runs {
		out.Requests += r.Requests
		out.Errors += r.Errors
		out.Elapsed += r.Elapsed
		out.Bytes += r.Bytes
		out.latencies = append(out.latencies, r.latencies...)
	}
	slices.Sort(out.latencies)
	out.P50, out.P95, out.P99 = Percentile(out.latencies, 50), Percentile(out.latencies, 95), Percentile(out.latencies, 99)
	return out
}

// RPS returns the successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// String formats the result as one report line.
func (r Result) String() string {
	return fmt.Sprintf("%-34s %9.0f req/s  p50 %8s  p95 %8s  p99 %8s  errors %d/%d",
		r.Name, r.RPS(), round(r.P50), round(r.P95), round(r.P99), r.Errors, r.Requests)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	default:
		return d.Round(100 * time.Nanosecond)
	}
}

// NewClient returns an HTTP client that keeps enough idle connections for
// concurrency workers, so the run measures requests, not connection setup.
func NewClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency * 2
	tr.MaxIdleConnsPerHost = concurrency * 2
	tr.DisableCompression = true
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Run sends t from concurrency workers until d has passed or ctx is done,
// and returns what it measured. Each worker waits for its answer before the
// next request (closed loop).
func Run(ctx context.Context, client *http.Client, t Target, concurrency int, d time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	want := t.Want
	if want == 0 {
		want = http.StatusOK
	}
	method := t.Method
	if method == "" {
		method = http.MethodGet
	}
	type worker struct {
		lat    []time.Duration
		errors int
		bytes  int64
	}
	workers := make([]worker, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), method, t.URL, bytes.NewReader(t.Body))
				for k, v := range t.Header {
					req.Header[k] = v
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					w.errors++
					w.lat = append(w.lat, time.Since(t0))
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				w.lat = append(w.lat, time.Since(t0))
				w.bytes += n
				if resp.StatusCode != want {
					w.errors++
				}
			}
		}(&workers[i])
	}
	wg.Wait()
	res := Result{Name: t.Name, Elapsed: time.Since(start)}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Errors += w.errors
		res.Bytes += w.bytes
	}
	res.Requests = len(all)
	slices.Sort(all)
	res.latencies = all
	res.P50, res.P95, res.P99 = Percentile(all, 50), Percentile(all, 95), Percentile(all, 99)
	return res
}

// Percentile returns the p-th percentile (nearest rank) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}
