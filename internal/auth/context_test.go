package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
