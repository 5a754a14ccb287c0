package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 95: 95, 99: 99, 100: 100, 1: 1} {
		if got := Percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty input")
	}
}

func TestRunCountsRequestsAndErrors(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		if r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(400)
			return
		}
		if n%10 == 0 {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte("hello"))
	}))
	defer srv.Close()
	res := Run(context.Background(), NewClient(4), Target{Name: "t", URL: srv.URL, Header: http.Header{"X-Test": {"yes"}}}, 4, 200*time.Millisecond)
	if res.Requests == 0 || int64(res.Requests) != served.Load() {
		t.Fatalf("requests %d, served %d", res.Requests, served.Load())
	}
	if want := res.Requests / 10; res.Errors < want-4 || res.Errors > want+4 {
		t.Fatalf("errors %d of %d, want about a tenth", res.Errors, res.Requests)
	}
	if res.Bytes != int64(res.Requests-res.Errors)*5 {
		t.Fatalf("bytes %d for %d good answers", res.Bytes, res.Requests-res.Errors)
	}
	if res.P50 <= 0 || res.P99 < res.P50 {
		t.Fatalf("percentiles %v %v", res.P50, res.P99)
	}
}

func TestMerge(t *testing.T) {
	a := Result{Name: "x", Requests: 2, Errors: 1, Elapsed: time.Second, Bytes: 10, latencies: []time.Duration{1, 3}}
	b := Result{Name: "x", Requests: 2, Elapsed: time.Second, Bytes: 20, latencies: []time.Duration{2, 4}}
	m := Merge(a, b)
	if m.Requests != 4 || m.Errors != 1 || m.Elapsed != 2*time.Second || m.Bytes != 30 || m.P50 != 2 || m.P99 != 4 {
		t.Fatalf("merged = %+v", m)
	}
	if got := m.RPS(); got != 1.5 {
		t.Fatalf("RPS = %v, want 1.5 (3 good requests in 2s)", got)
	}
}
