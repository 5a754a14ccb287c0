package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/rest"
)

// samples is one scrape: the value of each series, keyed by its name and
// labels as the text format writes them (labels sorted by name).
type samples map[string]float64

func (s *stack) scrape(t *testing.T) samples {
	t.Helper()
	rec := httptest.NewRecorder()
	s.app.Metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return parseSamples(t, rec.Body.String())
}

func parseSamples(t *testing.T, body string) samples {
	t.Helper()
	out := samples{}
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// series names a series: name and label pairs, in any order.
func series(name string, labels ...string) string {
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	if len(pairs) == 0 {
		return name
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// TestMetricsOfAScriptedMix drives the real server (GraphQL, REST, probes,
// webhooks) against the Clerk emulator and checks what the scrape says
// changed, and that no label holds an id or a caller-chosen string.
func TestMetricsOfAScriptedMix(t *testing.T) {
	secret, key := newWebhookSecret(t)
	s := newStack(t, Extras{}, "METRICS_ADDR", "127.0.0.1:0", "CLERK_WEBHOOK_SIGNING_SECRET", secret)
	if s.app.Metrics == nil {
		t.Fatal("METRICS_ADDR is set but App.Metrics is nil")
	}
	before := s.scrape(t)

	// GraphQL: a cold load, then warm queries under 105 more distinct names.
	if resp, raw := s.graphql(t, s.tokens.Admin, `query Cold { orgUsers(first: 1) { totalCount } }`, nil); len(resp.Errors) > 0 || !strings.Contains(string(raw), `"totalCount":1200`) {
		t.Fatalf("%s", raw)
	}
	const names = 105
	for i := range names {
		if resp, raw := s.graphql(t, s.tokens.Admin, fmt.Sprintf(`query Name%03d { orgUsers(first: 1) { totalCount } }`, i), nil); len(resp.Errors) > 0 {
			t.Fatalf("%s", raw)
		}
	}
	// A member may not list the organization; no session is no operation.
	if resp, raw := s.graphql(t, s.tokens.Member, `query Denied { orgUsers(first: 1) { totalCount } }`, nil); strings.Join(resp.codes(), ",") != "FORBIDDEN" {
		t.Fatalf("%s", raw)
	}
	if resp, raw := s.graphql(t, "", `query NoSession { orgUsers(first: 1) { totalCount } }`, nil); strings.Join(resp.codes(), ",") != "UNAUTHENTICATED" {
		t.Fatalf("%s", raw)
	}

	// REST, probes and a path no route knows.
	get := func(path, token string, want int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	get(rest.Path+"?role=org:admin", s.tokens.Admin, 200)
	get("/healthz", "", 200)
	get("/readyz", "", 200)
	get("/users/"+clerkemu.UserAcmeMember, "", 404)

	// Webhooks: applied, replayed, refused (bad signature), ignored (a type
	// this service does not handle).
	event := membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:admin", time.Now().UnixMilli())
	if code, body := s.deliver(t, key, delivery{id: "msg_metrics_1", body: event}, nil); code != 200 {
		t.Fatalf("delivery: %d %s", code, body)
	}
	if code, body := s.deliver(t, key, delivery{id: "msg_metrics_1", body: event}, nil); code != 200 {
		t.Fatalf("replay: %d %s", code, body)
	}
	if code, _ := s.deliver(t, key, delivery{body: event, sig: "v1,AAAA"}, nil); code != 400 {
		t.Fatalf("forged delivery: %d", code)
	}
	if code, body := s.deliver(t, key, delivery{body: []byte(`{"type":"email.created","data":{"id":"ema_secret_1"}}`)}, nil); code != 200 || !strings.Contains(body, "ignored") {
		t.Fatalf("unknown type: %d %s", code, body)
	}

	after := s.scrape(t)
	delta := func(name string, labels ...string) float64 {
		k := series(name, labels...)
		return after[k] - before[k]
	}
	// The 105 named queries read the snapshot once each, the REST call twice
	// (its ETag, then its answer).
	warm := float64(names + 2)
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		// One cold load of 1,200 members: 3 pages of each list.
		{"cache misses", delta("orgusers_cache_misses_total"), 1},
		{"cache loads", delta("orgusers_cache_loads_total"), 1},
		{"cache hits", delta("orgusers_cache_hits_total"), warm},
		{"cache entries", after[series("orgusers_cache_entries")], 1},
		{"membership pages", delta("orgusers_clerk_requests_total", "endpoint", "GET /organizations/{id}/memberships", "status", "200"), 3},
		{"user pages", delta("orgusers_clerk_requests_total", "endpoint", "GET /users", "status", "200"), 3},
		{"readiness check", delta("orgusers_clerk_requests_total", "endpoint", "GET /jwks", "status", "200"), 1},
		{"Clerk 429s", delta("orgusers_clerk_rate_limited_total"), 0},
		{"limiter waits", delta("orgusers_clerk_limiter_wait_seconds_count"), delta("orgusers_clerk_request_duration_seconds_count", "endpoint", "GET /organizations/{id}/memberships") +
			delta("orgusers_clerk_request_duration_seconds_count", "endpoint", "GET /users") + delta("orgusers_clerk_request_duration_seconds_count", "endpoint", "GET /jwks")},
		{"breaker closed", after[series("orgusers_clerk_breaker_state")], 0},
		{"GraphQL OK queries", delta("orgusers_graphql_operations_total", "type", "query", "code", "OK"), names + 1},
		{"GraphQL FORBIDDEN queries", delta("orgusers_graphql_operations_total", "type", "query", "code", "FORBIDDEN"), 1},
		{"GraphQL without a session", delta("orgusers_graphql_operations_total", "type", "unknown", "code", "UNAUTHENTICATED"), 1},
		// Cold, Name000..Name098 are the first 100 names; Name099..Name104 and Denied are "other".
		{"name Cold", delta("orgusers_graphql_operation_names_total", "name", "Cold"), 1},
		{"name Name098", delta("orgusers_graphql_operation_names_total", "name", "Name098"), 1},
		{"names past the first 100", delta("orgusers_graphql_operation_names_total", "name", "other"), 7},
		{"POST /graphql 200", delta("orgusers_http_requests_total", "route", "/graphql", "method", "POST", "status", "200"), names + 2},
		{"POST /graphql 401", delta("orgusers_http_requests_total", "route", "/graphql", "method", "POST", "status", "401"), 1},
		{"REST 200", delta("orgusers_http_requests_total", "route", rest.Path, "method", "GET", "status", "200"), 1},
		{"healthz", delta("orgusers_http_requests_total", "route", "/healthz", "method", "GET", "status", "200"), 1},
		{"unknown path", delta("orgusers_http_requests_total", "route", "other", "method", "GET", "status", "404"), 1},
		{"webhook 200s", delta("orgusers_http_requests_total", "route", WebhookPath, "method", "POST", "status", "200"), 3},
		{"webhook applied", delta("orgusers_webhook_deliveries_total", "type", "organizationMembership.updated", "outcome", "applied"), 1},
		{"webhook replayed", delta("orgusers_webhook_deliveries_total", "type", "other", "outcome", "replayed"), 1},
		{"webhook refused", delta("orgusers_webhook_deliveries_total", "type", "other", "outcome", "refused"), 1},
		{"webhook ignored", delta("orgusers_webhook_deliveries_total", "type", "other", "outcome", "ignored"), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: delta %v, want %v", c.what, c.got, c.want)
		}
	}
	if after[series("orgusers_cache_bytes")] <= 0 {
		t.Error("orgusers_cache_bytes is not positive with an organization cached")
	}
	if after[series("go_goroutines")] <= 0 {
		t.Error("no Go runtime metrics")
	}

	// No label holds an id, a raw path or a caller-chosen string beyond
	// the first 100 operation names.
	forbidden := []string{clerkemu.OrgAcme, clerkemu.UserAcmeMember, clerkemu.UserAcmeAdmin, "msg_metrics", "email.created", "ema_secret", "/users/user", "Denied", "NoSession"}
	for i := 99; i < names; i++ {
		forbidden = append(forbidden, fmt.Sprintf("Name%03d", i))
	}
	for k := range after {
		if !strings.HasPrefix(k, "orgusers_") {
			continue
		}
		for _, f := range forbidden {
			if strings.Contains(k, f) {
				t.Errorf("series %s holds %q", k, f)
			}
		}
	}
	nameSeries := 0
	for k := range after {
		if strings.HasPrefix(k, "orgusers_graphql_operation_names_total{") {
			nameSeries++
		}
	}
	if nameSeries != 101 {
		t.Errorf("%d operation name series, want 100 names and other", nameSeries)
	}
}

// TestNoMetricsWithoutMetricsAddr: unset, there is no metrics handler and
// the API does not serve /metrics.
func TestNoMetricsWithoutMetricsAddr(t *testing.T) {
	s := newStack(t, Extras{})
	if s.app.Metrics != nil {
		t.Fatal("App.Metrics is set without METRICS_ADDR")
	}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics on the API: %d", resp.StatusCode)
	}
}

func TestMetricsAddrConfig(t *testing.T) {
	base := map[string]string{"CLERK_SECRET_KEY": "sk_test_abcdefgh12345"}
	for _, tc := range []struct {
		env       map[string]string
		want, err string
	}{
		{map[string]string{}, "", ""},
		{map[string]string{"METRICS_ADDR": ":9090"}, ":9090", ""},
		{map[string]string{"METRICS_ADDR": "127.0.0.1:9090"}, "127.0.0.1:9090", ""},
		{map[string]string{"METRICS_ADDR": "9090"}, "", "METRICS_ADDR"},
		{map[string]string{"METRICS_ADDR": ":99999"}, "", "METRICS_ADDR"},
		{map[string]string{"METRICS_ADDR": ":8080"}, "", "METRICS_ADDR"}, // the API's own port
		{map[string]string{"METRICS_ADDR": "127.0.0.1:7000", "LISTEN_ADDR": ":7000"}, "", "METRICS_ADDR"},
	} {
		cfg, err := LoadConfig(nil, func(k string) string {
			if v, ok := tc.env[k]; ok {
				return v
			}
			return base[k]
		})
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: err %v, want one naming %s", tc.env, err, tc.err)
		case tc.err == "" && (err != nil || cfg.MetricsAddr != tc.want):
			t.Errorf("%v: MetricsAddr %q err %v, want %q", tc.env, cfg.MetricsAddr, err, tc.want)
		}
	}
	var out strings.Builder
	printUsage(&out)
	if !strings.Contains(out.String(), "METRICS_ADDR") {
		t.Error("-h does not mention METRICS_ADDR")
	}
}

// TestRunServesMetricsOnItsOwnListener: run serves GET /metrics on
// METRICS_ADDR, not on the API's listener.
func TestRunServesMetricsOnItsOwnListener(t *testing.T) {
	emu, emuURL, _ := newEmulator(t, nil)
	env := map[string]string{"CLERK_SECRET_KEY": emu.SecretKey(), "CLERK_API_URL": emuURL, "LISTEN_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, out, nil) }()
	var base, metricsURL string
	waitOutput(t, "run", out, done, func(s string) bool {
		m := regexp.MustCompile(`listening on (http://\S+) `).FindStringSubmatch(s)
		mm := regexp.MustCompile(`metrics at (http://\S+)\n`).FindStringSubmatch(s)
		if m == nil || mm == nil {
			return false
		}
		base, metricsURL = strings.Replace(m[1], "localhost", "127.0.0.1", 1), mm[1]
		return true
	})
	if resp, err := http.Get(base + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `orgusers_http_requests_total{method="GET",route="/healthz",status="200"} 1`) {
		t.Fatalf("metrics: %d\n%s", resp.StatusCode, body)
	}
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("GET /metrics on the API: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := http.Get(metricsURL); err == nil {
		t.Fatal("the metrics listener outlived run")
	}
}

// BenchmarkWarmQueryMetrics measures one warm GraphQL request through the
// whole handler (access log, CORS, session, transport, executor) in
// process, with metrics off (METRICS_ADDR unset) and on.
func BenchmarkWarmQueryMetrics(b *testing.B) {
	for _, bc := range []struct {
		name string
		env  []string
	}{{"off", nil}, {"on", []string{"METRICS_ADDR", "127.0.0.1:0"}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := newStack(b, Extras{DisableResponseCache: true}, bc.env...)
			body := `{"query":"query Bench { orgUsers(first: 10) { totalCount nodes { id email role } } }"}`
			serve := func() int {
				req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+s.tokens.Admin)
				rec := httptest.NewRecorder()
				s.app.Handler.ServeHTTP(rec, req)
				return rec.Code
			}
			if code := serve(); code != 200 { // the cold load
				b.Fatalf("status %d", code)
			}
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
		})
	}
}

// TestMetricsOfSubscriptions: the subscriptions' gauge and counters follow
// a subscriber and the event it is sent.
func TestMetricsOfSubscriptions(t *testing.T) {
	s := newStack(t, Extras{}, "METRICS_ADDR", "127.0.0.1:0")
	before := s.scrape(t)
	sub := s.subscribeSSE(t, s.tokens.Admin, nil)
	waitSubscribers(t, s, 1)
	snap, err := s.app.Cache.Members(context.Background(), clerkemu.OrgAcme)
	if err != nil {
		t.Fatal(err)
	}
	m := *snap.Member(clerkemu.UserAcmeMember)
	m.Role, m.MembershipUpdatedAt = "org:billing", time.Now()
	if err := s.app.Cache.Apply(context.Background(), []directory.Change{{Kind: directory.ChangeMemberUpserted, OrgID: clerkemu.OrgAcme, UserID: m.UserID, Member: m, UpdatedAt: m.MembershipUpdatedAt}}); err != nil {
		t.Fatal(err)
	}
	wantChange(t, sub.next(t), "UPDATED", clerkemu.UserAcmeMember, "org:billing")
	after := s.scrape(t)
	for name, want := range map[string]float64{
		"orgusers_subscriptions_open":              1,
		"orgusers_subscriptions_events_total":      1,
		"orgusers_subscriptions_slow_closed_total": 0,
	} {
		if got := after[series(name)] - before[series(name)]; got != want {
			t.Errorf("%s rose by %v, want %v", name, got, want)
		}
	}
	if d := after[series("orgusers_subscriptions_diffs_total")]; d < 1 {
		t.Errorf("diffs_total = %v", d)
	}
}
