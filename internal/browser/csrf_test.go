package browser_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/browser"
)

const (
	app      = "https://app.example.com" // listed in CORS_ALLOWED_ORIGINS
	own      = "http://example.com"      // httptest.NewRequest's Host, without TLS
	evil     = "https://evil.example"
	gqlPath  = "/graphql"
	restPath = "/api/organization/users"
	jsonBody = `{"query":"{ orgUsers { totalCount } }"}`
)

// req is one request of the CSRF table.
type req struct {
	method, path string
	cookie       string // __session value; "" sends none
	bearer       string // Authorization: Bearer value; "" sends none
	headers      map[string]string
	tls          bool
}

func (q req) build(t *testing.T) *http.Request {
	t.Helper()
	method, path := q.method, q.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = gqlPath
	}
	var body *strings.Reader
	if method == http.MethodPost {
		body = strings.NewReader(jsonBody)
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, path, body)
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: q.cookie})
	}
	if q.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+q.bearer)
	}
	for k, v := range q.headers {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	if q.tls {
		r.TLS = &tls.ConnectionState{}
	}
	return r
}

func TestCSRF(t *testing.T) {
	good := token(t, "user_1")
	tests := []struct {
		name    string
		req     req
		wantMsg string // "" means the request gets through
		graphQL bool   // the refusal's shape
		via     bool   // ViaCookie as seen by the handler when it got through
	}{
		// Refused: cookie credentials from where they should not come.
		{name: "form post with cookie", req: req{cookie: good, headers: map[string]string{"Origin": own, "Content-Type": "application/x-www-form-urlencoded"}},
			wantMsg: `Content-Type application/json, not "application/x-www-form-urlencoded"`, graphQL: true},
		{name: "multipart post with cookie", req: req{path: restPath, cookie: good, headers: map[string]string{"Origin": app, "Content-Type": "multipart/form-data; boundary=x"}},
			wantMsg: `not "multipart/form-data; boundary=x"`},
		{name: "text/plain post with cookie", req: req{cookie: good, headers: map[string]string{"Origin": app, "Content-Type": "text/plain"}},
			wantMsg: `not "text/plain"`, graphQL: true},
		{name: "post without content type", req: req{cookie: good, headers: map[string]string{"Origin": app, "Content-Type": ""}},
			wantMsg: "application/json, not none", graphQL: true},
		{name: "cross-site origin", req: req{cookie: good, headers: map[string]string{"Origin": evil}},
			wantMsg: `Origin "https://evil.example" is not an allowed origin`, graphQL: true},
		{name: "cross-site origin on REST", req: req{method: http.MethodGet, path: restPath, cookie: good, headers: map[string]string{"Origin": evil}},
			wantMsg: `Origin "https://evil.example" is not an allowed origin`},
		{name: "missing origin and referer", req: req{cookie: good},
			wantMsg: "needs an Origin or Referer header", graphQL: true},
		{name: "missing origin and referer on GET", req: req{method: http.MethodGet, path: restPath, cookie: good},
			wantMsg: "needs an Origin or Referer header"},
		{name: "cross-site referer", req: req{cookie: good, headers: map[string]string{"Referer": evil + "/page?x=1"}},
			wantMsg: `Referer origin "https://evil.example" is not an allowed origin`, graphQL: true},
		{name: "referer not a URL", req: req{cookie: good, headers: map[string]string{"Referer": "about:blank"}},
			wantMsg: `Referer "about:blank" is not an absolute http(s) URL`, graphQL: true},
		{name: "null origin", req: req{cookie: good, headers: map[string]string{"Origin": "null"}},
			wantMsg: `Origin "null" is not an allowed origin`, graphQL: true},
		{name: "own host over the other scheme", req: req{cookie: good, tls: true, headers: map[string]string{"Origin": own}},
			wantMsg: `Origin "http://example.com" is not an allowed origin`, graphQL: true},
		{name: "sibling subdomain", req: req{cookie: good, headers: map[string]string{"Origin": "https://evil.app.example.com"}},
			wantMsg: "is not an allowed origin", graphQL: true},
		{name: "cross-site with sec-fetch-site cross-site", req: req{cookie: good, headers: map[string]string{"Origin": evil, "Sec-Fetch-Site": "cross-site"}},
			wantMsg: "is not an allowed origin", graphQL: true},
		{name: "failed cookie cross-site", req: req{cookie: "abc", headers: map[string]string{"Origin": evil}},
			wantMsg: "is not an allowed origin", graphQL: true},
		{name: "graphql subpath shape", req: req{path: "/graphql/x", cookie: good, headers: map[string]string{"Origin": evil}},
			wantMsg: "is not an allowed origin", graphQL: true},

		// Passed.
		{name: "listed origin JSON post", req: req{cookie: good, headers: map[string]string{"Origin": app}}, via: true},
		{name: "listed origin JSON post with charset", req: req{cookie: good, headers: map[string]string{"Origin": app, "Content-Type": "application/json; charset=utf-8"}}, via: true},
		{name: "own origin", req: req{cookie: good, headers: map[string]string{"Origin": own}}, via: true},
		{name: "own origin over TLS", req: req{cookie: good, tls: true, headers: map[string]string{"Origin": "https://example.com"}}, via: true},
		{name: "own referer", req: req{cookie: good, headers: map[string]string{"Referer": own + "/app/page"}}, via: true},
		{name: "listed referer", req: req{method: http.MethodGet, path: restPath, cookie: good, headers: map[string]string{"Referer": app + "/members"}}, via: true},
		{name: "same-origin fetch metadata without origin", req: req{method: http.MethodGet, cookie: good, headers: map[string]string{"Sec-Fetch-Site": "same-origin"}}, via: true},
		{name: "GET with listed origin", req: req{method: http.MethodGet, cookie: good, headers: map[string]string{"Origin": app}}, via: true},
		{name: "bearer from cross-site origin", req: req{bearer: good, headers: map[string]string{"Origin": evil, "Content-Type": "text/plain"}}},
		{name: "bearer and cookie from cross-site origin", req: req{bearer: good, cookie: good, headers: map[string]string{"Origin": evil}}},
		{name: "no credentials from cross-site origin", req: req{headers: map[string]string{"Origin": evil, "Content-Type": "text/plain"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *reached
			h := stack(t, []string{app}, nil, &got)
			rec := serve(h, tt.req.build(t))
			if tt.wantMsg != "" {
				if got != nil {
					t.Fatal("the handler was reached")
				}
				wantRejected(t, rec, tt.graphQL, tt.wantMsg)
				return
			}
			if rec.Code != http.StatusOK || got == nil {
				t.Fatalf("status %d, body %s: want the handler reached", rec.Code, rec.Body)
			}
			wantUser := "user_1"
			if tt.req.cookie == "" && tt.req.bearer == "" {
				wantUser = ""
			}
			if got.user != wantUser || got.viaCookie != tt.via {
				t.Fatalf("handler saw user %q viaCookie %v, want %q %v", got.user, got.viaCookie, wantUser, tt.via)
			}
		})
	}
}

func TestCSRFOwnOriginBehindProxy(t *testing.T) {
	good := token(t, "user_1")
	public := func(*http.Request) string { return "https://api.example.com" }
	for _, tc := range []struct {
		origin string
		pass   bool
	}{
		{"https://api.example.com", true},
		{own, false}, // the request's Host is no longer trusted as its origin
	} {
		var got *reached
		h := stack(t, nil, public, &got)
		rec := serve(h, req{cookie: good, headers: map[string]string{"Origin": tc.origin}}.build(t))
		if tc.pass {
			if rec.Code != http.StatusOK || got == nil || !got.viaCookie {
				t.Errorf("Origin %s: status %d, reached %+v; want it through", tc.origin, rec.Code, got)
			}
		} else {
			wantRejected(t, rec, true, "is not an allowed origin")
		}
	}
}

func TestCSRFRefusalDoesNotReadLargeBody(t *testing.T) {
	var got *reached
	h := stack(t, nil, nil, &got)
	r := req{cookie: token(t, "user_1"), headers: map[string]string{"Origin": evil}}.build(t)
	r.ContentLength = -1
	rec := serve(h, r)
	wantRejected(t, rec, true, "is not an allowed origin")
	if rec.Header().Get("Connection") != "close" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v, want Connection: close and Cache-Control: no-store", rec.Header())
	}
}

func TestCSRFOutsideSessionMiddlewareChecksNothing(t *testing.T) {
	called := false
	h := browser.CSRF([]string{app}, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called = true
	}))
	r := req{cookie: token(t, "user_1"), headers: map[string]string{"Origin": evil, "Content-Type": "text/plain"}}.build(t)
	serve(h, r)
	if !called {
		t.Fatal("CSRF refused a request the session middleware never saw")
	}
}
