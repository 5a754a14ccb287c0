package graph

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/vektah/gqlparser/v2"

	"github.com/orgusers/orgusers/internal/directory"
)

type facetCount struct {
	Value string
	Count int
}

type metadataFacet struct {
	Path   string
	Values []struct {
		Value any
		Count int
	}
	OtherCount   int
	MissingCount int
}

// text renders a metadata facet compactly.
func (f metadataFacet) text() string {
	var vs []string
	for _, v := range f.Values {
		b, _ := json.Marshal(v.Value)
		vs = append(vs, string(b)+":"+itoa(v.Count))
	}
	return f.Path + " [" + strings.Join(vs, " ") + "] other=" + itoa(f.OtherCount) + " missing=" + itoa(f.MissingCount)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

const metaFields = `{ path values { value count } otherCount missingCount }`

func TestFacetsCountEveryPage(t *testing.T) {
	c := newClient(t)
	var out struct {
		OrgUsers struct {
			TotalCount int
			Nodes      []struct{ ID string }
			Facets     struct {
				Roles, SignInStatus, LastSignIn []facetCount
				Vnum, Skills, Top1, Team        metadataFacet
			}
		}
	}
	q := `query($f: OrgUserFilter) { orgUsers(first: 1, filter: $f) { totalCount nodes { id } facets {
		roles { value count } signInStatus { value count } lastSignIn { value count }
		vnum: metadata(path: "vnum") ` + metaFields + `
		skills: metadata(path: "skills", source: USER, limit: 100) ` + metaFields + `
		top1: metadata(path: "department", limit: 1) ` + metaFields + `
		team: metadata(path: "team", source: MEMBERSHIP) ` + metaFields + `
	} } }`
	c.MustPost(q, &out)
	f := out.OrgUsers.Facets
	if out.OrgUsers.TotalCount != 3 || len(out.OrgUsers.Nodes) != 1 {
		t.Fatalf("totalCount %d, %d nodes", out.OrgUsers.TotalCount, len(out.OrgUsers.Nodes))
	}
	checkCounts(t, "roles", f.Roles, []facetCount{{"org:member", 3}})
	checkCounts(t, "signInStatus", f.SignInStatus, []facetCount{{"SIGNED_IN", 0}, {"NEVER_SIGNED_IN", 3}})
	checkCounts(t, "lastSignIn", f.LastSignIn, []facetCount{{"<=7", 0}, {"<=30", 0}, {"<=90", 0}, {">90", 0}, {"never", 3}})
	for _, c := range []struct{ got, want string }{
		{f.Vnum.text(), `vnum ["7":1 7:1 8:1] other=0 missing=0`},
		{f.Skills.text(), `skills ["excel":1 "go":1 "sql":1] other=0 missing=1`},
		{f.Top1.text(), `department ["Engineering":1] other=2 missing=0`},
		{f.Team.text(), `team ["core":1 "growth":1] other=0 missing=1`},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}

	// A filter: the facets count what totalCount counts.
	c.MustPost(q, &out, client.Var("f", map[string]any{"metadata": []any{map[string]any{"path": "location.country", "in": []any{"DE", "FR"}}}}))
	if out.OrgUsers.TotalCount != 2 {
		t.Fatalf("filtered totalCount %d", out.OrgUsers.TotalCount)
	}
	checkCounts(t, "filtered roles", out.OrgUsers.Facets.Roles, []facetCount{{"org:member", 2}})
	if got, want := out.OrgUsers.Facets.Vnum.text(), `vnum ["7":1 7:1] other=0 missing=0`; got != want {
		t.Errorf("filtered: got %s, want %s", got, want)
	}
}

func checkCounts(t *testing.T, what string, got, want []facetCount) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

// signInDirectory serves four members who last signed in 1, 20 and 100
// days ago and never.
func signInDirectory() *directory.Service {
	return &directory.Service{Source: &fakeSource{members: func(ctx context.Context, orgID string) (*directory.Snapshot, error) {
		now := time.Now()
		var ms []directory.Member
		for i, d := range []int{1, 20, 100, -1} {
			m := directory.Member{UserID: "user_" + itoa(i), Role: []string{"org:admin", "org:member"}[i%2],
				PublicMetadata: json.RawMessage(`{}`), MembershipMetadata: json.RawMessage(`{}`)}
			if d >= 0 {
				at := now.Add(-time.Duration(d) * 24 * time.Hour)
				m.LastSignInAt = &at
			}
			ms = append(ms, m)
		}
		return directory.NewSnapshot(orgID, ms, now), nil
	}}}
}

func TestFacetsLastSignIn(t *testing.T) {
	url := serve(t, Options{Directory: signInDirectory()}, admin)
	a := postQuery(t, url, `{ orgUsers { facets {
		d: lastSignIn { value count } b: lastSignIn(bucketsDays: [2, 50]) { value count } n: lastSignIn(bucketsDays: null) { value count }
		signInStatus { value count } roles { value count } } } }`)
	if len(a.Errors) != 0 {
		t.Fatalf("errors: %s", a.raw)
	}
	var data struct {
		OrgUsers struct {
			Facets struct{ D, B, N, SignInStatus, Roles []facetCount }
		}
	}
	if err := json.Unmarshal(a.Data, &data); err != nil {
		t.Fatal(err)
	}
	f := data.OrgUsers.Facets
	defaults := []facetCount{{"<=7", 1}, {"<=30", 1}, {"<=90", 0}, {">90", 1}, {"never", 1}}
	checkCounts(t, "default buckets", f.D, defaults)
	checkCounts(t, "null buckets", f.N, defaults)
	checkCounts(t, "[2, 50]", f.B, []facetCount{{"<=2", 1}, {"<=50", 1}, {">50", 1}, {"never", 1}})
	checkCounts(t, "signInStatus", f.SignInStatus, []facetCount{{"SIGNED_IN", 3}, {"NEVER_SIGNED_IN", 1}})
	checkCounts(t, "roles", f.Roles, []facetCount{{"org:admin", 2}, {"org:member", 2}})
}

func TestFacetsBadArguments(t *testing.T) {
	url := serve(t, Options{}, admin)
	for _, c := range []struct{ facet, names string }{
		{`metadata(path: "a..b") { path }`, "path"},
		{`metadata(path: "") { path }`, "path"},
		{`metadata(path: "vnum", limit: 0) { path }`, "limit"},
		{`metadata(path: "vnum", limit: 101) { path }`, "limit"},
		{`lastSignIn(bucketsDays: [30, 7]) { value }`, "bucketsDays"},
		{`lastSignIn(bucketsDays: [7, 7]) { value }`, "bucketsDays"},
		{`lastSignIn(bucketsDays: [0]) { value }`, "bucketsDays"},
		{`lastSignIn(bucketsDays: [3651]) { value }`, "bucketsDays"},
		{`lastSignIn(bucketsDays: []) { value }`, "bucketsDays"},
		{`lastSignIn(bucketsDays: [1,2,3,4,5,6,7,8,9,10,11]) { value }`, "bucketsDays"},
	} {
		// Beside a valid facet, so the one-pass count has something to do.
		a := postQuery(t, url, `{ orgUsers { facets { roles { count } `+c.facet+` } } }`)
		if a.codes() != "BAD_USER_INPUT" || len(a.Errors) != 1 || !strings.HasPrefix(a.Errors[0].Message, c.names+":") {
			t.Errorf("%s: %s", c.facet, a.raw)
		}
	}
}

// TestFacetsTogetherEqualFacetsAlone checks that counting the selected
// facets in one pass answers exactly what each facet answers alone.
func TestFacetsTogetherEqualFacetsAlone(t *testing.T) {
	url := serve(t, Options{Directory: testDirectory(), ResponseCacheBytes: -1}, admin)
	facets := []string{
		`roles { value count }`,
		`signInStatus { value count }`,
		`lastSignIn(bucketsDays: [1]) { value count }`,
		`metadata(path: "skills") ` + metaFields,
		`metadata(path: "vnum", limit: 2) ` + metaFields,
		`metadata(path: "team", source: MEMBERSHIP) ` + metaFields,
		`metadata(path: "location.country", limit: 1) ` + metaFields,
	}
	var together strings.Builder
	for i, f := range facets {
		together.WriteString(" f" + itoa(i) + ": " + f)
	}
	a := postQuery(t, url, `{ orgUsers(first: 0) { facets {`+together.String()+` } } }`)
	var all struct {
		OrgUsers struct{ Facets map[string]json.RawMessage }
	}
	if err := json.Unmarshal(a.Data, &all); err != nil || len(a.Errors) != 0 {
		t.Fatalf("%v: %s", err, a.raw)
	}
	for i, f := range facets {
		one := postQuery(t, url, `{ orgUsers(first: 0) { facets { f`+itoa(i)+`: `+f+` } } }`)
		var alone struct {
			OrgUsers struct{ Facets map[string]json.RawMessage }
		}
		if err := json.Unmarshal(one.Data, &alone); err != nil || len(one.Errors) != 0 {
			t.Fatalf("%v: %s", err, one.raw)
		}
		k := "f" + itoa(i)
		if string(alone.OrgUsers.Facets[k]) != string(all.OrgUsers.Facets[k]) || len(alone.OrgUsers.Facets[k]) < 10 {
			t.Errorf("%s: alone %s, together %s", f, alone.OrgUsers.Facets[k], all.OrgUsers.Facets[k])
		}
	}
}

func TestFacetsLastSignInIsNeverCached(t *testing.T) {
	url := serve(t, Options{}, admin)
	for _, c := range []struct {
		query  string
		cached bool
	}{
		{`{ orgUsers { facets { roles { value count } } } }`, true},
		{`{ orgUsers { facets { lastSignIn { value count } } } }`, false},
	} {
		postQuery(t, url, c.query)
		a := postQuery(t, url, c.query)
		if hit := a.header.Get("X-Response-Cache") == "hit"; hit != c.cached || len(a.Errors) != 0 {
			t.Errorf("%s: cache hit %v, want %v (%s)", c.query, hit, c.cached, a.raw)
		}
	}
}

func TestFacetComplexity(t *testing.T) {
	cfg := New(&Resolver{})
	setFacetComplexity(&cfg.Complexity)
	es := NewExecutableSchema(cfg)
	q := `{ orgUsers(first: 10) { totalCount facets {
		roles { value count } signInStatus { value } lastSignIn { value }
		a: metadata(path: "x") { values { value count } otherCount } b: metadata(path: "y") { path } } } }`
	doc, errs := gqlparser.LoadQuery(es.Schema(), q)
	if errs != nil {
		t.Fatal(errs)
	}
	cost, err := operationCost(context.Background(), es, doc.Operations[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	// 1 + first * (totalCount 1 + facets (1 + four facets of 1 each, two metadata))
	if want := 1 + 10*(1+1+5); cost != want {
		t.Errorf("cost %d, want %d", cost, want)
	}
}
