package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/clerkemu"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLogThroughTheServer: one JSON line per request with the
// request id, route, status, operation, codes and caller, and none of the
// canaries: the session token, a cookie, the query string, variables and a
// metadata value.
func TestAccessLogThroughTheServer(t *testing.T) {
	var buf lockedBuffer
	logger, err := accesslog.NewLogger("json", "info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	s := newLoggedStack(t, Extras{}, logger)
	const canary = "CANARY7f3a"
	send := func(token, path, body, id string) http.Header {
		req, _ := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", id)
		req.Header.Set("Cookie", "__other="+canary+"cookie")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Request-Id") != id {
			t.Fatalf("X-Request-Id %q, want %q", resp.Header.Get("X-Request-Id"), id)
		}
		return resp.Header
	}
	find := `{"query":"query Find($f: OrgUserFilter) { orgUsers(filter: $f, first: 1) { totalCount } }","operationName":"Find","variables":{"f":{"search":"` + canary + `var","metadata":[{"path":"department","equals":"` + canary + `meta"}]}}}`
	send(s.tokens.Admin, "/graphql?x="+canary+"query", find, "req-ok")
	if h := send(s.tokens.Admin, "/graphql", find, "req-hit"); h.Get("X-Response-Cache") != "hit" {
		t.Fatal("the repeated request was not a response-cache hit")
	}
	send(s.tokens.Member, "/graphql", `{"query":"{ orgUsers { totalCount } }"}`, "req-forbidden")
	send("", "/graphql", `{"query":"{ viewer { userId } }"}`, "req-anon")

	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		if m["msg"] == "request" {
			lines[m["request_id"].(string)] = m
		}
	}
	out := buf.String()
	for _, secret := range []string{canary, s.tokens.Admin, s.tokens.Member} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q:\n%s", secret[:min(len(secret), 20)], out)
		}
	}
	ok := lines["req-ok"]
	if ok == nil || ok["route"] != "/graphql" || ok["status"] != float64(200) || ok["graphql_operation"] != "Find" || ok["graphql_type"] != "query" ||
		ok["org_id"] != "org_acme" || ok["user_id"] == nil || ok["method"] != "POST" {
		t.Fatalf("%v", ok)
	}
	// A response-cache hit is logged like the answer it repeats.
	if hit := lines["req-hit"]; hit == nil || hit["status"] != float64(200) || hit["graphql_operation"] != "Find" || hit["graphql_type"] != "query" || hit["org_id"] != "org_acme" {
		t.Fatalf("%v", hit)
	}
	if f := lines["req-forbidden"]; f == nil || !strings.Contains(fmtAny(f["error_codes"]), "FORBIDDEN") {
		t.Fatalf("%v", f)
	}
	if a := lines["req-anon"]; a == nil || a["status"] != float64(401) || !strings.Contains(fmtAny(a["error_codes"]), "UNAUTHENTICATED") {
		t.Fatalf("%v", a)
	}
}

func fmtAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOneFailureIsLoggedOnce: Clerk refusing a load is logged by the layer
// that decides what to do (the snapshot cache), not again by the
// repository or the transports.
func TestOneFailureIsLoggedOnce(t *testing.T) {
	var buf lockedBuffer
	logger, err := accesslog.NewLogger("json", "debug", &buf)
	if err != nil {
		t.Fatal(err)
	}
	s := newLoggedStack(t, Extras{}, logger)
	s.emu.SetFaults(clerkemu.Fault{Endpoint: "GET /v1/organizations/{id}/memberships", Status: 401})
	resp, raw := s.graphql(t, s.tokens.Admin, `{ orgUsers(first: 1) { totalCount } }`, nil)
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "UPSTREAM_UNAVAILABLE" {
		t.Fatalf("%s", raw)
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/organization/users", nil)
	req.Header.Set("Authorization", "Bearer "+s.tokens.Admin)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 503 {
		t.Fatalf("REST: %d", r.StatusCode)
	}
	if n := strings.Count(buf.String(), "clerk request failed"); n != 2 {
		t.Fatalf("two failed loads (GraphQL, then REST) logged %d times:\n%s", n, buf.String())
	}
}
