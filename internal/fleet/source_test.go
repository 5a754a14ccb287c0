package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orgusers/orgusers/internal/directory"
)

// TestTwoReplicasLoadOnce: two replicas sharing one Redis and one inner
// source ask for a cold organization at once: one Clerk load serves both,
// and a third, fresh replica serves it with no load at all.
func TestTwoReplicasLoadOnce(t *testing.T) {
	rdb, prefix := newRedis(t)
	inner := &fakeSource{delay: 150 * time.Millisecond, n: 500}
	a := newReplica(t, rdb, prefix, inner, Config{})
	b := newReplica(t, rdb, prefix, inner, Config{})

	var wg sync.WaitGroup
	snaps := make([]*directory.Snapshot, 4)
	for i, r := range []*Source{a, b, a, b} {
		wg.Go(func() {
			s, err := r.Members(t.Context(), "org_1")
			if err != nil {
				t.Error(err)
			}
			snaps[i] = s
		})
	}
	wg.Wait()
	if n := inner.loads.Load(); n != 1 {
		t.Fatalf("%d loads for two replicas, want 1", n)
	}
	for _, s := range snaps[1:] {
		if s == nil || s.Version() != snaps[0].Version() || s.Len() != 500 {
			t.Fatalf("replicas disagree: %v vs %v", s, snaps[0])
		}
	}
	if sa, sb := a.Stats(), b.Stats(); sa.Loads+sb.Loads != 1 || sa.Waits+sb.Waits == 0 {
		t.Errorf("stats a %+v b %+v", sa, sb)
	}

	c := newReplica(t, rdb, prefix, inner, Config{})
	s, err := c.Members(t.Context(), "org_1")
	if err != nil || s.Version() != snaps[0].Version() {
		t.Fatalf("fresh replica: %v %v", s, err)
	}
	if n := inner.loads.Load(); n != 1 || c.Stats().Hits != 1 {
		t.Fatalf("a fresh replica caused %d loads (stats %+v), want none", n-1, c.Stats())
	}
}

// TestStaleSnapshotIsReloadedOnce: past TTL, one replica reloads; the
// other is served the reload.
func TestStaleSnapshotIsReloadedOnce(t *testing.T) {
	rdb, prefix := newRedis(t)
	inner := &fakeSource{delay: 100 * time.Millisecond}
	var mu sync.Mutex
	offset := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	cfg := Config{TTL: time.Minute, Now: now}
	inner.now = now
	a := newReplica(t, rdb, prefix, inner, cfg)
	b := newReplica(t, rdb, prefix, inner, cfg)
	first, err := a.Members(t.Context(), "org_1")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	offset = 2 * time.Minute
	mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range []*Source{a, b} {
		wg.Go(func() {
			s, err := r.Members(t.Context(), "org_1")
			if err != nil || !s.LoadedAt().After(first.LoadedAt()) {
				t.Errorf("after TTL: %v, loaded %v (first %v)", err, s.LoadedAt(), first.LoadedAt())
			}
		})
	}
	wg.Wait()
	if n := inner.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (the first and one reload)", n)
	}
}

// TestDeadLeaseHolderDoesNotBlock: a lease whose holder died (never
// released, never renewed) expires, and the waiting replica loads.
func TestDeadLeaseHolderDoesNotBlock(t *testing.T) {
	rdb, prefix := newRedis(t)
	inner := &fakeSource{}
	lease := 400 * time.Millisecond
	r := newReplica(t, rdb, prefix, inner, Config{LeaseTTL: lease})
	if err := rdb.Set(t.Context(), r.st.leaseKey("org_1"), "dead-replica", lease).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := r.Members(t.Context(), "org_1")
	took := time.Since(start)
	if err != nil || s == nil {
		t.Fatal(err)
	}
	if inner.loads.Load() != 1 || took < lease/2 || took > lease+time.Second {
		t.Fatalf("loads %d after %v, want 1 after about the lease's %v", inner.loads.Load(), took, lease)
	}
	t.Logf("served %v after a dead holder's %v lease", took.Round(time.Millisecond), lease)
}

// TestLeaseIsRenewedWhileLoading: a load longer than the lease keeps it, so
// a second replica waits instead of loading too.
func TestLeaseIsRenewedWhileLoading(t *testing.T) {
	rdb, prefix := newRedis(t)
	inner := &fakeSource{delay: 1500 * time.Millisecond}
	cfg := Config{LeaseTTL: 600 * time.Millisecond}
	a := newReplica(t, rdb, prefix, inner, cfg)
	b := newReplica(t, rdb, prefix, inner, cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := a.Members(t.Context(), "org_1"); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, 2*time.Second, "a's load to start", func() bool { return inner.loads.Load() == 1 })
	if _, err := b.Members(t.Context(), "org_1"); err != nil {
		t.Fatal(err)
	}
	<-done
	if n := inner.loads.Load(); n != 1 {
		t.Fatalf("%d loads: the lease lapsed during a load longer than it", n)
	}
}

// TestFailedReloadServesStale: when the reload fails, the stale snapshot
// in Redis (younger than MaxStale) is served.
func TestFailedReloadServesStale(t *testing.T) {
	rdb, prefix := newRedis(t)
	inner := &fakeSource{}
	var mu sync.Mutex
	offset := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	r := newReplica(t, rdb, prefix, inner, Config{TTL: time.Minute, MaxStale: time.Hour, Now: now})
	first, err := r.Members(t.Context(), "org_1")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	offset = 2 * time.Minute
	mu.Unlock()
	inner.mu.Lock()
	inner.fail = errBoom
	inner.mu.Unlock()
	s, err := r.Members(t.Context(), "org_1")
	if err != nil || s.Version() != first.Version() {
		t.Fatalf("got %v, %v; want the stale snapshot", s, err)
	}
}

// TestRedisDownFallsBack: with Redis unreachable, a replica loads from the
// inner source on its own, quickly once the breaker is open, and rejoins
// the fleet when Redis returns, without a restart.
func TestRedisDownFallsBack(t *testing.T) {
	// No Redis needed: a closed port: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	rdb, err := NewClient("redis://"+closed+"/0", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	inner := &fakeSource{}
	var states []bool
	var mu sync.Mutex
	r := newReplica(t, rdb, "test:down:", inner, Config{OnState: func(up bool) { mu.Lock(); states = append(states, up); mu.Unlock() }})
	r.Start(nil, nil)
	for i := range 10 {
		start := time.Now()
		s, err := r.Members(t.Context(), "org_1")
		if err != nil || s.Len() == 0 {
			t.Fatalf("call %d: %v", i, err)
		}
		if took := time.Since(start); i >= 3 && took > 250*time.Millisecond {
			t.Errorf("call %d took %v with the breaker open", i, took)
		}
	}
	if inner.loads.Load() != 10 || r.Up() {
		t.Fatalf("loads %d, up %v", inner.loads.Load(), r.Up())
	}
	// Apply does not fail either.
	if err := r.Apply(t.Context(), []directory.Change{{Kind: directory.ChangeOrgDropped, OrgID: "org_1"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(states) != 1 || states[0] {
		t.Errorf("state changes %v, want one: down", states)
	}
	mu.Unlock()
}

// TestRejoinsWhenRedisReturns: Redis goes away behind a proxy and comes
// back on the same address; the replica falls back meanwhile and shares
// snapshots again afterwards.
func TestRejoinsWhenRedisReturns(t *testing.T) {
	rdbDirect, prefix := newRedis(t)
	_ = rdbDirect
	opts, err := redis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, opts.Addr)
	rdb, err := NewClient("redis://"+p.addr+"/"+fmt.Sprint(opts.DB), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	inner := &fakeSource{}
	var mu sync.Mutex
	var states []bool
	r := newReplica(t, rdb, prefix, inner, Config{BreakerCooldown: 200 * time.Millisecond,
		OnState: func(up bool) { mu.Lock(); states = append(states, up); mu.Unlock() }})
	if _, err := r.Members(t.Context(), "org_1"); err != nil {
		t.Fatal(err)
	}
	p.down()
	for range 5 {
		if _, err := r.Members(t.Context(), "org_2"); err != nil {
			t.Fatal(err)
		}
	}
	if r.Up() {
		t.Fatal("breaker still closed with Redis down")
	}
	loadsDown := inner.loads.Load()
	p.up()
	waitFor(t, 5*time.Second, "the replica to rejoin", func() bool {
		_, _ = r.Members(t.Context(), "org_1")
		return r.Up()
	})
	before := inner.loads.Load()
	if _, err := r.Members(t.Context(), "org_1"); err != nil {
		t.Fatal(err)
	}
	if inner.loads.Load() != before {
		t.Fatalf("after rejoining, org_1 was loaded again instead of read from Redis")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(states) != 2 || states[0] || !states[1] {
		t.Errorf("state changes %v, want down then up", states)
	}
	t.Logf("loads: %d before and during the outage", loadsDown)
}

// TestCorruptSnapshotIsReloaded: an entry this release cannot read is a miss.
func TestCorruptSnapshotIsReloaded(t *testing.T) {
	rdb, prefix := newRedis(t)
	inner := &fakeSource{}
	r := newReplica(t, rdb, prefix, inner, Config{})
	if err := rdb.HSet(t.Context(), r.st.snapKey("org_1"), "data", "\x09garbage", "gen", 1, "loaded", time.Now().UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
	if s, err := r.Members(t.Context(), "org_1"); err != nil || s.Len() == 0 || inner.loads.Load() != 1 {
		t.Fatalf("%v %v loads %d", s, err, inner.loads.Load())
	}
	if _, err := r.Members(t.Context(), "org_1"); err != nil || inner.loads.Load() != 1 {
		t.Fatalf("the reload was not stored: loads %d", inner.loads.Load())
	}
}

// TestWaiterGivesUpWithItsContext: a replica waiting for a lease that
// does not end returns when its context does.
func TestWaiterGivesUpWithItsContext(t *testing.T) {
	rdb, prefix := newRedis(t)
	r := newReplica(t, rdb, prefix, &fakeSource{}, Config{})
	if err := rdb.Set(t.Context(), r.st.leaseKey("org_1"), "other", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := r.Members(ctx, "org_1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	// Callers giving up say nothing about Redis.
	for range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		_, _ = r.Members(ctx, "org_1")
		cancel()
	}
	if !r.Up() || r.Stats().Fallbacks != 0 {
		t.Fatalf("up %v, stats %+v: expired callers counted against Redis", r.Up(), r.Stats())
	}
}
