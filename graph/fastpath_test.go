package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

// fastPathMembers are members whose values exercise every encoding the
// fast path must match: absent optional fields, HTML characters, escapes,
// control characters, U+2028, non-ASCII, metadata with insignificant
// whitespace and numbers in several spellings, times with nanoseconds and
// in other zones.
func fastPathMembers(rng *rand.Rand, n int) []directory.Member {
	words := []string{"ann", "Bob", "<b>x</b>", "a&b", `q"uote`, `back\slash`, "tab\there", "line\u2028sep", "Zoë", "日本", "ctl\x01x", "new\nline", "plain"}
	depts := []string{`"Engineering"`, `"Sales"`, `"<Ops>"`, `7`, `7.0`, `1e2`, `null`, `true`, `["go", "sql"]`, `{"k": "v"}`}
	roles := []string{"org:admin", "org:member", "org:billing"}
	zone := time.FixedZone("X", 5*3600+30*60)
	opt := func(s string) *string {
		if rng.IntN(5) == 0 {
			return nil
		}
		return &s
	}
	when := func() time.Time {
		t := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(700 * 24 * time.Hour))))
		switch rng.IntN(3) {
		case 0:
			t = t.Truncate(time.Second)
		case 1:
			t = t.In(zone)
		}
		return t
	}
	out := make([]directory.Member, n)
	for i := range out {
		w := words[rng.IntN(len(words))]
		m := directory.Member{
			UserID:    fmt.Sprintf("user_%03d", i),
			Email:     opt(fmt.Sprintf("%s%d@example.com", strings.ToLower(words[rng.IntN(len(words))]), i)),
			FirstName: opt(w),
			LastName:  opt(words[rng.IntN(len(words))]),
			Username:  opt(fmt.Sprintf("u%d", i)),
			ImageURL:  opt(fmt.Sprintf("https://img.example.com/%d.png?a=1&b=2", i)),
			CreatedAt: when(),
			JoinedAt:  when(),
			Banned:    rng.IntN(10) == 0,
			Role:      roles[rng.IntN(len(roles))],
			RoleName:  []string{"", "Admin", "Member <m>"}[rng.IntN(3)],
			PublicMetadata: json.RawMessage(fmt.Sprintf(`{ "department" : %s, "level": %d,
  "tags": ["<t>", "a&b"], "nested": {"x": [1, 2.50, "y"]} }`, depts[rng.IntN(len(depts))], rng.IntN(4))),
			MembershipMetadata: json.RawMessage([]string{`{}`, `{"team":"core"}`, `{"team": "growth", "since": 2021}`}[rng.IntN(3)]),
		}
		if rng.IntN(4) > 0 {
			t := time.Now().Add(-time.Duration(rng.Int64N(int64(200 * 24 * time.Hour)))).Truncate(time.Millisecond)
			m.LastSignInAt = &t
		}
		if rng.IntN(2) == 0 {
			t := when()
			m.LastActiveAt = &t
		}
		out[i] = m
	}
	return out
}

// queryGen writes random orgUsers/orgUser operations over the whole
// schema of the connection, the member and the facets.
type queryGen struct {
	rng     *rand.Rand
	snap    *directory.Snapshot
	vars    map[string]any
	decls   []string
	frags   []string
	nvar    int
	naliase int
}

var orderFields = []string{"EMAIL", "FIRST_NAME", "LAST_NAME", "CREATED_AT", "LAST_SIGN_IN_AT", "JOINED_AT"}

func (g *queryGen) pick(n int) bool { return g.rng.IntN(n) == 0 }

// variable declares a variable of type typ holding v and returns its use.
func (g *queryGen) variable(typ string, v any) string {
	g.nvar++
	name := fmt.Sprintf("v%d", g.nvar)
	g.decls = append(g.decls, "$"+name+": "+typ)
	g.vars[name] = v
	return "$" + name
}

// cond returns a random @skip/@include (often none), literal or variable.
func (g *queryGen) cond() string {
	if !g.pick(5) {
		return ""
	}
	name := []string{"skip", "include"}[g.rng.IntN(2)]
	val := g.rng.IntN(2) == 0
	if g.pick(2) {
		return fmt.Sprintf(" @%s(if: %s)", name, g.variable("Boolean!", val))
	}
	return fmt.Sprintf(" @%s(if: %t)", name, val)
}

func (g *queryGen) alias(name string) string {
	if g.naliase < 12 && g.pick(6) {
		g.naliase++
		return fmt.Sprintf("a%d_%s: %s", g.naliase, name, name)
	}
	return name
}

// fields wraps a random subset of options (at least one) with conditions,
// aliases and fragments on typ.
func (g *queryGen) fields(typ string, options []func() string) string {
	var parts []string
	for _, o := range options {
		if g.pick(2) {
			parts = append(parts, withDirective(o(), g.cond()))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, options[g.rng.IntN(len(options))]())
	}
	if g.pick(8) {
		parts = append(parts, g.alias("__typename"))
	}
	g.rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	switch {
	case g.pick(6) && len(parts) > 1:
		k := g.rng.IntN(len(parts))
		on := ""
		if g.pick(2) {
			on = "on " + typ + " "
		}
		parts = append(parts[:k], "... "+on+g.cond()+"{ "+strings.Join(parts[k:], " ")+" }")
	case g.pick(6) && len(parts) > 1:
		k := g.rng.IntN(len(parts))
		name := fmt.Sprintf("F%d", len(g.frags))
		g.frags = append(g.frags, fmt.Sprintf("fragment %s on %s { %s }", name, typ, strings.Join(parts[k:], " ")))
		parts = append(parts[:k], "..."+name+g.cond())
	}
	return strings.Join(parts, " ")
}

func (g *queryGen) member() string {
	var opts []func() string
	for _, f := range memberFields {
		opts = append(opts, func() string { return g.alias(f) })
	}
	sel := g.fields("OrgUser", opts)
	switch g.rng.IntN(8) { // OrgUser is a Node: its fields through the interface
	case 0:
		sel += " ... on Node { " + g.alias("id") + g.cond() + " }"
	case 1:
		name := fmt.Sprintf("F%d", len(g.frags))
		g.frags = append(g.frags, fmt.Sprintf("fragment %s on Node { id }", name))
		sel += " ..." + name + g.cond()
	}
	return sel
}

func (g *queryGen) facetCount() string {
	return g.fields("FacetCount", []func() string{
		func() string { return g.alias("value") }, func() string { return g.alias("count") }})
}

func (g *queryGen) facets() string {
	return g.fields("OrgUserFacets", []func() string{
		func() string { return g.alias("roles") + " { " + g.facetCount() + " }" },
		func() string { return g.alias("signInStatus") + " { " + g.facetCount() + " }" },
		func() string {
			args := ""
			days := [][]int{{7, 30, 90}, {1}, {3650}, {2, 14}, {1, 10, 100, 1000}, {7, 30, 90}, {1}}[g.rng.IntN(7)]
			if g.pick(12) { // BAD_USER_INPUT
				days = [][]int{{30, 7}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {0}}[g.rng.IntN(3)]
			}
			switch g.rng.IntN(3) {
			case 0:
				args = fmt.Sprintf("(bucketsDays: %s)", jsonText(days))
			case 1:
				args = fmt.Sprintf("(bucketsDays: %s)", g.variable("[Int!]", days))
			}
			return g.alias("lastSignIn") + args + " { " + g.facetCount() + " }"
		},
		func() string {
			path := []string{"department", "level", "tags", "nested.x", "team", "missing"}[g.rng.IntN(6)]
			if g.pick(12) {
				path = []string{"", "a..b"}[g.rng.IntN(2)]
			}
			args := fmt.Sprintf("path: %q", path)
			if g.pick(3) {
				args = "path: " + g.variable("String!", path)
			}
			if g.pick(2) {
				args += ", source: " + []string{"USER", "MEMBERSHIP"}[g.rng.IntN(2)]
			}
			if g.pick(2) {
				args += fmt.Sprintf(", limit: %d", []int{1, 2, 20, 100, 3, 1, 2, 5, 7, 9, 0, 101}[g.rng.IntN(12)])
			}
			inner := g.fields("MetadataFacet", []func() string{
				func() string { return g.alias("path") },
				func() string {
					return g.alias("values") + " { " + g.fields("MetadataFacetValue", []func() string{
						func() string { return g.alias("value") }, func() string { return g.alias("count") }}) + " }"
				},
				func() string { return g.alias("otherCount") },
				func() string { return g.alias("missingCount") },
			})
			return g.alias("metadata") + "(" + args + ") { " + inner + " }"
		},
	})
}

func (g *queryGen) connection() string {
	return g.fields("OrgUserConnection", []func() string{
		func() string { return g.alias("totalCount") },
		func() string { return g.alias("nodes") + " { " + g.member() + " }" },
		func() string {
			return g.alias("edges") + " { " + g.fields("OrgUserEdge", []func() string{
				func() string { return g.alias("cursor") },
				func() string { return g.alias("node") + " { " + g.member() + " }" },
			}) + " }"
		},
		func() string {
			return g.alias("pageInfo") + " { " + g.fields("PageInfo", []func() string{
				func() string { return g.alias("hasNextPage") }, func() string { return g.alias("endCursor") },
				func() string { return g.alias("hasPreviousPage") }, func() string { return g.alias("startCursor") },
			}) + " }"
		},
		func() string { return g.alias("facets") + " { " + g.facets() + " }" },
		// The same field again: the executor merges both selections.
		func() string { return "nodes { " + g.member() + " }" },
	})
}

// withDirective puts a directive on a field, before its selection set.
func withDirective(field, directive string) string {
	depth := 0
	for i := 0; i < len(field); i++ {
		switch field[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '{':
			if depth == 0 {
				return field[:i-1] + directive + field[i-1:]
			}
		}
	}
	return field + directive
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var filterLiterals = []string{
	`{roles: ["org:admin"]}`,
	`{signInStatus: NEVER_SIGNED_IN}`,
	`{search: "a"}`,
	`{metadata: [{path: "department", equals: "Sales"}]}`,
	`{metadata: [{path: "level", in: [0, 1]}]}`,
	`{or: [{roles: ["org:billing"]}, {not: {search: "e"}}]}`,
	`{createdAfter: "2024-06-01T00:00:00Z"}`,
	`{metadata: [{path: "team", source: MEMBERSHIP, exists: true}]}`,
	`{metadata: [{path: "department"}]}`,                          // no operator: BAD_USER_INPUT
	`{metadata: [{path: "department", equals: 1, exists: true}]}`, // two: BAD_USER_INPUT
	`{userIds: []}`,
	`{lastSignInBefore: "not a time"}`,
}

var filterVariables = []any{
	map[string]any{"roles": []any{"org:member", "org:billing"}},
	map[string]any{"search": "<b>"},
	map[string]any{"metadata": []any{map[string]any{"path": "department", "equals": 7}}},
	map[string]any{"metadata": []any{map[string]any{"path": "tags", "includes": "a&b"}}},
	map[string]any{"and": []any{map[string]any{"signInStatus": "SIGNED_IN"}, map[string]any{"roles": []any{"org:member"}}}},
	map[string]any{"metadata": []any{map[string]any{"path": "x.", "exists": true}}}, // bad path
}

// cursor returns a cursor for order: one of the page's, another order's, or garbage.
func (g *queryGen) cursor(field, dir string) string {
	switch g.rng.IntN(16) {
	case 0:
		return "garbage!"
	case 1:
		field = orderFields[g.rng.IntN(len(orderFields))]
	}
	page, err := g.snap.Query(directory.Query{Order: directory.Order{Field: directory.OrderField(field), Direction: directory.Direction(dir)}, First: 1000})
	if err != nil || len(page.Cursors) == 0 {
		return ""
	}
	return page.Cursors[g.rng.IntN(len(page.Cursors))]
}

func (g *queryGen) orgUsers() string {
	var args []string
	if g.pick(2) {
		if g.pick(2) {
			args = append(args, "filter: "+filterLiterals[g.rng.IntN(len(filterLiterals)-3+g.rng.IntN(4))])
		} else {
			args = append(args, "filter: "+g.variable("OrgUserFilter", filterVariables[g.rng.IntN(len(filterVariables)-1+g.rng.IntN(2))]))
		}
	}
	field, dir := "EMAIL", "ASC"
	if g.pick(2) {
		field, dir = orderFields[g.rng.IntN(len(orderFields))], []string{"ASC", "DESC"}[g.rng.IntN(2)]
		if g.pick(2) {
			args = append(args, fmt.Sprintf("orderBy: {field: %s, direction: %s}", field, dir))
		} else {
			args = append(args, "orderBy: "+g.variable("OrgUserOrder", map[string]any{"field": field, "direction": dir}))
		}
	}
	size := func() string {
		n := []int{0, 1, 2, 3, 10, 25, 100, 1000, 5, 7, 1, 2, 3, 100, 40, -1}[g.rng.IntN(16)]
		if g.pick(3) {
			return g.variable("Int", n)
		}
		return fmt.Sprint(n)
	}
	cur := func(name string) {
		c := g.cursor(field, dir)
		if g.pick(2) {
			args = append(args, name+": "+g.variable("String", c))
		} else {
			args = append(args, fmt.Sprintf("%s: %q", name, c))
		}
	}
	switch g.rng.IntN(13) {
	case 0, 1, 2: // default first
	case 3, 4, 5, 6, 7, 8:
		args = append(args, "first: "+size())
		if g.pick(2) {
			cur("after")
		}
	case 9, 10, 11:
		args = append(args, "last: "+size())
		if g.pick(2) {
			cur("before")
		}
	case 12: // both: BAD_USER_INPUT, unless a variable leaves one null
		first, last := "2", "2"
		if g.pick(2) {
			first = g.variable("Int", nil)
		} else if g.pick(2) {
			last = g.variable("Int", nil)
		}
		args = append(args, "first: "+first, "last: "+last)
		if g.pick(3) {
			cur("before")
		}
	}
	a := ""
	if len(args) > 0 {
		a = "(" + strings.Join(args, ", ") + ")"
	}
	return "orgUsers" + a + " { " + g.connection() + " }"
}

func (g *queryGen) orgUser() string {
	id := fmt.Sprintf("user_%03d", g.rng.IntN(70)) // some are not members: null
	arg := fmt.Sprintf("(id: %q)", id)
	if g.pick(2) {
		arg = "(id: " + g.variable("ID!", id) + ")"
	}
	return "orgUser" + arg + " { " + g.member() + " }"
}

// request returns one random request body.
func (g *queryGen) request() map[string]any {
	g.vars, g.decls, g.frags, g.nvar, g.naliase = map[string]any{}, nil, nil, 0, 0
	var roots []string
	for k := 0; k < 1+g.rng.IntN(2); k++ {
		switch g.rng.IntN(7) {
		case 0, 1, 2, 3:
			roots = append(roots, withDirective(fmt.Sprintf("r%d: ", k)+g.orgUsers(), g.cond()))
		case 4, 5:
			roots = append(roots, withDirective(fmt.Sprintf("r%d: ", k)+g.orgUser(), g.cond()))
		case 6:
			roots = append(roots, g.alias("__typename"))
		}
	}
	switch g.rng.IntN(20) { // a root field the fast path leaves to the executor
	case 0:
		roots = append(roots, "viewer { userId }")
	case 1:
		roots = append(roots, "orgInvitations { totalCount }")
	}
	name := ""
	if g.pick(3) {
		name = "Q"
	}
	head := "query " + name
	if len(g.decls) > 0 {
		head += "(" + strings.Join(g.decls, ", ") + ")"
	}
	doc := head + " { " + strings.Join(roots, " ") + " }"
	for _, f := range g.frags {
		doc += "\n" + f
	}
	body := map[string]any{"query": doc, "variables": g.vars}
	if name != "" {
		body["operationName"] = name
		if g.pick(2) { // another operation in the document, not run
			body["query"] = doc + "\nmutation M { removeOrgMembers(input: {target: {userIds: []}, dryRun: true}) { matched } }"
		}
	}
	return body
}

// TestFastPathMatchesExecutor is the fast path's correctness contract:
// for random operations over every field, argument, alias, directive and
// fragment form the fast path supports (and some it does not), the fast
// path and gqlgen's executor answer byte-identical bodies, statuses and
// content types. The seed is fixed (FASTPATH_SEED overrides it) so a
// failure is reproducible; the case number and the request are printed.
// Every answer with errors must come from the executor (the fast path
// declined), and most successful ones from the fast path.
func TestFastPathMatchesExecutor(t *testing.T) {
	seed := uint64(20261203)
	if s := envSeed(); s != 0 {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, 15))
	members := fastPathMembers(rng, 60)
	snap := directory.NewSnapshot("org_1", members, time.Now())
	// org_bad has a member without metadata and one whose metadata is not
	// JSON: the executor fails on both (a null JSON!, and json.Marshal's
	// error), so the fast path must decline whenever they are on the page.
	bad := append(fastPathMembers(rng, 3),
		directory.Member{UserID: "user_bad", Role: "org:member", PublicMetadata: nil, MembershipMetadata: json.RawMessage(`{}`)},
		directory.Member{UserID: "user_bad2", Role: "org:member", PublicMetadata: json.RawMessage(`{}`), MembershipMetadata: json.RawMessage(`{not json`)})
	badSnap := directory.NewSnapshot("org_bad", bad, time.Now())
	src := &fakeSource{members: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
		if orgID == "org_bad" {
			return badSnap, nil
		}
		return snap, nil
	}}
	o := Options{Directory: &directory.Service{Source: src}, ResponseCacheBytes: -1, Logger: slog.New(slog.DiscardHandler)}
	fastH, fastT := buildHandler(o, true)
	slowH, _ := buildHandler(o, false)
	principals := []*auth.Principal{
		admin,
		{UserID: "user_2", OrgID: "org_1", OrgRole: "org:member", Permissions: []string{}},  // FORBIDDEN
		{UserID: "user_3", OrgID: "org_bad", OrgRole: "org:admin", Permissions: []string{}}, // a member the executor cannot answer
	}
	send := func(h http.Handler, p *auth.Principal, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(auth.WithPrincipal(req.Context(), p))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	// Members the executor cannot answer: identical answers (through it).
	for _, c := range []struct {
		query string
		fast  bool
	}{
		{`{ orgUsers { nodes { id membershipMetadata } } }`, false},
		{`{ orgUsers { nodes { id publicMetadata } } }`, false},
		{`{ orgUser(id: "user_bad2") { id membershipMetadata } }`, false},
		{`{ orgUser(id: "user_bad2") { id publicMetadata } }`, true}, // only the field it fails on declines
		{`{ orgUsers { nodes { id email membershipMetadata: publicMetadata } } }`, false},
		{`{ orgUsers { nodes { id email } } }`, true},
	} {
		q := c.query
		body, _ := json.Marshal(map[string]any{"query": q})
		before := fastT.fast.answered.Load()
		fw, sw := send(fastH, principals[2], body), send(slowH, principals[2], body)
		if fw.Code != sw.Code || !bytes.Equal(fw.Body.Bytes(), sw.Body.Bytes()) {
			t.Fatalf("%s\nfast path: %d %s\nexecutor:  %d %s", q, fw.Code, fw.Body.Bytes(), sw.Code, sw.Body.Bytes())
		}
		if fast := fastT.fast.answered.Load() > before; fast != c.fast {
			t.Fatalf("%s: answered by the fast path %v, want %v", q, fast, c.fast)
		}
		if os.Getenv("FASTPATH_DEBUG") != "" {
			t.Logf("%s: %d %s", q, sw.Code, sw.Body.Bytes())
		}
	}
	g := &queryGen{rng: rng, snap: snap}
	cases := 600
	if testing.Short() {
		cases = 150
	}
	var withErrors, answered int
	for i := range cases {
		p := principals[0]
		if i%20 == 19 {
			p = principals[1+i/20%2]
		}
		body, _ := json.Marshal(g.request())
		before := fastT.fast.answered.Load()
		fw := send(fastH, p, body)
		sw := send(slowH, p, body)
		fast := fastT.fast.answered.Load() > before
		fb, sb := fw.Body.Bytes(), sw.Body.Bytes()
		if !fast {
			// Both ran in the executor, which resolves fields concurrently:
			// its errors come in any order.
			fb, sb = sortedErrors(fb), sortedErrors(sb)
		}
		if fw.Code != sw.Code || !bytes.Equal(fb, sb) || fw.Header().Get("Content-Type") != sw.Header().Get("Content-Type") {
			t.Fatalf("case %d (seed %d, fast path answered: %v): request %s\nfast path: %d %s\nexecutor:  %d %s",
				i, seed, fast, body, fw.Code, fw.Body.Bytes(), sw.Code, sw.Body.Bytes())
		}
		var resp struct {
			Errors []json.RawMessage `json:"errors"`
		}
		_ = json.Unmarshal(sw.Body.Bytes(), &resp)
		if len(resp.Errors) > 0 {
			if os.Getenv("FASTPATH_DEBUG") != "" {
				t.Logf("error: %s", resp.Errors[0])
			}
			withErrors++
			if fast {
				t.Fatalf("case %d: the fast path answered an operation the executor answers with errors: %s", i, body)
			}
		}
		if fast {
			answered++
		}
	}
	t.Logf("%d cases (seed %d): %d answered by the fast path, %d with errors (all by the executor)", cases, seed, answered, withErrors)
	if answered < cases/3 || withErrors < cases/10 {
		t.Fatalf("the generator lost its balance: %d of %d answered by the fast path, %d with errors", answered, cases, withErrors)
	}
}

// sortedErrors returns an answer with its errors in byte order, the rest as
// it is.
func sortedErrors(body []byte) []byte {
	var resp struct {
		Errors []json.RawMessage `json:"errors"`
		Data   json.RawMessage   `json:"data"`
	}
	if json.Unmarshal(body, &resp) != nil || len(resp.Errors) < 2 {
		return body
	}
	sort.Slice(resp.Errors, func(i, j int) bool { return bytes.Compare(resp.Errors[i], resp.Errors[j]) < 0 })
	out, _ := json.Marshal(resp)
	return out
}

func envSeed() uint64 {
	var s uint64
	fmt.Sscan(strings.TrimSpace(os.Getenv("FASTPATH_SEED")), &s)
	return s
}

// TestFastPathFeedsTheResponseCache: a fast path answer records the
// snapshot it read, so the response cache keeps it and serves the same
// bytes; one with lastSignIn (which depends on the time) is never kept.
func TestFastPathFeedsTheResponseCache(t *testing.T) {
	snap := directory.NewSnapshot("org_1", fastPathMembers(rand.New(rand.NewPCG(1, 2)), 20), time.Now())
	src := &fakeSource{members: func(context.Context, string) (*directory.Snapshot, error) { return snap, nil }}
	h, tr := buildHandler(Options{Directory: &directory.Service{Source: src}}, true)
	send := func(query string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(map[string]any{"query": query})
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(auth.WithPrincipal(req.Context(), admin))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, tc := range []struct {
		query  string
		cached bool
	}{
		{`{ orgUsers(first: 5) { totalCount nodes { id email } facets { roles { value count } } } orgUser(id: "user_001") { id } }`, true},
		{`{ orgUsers(first: 5) { facets { lastSignIn { value count } } } }`, false},
	} {
		before := tr.fast.answered.Load()
		first := send(tc.query)
		if tr.fast.answered.Load() != before+1 {
			t.Fatalf("%s: the fast path did not answer: %s", tc.query, first.Body.Bytes())
		}
		second := send(tc.query)
		hit := second.Header().Get("X-Response-Cache") == "hit"
		if hit != tc.cached || !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
			t.Fatalf("%s: second answer cached %v (want %v), same bytes %v", tc.query, hit, tc.cached, bytes.Equal(first.Body.Bytes(), second.Body.Bytes()))
		}
	}
}

// TestFastPathLeavesTheRestToTheExecutor: operations outside what the fast
// path writes are never its to answer.
func TestFastPathLeavesTheRestToTheExecutor(t *testing.T) {
	h, tr := buildHandler(Options{Directory: testDirectory(), ResponseCacheBytes: -1, Introspection: true, Logger: slog.New(slog.DiscardHandler)}, true)
	for _, q := range []string{
		`{ viewer { userId } }`,
		`{ orgUsers(first: 1) { totalCount } viewer { userId } }`,
		`{ orgInvitations { totalCount } }`,
		`{ __schema { queryType { name } } }`,
		`{ __type(name: "OrgUser") { name } }`,
		`{ orgUsers(first: 1) { nodes { __typename id } } __schema { queryType { name } } }`,
		`mutation { removeOrgMembers(input: {target: {userIds: []}, dryRun: true}) { matched } }`,
	} {
		body, _ := json.Marshal(map[string]any{"query": q})
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(auth.WithPrincipal(req.Context(), admin))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"data"`) {
			t.Fatalf("%s: %d %s", q, w.Code, w.Body.String())
		}
		if n := tr.fast.answered.Load() + tr.fast.declined.Load(); n != 0 {
			t.Fatalf("%s: the fast path tried it", q)
		}
	}
}
