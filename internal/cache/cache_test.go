package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// Most tests run in a synctest bubble: synctest.Wait returns once every
// goroutine of the test (callers, loads) is blocked, so the tests can check
// "exactly one load is running" or "this caller returned while the load is
// still blocked" without sleeping. The cache's clock is a fakeClock.

// fakeSource is a directory.Source whose behaviour each test supplies.
type fakeSource struct {
	MembersFunc func(ctx context.Context, orgID string) (*directory.Snapshot, error)
	calls       atomic.Int64
}

var _ directory.Source = (*fakeSource)(nil)

func (f *fakeSource) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	f.calls.Add(1)
	return f.MembersFunc(ctx, orgID)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 4, 10, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestCache returns a cache over src on clock, closed when the test ends.
func newTestCache(t *testing.T, src directory.Source, clock *fakeClock, cfg Config) *Cache {
	t.Helper()
	cfg.Now = clock.Now
	cfg.Logger = slog.New(slog.DiscardHandler)
	c := New(src, cfg)
	t.Cleanup(c.Close)
	return c
}

// snapshot returns a one-member snapshot of orgID whose member id names version.
func snapshot(orgID, version string) *directory.Snapshot {
	return directory.NewSnapshot(orgID, []directory.Member{{UserID: "user_" + version}}, time.Time{})
}

// mustMembers calls c.Members and fails the test on error.
func mustMembers(t *testing.T, c *Cache, orgID string) *directory.Snapshot {
	t.Helper()
	snap, err := c.Members(t.Context(), orgID)
	if err != nil {
		t.Fatalf("Members(%q): %v", orgID, err)
	}
	return snap
}

func wantCalls(t *testing.T, src *fakeSource, want int64) {
	t.Helper()
	if got := src.calls.Load(); got != want {
		t.Fatalf("source calls = %d, want %d", got, want)
	}
}

func wantCode(t *testing.T, err error, want directory.Code) {
	t.Helper()
	if got := directory.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (err %v), want %q", got, err, want)
	}
}

func TestColdRequestsShareOneLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		want := snapshot("org_1", "v1")
		src := &fakeSource{MembersFunc: func(context.Context, string) (*directory.Snapshot, error) {
			<-release
			return want, nil
		}}
		c := newTestCache(t, src, newFakeClock(), Config{})

		const n = 100
		got := make([]*directory.Snapshot, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], errs[i] = c.Members(t.Context(), "org_1") })
		}
		synctest.Wait() // all n wait for the load
		wantCalls(t, src, 1)
		close(release)
		wg.Wait()

		for i := range n {
			if errs[i] != nil || got[i] != want {
				t.Fatalf("caller %d got (%p, %v), want (%p, nil)", i, got[i], errs[i], want)
			}
		}
		wantCalls(t, src, 1)
		if s := c.Stats(); s.Misses != n || s.Loads != 1 || s.Entries != 1 {
			t.Fatalf("stats = %+v, want %d misses, 1 load, 1 entry", s, n)
		}
	})
}

func TestFreshSnapshotNeedsNoLoad(t *testing.T) {
	clock := newFakeClock()
	want := snapshot("org_1", "v1")
	src := &fakeSource{MembersFunc: func(context.Context, string) (*directory.Snapshot, error) { return want, nil }}
	c := newTestCache(t, src, clock, Config{TTL: 30 * time.Second})

	mustMembers(t, c, "org_1")
	for range 50 {
		clock.Advance(time.Second / 2) // 25s in all: still fresh
		if got := mustMembers(t, c, "org_1"); got != want {
			t.Fatalf("got snapshot %p, want %p", got, want)
		}
	}
	wantCalls(t, src, 1)
	if s := c.Stats(); s.Hits != 50 || s.StaleServed != 0 || s.Refreshes != 0 {
		t.Fatalf("stats = %+v, want 50 hits, nothing stale", s)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		v1, v2 := snapshot("org_1", "v1"), snapshot("org_1", "v2")
		release := make(chan struct{})
		src := &fakeSource{}
		src.MembersFunc = func(context.Context, string) (*directory.Snapshot, error) {
			if src.calls.Load() == 1 {
				return v1, nil
			}
			<-release
			return v2, nil
		}
		c := newTestCache(t, src, clock, Config{TTL: 30 * time.Second, MaxStale: 10 * time.Minute})
		mustMembers(t, c, "org_1")
		clock.Advance(31 * time.Second)

		// The refresh stays blocked, so every caller below returns without waiting for it.
		const n = 20
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if got := mustMembers(t, c, "org_1"); got != v1 {
					t.Errorf("stale hit got %p, want the old snapshot %p", got, v1)
				}
			})
		}
		wg.Wait()
		synctest.Wait()
		wantCalls(t, src, 2)
		if s := c.Stats(); s.StaleServed != n || s.Refreshes != 1 || s.Misses != 1 {
			t.Fatalf("stats = %+v, want %d stale served, 1 refresh, 1 miss", s, n)
		}

		close(release)
		synctest.Wait() // the refresh landed
		if got := mustMembers(t, c, "org_1"); got != v2 {
			t.Fatalf("after the refresh got %p, want the new snapshot %p", got, v2)
		}
		wantCalls(t, src, 2)
		if s := c.Stats(); s.Hits != 1 {
			t.Fatalf("stats = %+v, want the refreshed snapshot to be a fresh hit", s)
		}
	})
}

func TestStaleIfError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl, maxStale = 30 * time.Second, 10 * time.Minute
		clock := newFakeClock()
		var fail atomic.Bool
		src := &fakeSource{}
		src.MembersFunc = func(_ context.Context, orgID string) (*directory.Snapshot, error) {
			if fail.Load() {
				return nil, directory.Errorf(directory.CodeUpstreamUnavailable, "clerk is down")
			}
			return snapshot(orgID, fmt.Sprint(src.calls.Load())), nil
		}
		c := newTestCache(t, src, clock, Config{TTL: ttl, MaxStale: maxStale})
		v1 := mustMembers(t, c, "org_1")
		fail.Store(true)

		// Past TTL: the stale snapshot is served and a refresh fails in the background.
		clock.Advance(ttl + time.Second)
		if got := mustMembers(t, c, "org_1"); got != v1 {
			t.Fatalf("got %p, want stale %p", got, v1)
		}
		synctest.Wait()
		wantCalls(t, src, 2)

		// Right after a failed refresh, the next stale hit does not retry.
		if got := mustMembers(t, c, "org_1"); got != v1 {
			t.Fatalf("got %p, want stale %p", got, v1)
		}
		synctest.Wait()
		wantCalls(t, src, 2)

		// Just before MaxStale it still serves the stale snapshot (and retries).
		clock.Advance(maxStale - ttl - time.Second - time.Nanosecond)
		if got := mustMembers(t, c, "org_1"); got != v1 {
			t.Fatalf("got %p, want stale %p", got, v1)
		}
		synctest.Wait()
		wantCalls(t, src, 3)

		// At MaxStale: a synchronous load, whose error the caller gets; errors are not cached.
		clock.Advance(time.Nanosecond)
		for i := range 2 {
			snap, err := c.Members(t.Context(), "org_1")
			if snap != nil {
				t.Fatalf("beyond MaxStale got a snapshot %p, want none", snap)
			}
			wantCode(t, err, directory.CodeUpstreamUnavailable)
			wantCalls(t, src, int64(4+i))
		}
		if s := c.Stats(); s.Errors != 4 || s.StaleServed != 3 {
			t.Fatalf("stats = %+v, want 4 errors, 3 stale served", s)
		}

		// Clerk is back: the next request loads a new snapshot.
		fail.Store(false)
		if got := mustMembers(t, c, "org_1"); got == v1 {
			t.Fatal("after recovery got the old snapshot, want a new one")
		}
		wantCalls(t, src, 6)
	})
}

func TestCancelledCallerDoesNotFailOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		want := snapshot("org_1", "v1")
		release := make(chan struct{})
		var loadCtxErr error
		src := &fakeSource{MembersFunc: func(ctx context.Context, _ string) (*directory.Snapshot, error) {
			<-release
			loadCtxErr = ctx.Err()
			return want, nil
		}}
		c := newTestCache(t, src, newFakeClock(), Config{})

		ctxA, cancelA := context.WithCancel(t.Context())
		var errA, errB error
		var snapB *directory.Snapshot
		doneA, doneB := make(chan struct{}), make(chan struct{})
		go func() { _, errA = c.Members(ctxA, "org_1"); close(doneA) }()
		synctest.Wait() // A started the load
		go func() { snapB, errB = c.Members(t.Context(), "org_1"); close(doneB) }()
		synctest.Wait() // B joined it

		cancelA()
		<-doneA // A returns while the load is still blocked
		if !errors.Is(errA, context.Canceled) {
			t.Fatalf("cancelled caller got %v, want context.Canceled", errA)
		}
		wantCode(t, errA, directory.CodeUpstreamUnavailable)

		close(release)
		<-doneB
		if errB != nil || snapB != want {
			t.Fatalf("joined caller got (%p, %v), want (%p, nil)", snapB, errB, want)
		}
		if loadCtxErr != nil {
			t.Fatalf("the shared load saw its context end: %v", loadCtxErr)
		}
		if got := mustMembers(t, c, "org_1"); got != want {
			t.Fatalf("got %p, want cached %p", got, want)
		}
		wantCalls(t, src, 1)
	})
}

func TestAbandonedLoadIsStillCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		want := snapshot("org_1", "v1")
		release := make(chan struct{})
		src := &fakeSource{MembersFunc: func(context.Context, string) (*directory.Snapshot, error) {
			<-release
			return want, nil
		}}
		c := newTestCache(t, src, newFakeClock(), Config{})

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := c.Members(ctx, "org_1"); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		close(release)
		synctest.Wait() // the load landed with nobody waiting
		if got := mustMembers(t, c, "org_1"); got != want {
			t.Fatalf("got %p, want %p", got, want)
		}
		wantCalls(t, src, 1)
	})
}

func TestFailedLoadIsSharedAndNotCached(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		src := &fakeSource{MembersFunc: func(context.Context, string) (*directory.Snapshot, error) {
			<-release
			return nil, directory.Errorf(directory.CodeUpstreamUnavailable, "clerk is down")
		}}
		c := newTestCache(t, src, newFakeClock(), Config{})

		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = c.Members(t.Context(), "org_1") })
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		for _, err := range errs {
			wantCode(t, err, directory.CodeUpstreamUnavailable)
		}
		wantCalls(t, src, 1)

		_, err := c.Members(t.Context(), "org_1")
		wantCode(t, err, directory.CodeUpstreamUnavailable)
		wantCalls(t, src, 2)
		if s := c.Stats(); s.Entries != 0 || s.Errors != 2 {
			t.Fatalf("stats = %+v, want no entries, 2 errors", s)
		}
	})
}

func TestLRUEviction(t *testing.T) {
	var mu sync.Mutex
	var loads []string
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
		mu.Lock()
		defer mu.Unlock()
		loads = append(loads, orgID)
		return snapshot(orgID, "v"), nil
	}}
	c := newTestCache(t, src, newFakeClock(), Config{MaxOrgs: 2})

	for _, org := range []string{
		"a", "b", // cache: b a
		"a",      // hit: a b
		"c",      // evicts b: c a
		"a", "c", // hits: c a
		"b", // evicts a: b c
		"a", // evicts c: a b
	} {
		if got := mustMembers(t, c, org); got.OrgID() != org {
			t.Fatalf("Members(%q) returned org %q", org, got.OrgID())
		}
	}
	want := []string{"a", "b", "c", "b", "a"}
	if fmt.Sprint(loads) != fmt.Sprint(want) {
		t.Fatalf("loads = %v, want %v", loads, want)
	}
	if s := c.Stats(); s.Evictions != 3 || s.Entries != 2 || s.Hits != 3 {
		t.Fatalf("stats = %+v, want 3 evictions, 2 entries, 3 hits", s)
	}
}

func TestInvalidate(t *testing.T) {
	t.Run("cached", func(t *testing.T) {
		src := &fakeSource{}
		src.MembersFunc = func(_ context.Context, orgID string) (*directory.Snapshot, error) {
			return snapshot(orgID, fmt.Sprint(src.calls.Load())), nil
		}
		c := newTestCache(t, src, newFakeClock(), Config{})
		v1 := mustMembers(t, c, "org_1")
		c.Invalidate("org_1")
		c.Invalidate("org_unknown") // no-op
		if got := mustMembers(t, c, "org_1"); got == v1 {
			t.Fatal("after Invalidate got the old snapshot")
		}
		wantCalls(t, src, 2)
	})

	t.Run("in flight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			v1, v2 := snapshot("org_1", "v1"), snapshot("org_1", "v2")
			release := make(chan struct{})
			src := &fakeSource{}
			src.MembersFunc = func(context.Context, string) (*directory.Snapshot, error) {
				if src.calls.Load() == 1 {
					<-release
					return v1, nil
				}
				return v2, nil
			}
			c := newTestCache(t, src, newFakeClock(), Config{})

			var snapA *directory.Snapshot
			doneA := make(chan struct{})
			go func() { snapA = mustMembers(t, c, "org_1"); close(doneA) }()
			synctest.Wait()
			c.Invalidate("org_1")
			// A new request does not join the load that began before the invalidation.
			if got := mustMembers(t, c, "org_1"); got != v2 {
				t.Fatalf("after Invalidate got %p, want a new load's %p", got, v2)
			}
			close(release)
			<-doneA
			if snapA != v1 {
				t.Fatalf("the waiter of the invalidated load got %p, want %p", snapA, v1)
			}
			synctest.Wait()
			if got := mustMembers(t, c, "org_1"); got != v2 {
				t.Fatalf("got %p, want %p: the invalidated load's result must not be cached", got, v2)
			}
			wantCalls(t, src, 2)
		})
	})
}

func TestSourceErrors(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		members func(ctx context.Context) (*directory.Snapshot, error)
		code    directory.Code
		is      error // want errors.Is(err, is) when set
	}{
		{"coded upstream", func(context.Context) (*directory.Snapshot, error) {
			return nil, directory.Errorf(directory.CodeUpstreamUnavailable, "down")
		}, directory.CodeUpstreamUnavailable, nil},
		{"coded internal", func(context.Context) (*directory.Snapshot, error) {
			return nil, directory.Errorf(directory.CodeInternal, "bug")
		}, directory.CodeInternal, nil},
		{"uncoded", func(context.Context) (*directory.Snapshot, error) {
			return nil, errBoom
		}, directory.CodeUpstreamUnavailable, errBoom},
		{"no snapshot", func(context.Context) (*directory.Snapshot, error) {
			return nil, nil
		}, directory.CodeInternal, nil},
		{"panic", func(context.Context) (*directory.Snapshot, error) {
			panic("source bug")
		}, directory.CodeInternal, nil},
		{"load timeout", func(ctx context.Context) (*directory.Snapshot, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, directory.CodeUpstreamUnavailable, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &fakeSource{MembersFunc: func(ctx context.Context, _ string) (*directory.Snapshot, error) {
					return tt.members(ctx)
				}}
				c := newTestCache(t, src, newFakeClock(), Config{LoadTimeout: time.Second})
				snap, err := c.Members(t.Context(), "org_1")
				if snap != nil {
					t.Fatalf("got snapshot %p with error %v", snap, err)
				}
				wantCode(t, err, tt.code)
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Fatalf("error %v is not %v", err, tt.is)
				}
				if s := c.Stats(); s.Entries != 0 || s.Errors != 1 {
					t.Fatalf("stats = %+v, want nothing cached and 1 error", s)
				}
			})
		})
	}
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := newFakeClock()
		v1 := snapshot("org_1", "v1")
		var refreshReturned atomic.Bool
		src := &fakeSource{}
		src.MembersFunc = func(ctx context.Context, _ string) (*directory.Snapshot, error) {
			if src.calls.Load() == 1 {
				return v1, nil
			}
			<-ctx.Done() // a refresh that only ends when cancelled
			refreshReturned.Store(true)
			return nil, ctx.Err()
		}
		c := newTestCache(t, src, clock, Config{TTL: time.Second})
		mustMembers(t, c, "org_1")
		clock.Advance(2 * time.Second)
		mustMembers(t, c, "org_1") // starts the refresh
		synctest.Wait()

		c.Close()
		if !refreshReturned.Load() {
			t.Fatal("Close returned before the background refresh ended")
		}
		c.Close() // idempotent

		// Still serves what it has, without starting work.
		clock.Advance(10 * time.Second)
		if got := mustMembers(t, c, "org_1"); got != v1 {
			t.Fatalf("after Close got %p, want cached %p", got, v1)
		}
		_, err := c.Members(t.Context(), "org_2")
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("miss after Close got %v, want ErrClosed", err)
		}
		wantCode(t, err, directory.CodeUpstreamUnavailable)
		wantCalls(t, src, 2)
	})
}

// TestConcurrentUse mixes every operation from many goroutines on the real
// scheduler, for the race detector; each caller must get its own org's snapshot.
func TestConcurrentUse(t *testing.T) {
	clock := newFakeClock()
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
		return snapshot(orgID, "v"), nil
	}}
	c := newTestCache(t, src, clock, Config{TTL: time.Second, MaxStale: 3 * time.Second, MaxOrgs: 3})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				org := fmt.Sprintf("org_%d", (g+i)%5)
				switch i % 10 {
				case 0:
					clock.Advance(500 * time.Millisecond)
				case 1:
					c.Invalidate(org)
				case 2:
					_ = c.Stats()
				}
				snap, err := c.Members(t.Context(), org)
				if err != nil || snap.OrgID() != org {
					t.Errorf("Members(%q) = (%v, %v)", org, snap, err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.Close()
	if s := c.Stats(); s.Entries > 3 {
		t.Fatalf("stats = %+v, want at most 3 entries", s)
	}
}

// BenchmarkCacheHit measures the warm path: a fresh snapshot served to
// parallel callers, spread over a few organizations.
func BenchmarkCacheHit(b *testing.B) {
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
		return snapshot(orgID, "v"), nil
	}}
	c := New(src, Config{TTL: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	defer c.Close()
	orgs := []string{"org_0", "org_1", "org_2", "org_3"}
	ctx := context.Background()
	for _, org := range orgs {
		if _, err := c.Members(ctx, org); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Members(ctx, orgs[i%len(orgs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	if got := src.calls.Load(); got != int64(len(orgs)) {
		b.Fatalf("source calls = %d, want %d", got, len(orgs))
	}
}

// TestAgeFromSnapshot: with AgeFromSnapshot, a snapshot a shared tier
// loaded 25 s ago is fresh for the 5 s left of its TTL, not 30 more; one
// already stale is served without a refresh on every request.
func TestAgeFromSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		var age atomic.Int64
		age.Store(int64(25 * time.Second))
		src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
			return directory.NewSnapshot(orgID, []directory.Member{{UserID: "user_1"}}, clk.Now().Add(-time.Duration(age.Load()))), nil
		}}
		c := newTestCache(t, src, clk, Config{TTL: 30 * time.Second, AgeFromSnapshot: true})
		mustMembers(t, c, "org_1")
		clk.Advance(4 * time.Second)
		mustMembers(t, c, "org_1")
		wantCalls(t, src, 1)
		if s := c.Stats(); s.Hits != 1 {
			t.Fatalf("stats %+v: want a hit 29 s after the snapshot's load", s)
		}
		clk.Advance(2 * time.Second) // 31 s after the snapshot's load
		age.Store(int64(40 * time.Second))
		mustMembers(t, c, "org_1") // stale: a refresh, which returns an older copy still
		synctest.Wait()            // the refresh landed
		wantCalls(t, src, 2)
		for range 5 {
			mustMembers(t, c, "org_1")
		}
		if s := c.Stats(); s.Refreshes != 1 {
			t.Fatalf("stats %+v: a refresh per request while the shared copy is stale", s)
		}
		// Off (the default), the age counts from the load's start.
		c2 := newTestCache(t, src, clk, Config{TTL: 30 * time.Second})
		mustMembers(t, c2, "org_2")
		clk.Advance(29 * time.Second)
		mustMembers(t, c2, "org_2")
		if s := c2.Stats(); s.Hits != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}
