package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

func TestBrowserSessionsCSRFAndCORS(t *testing.T) {
	const app = "https://app.example.com"
	s := newStack(t, Extras{}, "CORS_ALLOWED_ORIGINS", app)
	send := func(method, path, contentType, body string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	cookie := "__session=" + s.tokens.Admin
	query := `{"query":"{ viewer { userId } }"}`
	cases := []struct {
		name        string
		contentType string
		hdr         map[string]string
		status      int
		says        string
	}{
		{"cookie from the listed origin", "application/json", map[string]string{"Cookie": cookie, "Origin": app}, 200, `"userId"`},
		{"cookie from the server's own origin", "application/json", map[string]string{"Cookie": cookie, "Origin": s.url}, 200, `"userId"`},
		{"cookie, a form post (simple request)", "application/x-www-form-urlencoded", map[string]string{"Cookie": cookie, "Origin": app}, 403, "CSRF_REJECTED"},
		{"cookie, text/plain", "text/plain", map[string]string{"Cookie": cookie, "Origin": app}, 403, "CSRF_REJECTED"},
		{"cookie from a cross-site origin", "application/json", map[string]string{"Cookie": cookie, "Origin": "https://evil.example"}, 403, "CSRF_REJECTED"},
		{"cookie without Origin or Referer", "application/json", map[string]string{"Cookie": cookie}, 403, "CSRF_REJECTED"},
		{"bearer from a cross-site origin", "application/json", map[string]string{"Authorization": "Bearer " + s.tokens.Admin, "Origin": "https://evil.example"}, 200, `"userId"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(http.MethodPost, "/graphql", tc.contentType, query, tc.hdr)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	// REST with the cookie from the listed origin, and CORS headers on it.
	resp, body := send(http.MethodGet, "/api/organization/users?role=org:admin", "", "", map[string]string{"Cookie": cookie, "Origin": app})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != app || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
		t.Fatalf("REST: %d %v %.100s", resp.StatusCode, resp.Header, body)
	}
	// Preflights: the listed origin gets the headers, another none.
	for _, path := range []string{"/graphql", "/api/organization/users"} {
		resp, _ = send(http.MethodOptions, path, "", "", map[string]string{"Origin": app, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, authorization"})
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != app || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("preflight %s: %d %v", path, resp.StatusCode, resp.Header)
		}
		resp, _ = send(http.MethodOptions, path, "", "", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight from an unlisted origin: %v", resp.Header)
		}
	}
}

func TestReadiness(t *testing.T) {
	s := newStack(t, Extras{})
	get := func() (int, string) {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get(); status != 200 || body != "ready\n" {
		t.Fatalf("%d %q", status, body)
	}
	s.app.Drain()
	if status, body := get(); status != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("%d %q", status, body)
	}
	// A key Clerk rejects: alive, but not ready, and /readyz says why.
	_, emuURL, _ := newEmulator(t, nil)
	cfg, err := LoadConfig(nil, func(name string) string {
		return map[string]string{"CLERK_SECRET_KEY": "sk_test_wrongwrongwrong", "CLERK_API_URL": emuURL}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(cfg, Extras{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	rec := httptest.NewRecorder()
	app.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "CLERK_SECRET_KEY") {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	// A key that is not a Clerk key at all does not start.
	if _, err := LoadConfig(nil, func(name string) string { return map[string]string{"CLERK_SECRET_KEY": "garbage"}[name] }); err == nil || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
		t.Fatalf("%v", err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-demo", "-version", "CLERK_SECRET_KEY", "LISTEN_ADDR", "SHUTDOWN_TIMEOUT", "LOG_FORMAT", "CORS_ALLOWED_ORIGINS", "GRAPHQL_MAX_DEPTH"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"-version"}, func(string) string { return "" }, &out, nil); err != nil || !strings.HasPrefix(out.String(), "orgusers ") {
		t.Fatalf("%q %v", out.String(), err)
	}
}

// TestShutdownDrainsInFlightRequests: at cancellation (SIGTERM) a slow
// request in flight finishes, and new connections are refused.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	emu, emuURL, tokens := newEmulator(t, nil)
	emu.SetFaults(clerkemu.Fault{Latency: 700 * time.Millisecond})
	env := map[string]string{"CLERK_SECRET_KEY": emu.SecretKey(), "CLERK_API_URL": emuURL, "LISTEN_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error"}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, out, nil) }()
	var base string
	waitOutput(t, "run", out, done, func(s string) bool {
		m := regexp.MustCompile(`listening on (http://\S+) `).FindStringSubmatch(s)
		if m != nil {
			base = strings.Replace(m[1], "localhost", "127.0.0.1", 1)
		}
		return m != nil
	})
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ orgUsers(first: 1) { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens.Admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	for emu.TotalRequests() == 0 { // wait until the request is in flight, waiting on the slow emulator
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if status := <-slow; status != 200 {
		t.Fatalf("the request in flight got %d", status)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("a new request was served after shutdown")
	}
}
