package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/metrics"
)

func TestBoundedKeepsTheFirstDistinctValues(t *testing.T) {
	b := metrics.NewBounded(3, 10)
	for i, tc := range []struct{ in, want string }{
		{"a", "a"},
		{"b", "b"},
		{"a", "a"}, // seen: does not take a slot
		{"c", "c"},
		{"d", metrics.OtherLabel}, // the fourth distinct value
		{"b", "b"},                // the first three keep their label
		{"", metrics.OtherLabel},
		{"abcdefghijk", metrics.OtherLabel}, // longer than 10 bytes
		{"\xff", metrics.OtherLabel},        // not UTF-8
	} {
		if got := b.Label(tc.in); got != tc.want {
			t.Errorf("%d: Label(%q) = %q, want %q", i, tc.in, got, tc.want)
		}
	}
}

func TestBoundedIsBoundedUnderConcurrency(t *testing.T) {
	b := metrics.NewBounded(100, 100)
	var wg sync.WaitGroup
	labels := make([]map[string]bool, 8)
	for g := range labels {
		labels[g] = map[string]bool{}
		wg.Go(func() {
			for i := range 500 {
				labels[g][b.Label(fmt.Sprintf("Op%d", (i*7+g)%300))] = true
			}
		})
	}
	wg.Wait()
	all := map[string]bool{}
	for _, l := range labels {
		for k := range l {
			all[k] = true
		}
	}
	if !all[metrics.OtherLabel] || len(all) != 101 {
		t.Fatalf("%d distinct labels (other seen: %v), want 100 names plus %q", len(all), all[metrics.OtherLabel], metrics.OtherLabel)
	}
}

func TestClerkEndpoint(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/users", "GET /users"},
		{"GET", "/users/user_2abc", "GET /users/{id}"},
		{"GET", "/users/count", "GET /users/count"},
		{"GET", "/jwks", "GET /jwks"},
		{"GET", "/organization_roles", "GET /organization_roles"},
		{"GET", "/organizations/org_1/memberships", "GET /organizations/{id}/memberships"},
		{"GET", "/organizations/org_1/memberships/", "GET /organizations/{id}/memberships"},
		{"PATCH", "/organizations/org_1/memberships/user_9", "PATCH /organizations/{id}/memberships/{user_id}"},
		{"DELETE", "/organizations/org_1/memberships/user_9", "DELETE /organizations/{id}/memberships/{user_id}"},
		{"PATCH", "/organizations/org_1/memberships/user_9/metadata", "PATCH /organizations/{id}/memberships/{user_id}/metadata"},
		{"GET", "/organizations/org_1/invitations", "GET /organizations/{id}/invitations"},
		{"POST", "/organizations/org_1/invitations/bulk", "POST /organizations/{id}/invitations/bulk"},
		{"POST", "/organizations/org_1/invitations/orginv_3/revoke", "POST /organizations/{id}/invitations/{invitation_id}/revoke"},
		// Anything else is "other": an unknown path, method or shape.
		{"GET", "/v1/users/user_1", metrics.OtherLabel},
		{"PUT", "/users/user_1", metrics.OtherLabel},
		{"GET", "/organizations//memberships", metrics.OtherLabel},
		{"GET", "/sessions/sess_1", metrics.OtherLabel},
		{"GET", "", metrics.OtherLabel},
		{"GET", "/a/b/c/d/e/f/g/h/i/j", metrics.OtherLabel},
	} {
		if got := metrics.ClerkEndpoint(tc.method, tc.path); got != tc.want {
			t.Errorf("ClerkEndpoint(%s, %q) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestGraphQLObserverBoundsNamesAndTypes(t *testing.T) {
	m := metrics.New()
	o := m.GraphQL()
	for i := range metrics.MaxOperationNames + 5 {
		o.ObserveOperation("query", fmt.Sprintf("Op%d", i), "OK")
	}
	o.ObserveOperation("query", "", "")
	o.ObserveOperation("bogus", "Secret", "FORBIDDEN")
	body := scrape(t, m.Handler())
	for _, want := range []string{
		`orgusers_graphql_operation_names_total{name="Op0"} 1`,
		`orgusers_graphql_operation_names_total{name="Op99"} 1`,
		`orgusers_graphql_operation_names_total{name="other"} 5`,
		`orgusers_graphql_operation_names_total{name="(anonymous)"} 1`,
		`orgusers_graphql_operations_total{code="OK",type="query"} 106`,
		`orgusers_graphql_operations_total{code="FORBIDDEN",type="unknown"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grep(body, "orgusers_graphql"))
		}
	}
	for _, absent := range []string{`name="Op100"`, `Secret`, `type="bogus"`} {
		if strings.Contains(body, absent) {
			t.Errorf("%s is a label", absent)
		}
	}
}

func TestClerkObserver(t *testing.T) {
	m := metrics.New()
	o := m.Clerk()
	o.ObserveRequest("GET", "/users/user_1", 200, 10*time.Millisecond)
	o.ObserveRequest("GET", "/users/user_2", 429, time.Millisecond)
	o.ObserveRequest("GET", "/users/user_3", 0, time.Millisecond)
	o.ObserveLimiterWait(time.Millisecond)
	o.ObserveBreakerState(2)
	body := scrape(t, m.Handler())
	for _, want := range []string{
		`orgusers_clerk_requests_total{endpoint="GET /users/{id}",status="200"} 1`,
		`orgusers_clerk_requests_total{endpoint="GET /users/{id}",status="429"} 1`,
		`orgusers_clerk_requests_total{endpoint="GET /users/{id}",status="error"} 1`,
		`orgusers_clerk_rate_limited_total 1`,
		`orgusers_clerk_limiter_wait_seconds_count 1`,
		`orgusers_clerk_breaker_state 2`,
		`orgusers_clerk_request_duration_seconds_count{endpoint="GET /users/{id}"} 3`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grep(body, "orgusers_clerk"))
		}
	}
	if strings.Contains(body, "user_1") {
		t.Error("a user id is a label")
	}
}

func TestMiddlewareCountsByRouteMethodStatus(t *testing.T) {
	m := metrics.New()
	route := func(r *http.Request) string {
		if r.URL.Path == "/graphql" {
			return "/graphql"
		}
		return ""
	}
	h := m.Middleware(route)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/graphql" {
			http.NotFound(w, r)
		}
	}))
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/graphql", nil),
		httptest.NewRequest("GET", "/users/user_123", nil),
		httptest.NewRequest("BREW", "/graphql", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	body := scrape(t, m.Handler())
	for _, want := range []string{
		`orgusers_http_requests_total{method="POST",route="/graphql",status="200"} 1`,
		`orgusers_http_requests_total{method="GET",route="other",status="404"} 1`,
		`orgusers_http_requests_total{method="OTHER",route="/graphql",status="200"} 1`,
		`orgusers_http_request_duration_seconds_count{method="POST",route="/graphql"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grep(body, "orgusers_http"))
		}
	}
	if strings.Contains(body, "user_123") || strings.Contains(body, "BREW") {
		t.Error("a raw path or method is a label")
	}
}

func TestCacheCollectorReadsOnScrape(t *testing.T) {
	m := metrics.New()
	var hits uint64
	m.RegisterCache(func() metrics.CacheStats {
		hits++
		return metrics.CacheStats{Hits: hits, Misses: 2, Entries: 3, Bytes: 4096}
	})
	families, err := m.Registry().Gather() // first read: hits 1
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "orgusers_cache_") {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d cache metrics, want 10", n)
	}
	body := scrape(t, m.Handler())
	for _, want := range []string{"orgusers_cache_hits_total 2", "orgusers_cache_misses_total 2", "orgusers_cache_entries 3", "orgusers_cache_bytes 4096"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grep(body, "orgusers_cache"))
		}
	}
}

func TestWebhookObserverBoundsOutcomes(t *testing.T) {
	m := metrics.New()
	o := m.Webhooks()
	o.ObserveDelivery("user.updated", "applied")
	o.ObserveDelivery("other", "exploded")
	body := scrape(t, m.Handler())
	for _, want := range []string{
		`orgusers_webhook_deliveries_total{outcome="applied",type="user.updated"} 1`,
		`orgusers_webhook_deliveries_total{outcome="failed",type="other"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grep(body, "orgusers_webhook"))
		}
	}
}

func TestEachMetricsHasItsOwnRegistry(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.GraphQL().ObserveOperation("query", "A", "OK")
	if body := scrape(t, b.Handler()); strings.Contains(body, `name="A"`) {
		t.Fatal("two Metrics share a registry")
	}
	if body := scrape(t, a.Handler()); !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Fatal("no Go runtime or process metrics")
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d", rec.Code)
	}
	return rec.Body.String()
}

func grep(body, prefix string) string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestFleetCollectorReadsOnScrape(t *testing.T) {
	m := metrics.New()
	m.RegisterFleet(func() metrics.FleetStats { return metrics.FleetStats{Up: true, Hits: 3, Fallbacks: 1} })
	body := scrape(t, m.Handler())
	for _, want := range []string{"orgusers_fleet_redis_up 1", "orgusers_fleet_hits_total 3", "orgusers_fleet_fallbacks_total 1", "orgusers_fleet_conflicts_total 0"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grep(body, "orgusers_fleet"))
		}
	}
}
