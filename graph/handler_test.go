package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

// fakeSource serves one fixed organization.
type fakeSource struct {
	members func(ctx context.Context, orgID string) (*directory.Snapshot, error)
}

var _ directory.Source = (*fakeSource)(nil)

func (f *fakeSource) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	return f.members(ctx, orgID)
}

func str(s string) *string { return &s }

// testMembers have metadata shaped to tell every operator apart.
func testMembers() []directory.Member {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := func(id, email, md, mmd string) directory.Member {
		return directory.Member{UserID: id, Email: str(email), CreatedAt: at, JoinedAt: at, Role: "org:member",
			PublicMetadata: json.RawMessage(md), MembershipMetadata: json.RawMessage(mmd)}
	}
	return []directory.Member{
		m("user_1", "a@example.com", `{"department":"Engineering","vnum":7,"skills":["go","sql"],"location":{"country":"DE"},"note":null}`, `{"team":"core"}`),
		m("user_2", "b@example.com", `{"department":"Sales","vnum":"7","skills":["excel"],"location":{"country":"FR"}}`, `{"team":"growth"}`),
		m("user_3", "c@example.com", `{"department":"Field Engineering","vnum":8}`, `{}`),
	}
}

// newClient runs the real gqlgen handler as an org admin of org_1.
func newClient(t *testing.T) *client.Client {
	t.Helper()
	src := &fakeSource{members: func(ctx context.Context, orgID string) (*directory.Snapshot, error) {
		return directory.NewSnapshot(orgID, testMembers(), time.Now()), nil
	}}
	h := NewHandler(Options{Directory: &directory.Service{Source: src}, ResponseCacheBytes: -1})
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := auth.WithPrincipal(r.Context(), &auth.Principal{UserID: "user_1", OrgID: "org_1", OrgRole: "org:admin", Permissions: []string{}})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
	return client.New(admin)
}

// ids runs orgUsers with the metadata condition given as a literal and as a
// variable, and returns the matching ids (the same both ways) or the error.
func ids(t *testing.T, c *client.Client, literal string, variable map[string]any) ([]string, error) {
	t.Helper()
	var out struct {
		OrgUsers struct{ Nodes []struct{ ID string } }
	}
	run := func(q string, opts ...client.Option) ([]string, error) {
		out.OrgUsers.Nodes = nil
		if err := c.Post(q, &out, opts...); err != nil {
			return nil, err
		}
		var got []string
		for _, n := range out.OrgUsers.Nodes {
			got = append(got, n.ID)
		}
		sort.Strings(got)
		return got, nil
	}
	lit, errLit := run(`{ orgUsers(filter: {metadata: [` + literal + `]}) { nodes { id } } }`)
	vars, errVar := run(`query($c: MetadataCondition!) { orgUsers(filter: {metadata: [$c]}) { nodes { id } } }`, client.Var("c", variable))
	if (errLit == nil) != (errVar == nil) || strings.Join(lit, ",") != strings.Join(vars, ",") {
		t.Fatalf("literal and variable disagree: %v %v / %v %v", lit, errLit, vars, errVar)
	}
	return lit, errLit
}

func TestMetadataOperatorsThroughTheExecutor(t *testing.T) {
	c := newClient(t)
	cases := []struct {
		name     string
		literal  string
		variable map[string]any
		want     string // comma-separated ids, or "error"
	}{
		{"equals string", `{path: "department", equals: "Sales"}`, map[string]any{"path": "department", "equals": "Sales"}, "user_2"},
		{"equals number is not the string", `{path: "vnum", equals: 7}`, map[string]any{"path": "vnum", "equals": 7}, "user_1"},
		{"equals string is not the number", `{path: "vnum", equals: "7"}`, map[string]any{"path": "vnum", "equals": "7"}, "user_2"},
		{"equals null matches a present null", `{path: "note", equals: null}`, map[string]any{"path": "note", "equals": nil}, "user_1"},
		{"in", `{path: "vnum", in: [8, "7"]}`, map[string]any{"path": "vnum", "in": []any{8, "7"}}, "user_2,user_3"},
		{"exists true", `{path: "skills", exists: true}`, map[string]any{"path": "skills", "exists": true}, "user_1,user_2"},
		{"exists false", `{path: "skills", exists: false}`, map[string]any{"path": "skills", "exists": false}, "user_3"},
		{"exists on a nested path", `{path: "location.country", exists: true}`, map[string]any{"path": "location.country", "exists": true}, "user_1,user_2"},
		{"includes", `{path: "skills", includes: "go"}`, map[string]any{"path": "skills", "includes": "go"}, "user_1"},
		{"contains is case-insensitive", `{path: "department", contains: "ENGINEER"}`, map[string]any{"path": "department", "contains": "ENGINEER"}, "user_1,user_3"},
		{"nested equals", `{path: "location.country", equals: "FR"}`, map[string]any{"path": "location.country", "equals": "FR"}, "user_2"},
		{"membership source", `{path: "team", source: MEMBERSHIP, equals: "core"}`, map[string]any{"path": "team", "source": "MEMBERSHIP", "equals": "core"}, "user_1"},
		{"null source is USER", `{path: "department", source: null, equals: "Sales"}`, map[string]any{"path": "department", "source": nil, "equals": "Sales"}, "user_2"},
		{"null exists beside an operator is absent", `{path: "vnum", exists: null, equals: 8}`, map[string]any{"path": "vnum", "exists": nil, "equals": 8}, "user_3"},
		{"two operators", `{path: "vnum", exists: true, equals: 8}`, map[string]any{"path": "vnum", "exists": true, "equals": 8}, "error"},
		{"no operator", `{path: "vnum"}`, map[string]any{"path": "vnum"}, "error"},
		{"only null operators", `{path: "vnum", in: null, contains: null}`, map[string]any{"path": "vnum", "in": nil, "contains": nil}, "error"},
		{"empty path segment", `{path: "a..b", exists: true}`, map[string]any{"path": "a..b", "exists": true}, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ids(t, c, tc.literal, tc.variable)
			if tc.want == "error" {
				if err == nil || !strings.Contains(err.Error(), "metadata") {
					t.Fatalf("got %v, %v; want an error naming the metadata condition", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("ids = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestBadInputCarriesTheCode(t *testing.T) {
	c := newClient(t)
	resp, err := c.RawPost(`{ orgUsers(filter: {metadata: [{path: "vnum"}]}) { totalCount } }`)
	if err != nil {
		t.Fatal(err)
	}
	var errs []struct{ Extensions map[string]any }
	if err := json.Unmarshal(resp.Errors, &errs); err != nil || len(errs) != 1 || errs[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Fatalf("errors = %s", resp.Errors)
	}
}

func TestDeeplyNestedVariablesAreRefusedBeforeExecution(t *testing.T) {
	c := newClient(t)
	nested := map[string]any{}
	f := nested
	for i := 0; i < 100; i++ {
		next := map[string]any{}
		f["not"] = next
		f = next
	}
	_, err := c.RawPost(`query($f: OrgUserFilter) { orgUsers(filter: $f) { totalCount } }`, client.Var("f", nested))
	if err == nil || !strings.Contains(err.Error(), "http 400") || !strings.Contains(err.Error(), "levels deep") || !strings.Contains(err.Error(), "BAD_USER_INPUT") {
		t.Fatalf("err = %v, want a 400 BAD_USER_INPUT about nesting", err)
	}
	// Nesting within the filter bounds is fine.
	shallow := map[string]any{"not": map[string]any{"or": []any{map[string]any{"roles": []string{"org:admin"}}}}}
	resp, err := c.RawPost(`query($f: OrgUserFilter) { orgUsers(filter: $f) { totalCount } }`, client.Var("f", shallow))
	if err != nil || len(resp.Errors) > 0 && string(resp.Errors) != "null" {
		t.Fatalf("shallow filter: %v %s", err, resp.Errors)
	}
}
