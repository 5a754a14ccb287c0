package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

func TestMiddleware(t *testing.T) {
	srv := newJWKSServer(t, key1())
	v := newVerifier(t, srv, newClock(), auth.Config{})
	good := sign(t, key1(), baseClaims(t0).with("org_id", "org_1", "org_role", "org:admin"))
	expired := sign(t, key1(), baseClaims(t0.Add(-time.Hour)))

	tests := []struct {
		name     string
		header   []string // Authorization values; nil sends none
		wantUser string
		wantCode directory.Code
		wantMsg  string
	}{
		{"no header", nil, "", directory.CodeUnauthenticated, "missing bearer token"},
		{"empty header", []string{""}, "", directory.CodeUnauthenticated, "missing bearer token"},
		{"bearer without token", []string{"Bearer "}, "", directory.CodeUnauthenticated, "missing bearer token"},
		{"basic scheme", []string{"Basic dXNlcjpwYXNz"}, "", directory.CodeUnauthenticated, "malformed authorization header"},
		{"token without scheme", []string{good}, "", directory.CodeUnauthenticated, "malformed authorization header"},
		{"valid", []string{"Bearer " + good}, "user_1", "", ""},
		{"lower-case scheme and extra spaces", []string{"  bearer   " + good + " "}, "user_1", "", ""},
		{"expired", []string{"Bearer " + expired}, "", directory.CodeUnauthenticated, "session token expired"},
		{"garbage", []string{"Bearer abc"}, "", directory.CodeUnauthenticated, "malformed session token"},
		{"two identical valid headers", []string{"Bearer " + good, "Bearer " + good}, "", directory.CodeUnauthenticated, "more than one Authorization header"},
		{"valid then garbage", []string{"Bearer " + good, "Bearer abc"}, "", directory.CodeUnauthenticated, "more than one Authorization header"},
		{"empty then valid", []string{"", "Bearer " + good}, "", directory.CodeUnauthenticated, "more than one Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				called bool
				p      *auth.Principal
				err    error
			)
			h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				p, err = auth.FromContext(r.Context())
				w.WriteHeader(http.StatusTeapot)
			}))
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			for _, hv := range tt.header {
				req.Header.Add("Authorization", hv)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if !called || rec.Code != http.StatusTeapot {
				t.Fatalf("next called = %v, status %d: the middleware must never answer by itself", called, rec.Code)
			}
			if tt.wantCode != "" {
				if p != nil {
					t.Fatalf("principal = %+v, want none", p)
				}
				wantCode(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil || p.UserID != tt.wantUser || p.OrgID != "org_1" {
				t.Fatalf("FromContext = %+v, %v; want user %s in org_1", p, err, tt.wantUser)
			}
		})
	}
}

func TestMiddlewareJWKSUnavailable(t *testing.T) {
	srv := newJWKSServer(t, key1())
	srv.setFail(true)
	v := newVerifier(t, srv, newClock(), auth.Config{})
	var err error
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err = auth.FromContext(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/api/organization/users", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, key1(), baseClaims(t0)))
	h.ServeHTTP(httptest.NewRecorder(), req)
	wantCode(t, err, directory.CodeUpstreamUnavailable, "authentication keys unavailable")
}

func TestFromContext(t *testing.T) {
	p := &auth.Principal{UserID: "user_1", Permissions: []string{}}
	tests := []struct {
		name     string
		ctx      context.Context
		want     *auth.Principal
		wantCode directory.Code
		wantMsg  string
	}{
		{"bare context", context.Background(), nil, directory.CodeUnauthenticated, "missing bearer token"},
		{"principal", auth.WithPrincipal(context.Background(), p), p, "", ""},
		{"domain error", auth.WithAuthError(context.Background(), directory.Errorf(directory.CodeUnauthenticated, "session token expired")),
			nil, directory.CodeUnauthenticated, "session token expired"},
		{"foreign error is masked", auth.WithAuthError(context.Background(), errors.New("secret detail")),
			nil, directory.CodeUnauthenticated, "invalid session token"},
		{"error replaces principal", auth.WithAuthError(auth.WithPrincipal(context.Background(), p), directory.Errorf(directory.CodeUnauthenticated, "x")),
			nil, directory.CodeUnauthenticated, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.FromContext(tt.ctx)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode, tt.wantMsg)
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("principal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRequireOrgRole(t *testing.T) {
	admin := &auth.Principal{UserID: "user_1", OrgID: "org_1", OrgRole: "org:admin", Permissions: []string{}}
	member := &auth.Principal{UserID: "user_2", OrgID: "org_1", OrgRole: "org:member", Permissions: []string{}}
	noOrg := &auth.Principal{UserID: "user_3", Permissions: []string{}}
	bg := context.Background()
	tests := []struct {
		name     string
		ctx      context.Context
		role     string
		want     *auth.Principal
		wantCode directory.Code
	}{
		{"admin as admin", auth.WithPrincipal(bg, admin), "org:admin", admin, ""},
		{"member as member", auth.WithPrincipal(bg, member), "org:member", member, ""},
		{"member as admin", auth.WithPrincipal(bg, member), "org:admin", nil, directory.CodeForbidden},
		{"admin as member", auth.WithPrincipal(bg, admin), "org:member", nil, directory.CodeForbidden},
		{"short role name is not the key", auth.WithPrincipal(bg, admin), "admin", nil, directory.CodeForbidden},
		{"no active organization", auth.WithPrincipal(bg, noOrg), "org:admin", nil, directory.CodeNoActiveOrganization},
		{"no principal", bg, "org:admin", nil, directory.CodeUnauthenticated},
		{"rejected token", auth.WithAuthError(bg, directory.Errorf(directory.CodeUnauthenticated, "session token expired")), "org:admin", nil, directory.CodeUnauthenticated},
		{"keys unavailable", auth.WithAuthError(bg, directory.Errorf(directory.CodeUpstreamUnavailable, "authentication keys unavailable")), "org:admin", nil, directory.CodeUpstreamUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.RequireOrgRole(tt.ctx, tt.role)
			if got != tt.want {
				t.Errorf("principal = %v, want %v", got, tt.want)
			}
			if directory.ErrorCode(err) != tt.wantCode {
				t.Errorf("error = %v, want code %q", err, tt.wantCode)
			}
		})
	}
}

func TestMiddlewareSessionCookie(t *testing.T) {
	srv := newJWKSServer(t, key1())
	v := newVerifier(t, srv, newClock(), auth.Config{})
	good := sign(t, key1(), baseClaims(t0).with("org_id", "org_1", "org_role", "org:admin"))
	other := sign(t, key1(), baseClaims(t0).with("sub", "user_2", "org_id", "org_1", "org_role", "org:member"))
	expired := sign(t, key1(), baseClaims(t0.Add(-time.Hour)))

	tests := []struct {
		name          string
		header        []string // Authorization values; nil sends none
		cookies       []string // __session values, in one Cookie header
		cookieHeaders []string // further raw Cookie headers
		wantUser      string
		wantCode      directory.Code
		wantMsg       string
		wantViaCookie bool
		wantVary      bool // Vary: Cookie
	}{
		{name: "no credentials", wantCode: directory.CodeUnauthenticated, wantMsg: "missing bearer token", wantVary: true},
		{name: "cookie only", cookies: []string{good}, wantUser: "user_1", wantViaCookie: true, wantVary: true},
		{name: "cookie among others", cookieHeaders: []string{"theme=dark; __session=" + good + "; __client_uat=1"}, wantUser: "user_1", wantViaCookie: true, wantVary: true},
		{name: "header and cookie: header wins", header: []string{"Bearer " + other}, cookies: []string{good}, wantUser: "user_2"},
		{name: "bad header and good cookie", header: []string{"Bearer abc"}, cookies: []string{good},
			wantCode: directory.CodeUnauthenticated, wantMsg: "malformed session token"},
		{name: "empty header and good cookie", header: []string{""}, cookies: []string{good},
			wantCode: directory.CodeUnauthenticated, wantMsg: "missing bearer token"},
		{name: "basic header and good cookie", header: []string{"Basic dXNlcjpwYXNz"}, cookies: []string{good},
			wantCode: directory.CodeUnauthenticated, wantMsg: "malformed authorization header"},
		{name: "expired cookie", cookies: []string{expired},
			wantCode: directory.CodeUnauthenticated, wantMsg: "session token expired", wantViaCookie: true, wantVary: true},
		{name: "garbage cookie", cookies: []string{"abc"},
			wantCode: directory.CodeUnauthenticated, wantMsg: "malformed session token", wantViaCookie: true, wantVary: true},
		{name: "empty cookie", cookies: []string{""},
			wantCode: directory.CodeUnauthenticated, wantMsg: "missing bearer token", wantVary: true},
		{name: "two cookies in one header", cookies: []string{good, good},
			wantCode: directory.CodeUnauthenticated, wantMsg: "more than one __session cookie", wantViaCookie: true, wantVary: true},
		{name: "two cookies in two headers", cookies: []string{good}, cookieHeaders: []string{"__session=abc"},
			wantCode: directory.CodeUnauthenticated, wantMsg: "more than one __session cookie", wantViaCookie: true, wantVary: true},
		{name: "two cookies and a header: header wins", header: []string{"Bearer " + good}, cookies: []string{good, "abc"}, wantUser: "user_1"},
		{name: "similarly named cookie", cookieHeaders: []string{"__session_abc=" + good + "; session=" + good},
			wantCode: directory.CodeUnauthenticated, wantMsg: "missing bearer token", wantVary: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				called bool
				p      *auth.Principal
				err    error
				via    bool
			)
			h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				p, err = auth.FromContext(r.Context())
				via = auth.ViaCookie(r.Context())
				w.WriteHeader(http.StatusTeapot)
			}))
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			for _, hv := range tt.header {
				req.Header.Add("Authorization", hv)
			}
			if len(tt.cookies) > 0 {
				var parts []string
				for _, c := range tt.cookies {
					parts = append(parts, auth.SessionCookie+"="+c)
				}
				req.Header.Add("Cookie", strings.Join(parts, "; "))
			}
			for _, c := range tt.cookieHeaders {
				req.Header.Add("Cookie", c)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if !called || rec.Code != http.StatusTeapot {
				t.Fatalf("next called = %v, status %d: the middleware must never answer by itself", called, rec.Code)
			}
			if via != tt.wantViaCookie {
				t.Errorf("ViaCookie = %v, want %v", via, tt.wantViaCookie)
			}
			if vary := slices.Contains(rec.Header().Values("Vary"), "Cookie"); vary != tt.wantVary {
				t.Errorf("Vary = %q, want Cookie in it: %v", rec.Header().Values("Vary"), tt.wantVary)
			}
			if tt.wantCode != "" {
				if p != nil {
					t.Fatalf("principal = %+v, want none", p)
				}
				wantCode(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil || p.UserID != tt.wantUser || p.OrgID != "org_1" {
				t.Fatalf("FromContext = %+v, %v; want user %s in org_1", p, err, tt.wantUser)
			}
		})
	}
}

func TestMiddlewareCookieJWKSUnavailable(t *testing.T) {
	srv := newJWKSServer(t, key1())
	srv.setFail(true)
	v := newVerifier(t, srv, newClock(), auth.Config{})
	var (
		err error
		via bool
	)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err = auth.FromContext(r.Context())
		via = auth.ViaCookie(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/api/organization/users", nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: sign(t, key1(), baseClaims(t0))})
	h.ServeHTTP(httptest.NewRecorder(), req)
	wantCode(t, err, directory.CodeUpstreamUnavailable, "authentication keys unavailable")
	if !via {
		t.Error("ViaCookie = false for a cookie that could not be verified, want true")
	}
}

func TestViaCookieOutsideMiddleware(t *testing.T) {
	for name, ctx := range map[string]context.Context{
		"bare":          context.Background(),
		"WithPrincipal": auth.WithPrincipal(context.Background(), &auth.Principal{UserID: "user_1"}),
		"WithAuthError": auth.WithAuthError(context.Background(), errors.New("boom")),
	} {
		if auth.ViaCookie(ctx) {
			t.Errorf("%s: ViaCookie = true, want false", name)
		}
	}
}
