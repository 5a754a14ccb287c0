package graph

import (
	"context"
	"errors"
	"testing"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

func TestHasOrgRoleNeverCallsNextWithoutTheRole(t *testing.T) {
	cases := []struct {
		name string
		ctx  context.Context
		want directory.Code
	}{
		{"no session", context.Background(), directory.CodeUnauthenticated},
		{"rejected token", auth.WithAuthError(context.Background(), errors.New("bad signature")), directory.CodeUnauthenticated},
		{"no active org", auth.WithPrincipal(context.Background(), &auth.Principal{UserID: "user_1"}), directory.CodeNoActiveOrganization},
		{"member", auth.WithPrincipal(context.Background(), &auth.Principal{UserID: "user_1", OrgID: "org_1", OrgRole: "org:member"}), directory.CodeForbidden},
		{"custom role", auth.WithPrincipal(context.Background(), &auth.Principal{UserID: "user_1", OrgID: "org_1", OrgRole: "org:billing"}), directory.CodeForbidden},
		{"admin of another case", auth.WithPrincipal(context.Background(), &auth.Principal{UserID: "user_1", OrgID: "org_1", OrgRole: "ORG:ADMIN"}), directory.CodeForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			next := func(ctx context.Context) (any, error) { called = true; return "secret", nil }
			res, err := HasOrgRole(tc.ctx, nil, next, "org:admin")
			if called {
				t.Fatal("next was called for a caller without the role")
			}
			if res != nil {
				t.Fatalf("result = %v, want nil", res)
			}
			if got := directory.ErrorCode(err); got != tc.want {
				t.Fatalf("code = %q, want %q (err %v)", got, tc.want, err)
			}
		})
	}
}

func TestHasOrgRoleCallsNextForTheRole(t *testing.T) {
	ctx := auth.WithPrincipal(context.Background(), &auth.Principal{UserID: "user_1", OrgID: "org_1", OrgRole: "org:admin"})
	res, err := HasOrgRole(ctx, nil, func(context.Context) (any, error) { return "ok", nil }, "org:admin")
	if err != nil || res != "ok" {
		t.Fatalf("got (%v, %v), want (ok, nil)", res, err)
	}
}
