package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/complexity"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/bytelru"
	"github.com/orgusers/orgusers/internal/directory"
)

var admin = &auth.Principal{UserID: "user_1", OrgID: "org_1", OrgRole: "org:admin", Permissions: []string{}}

// testDirectory serves testMembers for every organization.
func testDirectory() *directory.Service {
	return &directory.Service{Source: &fakeSource{members: func(ctx context.Context, orgID string) (*directory.Snapshot, error) {
		return directory.NewSnapshot(orgID, testMembers(), time.Time{}), nil
	}}}
}

// serve runs the GraphQL handler on loopback; p, when not nil, is every
// request's verified caller.
func serve(t testing.TB, o Options, p *auth.Principal) string {
	t.Helper()
	if o.Directory == nil {
		o.Directory = testDirectory()
	}
	h := NewHandler(o)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p != nil {
			r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (a answer) codes() string {
	var out []string
	for _, e := range a.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return strings.Join(out, ",")
}

// do sends a request and decodes the GraphQL-shaped answer; every answer of
// /graphql must be one.
func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("status %d: the answer is not JSON: %.200s", resp.StatusCode, raw)
	}
	for _, e := range a.Errors {
		if e.Extensions["code"] == nil {
			t.Fatalf("an error without extensions.code: %.300s", raw)
		}
	}
	return a
}

// post sends body (a JSON text) as a POST.
func post(t testing.TB, url, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// postQuery sends {"query": q}.
func postQuery(t testing.TB, url, q string) answer {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": q})
	return post(t, url, string(b))
}

func TestEachLimitRejectsWithItsCode(t *testing.T) {
	url := serve(t, Options{}, admin)
	cases := []struct {
		name, query string
		status      int
		code, says  string
	}{
		{"fan-out 12", fanOut(12, 4), 200, CodeTooManyFields, "16777216 fields"},
		{"31 aliases", aliases(31), 200, CodeTooManyAliases, "more than 30 aliases"},
		{"2,400 aliases", aliases(2400), 200, CodeTooManyAliases, "more than 30 aliases"},
		{"51 directives", directives(51), 200, CodeTooManyDirectives, "more than 50 directives"},
		{"700 directives", directives(700), 200, CodeTooManyDirectives, "more than 50 directives"},
		{"2,001 fields", repeats(2001), 200, CodeTooManyFields, "more than 2000 fields"},
		{"11 repeats of one field", repeats(11), 200, CodeTooManyFields, "__typename is selected 11 times"},
		{"depth 9", nested(9), 200, CodeQueryTooDeep, "9 levels"},
		{"a filter literal 40 nots deep", notFilter(40), 200, CodeQueryTooDeep, "argument filter"},
		{"a filter literal 400 nots deep", notFilter(400), 200, CodeQueryTooDeep, "argument filter"},
		{"too many tokens", arguments(1000), 200, CodeQueryTooLarge, "tokens"},
		{"over 64 KiB", strings.Repeat(" ", 64<<10) + "{ __typename }", 200, CodeQueryTooLarge, "bytes"},
		{"five full pages", pages(5), 200, CodeQueryTooComplex, "costs 80005"},
		{"first over 1000", `{ orgUsers(first: 5000) { totalCount } }`, 200, "BAD_USER_INPUT", "first"},
		{"first negative", `{ orgUsers(first: -1) { totalCount } }`, 200, "BAD_USER_INPUT", "first"},
		{"first over 1000 in a big page", `{ orgUsers(first: 5000) { nodes { ` + allMemberFields + ` } } }`, 200, "BAD_USER_INPUT", "first"},
		{"a fragment spreading itself", `{ ...A } fragment A on Query { ...A }`, 200, "GRAPHQL_VALIDATION_FAILED", "within itself"},
		{"an unused fragment", `{ __typename } fragment A on Query { __typename }`, 200, "GRAPHQL_VALIDATION_FAILED", "never used"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := postQuery(t, url, tc.query)
			if a.status != tc.status || a.codes() != tc.code || !strings.Contains(string(a.raw), tc.says) {
				t.Fatalf("status %d codes %q, want %d %s saying %q: %.300s", a.status, a.codes(), tc.status, tc.code, tc.says, a.raw)
			}
			if a.Data != nil {
				t.Fatalf("data = %s: a refused request has no data entry", a.Data)
			}
		})
	}
}

func TestFirstFromVariablesIsCheckedToo(t *testing.T) {
	url := serve(t, Options{}, admin)
	a := post(t, url, `{"query":"query($n: Int) { orgUsers(first: $n) { nodes { id } } }","variables":{"n":100000}}`)
	if a.codes() != "BAD_USER_INPUT" || !strings.Contains(a.Errors[0].Message, "first") {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	a = post(t, url, `{"query":"query($n: Int) { orgUsers(first: $n) { nodes { id } } }","variables":{"n":2}}`)
	if a.status != 200 || len(a.Errors) != 0 || !strings.Contains(string(a.Data), "user_2") {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestQueriesWithinTheLimitsRun(t *testing.T) {
	url := serve(t, Options{}, admin)
	for name, q := range map[string]string{
		"30 aliases":             aliases(30),
		"50 directives":          "{" + strings.Repeat(" viewer { userId @include(if: true) organizationId @include(if: true) organizationRole @skip(if: false) organizationSlug @skip(if: false) permissions @include(if: true) }", 10) + " }",
		"10 repeats":             repeats(10),
		"one full page":          pages(1),
		"fragments spread twice": `{ ...A ...A orgUsers(first: 2) { ...B nodes { ...C ...C } } } fragment A on Query { viewer { userId } } fragment B on OrgUserConnection { totalCount } fragment C on OrgUser { id email }`,
		"depth 8 with introspection fields inside": `{ orgUsers { edges { node { id } } } __type(name: "OrgUser") { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } }`,
	} {
		t.Run(name, func(t *testing.T) {
			a := postQuery(t, url, q)
			if a.status != 200 {
				t.Fatalf("%d %.300s", a.status, a.raw)
			}
			for _, e := range a.Errors {
				// __type is refused at execution when introspection is off; no limit speaks.
				if c := e.Extensions["code"]; c != "INTERNAL_SERVER_ERROR" && c != "BAD_USER_INPUT" && c != "GRAPHQL_VALIDATION_FAILED" || strings.Contains(e.Message, "allowed") {
					t.Fatalf("%.300s", a.raw)
				}
			}
		})
	}
}

// TestFragmentFanOutIsRejectedCheaply is the regression test of the
// reproducer: gqlgen's complexity walk took 1.4 s at depth 12 and never
// finished at 40. Rejected, the work is a handful of visits per fragment.
func TestFragmentFanOutIsRejectedCheaply(t *testing.T) {
	p := newTestPreparer(0)
	for _, depth := range []int{12, 20, 40} {
		var w work
		_, errs := p.prepareCounting(fanOut(depth, 4), &w)
		if len(errs) != 1 || errs[0].Extensions["code"] != CodeTooManyFields {
			t.Fatalf("depth %d: %v", depth, errs)
		}
		if w.analyzed > 5*depth+2 || w.merged != 0 || w.validated != 0 {
			t.Fatalf("depth %d: work %+v, want at most %d selections visited, nothing merged or validated", depth, w, 5*depth+2)
		}
	}
}

func newTestPreparer(cacheBytes int) *preparer {
	return &preparer{
		schema: NewExecutableSchema(New(&Resolver{})).Schema(),
		limits: Limits{}.withDefaults(),
		docs:   bytelru.New[string, prepared](cacheBytes),
	}
}

// worstShapes are the largest requests of each kind that fit the 1 MiB
// body: each either is refused or runs, and the work before that point is
// bounded by the limits, not by the request's size.
func worstShapes() map[string]string {
	q := func(query string) string {
		b, _ := json.Marshal(map[string]any{"query": query})
		return padTo(string(b), defaultMaxBodyBytes-1)
	}
	biggest := func(gen func(int) string, max int) string {
		n := 1
		for len(gen(n*2)) < max {
			n *= 2
		}
		for step := n / 2; step > 0; step /= 2 {
			if len(gen(n+step)) < max {
				n += step
			}
		}
		return gen(n)
	}
	const textMax = DefaultMaxQueryBytes
	// The most fields a text can hold within both the field and token limits.
	const fieldsAtLimit = min(DefaultMaxFields, DefaultMaxTokens-2)
	return map[string]string{
		"fan-out 40":                                 q(fanOut(40, 4)),
		"fan-out 64 KiB":                             q(biggest(func(n int) string { return fanOut(n, 4) }, textMax)),
		"aliases 64 KiB":                             q(biggest(aliases, textMax)),
		"directives 64 KiB":                          q(biggest(directives, textMax)),
		"fields 64 KiB":                              q(biggest(repeats, textMax)),
		"repeats at the field limit":                 q(repeats(fieldsAtLimit)),
		"unknown fields at the field limit":          q(distinct(fieldsAtLimit, 1)),
		"unknown fields repeated at the field limit": q(distinct(fieldsAtLimit/DefaultMaxFieldRepeats, DefaultMaxFieldRepeats)),
		"fields nested at the field limit":           q(strings.Repeat("{ viewer ", 7) + distinct(fieldsAtLimit-24, 1)[1:] + strings.Repeat(" }", 7)),
		"depth 64 KiB":                               q(biggest(nested, textMax)),
		"not filter 64 KiB":                          q(biggest(notFilter, textMax)),
		"not filter at the token limit":              q(biggest(notFilter, 3*DefaultMaxTokens)),
		"arguments 64 KiB":                           q(biggest(arguments, textMax)),
		"query string 1 MiB":                         q(strings.Repeat("#", defaultMaxBodyBytes-64) + "\n{ __typename }"),
		"variables of numbers":                       padTo(`{"query":"{ __typename }","variables":{"a":[`+strings.Repeat("1,", defaultMaxBodyBytes/2-64)+`1]}}`, defaultMaxBodyBytes-1),
		"variables of 10k values":                    `{"query":"{ __typename }","variables":{"a":[` + strings.Repeat("1,", MaxJSONValues) + `1]}}`,
		"variables nested 1 MiB":                     `{"query":"{ __typename }","variables":{"a":` + strings.Repeat("[", defaultMaxBodyBytes-64) + `}}`,
		"variables string 1 MiB":                     `{"query":"{ __typename }","variables":{"a":"` + strings.Repeat("x", defaultMaxBodyBytes-64) + `"}}`,
		"pages at the cost limit":                    q(pages(3)),
	}
}

// TestWorstShapesCostBoundedWork sends each worst shape and counts what the
// server did with it: tokens parsed, selections analyzed and merged, fields
// validated, allocations. None may grow with the request beyond the limits.
func TestWorstShapesCostBoundedWork(t *testing.T) {
	url := serve(t, Options{}, admin)
	p := newTestPreparer(0)
	l := p.limits
	for name, body := range worstShapes() {
		t.Run(name, func(t *testing.T) {
			if len(body) > defaultMaxBodyBytes {
				t.Fatalf("the shape is %d bytes, over the body limit", len(body))
			}
			a := post(t, url, body)
			t.Logf("%d %s: %.120s", a.status, a.codes(), a.raw)
			if a.status >= 500 {
				t.Fatalf("%d %.300s", a.status, a.raw)
			}
			var params struct{ Query string }
			if json.Unmarshal([]byte(body), &params) != nil || params.Query == "" {
				return // refused before GraphQL: the transport test covers those
			}
			var w work
			p.prepareCounting(params.Query, &w)
			if w.scannedBytes > l.MaxQueryBytes+1 || w.parsedTokens > l.MaxTokens || w.analyzed > w.parsedTokens ||
				w.merged > l.MaxFields || w.validated > l.MaxFields || w.maxRepeats > l.MaxFieldRepeats+1 {
				t.Fatalf("work %+v exceeds the limits %+v", w, l)
			}
		})
	}
}

// TestCostIsGqlgensComplexity holds the memoized cost to the number gqlgen's
// own complexity walk computes, on documents small enough for it.
func TestCostIsGqlgensComplexity(t *testing.T) {
	es := NewExecutableSchema(New(&Resolver{}))
	for _, q := range []string{
		`{ viewer { userId permissions } }`,
		`{ orgUsers { totalCount } }`,
		`{ orgUsers(first: 0) { totalCount } }`,
		pages(1),
		`query($n: Int) { a: orgUsers(first: $n) { nodes { id email } edges { cursor node { id } } pageInfo { hasNextPage } } b: orgUser(id: "x") { id } }`,
		`{ ...A ...A orgUsers(first: 7) { ...B nodes { ...C ...C } } } fragment A on Query { viewer { userId } } fragment B on OrgUserConnection { totalCount nodes { ...C } } fragment C on OrgUser { id email }`,
		fanOut(6, 3),
		`{ __schema { types { name } } __typename }`,
		`{ __type(name: "OrgUser") { name fields { name } } }`,
	} {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatal(err)
		}
		if errs := validator.Validate(es.Schema(), doc); len(errs) > 0 {
			t.Fatalf("%s: %v", q, errs)
		}
		vars := map[string]any{"n": int64(42)}
		want := complexity.Calculate(context.Background(), es, doc.Operations[0], vars)
		got, gerr := operationCost(context.Background(), es, doc.Operations[0], vars)
		if gerr != nil || got != want {
			t.Errorf("%.80s: cost %d (%v), gqlgen says %d", q, got, gerr, want)
		}
	}
}

// TestScanTextCountsAsTheParser holds the pre-parse counts to the syntax
// tree's on documents that use every construct.
func TestScanTextCountsAsTheParser(t *testing.T) {
	for _, q := range []string{
		`{ a }`,
		`query Q($a: Int = 1 @d, $b: [In!] = [1, 2]) @q { x: a(f: {g: [1, {h: "i:j"}]}) @e(if: true) { ...F ... on T @f { b c: d } } }
		 fragment F on T @g { e(s: """block: "x" \""" y""") # comment: with a: colon
		   f: g }`,
		`mutation { a(x: -1.5e+3, y: $v, z: ENUM, w: null) }`,
		"\ufeff{ a, b\r\n c\t}",
		`subscription S { x: on, fragment: query ... on T { a } ...F } fragment F on T { b }`,
	} {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		want := literalCounts(doc)
		got, _ := scanText(q, nil)
		if got.fields != want.fields || got.aliases != want.aliases || got.directives != want.directives {
			t.Errorf("%s: scan %+v, tree %+v", q, got, want)
		}
	}
}

// literalCounts counts a syntax tree's fields, aliases and directives as
// written, fragments not expanded.
func literalCounts(doc *ast.QueryDocument) textCounts {
	var c textCounts
	var walk func(ast.SelectionSet)
	dirs := func(d ast.DirectiveList) { c.directives += len(d) }
	walk = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				c.fields++
				if sel.Alias != sel.Name {
					c.aliases++
				}
				dirs(sel.Directives)
				walk(sel.SelectionSet)
			case *ast.InlineFragment:
				dirs(sel.Directives)
				walk(sel.SelectionSet)
			case *ast.FragmentSpread:
				dirs(sel.Directives)
			}
		}
	}
	for _, op := range doc.Operations {
		dirs(op.Directives)
		for _, v := range op.VariableDefinitions {
			dirs(v.Directives)
		}
		walk(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		dirs(f.Directives)
		walk(f.SelectionSet)
	}
	return c
}

func TestValidationErrorsAreCapped(t *testing.T) {
	url := serve(t, Options{}, admin)
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&b, " f%d", i)
	}
	b.WriteString(" }")
	a := postQuery(t, url, b.String())
	if a.status != 200 || len(a.Errors) != MaxValidationErrors || a.Errors[MaxValidationErrors-1].Message != "and 51 more validation errors" {
		t.Fatalf("%d errors, last %q", len(a.Errors), a.Errors[len(a.Errors)-1].Message)
	}
}

// TestRequestErrorsFollowGraphQLOverHTTP: a request refused before
// execution answers 200 for application/json (clients read its errors) and
// 400 for application/graphql-response+json, never with a "data" entry.
func TestRequestErrorsFollowGraphQLOverHTTP(t *testing.T) {
	url := serve(t, Options{}, admin)
	for _, body := range []string{
		`{"query":"{ __typename "}`,
		`{"query":"{ nope }"}`,
		`{"query":"query($n: Int!) { orgUsers(first: $n) { totalCount } }","variables":{"n":"x"}}`,
		`{"query":"` + aliases(31) + `"}`,
	} {
		for accept, want := range map[string]int{"": 200, "*/*": 200, "application/json": 200, "application/graphql-response+json": 400} {
			req := postRequest(t, url, body)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			a := do(t, req)
			if a.status != want || len(a.Errors) == 0 || strings.Contains(string(a.raw), `"data"`) {
				t.Errorf("Accept %q, %.60s: %d %s", accept, body, a.status, a.raw)
			}
		}
	}
}
