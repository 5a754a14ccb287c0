package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

// clock is a settable clock for the snapshot cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// newClockedStack is newStack with the snapshot cache on a fake clock, the
// default TTL (30s) and max stale (10m), and no response cache.
func newClockedStack(t *testing.T) (*stack, *clock) {
	t.Helper()
	clk := &clock{now: time.Now()}
	return newStack(t, Extras{CacheClock: clk.Now, DisableResponseCache: true}), clk
}

// listRequests returns the list requests Clerk has served: a load costs one
// per page of each list; for org_acme, 3 + 3.
func listRequests(e *clerkemu.Emulator) int64 {
	r := e.Requests()
	return r["GET /v1/organizations/{id}/memberships"] + r["GET /v1/users"]
}

// waitFor polls cond until it holds; readiness only, never a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func totalCount(t *testing.T, s *stack) (int, string) {
	t.Helper()
	resp, raw := s.graphql(t, s.tokens.Admin, `{ orgUsers(first: 1) { totalCount } }`, nil)
	if len(resp.Errors) > 0 {
		return 0, resp.codes()[0]
	}
	var c connection
	if err := json.Unmarshal(resp.Data, &c); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return c.OrgUsers.TotalCount, ""
}

func TestStaleWhileRevalidateAfterTTL(t *testing.T) {
	s, clk := newClockedStack(t)
	if n, code := totalCount(t, s); n != clerkemu.AcmeMembers {
		t.Fatalf("cold: %d %s", n, code)
	}
	if got := listRequests(s.emu); got != 6 {
		t.Fatalf("cold load: %d list requests, want 6", got)
	}
	// Fresh: no Clerk request at all.
	clk.Advance(29 * time.Second)
	totalCount(t, s)
	if got := listRequests(s.emu); got != 6 {
		t.Fatalf("fresh: %d list requests, want still 6", got)
	}
	// After TTL: a new member appears upstream; the stale snapshot is served
	// at once and one background refresh brings the new one.
	if err := s.emu.AddMember(clerkemu.OrgAcme, clerkemu.User{ID: "user_swr", CreatedAt: 1, UpdatedAt: 1}, "org:member"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	if n, _ := totalCount(t, s); n != clerkemu.AcmeMembers {
		t.Fatalf("stale hit answered %d, want the cached %d", n, clerkemu.AcmeMembers)
	}
	waitFor(t, "the background refresh", func() bool {
		n, _ := totalCount(t, s)
		return n == clerkemu.AcmeMembers+1
	})
	if got := listRequests(s.emu); got != 12 {
		t.Fatalf("after one refresh: %d list requests, want 12", got)
	}
}

func TestStaleIfErrorThenUnavailable(t *testing.T) {
	s, clk := newClockedStack(t)
	if n, _ := totalCount(t, s); n != clerkemu.AcmeMembers {
		t.Fatal("cold load failed")
	}
	// Clerk goes down for good.
	s.emu.SetFaults(clerkemu.Fault{Status: http.StatusServiceUnavailable})
	clk.Advance(5 * time.Minute)
	waitFor(t, "stale answers while refreshes fail", func() bool {
		n, code := totalCount(t, s)
		if code != "" {
			t.Fatalf("within CACHE_MAX_STALE: %s, want the stale snapshot", code)
		}
		return n == clerkemu.AcmeMembers && s.app.Cache.Stats().Errors > 0
	})
	clk.Advance(6 * time.Minute) // 11 minutes old: beyond CACHE_MAX_STALE
	if _, code := totalCount(t, s); code != "UPSTREAM_UNAVAILABLE" {
		t.Fatalf("beyond CACHE_MAX_STALE: code %q, want UPSTREAM_UNAVAILABLE", code)
	}
	// REST says the same, with a 503 and Retry-After.
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/organization/users", nil)
	req.Header.Set("Authorization", "Bearer "+s.tokens.Admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "UPSTREAM_UNAVAILABLE") {
		t.Fatalf("REST: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if strings.Contains(string(body), "clerk_trace_id") || strings.Contains(string(body), "service_unavailable") {
		t.Fatalf("upstream detail leaked: %s", body)
	}
}

func TestRateLimitedByClerkIsRetried(t *testing.T) {
	s := newStack(t, Extras{})
	s.emu.SetFaults(clerkemu.Fault{Endpoint: "GET /v1/organizations/{id}/memberships", Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 1})
	if n, code := totalCount(t, s); n != clerkemu.AcmeMembers {
		t.Fatalf("with one 429: %d %s", n, code)
	}
	// The 429 cost exactly one extra request.
	if got := listRequests(s.emu); got != 7 {
		t.Fatalf("list requests = %d (%v), want 6 + 1 retried", got, s.emu.Requests())
	}
}

func TestCancelledFirstCallerDoesNotFailOthers(t *testing.T) {
	s := newStack(t, Extras{})
	s.emu.SetFaults(clerkemu.Fault{Latency: 300 * time.Millisecond})
	// The first caller gives up while the load is in flight.
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		body := strings.NewReader(`{"query":"{ orgUsers(first: 1) { totalCount } }"}`)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/graphql", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.tokens.Admin)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		first <- err
	}()
	waitFor(t, "the shared load to start", func() bool { return listRequests(s.emu) > 0 })
	cancel()
	if err := <-first; err == nil {
		t.Fatal("the first caller was not cancelled")
	}
	// A second caller joins or follows the same load and gets the members.
	if n, code := totalCount(t, s); n != clerkemu.AcmeMembers {
		t.Fatalf("second caller: %d %s", n, code)
	}
	if got := listRequests(s.emu); got != 6 {
		t.Fatalf("list requests = %d, want one load (6): the cancelled caller must not cancel it", got)
	}
}
