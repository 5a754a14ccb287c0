package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/fleet"
)

// fleetRedis returns REDIS_URL and a key prefix of this test's own (its
// keys are deleted at the end), or skips the test without Redis.
func fleetRedis(t *testing.T) (string, string) {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("needs Redis: run with REDIS_URL=redis://127.0.0.1:6379/0 (.ci/run starts a throwaway redis-server and sets it)")
	}
	prefix := "test:" + t.Name() + ":" + time.Now().Format("150405.000000") + ":"
	t.Cleanup(func() {
		rdb, err := fleet.NewClient(u, time.Second)
		if err != nil {
			return
		}
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return u, prefix
}

// newReplicas starts one emulator and n replicas of the server against it,
// sharing the Redis at redisURL under prefix, each with the webhook
// endpoint on (the emulator delivers to none of them until told).
func newReplicas(t *testing.T, n int, redisURL, prefix string, env ...string) ([]*stack, string) {
	t.Helper()
	emu, emuURL, tokens := newEmulator(t, nil)
	secret, _ := newWebhookSecret(t)
	var out []*stack
	for range n {
		out = append(out, addReplica(t, emu, emuURL, tokens, redisURL, prefix, secret, env...))
	}
	return out, secret
}

// addReplica starts one more replica against the emulator at emuURL,
// sharing the Redis at redisURL under prefix.
func addReplica(t *testing.T, emu *clerkemu.Emulator, emuURL string, tokens clerkemu.DemoTokens, redisURL, prefix, secret string, env ...string) *stack {
	t.Helper()
	env = append([]string{"REDIS_URL", redisURL, "REDIS_KEY_PREFIX", prefix, "CLERK_WEBHOOK_SIGNING_SECRET", secret}, env...)
	return startServer(t, emu, emuURL, tokens, Extras{}, slog.New(slog.NewTextHandler(io.Discard, nil)), env...)
}

// TestFleetClerkRequestsDoNotGrowWithReplicas: 100 concurrent cold
// requests spread over 1, 3 or 10 replicas cost one load of the
// organization from Clerk in total, and a replica started afterwards
// answers with no Clerk request at all.
func TestFleetClerkRequestsDoNotGrowWithReplicas(t *testing.T) {
	url, prefix := fleetRedis(t)
	for _, n := range []int{1, 3, 10} {
		rs, secret := newReplicas(t, n, url, fmt.Sprintf("%sx%d:", prefix, n))
		emu := rs[0].emu
		emu.ResetCounters()
		var wg sync.WaitGroup
		errs := make(chan string, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rs[i%n]
				resp, raw := r.send(t, r.tokens.Admin, map[string]any{"query": `{ orgUsers(first: 1) { totalCount } }`})
				if resp.StatusCode != 200 || !strings.Contains(string(raw), `"totalCount":1200`) {
					errs <- string(raw)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("%d replicas: %s", n, e)
		}
		got := listRequests(emu)
		t.Logf("%2d replicas, 100 concurrent cold requests: %d Clerk list requests %v", n, got, emu.Requests())
		if got != 6 { // org_acme: 3 pages of memberships, 3 of users
			t.Fatalf("%d replicas cost %d Clerk list requests, want one load's 6", n, got)
		}
		late := addReplica(t, emu, rs[0].emuURL, rs[0].tokens, url, fmt.Sprintf("%sx%d:", prefix, n), secret)
		if got := late.role(t, clerkemu.UserAcmeMember); got != "org:member" {
			t.Fatalf("the late replica: role %q", got)
		}
		if after := listRequests(emu); after != got {
			t.Fatalf("a replica started afterwards sent Clerk %d list requests, want none", after-got)
		}
	}
}

// TestFleetReplicasShareOneLoad: three replicas on one Redis answer for
// an organization with one Clerk load between them; the second and third
// send Clerk nothing.
func TestFleetReplicasShareOneLoad(t *testing.T) {
	url, prefix := fleetRedis(t)
	rs, _ := newReplicas(t, 3, url, prefix)
	emu := rs[0].emu
	if got := rs[0].role(t, clerkemu.UserAcmeMember); got != "org:member" {
		t.Fatalf("role %q", got)
	}
	first := listRequests(emu)
	if first == 0 {
		t.Fatal("no Clerk load at all")
	}
	for i, r := range rs[1:] {
		if got := r.role(t, clerkemu.UserAcmeMember); got != "org:member" {
			t.Fatalf("replica %d: role %q", i+2, got)
		}
	}
	if n := listRequests(emu); n != first {
		t.Fatalf("the other replicas sent Clerk %d list requests; want none", n-first)
	}
	t.Logf("one load of org_acme (%d list requests) served three replicas", first)
}

// TestFleetWebhookReachesEveryReplica: Clerk delivers a change to one
// replica; the others answer with it, measured from the write in Clerk.
func TestFleetWebhookReachesEveryReplica(t *testing.T) {
	url, prefix := fleetRedis(t)
	rs, secret := newReplicas(t, 3, url, prefix)
	for _, r := range rs {
		r.role(t, clerkemu.UserAcmeMember) // every near cache holds org_acme
	}
	if err := rs[0].emu.SetWebhook(rs[0].url+WebhookPath, secret); err != nil {
		t.Fatal(err)
	}
	rs[0].emu.ResetCounters()
	var took []time.Duration
	for _, role := range []string{"org:billing", "org:member", "org:billing"} {
		start := time.Now()
		if err := rs[0].emu.SetMemberRole(clerkemu.OrgAcme, clerkemu.UserAcmeMember, role); err != nil {
			t.Fatal(err)
		}
		for i, r := range rs[1:] {
			deadline := time.Now().Add(10 * time.Second)
			for r.role(t, clerkemu.UserAcmeMember) != role {
				if time.Now().After(deadline) {
					t.Fatalf("replica %d still does not show %s", i+2, role)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		took = append(took, time.Since(start))
	}
	if n := listRequests(rs[0].emu); n != 0 {
		t.Fatalf("the change cost %d Clerk list requests", n)
	}
	t.Logf("a role change written in Clerk showed on both other replicas after %v (delivery to one replica, Redis fan-out, loopback)", took)
}

// TestFleetWithoutRedisStillServes: REDIS_URL names a port nothing
// listens on; the replica answers (per-process), and /readyz is ready and
// says Redis is down.
func TestFleetWithoutRedisStillServes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rs, _ := newReplicas(t, 1, "redis://"+addr+"/0", "test:down:", "METRICS_ADDR", "127.0.0.1:0")
	r := rs[0]
	start := time.Now()
	for range 5 {
		if got := r.role(t, clerkemu.UserAcmeMember); got != "org:member" {
			t.Fatalf("role %q", got)
		}
		r.app.Cache.Invalidate(clerkemu.OrgAcme) // every query loads: through the fallback
	}
	resp, err := http.Get(r.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ready; redis: down") {
		t.Fatalf("/readyz %d %s", resp.StatusCode, body)
	}
	if r.app.Fleet.Up() {
		t.Fatal("the breaker did not open")
	}
	rec := httptest.NewRecorder()
	r.app.Metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if m := rec.Body.String(); !strings.Contains(m, "orgusers_fleet_redis_up 0\n") || !strings.Contains(m, "orgusers_fleet_fallbacks_total 5\n") {
		t.Errorf("metrics:\n%s", m)
	}
	t.Logf("five loads with Redis unreachable took %v", time.Since(start).Round(time.Millisecond))
}

func TestRedisConfig(t *testing.T) {
	base := map[string]string{"CLERK_SECRET_KEY": "sk_test_abcdefgh123"}
	get := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	cfg, err := LoadConfig(nil, get(nil))
	if err != nil || cfg.RedisURL != "" || cfg.RedisKeyPrefix != "orgusers:" {
		t.Fatalf("%+v %v", cfg, err)
	}
	cfg, err = LoadConfig(nil, get(map[string]string{"REDIS_URL": "rediss://u:secret@redis.example:6380/2", "REDIS_KEY_PREFIX": "staging:"}))
	if err != nil || cfg.RedisURL == "" || cfg.RedisKeyPrefix != "staging:" {
		t.Fatalf("%+v %v", cfg, err)
	}
	_, err = LoadConfig(nil, get(map[string]string{"REDIS_URL": "http://u:secret@x/"}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad REDIS_URL: %v", err)
	}
	if got := redactedRedis("rediss://u:secret@redis.example:6380/2"); got != "rediss://redis.example:6380/2" {
		t.Fatalf("redacted %q", got)
	}
}

// TestFleetStoresNothingPrivate: what a replica puts in Redis is the
// members as the API serves them: no private or unsafe metadata, no secret
// key, no session token.
func TestFleetStoresNothingPrivate(t *testing.T) {
	url, prefix := fleetRedis(t)
	rs, _ := newReplicas(t, 1, url, prefix)
	r := rs[0]
	r.role(t, clerkemu.UserAcmeMember)
	rdb, err := fleet.NewClient(url, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var snaps int
	for _, k := range keys {
		var text string
		switch {
		case strings.HasSuffix(k, ":snap"):
			data, err := rdb.HGet(ctx, k, "data").Bytes()
			if err != nil {
				t.Fatal(err)
			}
			snap, err := fleet.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(snap.Members())
			text = string(js)
			snaps++
			if !strings.Contains(text, "skills") || !strings.Contains(text, clerkemu.UserAcmeMember) {
				t.Fatalf("the snapshot lacks the public data it should hold: %.300s", text)
			}
		case strings.HasSuffix(k, "clerk-rate"), strings.HasSuffix(k, ":lease"):
			text, _ = rdb.Get(ctx, k).Result()
		default:
			t.Errorf("unexpected key %s", k)
		}
		for _, secret := range []string{"salary", "ssn_last4", "home_address", "performance_rating", "onboarding_complete",
			"stripe_customer_id", "contract_value", "cost_center", "referral_code", r.emu.SecretKey(), r.tokens.Admin[:40]} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q", k, secret)
			}
		}
	}
	if snaps != 1 {
		t.Fatalf("keys %v: want org_acme's snapshot", keys)
	}
}

// TestFleetSubscribersOnEveryReplica: a change Clerk delivers to one
// replica reaches orgUsersChanged subscribers on the others, over SSE and
// graphql-ws: their near caches apply the change the fleet publishes, and
// the live hub sees it there like a local one.
func TestFleetSubscribersOnEveryReplica(t *testing.T) {
	url, prefix := fleetRedis(t)
	rs, secret := newReplicas(t, 3, url, prefix)
	sse := rs[1].subscribeSSE(t, rs[1].tokens.Admin, map[string]any{"filter": map[string]any{"roles": []string{"org:member"}}})
	ws := rs[2].dialWS(t, nil, map[string]any{"authorization": "Bearer " + rs[2].tokens.Admin})
	ws.acked(t)
	ws.subscribe(t, "all", nil)
	waitSubscribers(t, rs[1], 1)
	waitSubscribers(t, rs[2], 1)
	if err := rs[0].emu.SetWebhook(rs[0].url+WebhookPath, secret); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := rs[0].emu.SetMemberRole(clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:billing"); err != nil {
		t.Fatal(err)
	}
	wantChange(t, sse.next(t), "REMOVED", clerkemu.UserAcmeMember, "")
	wantChange(t, ws.next(t, "all"), "UPDATED", clerkemu.UserAcmeMember, "org:billing")
	t.Logf("a role change delivered to replica 1 reached subscribers on replicas 2 and 3 after %v", time.Since(start))
}

// TestFleetSharesPersistedQueries: a persisted query registered on one
// replica runs by its hash alone on another; a text that fails validation
// is not shared, and a text in Redis that does not match its hash is not
// run.
func TestFleetSharesPersistedQueries(t *testing.T) {
	url, prefix := fleetRedis(t)
	rs, _ := newReplicas(t, 2, url, prefix)
	persisted := func(s *stack, query, hash string) gqlResponse {
		t.Helper()
		req := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
		if query != "" {
			req["query"] = query
		}
		_, raw := s.send(t, s.tokens.Admin, req)
		var out gqlResponse
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s", raw)
		}
		return out
	}
	hashOf := func(q string) string { s := sha256.Sum256([]byte(q)); return hex.EncodeToString(s[:]) }

	const q = `query Two { orgUsers(first: 2) { totalCount } }`
	if r := persisted(rs[1], "", hashOf(q)); strings.Join(r.codes(), ",") != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("before registration: %+v", r)
	}
	if r := persisted(rs[0], q, hashOf(q)); len(r.Errors) > 0 {
		t.Fatalf("registering on replica 1: %+v", r)
	}
	if r := persisted(rs[1], "", hashOf(q)); len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"totalCount":1200`) {
		t.Fatalf("replica 2 by hash alone: %+v %s", r, r.Data)
	}

	const invalid = `query Bad { orgUsers(first: 2) { noSuchField } }`
	if r := persisted(rs[0], invalid, hashOf(invalid)); strings.Join(r.codes(), ",") != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("an invalid text: %+v", r)
	}
	if r := persisted(rs[1], "", hashOf(invalid)); strings.Join(r.codes(), ",") != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("an invalid text was shared: %+v", r)
	}

	rdb, err := fleet.NewClient(url, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	const wanted = `query Mine { viewer { userId } }`
	if err := rdb.Set(context.Background(), prefix+"apq:"+hashOf(wanted), `{ orgUsers(first: 1000) { totalCount } }`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if r := persisted(rs[1], "", hashOf(wanted)); strings.Join(r.codes(), ",") != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("a text in Redis that does not match its hash: %+v %s", r, r.Data)
	}
}

// TestFleetClerkBudgetIsShared: with CLERK_RATE_LIMIT=50 (a burst of 5,
// then 4.5 a second), three replicas reloading organizations as fast as
// they can send Clerk no more than one process may: the budget is the
// fleet's, counted at the emulator.
func TestFleetClerkBudgetIsShared(t *testing.T) {
	url, prefix := fleetRedis(t)
	rs, _ := newReplicas(t, 3, url, prefix, "CLERK_RATE_LIMIT", "50", "CACHE_TTL", "1ms")
	emu := rs[0].emu
	var tokens []string
	for _, org := range []string{clerkemu.OrgAcme, clerkemu.OrgMid, clerkemu.OrgSmall, clerkemu.OrgSolo} {
		tok, err := emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: org, OrgSlug: "x", OrgRole: "org:admin", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	clerk := func() int64 {
		r := emu.Requests()
		return r["GET /v1/organizations/{id}/memberships"] + r["GET /v1/users"] + r["GET /v1/users/{id}"]
	}
	emu.ResetCounters()
	const run = 2500 * time.Millisecond
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < run; i++ {
				r := rs[w%3]
				r.send(t, tokens[(w+i)%len(tokens)], map[string]any{"query": `{ orgUsers(first: 1) { totalCount } }`})
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	got := clerk()
	// What one process's limiter admits in that time, GCRA: the burst,
	// then the steady rate; one more for a request admitted at the edge.
	budget := 5 + int64(4.5*elapsed.Seconds()) + 1
	t.Logf("three replicas sent Clerk %d requests in %v; the fleet's budget allows %d (three per-process limiters would allow %d)", got, elapsed.Round(time.Millisecond), budget, 3*budget)
	if got > budget {
		t.Fatalf("%d Clerk requests in %v: over the fleet's budget of %d", got, elapsed, budget)
	}
	if got < 5 {
		t.Fatalf("only %d Clerk requests: the replicas did not press on the budget", got)
	}
}
