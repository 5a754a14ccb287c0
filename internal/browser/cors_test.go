package browser_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/browser"
)

// corsHeaders are every CORS response header.
var corsHeaders = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers",
}

// corsServe runs r through CORS(allowed) around a handler answering 200;
// reached says whether the handler ran.
func corsServe(t *testing.T, allowed []string, r *http.Request) (rec *httptest.ResponseRecorder, reached bool) {
	t.Helper()
	mw, err := browser.CORS(allowed)
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		w.WriteHeader(http.StatusOK)
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got == "*" {
		t.Fatal("Access-Control-Allow-Origin: * sent")
	}
	return rec, reached
}

func preflight(origin string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "content-type, x-evil")
	return r
}

func wantVaryOrigin(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if !slices.Contains(rec.Header().Values("Vary"), "Origin") {
		t.Errorf("Vary = %q, want Origin", rec.Header().Values("Vary"))
	}
}

func wantNoCORS(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	for _, k := range corsHeaders {
		if v, ok := rec.Header()[k]; ok {
			t.Errorf("%s: %q sent, want no CORS header", k, v)
		}
	}
}

func TestCORSPreflightListedOrigin(t *testing.T) {
	rec, reached := corsServe(t, []string{"http://localhost:3000", app}, preflight(app))
	if reached || rec.Code != http.StatusNoContent {
		t.Fatalf("status %d, handler reached %v; want 204 from the middleware", rec.Code, reached)
	}
	want := map[string]string{
		"Access-Control-Allow-Origin":      app,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, POST",
		"Access-Control-Allow-Headers":     "Authorization, Content-Type, Accept, X-Request-Id, apollographql-client-name, apollographql-client-version",
		"Access-Control-Max-Age":           "600",
	}
	for k, v := range want {
		if got := rec.Header().Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := rec.Header()["Access-Control-Expose-Headers"]; ok {
		t.Error("Access-Control-Expose-Headers on a preflight")
	}
	wantVaryOrigin(t, rec)
}

func TestCORSPreflightUnlistedOrigin(t *testing.T) {
	for _, origin := range []string{evil, "null", "https://app.example.com.evil.example", "HTTPS://APP.EXAMPLE.COM"} {
		rec, reached := corsServe(t, []string{app}, preflight(origin))
		if reached || rec.Code != http.StatusNoContent {
			t.Fatalf("%s: status %d, handler reached %v; want 204 from the middleware", origin, rec.Code, reached)
		}
		wantNoCORS(t, rec)
		wantVaryOrigin(t, rec)
	}
}

func TestCORSNonPreflightOptionsPassesThrough(t *testing.T) {
	for name, r := range map[string]*http.Request{
		"no Access-Control-Request-Method": func() *http.Request {
			r := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
			r.Header.Set("Origin", app)
			return r
		}(),
		"no Origin": preflight(""),
	} {
		rec, reached := corsServe(t, []string{app}, r)
		if !reached || rec.Code != http.StatusOK {
			t.Errorf("%s: status %d, handler reached %v; want it passed through", name, rec.Code, reached)
		}
		wantVaryOrigin(t, rec)
		if _, ok := rec.Header()["Access-Control-Allow-Methods"]; ok {
			t.Errorf("%s: answered as a preflight", name)
		}
	}
}

func TestCORSActualRequests(t *testing.T) {
	tests := []struct {
		name    string
		origins []string // Origin values
		listed  bool
	}{
		{"listed", []string{app}, true},
		{"unlisted", []string{evil}, false},
		{"no origin", nil, false},
		{"two origins", []string{app, app}, false},
		{"listed with trailing slash", []string{app + "/"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(jsonBody))
			for _, o := range tt.origins {
				r.Header.Add("Origin", o)
			}
			rec, reached := corsServe(t, []string{app}, r)
			if !reached || rec.Code != http.StatusOK {
				t.Fatalf("status %d, handler reached %v", rec.Code, reached)
			}
			wantVaryOrigin(t, rec)
			if !tt.listed {
				wantNoCORS(t, rec)
				return
			}
			h := rec.Header()
			if h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "true" ||
				h.Get("Access-Control-Expose-Headers") != browser.ExposedHeaders {
				t.Errorf("headers %v", h)
			}
			if _, ok := h["Access-Control-Allow-Methods"]; ok {
				t.Error("preflight headers on an actual request")
			}
		})
	}
}

func TestCORSOffWhenNoOrigins(t *testing.T) {
	for _, allowed := range [][]string{nil, {}} {
		for name, r := range map[string]*http.Request{"preflight": preflight(app), "post": func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			r.Header.Set("Origin", app)
			return r
		}()} {
			rec, reached := corsServe(t, allowed, r)
			if !reached {
				t.Errorf("%s: not passed through with CORS off", name)
			}
			wantNoCORS(t, rec)
			if v := rec.Header().Values("Vary"); len(v) != 0 {
				t.Errorf("%s: Vary = %q with CORS off", name, v)
			}
		}
	}
}

func TestCORSThroughSessionStack(t *testing.T) {
	// A preflight carries no credentials: it must be answered before the
	// session middleware and CSRF could refuse it.
	var got *reached
	h := stack(t, []string{app}, nil, &got)
	rec := serve(h, preflight(app))
	if rec.Code != http.StatusNoContent || got != nil || rec.Header().Get("Access-Control-Allow-Origin") != app {
		t.Fatalf("status %d, reached %v, headers %v", rec.Code, got, rec.Header())
	}
	// A refusal from a listed origin is readable by its page.
	r := req{cookie: token(t, "user_1"), headers: map[string]string{"Origin": app, "Content-Type": "text/plain"}}.build(t)
	rec = serve(h, r)
	wantRejected(t, rec, true, "application/json")
	if rec.Header().Get("Access-Control-Allow-Origin") != app {
		t.Errorf("refusal without Access-Control-Allow-Origin: %v", rec.Header())
	}
}

func TestOrigins(t *testing.T) {
	good := []string{"https://app.example.com", "http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:3000", "https://xn--bcher-kva.example"}
	if _, err := browser.CORS(good); err != nil {
		t.Fatalf("CORS(%q): %v", good, err)
	}
	got, err := browser.ParseOrigins(" https://app.example.com, ,http://localhost:3000,https://app.example.com,")
	if err != nil || !slices.Equal(got, []string{"https://app.example.com", "http://localhost:3000"}) {
		t.Fatalf("ParseOrigins = %q, %v", got, err)
	}
	if got, err := browser.ParseOrigins(""); err != nil || got != nil {
		t.Fatalf(`ParseOrigins("") = %q, %v; want nil`, got, err)
	}
	bad := []struct{ origin, msg string }{
		{"*", "list exact origins"},
		{"null", "list exact origins"},
		{"app.example.com", "not a bare origin"},
		{"ftp://app.example.com", "not a bare origin"},
		{"https://app.example.com/", "not a bare origin"},
		{"https://app.example.com/path", "not a bare origin"},
		{"https://app.example.com?x=1", "not a bare origin"},
		{"https://app.example.com#x", "not a bare origin"},
		{"https://user@app.example.com", "not a bare origin"},
		{"https://", "not a bare origin"},
		{"https://:443", "not a bare origin"},
		{"https://app.example.com:99999", "out of range"},
		{"https://app.example.com:0", "out of range"},
		{"https://App.Example.com", `write "https://app.example.com"`},
		{"HTTPS://app.example.com", `write "https://app.example.com"`},
		{"https://app.example.com:443", `write "https://app.example.com"`},
		{"http://app.example.com:80", `write "http://app.example.com"`},
		{"https://bücher.example", "ASCII (xn--) form"},
	}
	for _, tt := range bad {
		_, err := browser.CORS([]string{app, tt.origin})
		if err == nil || !strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS") || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("CORS(%q) error = %v, want one naming CORS_ALLOWED_ORIGINS with %q", tt.origin, err, tt.msg)
		}
		if _, err := browser.ParseOrigins(app + "," + tt.origin); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseOrigins(%q) error = %v, want %q", tt.origin, err, tt.msg)
		}
	}
}
