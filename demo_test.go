package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/graphiql/graphiqltest"
)

// readyTimeout bounds how long a test waits for a server to come up or shut
// down. It is a safety net against hangs, not an assertion about speed.
const readyTimeout = time.Minute

// syncBuffer is an io.Writer that a server goroutine writes to while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitOutput polls out until parse accepts its text, and fails the test with
// the output so far if that does not happen within readyTimeout or the
// command returns first.
func waitOutput(t *testing.T, what string, out *syncBuffer, done <-chan error, parse func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for !parse(out.String()) {
		select {
		case err := <-done:
			t.Fatalf("%s returned before printing its banner: %v\noutput:\n%s", what, err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no complete banner within %v\noutput:\n%s", what, readyTimeout, out.String())
		}
	}
}

// demoServer is `orgusers -demo` started through run, as a user would start it.
type demoServer struct {
	*stack // url and tokens, parsed from the banner; emu and app are nil
	out    *syncBuffer
	stop   func() error
}

var (
	bannerBase   = regexp.MustCompile(`(?m)^\s+GraphQL\s+(http://localhost:[1-9][0-9]*)/graphql$`)
	bannerAdmin  = regexp.MustCompile(`(?m)^\s+admin\s+(\S+)$`)
	bannerMember = regexp.MustCompile(`(?m)^\s+member\s+(\S+)$`)
	bannerNoOrg  = regexp.MustCompile(`(?m)^\s+no org\s+(\S+)$`)
)

// parseDemoBanner returns the base URL and tokens printed by printDemoBanner,
// and whether all four were found.
func parseDemoBanner(s string) (base string, tokens clerkemu.DemoTokens, ok bool) {
	m := [4][]string{bannerBase.FindStringSubmatch(s), bannerAdmin.FindStringSubmatch(s), bannerMember.FindStringSubmatch(s), bannerNoOrg.FindStringSubmatch(s)}
	for _, x := range m {
		if x == nil {
			return "", clerkemu.DemoTokens{}, false
		}
	}
	return m[0][1], clerkemu.DemoTokens{Admin: m[1][1], Member: m[2][1], NoOrg: m[3][1]}, true
}

// startDemo runs run(ctx, ["-demo"], ...) with PORT=0 in a goroutine and
// waits for its banner. stop cancels the context and returns run's result; it
// is also called at cleanup, so a test that does not call it still stops the
// server.
func startDemo(t *testing.T, args ...string) *demoServer {
	t.Helper()
	getenv := func(name string) string { return map[string]string{"PORT": "0"}[name] }
	out, logs := &syncBuffer{}, &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-demo"}, args...), getenv, out, logger) }()

	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(readyTimeout):
				runErr = fmt.Errorf("run did not return within %v of cancellation", readyTimeout)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("demo server: %v", err)
		}
		if t.Failed() {
			t.Logf("demo server log:\n%s", logs.String())
		}
	})

	waitOutput(t, "run -demo", out, done, func(s string) bool { _, _, ok := parseDemoBanner(s); return ok })
	base, tokens, _ := parseDemoBanner(out.String())
	return &demoServer{stack: &stack{url: base, tokens: tokens}, out: out, stop: stop}
}

// get fetches path from the demo server and returns the response and body.
func (d *demoServer) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(d.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// firstMembers runs the GraphiQL example query with the admin token and
// returns its connection.
func (d *demoServer) firstMembers(t *testing.T) connection {
	t.Helper()
	resp, raw := d.graphql(t, d.tokens.Admin, exampleQuery, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("admin: errors: %s", raw)
	}
	var c connection
	if err := json.Unmarshal(resp.Data, &c); err != nil {
		t.Fatalf("admin: %v: %s", err, raw)
	}
	return c
}

func TestDemoModeServesMembers(t *testing.T) {
	d := startDemo(t)

	// /demo/tokens serves exactly the banner's tokens.
	resp, body := d.get(t, "/demo/tokens")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /demo/tokens = %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var served map[string]string
	if err := json.Unmarshal(body, &served); err != nil {
		t.Fatalf("GET /demo/tokens: %v: %s", err, body)
	}
	keys := make([]string, 0, len(served))
	for k := range served {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"admin", "member", "noOrg"}; !slices.Equal(keys, want) {
		t.Fatalf("GET /demo/tokens keys = %q, want %q", keys, want)
	}
	if served["admin"] != d.tokens.Admin || served["member"] != d.tokens.Member || served["noOrg"] != d.tokens.NoOrg {
		t.Fatalf("GET /demo/tokens = %v, banner printed %+v", served, d.tokens)
	}

	// The admin sees the largest organization's members.
	c := d.firstMembers(t)
	if c.OrgUsers.TotalCount <= 1000 {
		t.Fatalf("admin: totalCount = %d, want the largest organization (over 1000)", c.OrgUsers.TotalCount)
	}
	if len(c.OrgUsers.Nodes) != 10 || !c.OrgUsers.PageInfo.HasNextPage {
		t.Fatalf("admin: %d nodes, hasNextPage %v; want the first 10 of many", len(c.OrgUsers.Nodes), c.OrgUsers.PageInfo.HasNextPage)
	}
	withEmail := 0
	for _, n := range c.OrgUsers.Nodes {
		if n.Email != nil && strings.Contains(*n.Email, "@") {
			withEmail++
		}
	}
	if withEmail == 0 {
		t.Fatalf("admin: no node has an email: %+v", c.OrgUsers.Nodes)
	}

	// The other two tokens are refused with their codes, and no data.
	for _, tc := range []struct{ name, token, code string }{
		{"member", d.tokens.Member, "FORBIDDEN"},
		{"noOrg", d.tokens.NoOrg, "NO_ACTIVE_ORGANIZATION"},
	} {
		resp, raw := d.graphql(t, tc.token, exampleQuery, nil)
		if codes := resp.codes(); len(codes) == 0 || codes[0] != tc.code {
			t.Errorf("%s: codes = %q, want %s first: %s", tc.name, codes, tc.code, raw)
		}
		if string(resp.Data) != "null" {
			t.Errorf("%s: data = %s, want null", tc.name, resp.Data)
		}
	}

	// GraphiQL at /, under a CSP.
	resp, body = d.get(t, "/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("GET / has no Content-Security-Policy header")
	}
	if !bytes.Contains(body, []byte("orgusers GraphiQL")) {
		t.Errorf("GET / does not look like the GraphiQL page: %.300s", body)
	}

	resp, body = d.get(t, "/healthz")
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("GET /healthz = %d %q", resp.StatusCode, body)
	}

	// Cancelling the context shuts the server down gracefully.
	if err := d.stop(); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	if _, err := http.Get(d.url + "/healthz"); err == nil {
		t.Error("the server still answers after run returned")
	}
}

// TestDemoGraphiQLInBrowser opens the demo's GraphiQL in headless Chromium and
// runs the prefilled example query with the prefilled admin token. Set
// GRAPHIQL_SCREENSHOT=/some/file.png to keep a screenshot.
func TestDemoGraphiQLInBrowser(t *testing.T) {
	ctx, console := graphiqltest.NewBrowser(t) // skips without Chromium, before starting a server
	d := startDemo(t)

	// What the page should show: the same first page the API returns.
	c := d.firstMembers(t)
	if len(c.OrgUsers.Nodes) == 0 || c.OrgUsers.Nodes[0].Email == nil {
		t.Fatalf("the first member has no email to look for: %+v", c.OrgUsers.Nodes)
	}
	firstEmail := *c.OrgUsers.Nodes[0].Email

	if err := chromedp.Do(ctx, chromedp.Navigate(d.url+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	want := fmt.Sprintf(`"totalCount": %d`, c.OrgUsers.TotalCount)
	result, err := graphiqltest.Execute(ctx, want)
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(console.All(), "\n"))
	}
	if !strings.Contains(result, firstEmail) {
		t.Errorf("result pane lacks the first member %q:\n%s", firstEmail, result)
	}
	if strings.Contains(result, `"errors"`) {
		t.Errorf("result pane shows errors:\n%s", result)
	}
	graphiqltest.Screenshot(t, ctx, "GRAPHIQL_SCREENSHOT")

	if v := console.CSPViolations(); len(v) > 0 {
		t.Errorf("CSP violations:\n%s", strings.Join(v, "\n"))
	}
	if e := console.Errors(); len(e) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
	}
}

var (
	emulatorURL = regexp.MustCompile(`(?m)^\s+CLERK_API_URL=(\S+)$`)
	emulatorKey = regexp.MustCompile(`(?m)^\s+CLERK_SECRET_KEY=(\S+)$`)
)

func TestClerkEmulatorCommand(t *testing.T) {
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runEmulator(ctx, []string{"-addr", "127.0.0.1:0"}, out) }()

	waitOutput(t, "clerk-emulator", out, done, func(s string) bool {
		return emulatorURL.MatchString(s) && emulatorKey.MatchString(s)
	})
	apiURL := emulatorURL.FindStringSubmatch(out.String())[1]
	key := emulatorKey.FindStringSubmatch(out.String())[1]
	u, err := url.Parse(apiURL)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "0" {
		t.Fatalf("CLERK_API_URL=%s (%v), want the listener's real loopback address", apiURL, err)
	}

	users := func(auth string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, apiURL+"/users?limit=1", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	status, body := users("Bearer " + key)
	var list []map[string]any
	if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil || len(list) != 1 {
		t.Fatalf("GET /users?limit=1 with the key = %d, %d users, %v: %.300s", status, len(list), err, body)
	}
	if id, _ := list[0]["id"].(string); !strings.HasPrefix(id, "user_") {
		t.Errorf("the user has id %q: %.300s", id, body)
	}
	if status, body := users(""); status != http.StatusUnauthorized {
		t.Errorf("GET /users?limit=1 without a key = %d: %.300s", status, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runEmulator after cancel = %v, want nil", err)
		}
	case <-time.After(readyTimeout):
		t.Fatalf("runEmulator did not return within %v of cancellation", readyTimeout)
	}
}

func TestDemoDataFile(t *testing.T) {
	at := int64(1_700_000_000_000)
	user := func(id, email string) clerkemu.User {
		return clerkemu.User{ID: id, CreatedAt: at, UpdatedAt: at, PrimaryEmailAddressID: "idn_" + id,
			EmailAddresses: []clerkemu.EmailAddress{{ID: "idn_" + id, EmailAddress: email, Verified: true}},
			PublicMetadata: map[string]any{"department": "Tiny"}}
	}
	data := clerkemu.Dataset{
		Organizations: []clerkemu.Organization{{ID: "org_tiny", Name: "Tiny", Slug: "tiny", CreatedAt: at, UpdatedAt: at}},
		Users:         []clerkemu.User{user("user_boss", "boss@tiny.example"), user("user_crew", "crew@tiny.example"), user("user_loner", "loner@tiny.example")},
		Memberships: []clerkemu.Membership{
			{ID: "orgmem_1", OrganizationID: "org_tiny", UserID: "user_boss", Role: "org:admin", CreatedAt: at, UpdatedAt: at},
			{ID: "orgmem_2", OrganizationID: "org_tiny", UserID: "user_crew", Role: "org:member", CreatedAt: at, UpdatedAt: at},
		},
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDemo(t, "-demo-data", file)
	resp, body := d.graphql(t, d.tokens.Admin, `{ orgUsers { totalCount nodes { email role } } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(body), `"totalCount":2`) ||
		!strings.Contains(string(body), "boss@tiny.example") || !strings.Contains(string(body), "crew@tiny.example") {
		t.Fatalf("demo with -demo-data: %s", body)
	}
}

func TestDemoDataFileErrorsNameTheFlag(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"organizations": 7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(t.TempDir(), "missing.json"), bad} {
		err := run(context.Background(), []string{"-demo", "-demo-data", file}, func(string) string { return "" }, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil || !strings.Contains(err.Error(), "-demo-data") {
			t.Errorf("%s: err = %v, want one naming -demo-data", file, err)
		}
	}
}

// TestDemoServesLoopbackHostsOnly: a page on another domain that rebinds its
// DNS name to 127.0.0.1 sends its own Host; demo mode refuses it everything,
// the admin token first of all.
func TestDemoServesLoopbackHostsOnly(t *testing.T) {
	d := startDemo(t)
	port := d.url[strings.LastIndex(d.url, ":")+1:]
	for host, want := range map[string]int{
		"localhost:" + port:        200,
		"127.0.0.1:" + port:        200,
		"[::1]:" + port:            200,
		"localhost":                200,
		"evil.example:" + port:     403,
		"evil.example":             403,
		"localhost.evil.example":   403,
		"127.0.0.1.nip.io:" + port: 403,
		"[::2]:" + port:            403,
	} {
		for _, path := range []string{"/demo/tokens", "/", "/graphql", "/api/organization/users"} {
			req, _ := http.NewRequest(http.MethodGet, d.url+path, nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want == 403 {
				if resp.StatusCode != 403 || bytes.Contains(body, []byte(d.tokens.Admin)) || !bytes.Contains(body, []byte("FORBIDDEN")) {
					t.Errorf("Host %s %s: %d %.200s", host, path, resp.StatusCode, body)
				}
			} else if path == "/demo/tokens" && (resp.StatusCode != 200 || !bytes.Contains(body, []byte(d.tokens.Admin))) {
				t.Errorf("Host %s %s: %d %.200s", host, path, resp.StatusCode, body)
			}
		}
	}
	_ = d.stop()
}

// TestDemoChangesInTheEmulatorReachGraphQL runs the banner's own example: a
// role changed through the emulator's Backend API shows in the next query,
// carried by a signed webhook.
func TestDemoChangesInTheEmulatorReachGraphQL(t *testing.T) {
	d := startDemo(t)
	m := regexp.MustCompile(`curl -s -X PATCH (\S+) \\\n\s+-H 'Authorization: Bearer (\S+)' -H 'Content-Type: application/json' -d '(\{[^']*\})'`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("no emulator example in the banner:\n%s", d.out.String())
	}
	req, _ := http.NewRequest(http.MethodPatch, m[1], strings.NewReader(m[3]))
	req.Header.Set("Authorization", "Bearer "+m[2])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH %s: %d", m[1], resp.StatusCode)
	}
	out, raw := d.graphql(t, d.tokens.Admin, `{ orgUser(id: "user_acme_member") { role } }`, nil)
	if len(out.Errors) > 0 || !strings.Contains(string(out.Data), `"org:billing"`) {
		t.Fatalf("%s", raw)
	}
	_ = d.stop()
}

func TestClerkEmulatorWebhookFlagErrorsNameTheFlag(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "127.0.0.1:0", "-webhook-secret", "whsec_AAAA"},
		{"-addr", "127.0.0.1:0", "-webhook-url", "http://127.0.0.1:1/webhooks/clerk", "-webhook-secret", "not-a-secret"},
		{"-addr", "127.0.0.1:0", "-webhook-url", "ftp://x", "-webhook-secret", "whsec_AAAA"},
	} {
		err := runEmulator(t.Context(), args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-webhook") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
