package fleet

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimiterIsFleetWide: two replicas' limiters share one budget: what
// both admit in a second is what one alone may (burst plus rate), not twice.
func TestLimiterIsFleetWide(t *testing.T) {
	rdb, prefix := newRedis(t)
	const budget = 100 // per 10 s: burst 10, then 9 per second
	a := Connect(Config{Client: rdb, Prefix: prefix, Logger: quietLogger()}).Limiter(budget)
	b := Connect(Config{Client: rdb, Prefix: prefix, Logger: quietLogger()}).Limiter(budget)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		l := []*Limiter{a, b}[i%2]
		wg.Go(func() {
			for l.Wait(ctx) == nil {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := admitted.Load()
	most := 10 + int64(9*elapsed.Seconds()) + 1
	if n < 10 || n > most {
		t.Fatalf("two replicas admitted %d in %v; the fleet budget allows %d", n, elapsed, most)
	}
	t.Logf("two replicas admitted %d requests in %v (budget %d/10 s: at most %d)", n, elapsed.Round(time.Millisecond), budget, most)
}

// TestLimiterRefusesWhatWouldPassTheDeadline, like rate.Limiter.Wait.
func TestLimiterRefusesWhatWouldPassTheDeadline(t *testing.T) {
	rdb, prefix := newRedis(t)
	l := Connect(Config{Client: rdb, Prefix: prefix, Logger: quietLogger()}).Limiter(10) // burst 1, 0.9/s
	if err := l.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond) // the next slot is ~1.1 s away
	defer cancel()
	start := time.Now()
	if err := l.Wait(ctx); !errors.Is(err, errWouldPassDeadline) || time.Since(start) > 300*time.Millisecond {
		t.Fatalf("err %v after %v, want an immediate refusal", err, time.Since(start))
	}
}

// TestLimiterFallsBackWithoutRedis: unreachable Redis, a local budget.
func TestLimiterFallsBackWithoutRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb, err := NewClient("redis://"+addr+"/0", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	l := Connect(Config{Client: rdb, Logger: quietLogger()}).Limiter(100)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	for i := range 10 { // the local burst
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("wait %d: %v", i, err)
		}
	}
}
