package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/graph"
	"github.com/orgusers/orgusers/internal/clerkemu"
)

// stack is the real server, on loopback, wired to a Clerk emulator on loopback.
type stack struct {
	emu    *clerkemu.Emulator
	emuURL string // the emulator's base URL, without /v1
	app    *App
	url    string
	tokens clerkemu.DemoTokens
}

// newStack starts an emulator with the default dataset and the server
// against it through the real clerk-sdk-go client, both on loopback.
func newStack(t testing.TB, x Extras, env ...string) *stack {
	t.Helper()
	return newLoggedStack(t, x, slog.New(slog.NewTextHandler(io.Discard, nil)), env...)
}

// newLoggedStack is newStack with the server logging to logger.
func newLoggedStack(t testing.TB, x Extras, logger *slog.Logger, env ...string) *stack {
	t.Helper()
	emu, emuURL, tokens := newEmulator(t, nil)
	return startServer(t, emu, emuURL, tokens, x, logger, env...)
}

// newEmulator starts the Clerk emulator serving data (nil: the default
// dataset) on loopback, and returns it, its base URL (without /v1) and
// demo tokens valid for an hour.
func newEmulator(tb testing.TB, data *clerkemu.Dataset) (*clerkemu.Emulator, string, clerkemu.DemoTokens) {
	tb.Helper()
	emu, err := clerkemu.New(clerkemu.Options{Data: data})
	if err != nil {
		tb.Fatal(err)
	}
	upstream := httptest.NewServer(emu.Handler())
	tb.Cleanup(upstream.Close)
	tokens, err := emu.DemoTokens(time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return emu, upstream.URL, tokens
}

// startServer starts one server against the emulator at emuURL, configured
// by env (name, value pairs) as LoadConfig reads it; newLoggedStack and the
// fleet tests' replicas share it.
func startServer(t testing.TB, emu *clerkemu.Emulator, emuURL string, tokens clerkemu.DemoTokens, x Extras, logger *slog.Logger, env ...string) *stack {
	t.Helper()
	vars := map[string]string{"CLERK_SECRET_KEY": emu.SecretKey(), "CLERK_API_URL": emuURL}
	// CI runs the tests a second time with GRAPHQL_FAST_PATH=off: every
	// stack then answers through gqlgen's executor alone.
	if v, ok := os.LookupEnv("GRAPHQL_FAST_PATH"); ok {
		vars["GRAPHQL_FAST_PATH"] = v
	}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	cfg, err := LoadConfig(nil, func(name string) string { return vars[name] })
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(cfg, x, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close)
	return &stack{emu: emu, emuURL: emuURL, app: app, url: srv.URL, tokens: tokens}
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (r gqlResponse) codes() []string {
	var out []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// graphql posts a query and returns the decoded response and its raw body.
func (s *stack) graphql(t testing.TB, token, query string, vars map[string]any) (gqlResponse, []byte) {
	t.Helper()
	resp, raw := s.send(t, token, map[string]any{"query": query, "variables": vars})
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d, body %s: %v", resp.StatusCode, raw, err)
	}
	return out, raw
}

// send posts a GraphQL request body, with token as bearer when not empty.
func (s *stack) send(t testing.TB, token string, request map[string]any) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(request)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

const allFields = `id email firstName lastName username imageUrl lastSignInAt publicMetadata createdAt role roleName membershipMetadata joinedAt lastActiveAt banned`

type node struct {
	ID                 string          `json:"id"`
	Email              *string         `json:"email"`
	FirstName          *string         `json:"firstName"`
	LastSignInAt       *string         `json:"lastSignInAt"`
	Role               string          `json:"role"`
	PublicMetadata     json.RawMessage `json:"publicMetadata"`
	MembershipMetadata json.RawMessage `json:"membershipMetadata"`
}

type connection struct {
	OrgUsers struct {
		TotalCount int    `json:"totalCount"`
		Nodes      []node `json:"nodes"`
		PageInfo   struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"orgUsers"`
}

func TestOrgUsersEndToEndThroughClerkSDK(t *testing.T) {
	s := newStack(t, Extras{})
	data := s.emu.Data()

	// Expected: every acme member, with the primary email of each.
	want := map[string]string{}
	for _, m := range data.Memberships {
		if m.OrganizationID == clerkemu.OrgAcme {
			want[m.UserID] = data.User(m.UserID).PrimaryEmail()
		}
	}
	if len(want) != clerkemu.AcmeMembers {
		t.Fatalf("dataset has %d acme members, want %d", len(want), clerkemu.AcmeMembers)
	}

	// Walk every page with cursors; nothing skipped, nothing repeated.
	seen := map[string]bool{}
	var after *string
	var emails []string
	for pages := 0; ; pages++ {
		resp, raw := s.graphql(t, s.tokens.Admin, `query($after: String) { orgUsers(first: 500, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { `+allFields+` } } }`, map[string]any{"after": after})
		if len(resp.Errors) > 0 {
			t.Fatalf("errors: %s", raw)
		}
		for _, secret := range []string{"private", "salary", "ssn", "unsafe"} {
			if bytes.Contains(bytes.ToLower(raw), []byte(secret)) {
				t.Fatalf("response leaks %q", secret)
			}
		}
		var c connection
		if err := json.Unmarshal(resp.Data, &c); err != nil {
			t.Fatal(err)
		}
		if c.OrgUsers.TotalCount != clerkemu.AcmeMembers {
			t.Fatalf("totalCount = %d, want %d", c.OrgUsers.TotalCount, clerkemu.AcmeMembers)
		}
		for _, n := range c.OrgUsers.Nodes {
			if seen[n.ID] {
				t.Fatalf("member %s repeated", n.ID)
			}
			seen[n.ID] = true
			wantEmail, ok := want[n.ID]
			if !ok {
				t.Fatalf("%s is not an acme member", n.ID)
			}
			got := ""
			if n.Email != nil {
				got = *n.Email
			}
			if got != wantEmail {
				t.Fatalf("%s email = %q, want primary %q", n.ID, got, wantEmail)
			}
			if got != "" {
				emails = append(emails, strings.ToLower(got))
			}
		}
		if !c.OrgUsers.PageInfo.HasNextPage {
			break
		}
		if pages > 5 {
			t.Fatal("too many pages")
		}
		after = c.OrgUsers.PageInfo.EndCursor
	}
	if len(seen) != len(want) {
		t.Fatalf("walked %d members, want %d", len(seen), len(want))
	}
	if !sort.StringsAreSorted(emails) {
		t.Fatal("members are not ordered by email")
	}
	// One cold load of 1,200 members: 3 pages of memberships and 3 of users,
	// no /users/count; the later pages came from the cache.
	reqs := s.emu.Requests()
	if got := reqs["GET /v1/organizations/{id}/memberships"] + reqs["GET /v1/users"]; got != 6 {
		t.Fatalf("Clerk list requests = %v, want 6 in all", reqs)
	}
	if reqs["GET /v1/users/count"] != 0 {
		t.Fatalf("the repository called /users/count: %v", reqs)
	}
}

func TestOrgUsersAuthorization(t *testing.T) {
	s := newStack(t, Extras{})
	expired, err := s.emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgAcme, OrgRole: "org:admin", IssuedAt: time.Now().Add(-2 * time.Hour), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	v1Admin, err := s.emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgAcme, OrgSlug: "acme", OrgRole: "org:admin", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, want string
	}{
		{"no token", "", "UNAUTHENTICATED"},
		{"garbage", "not-a-jwt", "UNAUTHENTICATED"},
		{"expired", expired, "UNAUTHENTICATED"},
		{"no active org", s.tokens.NoOrg, "NO_ACTIVE_ORGANIZATION"},
		{"member", s.tokens.Member, "FORBIDDEN"},
		{"admin v2", s.tokens.Admin, ""},
		{"admin v1", v1Admin, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := s.graphql(t, tc.token, `{ orgUsers(first: 1) { totalCount } }`, nil)
			codes := strings.Join(resp.codes(), ",")
			if codes != tc.want {
				t.Fatalf("codes = %q, want %q: %s", codes, tc.want, raw)
			}
			// Without a session nothing executes: no data at all. Otherwise
			// the field fails and data is null.
			if tc.want == "UNAUTHENTICATED" && resp.Data != nil || tc.want != "" && tc.want != "UNAUTHENTICATED" && string(resp.Data) != "null" {
				t.Fatalf("data = %s", resp.Data)
			}
		})
	}
}

func TestOrgUsersRejectsBadInput(t *testing.T) {
	s := newStack(t, Extras{})
	cases := []struct{ name, query string }{
		{"first too large", `{ orgUsers(first: 1001) { totalCount } }`},
		{"first negative", `{ orgUsers(first: -1) { totalCount } }`},
		{"malformed cursor", `{ orgUsers(after: "nope") { totalCount } }`},
		{"two operators", `{ orgUsers(filter: {metadata: [{path: "department", equals: "Sales", exists: true}]}) { totalCount } }`},
		{"no operator", `{ orgUsers(filter: {metadata: [{path: "department"}]}) { totalCount } }`},
		{"bad time", `{ orgUsers(filter: {createdAfter: "yesterday"}) { totalCount } }`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := s.graphql(t, s.tokens.Admin, tc.query, nil)
			if got := strings.Join(resp.codes(), ","); got != "BAD_USER_INPUT" {
				t.Fatalf("codes = %q, want BAD_USER_INPUT: %s", got, raw)
			}
		})
	}

	// A cursor from another ordering is rejected.
	resp, _ := s.graphql(t, s.tokens.Admin, `{ orgUsers(first: 1, orderBy: {field: CREATED_AT, direction: DESC}) { pageInfo { endCursor } } }`, nil)
	var c connection
	_ = json.Unmarshal(resp.Data, &c)
	if c.OrgUsers.PageInfo.EndCursor == nil {
		t.Fatal("no cursor")
	}
	resp, raw := s.graphql(t, s.tokens.Admin, `query($a: String) { orgUsers(first: 1, after: $a) { totalCount } }`, map[string]any{"a": *c.OrgUsers.PageInfo.EndCursor})
	if got := strings.Join(resp.codes(), ","); got != "BAD_USER_INPUT" {
		t.Fatalf("cross-order cursor: codes = %q: %s", got, raw)
	}
}

func TestOrgUsersFilters(t *testing.T) {
	s := newStack(t, Extras{})
	data := s.emu.Data()
	countWhere := func(pred func(u *clerkemu.User, m clerkemu.Membership) bool) int {
		n := 0
		for _, m := range data.Memberships {
			if m.OrganizationID == clerkemu.OrgAcme && pred(data.User(m.UserID), m) {
				n++
			}
		}
		return n
	}
	cases := []struct {
		name   string
		filter string
		want   int
	}{
		{"admins", `{roles: ["org:admin"]}`, countWhere(func(_ *clerkemu.User, m clerkemu.Membership) bool { return m.Role == "org:admin" })},
		{"never signed in", `{signInStatus: NEVER_SIGNED_IN}`, countWhere(func(u *clerkemu.User, _ clerkemu.Membership) bool { return u.LastSignInAt == nil })},
		{"engineering", `{metadata: [{path: "department", equals: "Engineering"}]}`, countWhere(func(u *clerkemu.User, _ clerkemu.Membership) bool {
			return u.PublicMetadata["department"] == "Engineering"
		})},
		{"not engineering", `{not: {metadata: [{path: "department", equals: "Engineering"}]}}`, countWhere(func(u *clerkemu.User, _ clerkemu.Membership) bool {
			return u.PublicMetadata["department"] != "Engineering"
		})},
		{"admins or billing", `{or: [{roles: ["org:admin"]}, {roles: ["org:billing"]}]}`, countWhere(func(_ *clerkemu.User, m clerkemu.Membership) bool {
			return m.Role == "org:admin" || m.Role == "org:billing"
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == 0 || tc.want == clerkemu.AcmeMembers {
				t.Fatalf("dataset makes this case vacuous (%d matches)", tc.want)
			}
			resp, raw := s.graphql(t, s.tokens.Admin, `{ orgUsers(first: 0, filter: `+tc.filter+`) { totalCount } }`, nil)
			if len(resp.Errors) > 0 {
				t.Fatalf("errors: %s", raw)
			}
			var c connection
			_ = json.Unmarshal(resp.Data, &c)
			if c.OrgUsers.TotalCount != tc.want {
				t.Fatalf("totalCount = %d, want %d", c.OrgUsers.TotalCount, tc.want)
			}
		})
	}
}

func TestOrgUserAndViewer(t *testing.T) {
	s := newStack(t, Extras{})
	resp, raw := s.graphql(t, s.tokens.Admin, `{ viewer { userId organizationId organizationRole organizationSlug permissions }
		member: orgUser(id: "`+clerkemu.UserAcmeMember+`") { id role }
		stranger: orgUser(id: "`+clerkemu.UserNoOrg+`") { id } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("errors: %s", raw)
	}
	var got struct {
		Viewer struct {
			UserID           string   `json:"userId"`
			OrganizationID   string   `json:"organizationId"`
			OrganizationRole string   `json:"organizationRole"`
			Permissions      []string `json:"permissions"`
		} `json:"viewer"`
		Member   *node `json:"member"`
		Stranger *node `json:"stranger"`
	}
	if err := json.Unmarshal(resp.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Viewer.UserID != clerkemu.UserAcmeAdmin || got.Viewer.OrganizationID != clerkemu.OrgAcme || got.Viewer.OrganizationRole != "org:admin" {
		t.Fatalf("viewer = %+v", got.Viewer)
	}
	if got.Member == nil || got.Member.ID != clerkemu.UserAcmeMember || got.Member.Role != "org:member" {
		t.Fatalf("member = %+v", got.Member)
	}
	if got.Stranger != nil {
		t.Fatalf("a non-member was returned: %+v", got.Stranger)
	}

	// The viewer of a session without an organization.
	resp, raw = s.graphql(t, s.tokens.NoOrg, `{ viewer { userId organizationId permissions } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `"organizationId":null`) {
		t.Fatalf("no-org viewer: %s", raw)
	}
}

func TestConcurrentColdRequestsShareOneLoad(t *testing.T) {
	s := newStack(t, Extras{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"query": `{ orgUsers(first: 5) { totalCount } }`})
			req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+s.tokens.Admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(raw, []byte(`"totalCount":1200`)) {
				errs <- string(raw)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	reqs := s.emu.Requests()
	if got := reqs["GET /v1/organizations/{id}/memberships"] + reqs["GET /v1/users"]; got != 6 {
		t.Fatalf("100 cold requests cost %v Clerk requests, want one load (6)", reqs)
	}
	// Warm: zero Clerk requests.
	s.emu.ResetCounters()
	for i := 0; i < 10; i++ {
		resp, raw := s.graphql(t, s.tokens.Admin, `{ orgUsers(first: 5, orderBy: {field: LAST_NAME, direction: DESC}) { totalCount } }`, nil)
		if len(resp.Errors) > 0 {
			t.Fatalf("errors: %s", raw)
		}
	}
	if n := s.emu.TotalRequests(); n != 0 {
		t.Fatalf("warm requests reached Clerk %d times: %v", n, s.emu.Requests())
	}
}

func TestProductionPosture(t *testing.T) {
	s := newStack(t, Extras{})
	// Introspection is off by default.
	resp, _ := s.graphql(t, s.tokens.Admin, `{ __schema { types { name } } }`, nil)
	if len(resp.Errors) == 0 {
		t.Fatal("introspection answered with GRAPHQL_INTROSPECTION unset")
	}
	// No field suggestions when introspection is off.
	resp, raw := s.graphql(t, s.tokens.Admin, `{ orgUser(id: "x") { emal } }`, nil)
	if len(resp.Errors) == 0 || strings.Contains(string(raw), "Did you mean") {
		t.Fatalf("suggestion leaked: %s", raw)
	}
	// Aliased pages beyond the complexity bound are refused before running.
	var q strings.Builder
	q.WriteString("{")
	for i := 0; i < 5; i++ {
		q.WriteString(" a" + string(rune('0'+i)) + `: orgUsers(first: 1000) { nodes { ` + allFields + ` } }`)
	}
	q.WriteString(" }")
	s.emu.ResetCounters()
	resp, raw = s.graphql(t, s.tokens.Admin, q.String(), nil)
	if got := strings.Join(resp.codes(), ","); got != "QUERY_TOO_COMPLEX" {
		t.Fatalf("expensive query ran: %.300s", raw)
	}
	// Healthz needs no auth; the playground is off.
	for path, want := range map[string]int{"/healthz": 200, "/": 404, "/demo/tokens": 404, "/openapi.json": 200} {
		r, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Fatalf("GET %s = %d, want %d", path, r.StatusCode, want)
		}
	}
	// A body over the limit is refused.
	big := `{"query":"{ viewer { userId } }","variables":{"x":"` + strings.Repeat("a", maxBodyBytes) + `"}}`
	req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", strings.NewReader(big))
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode == 200 {
		t.Fatal("oversized body accepted")
	}
}

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if _, err := LoadConfig(nil, env()); err == nil || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
		t.Fatalf("missing secret key: err = %v", err)
	}
	c, err := LoadConfig([]string{"-demo"}, env())
	if err != nil || !c.Demo || !c.Introspection {
		t.Fatalf("-demo: %+v, %v", c, err)
	}
	bad := []struct{ name, value string }{
		{"PORT", "eighty"}, {"CACHE_TTL", "soon"}, {"CACHE_MAX_STALE", "-1s"}, {"CACHE_MAX_ORGS", "0"},
		{"CLERK_RATE_LIMIT", "x"}, {"GRAPHQL_INTROSPECTION", "maybe"}, {"GRAPHQL_FAST_PATH", "fast"}, {"CLERK_API_URL", "ftp://x"},
		{"CLERK_AUTHORIZED_PARTIES", "not an origin"},
		{"CLERK_AUTHORIZED_PARTIES", "https://app.example.com/"},
		{"CLERK_AUTHORIZED_PARTIES", "https://app.example.com/path?x"},
		{"GRAPHQL_MAX_DEPTH", "0"}, {"GRAPHQL_MAX_ALIASES", "many"}, {"GRAPHQL_MAX_DIRECTIVES", "-5"},
		{"GRAPHQL_MAX_FIELDS", "0"}, {"GRAPHQL_MAX_FIELD_REPEATS", "1.5"}, {"GRAPHQL_MAX_COST", "0"},
		{"GRAPHQL_MAX_TOKENS", "1"}, {"GRAPHQL_MAX_QUERY_BYTES", "10000000"}, {"GRAPHQL_MAX_VALUE_DEPTH", "65"},
		{"LOG_FORMAT", "xml"}, {"LOG_LEVEL", "verbose"}, {"GRAPHQL_TRUSTED_DOCUMENTS", "/nonexistent/manifest.json"}, {"GRAPHQL_TRUSTED_DOCUMENTS", "go.mod"}, {"CACHE_MAX_BYTES", "lots"}, {"CACHE_MAX_BYTES", "0"}, {"CACHE_MAX_BYTES", "2TiB"},
	}
	for _, b := range bad {
		_, err := LoadConfig(nil, env("CLERK_SECRET_KEY", "sk_test_0123456789abcdef", b.name, b.value))
		if err == nil || !strings.Contains(err.Error(), b.name) {
			t.Errorf("%s=%q: err = %v, want one naming %s", b.name, b.value, err, b.name)
		}
	}
	c, err = LoadConfig(nil, env("CLERK_SECRET_KEY", "sk_test_0123456789abcdef", "GRAPHQL_MAX_DEPTH", "12", "GRAPHQL_MAX_ALIASES", "5"))
	if err != nil || c.Limits.MaxDepth != 12 || c.Limits.MaxAliases != 5 || c.Limits.MaxDirectives != graph.DefaultMaxDirectives {
		t.Fatalf("limits: %+v, %v", c.Limits, err)
	}
	if !c.FastPath {
		t.Fatal("GRAPHQL_FAST_PATH unset: the fast path is off")
	}
	for _, off := range []string{"off", "false", "OFF"} {
		if c, err = LoadConfig(nil, env("CLERK_SECRET_KEY", "sk_test_0123456789abcdef", "GRAPHQL_FAST_PATH", off)); err != nil || c.FastPath {
			t.Fatalf("GRAPHQL_FAST_PATH=%s: FastPath %v, %v", off, c.FastPath, err)
		}
	}
	for raw, want := range map[string]string{
		"https://api.clerk.com":     "https://api.clerk.com/v1",
		"https://api.clerk.com/":    "https://api.clerk.com/v1",
		"http://127.0.0.1:4000/v1":  "http://127.0.0.1:4000/v1",
		"http://127.0.0.1:4000/v1/": "http://127.0.0.1:4000/v1",
	} {
		if got, err := NormalizeAPIURL(raw); err != nil || got != want {
			t.Errorf("NormalizeAPIURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	_ = url.Values{}
}

// post sends a GraphQL query and returns the raw response.
func (s *stack) post(t *testing.T, token, query string) (*http.Response, []byte) {
	t.Helper()
	return s.send(t, token, map[string]any{"query": query})
}

func TestResponseCache(t *testing.T) {
	s := newStack(t, Extras{})
	// A query that needs no member data is cached without loading any.
	for i := 0; i < 2; i++ {
		if resp, body := s.post(t, s.tokens.Admin, `{ viewer { userId } }`); resp.StatusCode != 200 || (i == 1) != (resp.Header.Get("X-Response-Cache") == "hit") {
			t.Fatalf("viewer #%d: %s %q", i, body, resp.Header.Get("X-Response-Cache"))
		}
	}
	if reqs := s.emu.Requests(); reqs["GET /v1/users"]+reqs["GET /v1/organizations/{id}/memberships"] != 0 {
		t.Fatalf("a viewer query loaded members: %v", reqs)
	}
	const q = `{ orgUsers(first: 3) { totalCount nodes { id email } } }`
	first, body1 := s.post(t, s.tokens.Admin, q)
	second, body2 := s.post(t, s.tokens.Admin, q)
	if first.Header.Get("X-Response-Cache") == "hit" || second.Header.Get("X-Response-Cache") != "hit" {
		t.Fatalf("cache headers: first %q second %q", first.Header.Get("X-Response-Cache"), second.Header.Get("X-Response-Cache"))
	}
	if !bytes.Equal(body1, body2) || !bytes.Contains(body1, []byte(`"totalCount":1200`)) {
		t.Fatalf("cached answer differs:\n%s\n%s", body1, body2)
	}

	// Never across organizations: the same text for another org's admin.
	smallAdmin, err := s.emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserSmallAdmin, OrgID: clerkemu.OrgSmall, OrgRole: "org:admin"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := s.post(t, smallAdmin, q)
	if resp.Header.Get("X-Response-Cache") == "hit" || !bytes.Contains(body, []byte(`"totalCount":12`)) {
		t.Fatalf("another org got %s", body)
	}

	// Never to a caller without the role.
	resp, body = s.post(t, s.tokens.Member, q)
	if resp.Header.Get("X-Response-Cache") == "hit" || !bytes.Contains(body, []byte("FORBIDDEN")) {
		t.Fatalf("member got %s", body)
	}

	// Errors are not stored.
	bad := `{ orgUsers(first: 5000) { totalCount } }`
	s.post(t, s.tokens.Admin, bad)
	if resp, body := s.post(t, s.tokens.Admin, bad); resp.Header.Get("X-Response-Cache") == "hit" {
		t.Fatalf("an error answer was cached: %s", body)
	}

	// Never after the snapshot changes.
	if err := s.emu.AddMember(clerkemu.OrgAcme, clerkemu.User{ID: "user_newcomer", CreatedAt: 1700000000000, UpdatedAt: 1700000000000,
		EmailAddresses:        []clerkemu.EmailAddress{{ID: "idn_newcomer", EmailAddress: "aaa.newcomer@example.com", Verified: true}},
		PrimaryEmailAddressID: "idn_newcomer"}, "org:member"); err != nil {
		t.Fatal(err)
	}
	s.app.Cache.Invalidate(clerkemu.OrgAcme)
	resp, body = s.post(t, s.tokens.Admin, q)
	if resp.Header.Get("X-Response-Cache") == "hit" || !bytes.Contains(body, []byte(`"totalCount":1201`)) || !bytes.Contains(body, []byte("aaa.newcomer@example.com")) {
		t.Fatalf("after a change: %s", body)
	}
	// The new answer replaced the old one: the next identical request is a hit again.
	resp, again := s.post(t, s.tokens.Admin, q)
	if resp.Header.Get("X-Response-Cache") != "hit" || !bytes.Equal(again, body) {
		t.Fatalf("after a change, the answer was not cached again: %q %s", resp.Header.Get("X-Response-Cache"), again)
	}
}

func TestEmulatorFaultFlags(t *testing.T) {
	faults, err := emulatorFaults(100*time.Millisecond, 429, 0.5, "GET /v1/users", time.Second)
	if err != nil || len(faults) != 2 || faults[0].Latency != 100*time.Millisecond ||
		faults[1].Status != 429 || faults[1].Rate != 0.5 || faults[1].Endpoint != "GET /v1/users" || faults[1].RetryAfter != time.Second {
		t.Fatalf("faults = %+v, %v", faults, err)
	}
	if faults, err := emulatorFaults(0, 0, 1, "", 0); err != nil || len(faults) != 0 {
		t.Fatalf("no flags: %+v, %v", faults, err)
	}
	for _, bad := range []struct {
		name    string
		latency time.Duration
		status  int
		rate    float64
		ep      string
		ra      time.Duration
	}{
		{"-latency", -time.Second, 0, 1, "", 0},
		{"-fail-status", 0, 200, 1, "", 0},
		{"-fail-rate", 0, 503, 1.5, "", 0},
		{"-fail-rate", 0, 503, 0, "", 0},
		{"-fail-endpoint", 0, 0, 1, "GET /v1/users", 0},
		{"-fail-rate", 0, 0, 0.5, "", 0},
		{"-retry-after", 0, 503, 1, "", -time.Second},
	} {
		if _, err := emulatorFaults(bad.latency, bad.status, bad.rate, bad.ep, bad.ra); err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Errorf("%s: err = %v, want one naming %s", bad.name, err, bad.name)
		}
	}
}

// TestOperationLimitsThroughTheServer: the limits come from the environment,
// and a request without a session is refused before any of them is looked at.
func TestOperationLimitsThroughTheServer(t *testing.T) {
	s := newStack(t, Extras{}, "GRAPHQL_MAX_ALIASES", "2", "GRAPHQL_MAX_DEPTH", "3")
	resp, raw := s.graphql(t, s.tokens.Admin, `{ a: viewer { userId } b: viewer { userId } c: viewer { userId } }`, nil)
	if got := strings.Join(resp.codes(), ","); got != "TOO_MANY_ALIASES" {
		t.Fatalf("codes %q: %s", got, raw)
	}
	resp, raw = s.graphql(t, s.tokens.Admin, `{ orgUsers(first: 1) { edges { node { id } } } }`, nil)
	if got := strings.Join(resp.codes(), ","); got != "QUERY_TOO_DEEP" {
		t.Fatalf("codes %q: %s", got, raw)
	}
	resp, raw = s.graphql(t, s.tokens.Admin, `{ a: orgUsers(first: 1) { totalCount } }`, nil)
	if len(resp.Errors) != 0 || !strings.Contains(string(raw), `"totalCount":1200`) {
		t.Fatalf("%s", raw)
	}
	// No session: 401 with a GraphQL-shaped body, whatever the query.
	r, body := s.send(t, "", map[string]any{"query": strings.Repeat("{ a ", 50) + strings.Repeat("}", 50)})
	var out gqlResponse
	if err := json.Unmarshal(body, &out); err != nil || r.StatusCode != 401 || strings.Join(out.codes(), ",") != "UNAUTHENTICATED" || out.Data != nil {
		t.Fatalf("%d %s", r.StatusCode, body)
	}
}

// TestTwoAuthorizationHeadersAre401 on both transports, even when both hold
// the admin's valid token.
func TestTwoAuthorizationHeadersAre401(t *testing.T) {
	s := newStack(t, Extras{})
	for _, target := range []struct{ method, path, body string }{
		{http.MethodPost, "/graphql", `{"query":"{ viewer { userId } }"}`},
		{http.MethodGet, "/api/organization/users", ""},
	} {
		req, _ := http.NewRequest(target.method, s.url+target.path, strings.NewReader(target.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Add("Authorization", "Bearer "+s.tokens.Admin)
		req.Header.Add("Authorization", "Bearer "+s.tokens.Admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(body), "UNAUTHENTICATED") || !strings.Contains(string(body), "more than one Authorization header") {
			t.Fatalf("%s: %d %s", target.path, resp.StatusCode, body)
		}
	}
}
