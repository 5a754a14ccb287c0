package graph

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/auth"
)

// noReads is a request body that records whether anything read it.
type noReads struct{ read atomic.Bool }

func (b *noReads) Read(p []byte) (int, error) {
	b.read.Store(true)
	return copy(p, `{"query":"{ viewer { userId } }"}`), io.EOF
}

func TestNoSessionIs401BeforeTheBodyIsRead(t *testing.T) {
	h := NewHandler(Options{Directory: testDirectory()})
	body := &noReads{}
	req := httptest.NewRequest(http.MethodPost, "/graphql", body)
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(auth.WithAuthError(req.Context(), fmt.Errorf("token expired")))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"code":"UNAUTHENTICATED"`) || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if body.read.Load() {
		t.Fatal("the body of an unauthenticated request was read")
	}
	// The same for a query in the URL: nothing is parsed, so nothing is cached.
	url := serve(t, Options{}, nil)
	a := do(t, mustRequest(t, http.MethodGet, url+"?query="+urlEncode("{ viewer { userId } }"), ""))
	if a.status != 401 || a.codes() != "UNAUTHENTICATED" || a.Data != nil {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

func TestTransportErrorsAreJSONWithACode(t *testing.T) {
	url := serve(t, Options{MaxBodyBytes: 4 << 10}, admin)
	big := `{"query":"{ __typename }","variables":{"a":"` + strings.Repeat("x", 5<<10) + `"}}`
	cases := []struct {
		name, method, contentType, body string
		status                          int
		code, says                      string
	}{
		{"method", http.MethodPut, "application/json", `{"query":"{ __typename }"}`, 405, "BAD_REQUEST", "PUT"},
		{"content type", http.MethodPost, "text/plain", `{"query":"{ __typename }"}`, 415, "BAD_REQUEST", "application/json"},
		{"no content type", http.MethodPost, "", `{"query":"{ __typename }"}`, 415, "BAD_REQUEST", "application/json"},
		{"body too large", http.MethodPost, "application/json", big, 413, "BAD_REQUEST", "4096 bytes"},
		{"not JSON", http.MethodPost, "application/json", `{"query": {`, 400, "BAD_REQUEST", "not valid JSON"},
		{"not an object", http.MethodPost, "application/json", `"{ __typename }"`, 400, "BAD_REQUEST", "not a JSON object"},
		{"a batch", http.MethodPost, "application/json", `[{"query":"{ __typename }"}]`, 400, "BAD_REQUEST", "batched"},
		{"no query", http.MethodPost, "application/json", `{"variables":{}}`, 400, "BAD_REQUEST", "no query"},
		{"query not a string", http.MethodPost, "application/json", `{"query":5}`, 400, "BAD_REQUEST", "query must be a string"},
		{"unknown member", http.MethodPost, "application/json", `{"query":"{ __typename }","qeury":"x"}`, 400, "BAD_REQUEST", `"qeury"`},
		{"query twice", http.MethodPost, "application/json", `{"query":"{ __typename }","query":"{ viewer { userId } }"}`, 400, "BAD_REQUEST", "twice"},
		{"variables a string", http.MethodPost, "application/json", `{"query":"{ __typename }","variables":"{}"}`, 400, "BAD_USER_INPUT", "variables must be a JSON object"},
		{"variables an array", http.MethodPost, "application/json", `{"query":"{ __typename }","variables":[1]}`, 400, "BAD_USER_INPUT", "variables must be a JSON object"},
		{"variables too deep", http.MethodPost, "application/json", `{"query":"{ __typename }","variables":{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`, 400, "BAD_USER_INPUT", "64 levels"},
		{"operationName a number", http.MethodPost, "application/json", `{"query":"{ __typename }","operationName":1}`, 400, "BAD_REQUEST", "operationName"},
		{"variable of the wrong type", http.MethodPost, "application/json", `{"query":"query($n: Int) { orgUsers(first: $n) { totalCount } }","variables":{"n":"ten"}}`, 200, "GRAPHQL_VALIDATION_FAILED", "n"},
		{"variable object for a string", http.MethodPost, "application/json", `{"query":"query($s: String) { orgUsers(filter: {search: $s}) { totalCount } }","variables":{"s":{"a":1}}}`, 200, "GRAPHQL_VALIDATION_FAILED", "s"},
		{"unknown operation", http.MethodPost, "application/json", `{"query":"query A { __typename }","operationName":"B"}`, 200, "GRAPHQL_VALIDATION_FAILED", "B"},
		{"syntax", http.MethodPost, "application/json", `{"query":"{ __typename "}`, 200, "GRAPHQL_PARSE_FAILED", "Expected"},
	}
	goTypes := regexp.MustCompile(`map\[|interface \{\}|json\.|\bstruct\b|RawParams|int64|float64|Go value|127\.0\.0\.1|tcp`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := mustRequest(t, tc.method, url, tc.body)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			a := do(t, req)
			if a.status != tc.status || a.codes() != tc.code || !strings.Contains(a.Errors[0].Message, tc.says) {
				t.Fatalf("%d %s, want %d %s saying %q: %s", a.status, a.codes(), tc.status, tc.code, tc.says, a.raw)
			}
			if goTypes.Match(a.raw) || len(tc.body) > 20 && strings.Contains(string(a.raw), tc.body[:20]) {
				t.Fatalf("the error carries Go types, addresses or the request: %s", a.raw)
			}
			if a.header.Get("Cache-Control") != "private, no-store" || !strings.Contains(strings.Join(a.header.Values("Vary"), ","), "Authorization") {
				t.Fatalf("headers %v", a.header)
			}
		})
	}
	// 405 says what is allowed.
	a := do(t, mustRequest(t, http.MethodDelete, url, ""))
	if a.header.Get("Allow") != "GET, POST" {
		t.Fatalf("Allow = %q", a.header.Get("Allow"))
	}
}

func TestAnswersAreNeverStoredByCaches(t *testing.T) {
	url := serve(t, Options{}, admin)
	for _, req := range []*http.Request{
		postRequest(t, url, `{"query":"{ orgUsers(first: 1) { totalCount } }"}`),
		mustRequest(t, http.MethodGet, url+"?query="+urlEncode("{ orgUsers(first: 1) { totalCount } }"), ""),
	} {
		for i := 0; i < 2; i++ { // the second is a response cache hit
			a := do(t, req.Clone(req.Context()))
			if a.status != 200 || a.header.Get("Cache-Control") != "private, no-store" || !strings.Contains(strings.Join(a.header.Values("Vary"), ","), "Authorization") {
				t.Fatalf("%s #%d: %d %v", req.Method, i, a.status, a.header)
			}
		}
	}
}

func TestGETRefusesMutationsAndTakesVariables(t *testing.T) {
	url := serve(t, Options{}, admin)
	a := do(t, mustRequest(t, http.MethodGet, url+"?query="+urlEncode("query($n: Int) { orgUsers(first: $n) { nodes { id } } }")+"&variables="+urlEncode(`{"n":1}`), ""))
	if a.status != 200 || !strings.Contains(string(a.Data), `"user_1"`) || strings.Contains(string(a.Data), "user_2") {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	a = do(t, mustRequest(t, http.MethodGet, url+"?query="+urlEncode("{ viewer { userId } }")+"&variables="+urlEncode(strings.Repeat("[", 70)), ""))
	if a.status != 400 || a.codes() != "BAD_USER_INPUT" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	a = do(t, mustRequest(t, http.MethodGet, url+"?query=x&qeury=y", ""))
	if a.status != 400 || !strings.Contains(a.Errors[0].Message, "qeury") {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}

// TestSlowBodyIs408 sends the headers and part of a body, then nothing: the
// server's read deadline passes and the answer is 408, not 413.
func TestSlowBodyIs408(t *testing.T) {
	h := NewHandler(Options{Directory: testDirectory()})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), admin)))
	}))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || !strings.Contains(string(raw), `"code":"BAD_REQUEST"`) || !strings.Contains(string(raw), "in time") {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
}

func TestNoSuggestionsWithoutIntrospection(t *testing.T) {
	off := serve(t, Options{}, admin)
	on := serve(t, Options{Introspection: true}, admin)
	for _, tc := range []struct{ query, vars string }{
		{`{ orgUsers(fist: 1) { totalCount } }`, ``},
		{`{ orgUsers(filter: {serch: "a"}) { totalCount } }`, ``},
		{`{ orgUsers(filter: {metadata: [{path: "a", sourc: USER, exists: true}]}) { totalCount } }`, ``},
		{`{ orgUsers(orderBy: {field: EMAI, direction: ASC}) { totalCount } }`, ``},
		{`{ orgUsers(filter: {signInStatus: SIGNED}) { totalCount } }`, ``},
		{`{ orgUsers { totalCont } }`, ``},
		{`query($o: OrgUserOrder) { orgUsers(orderBy: $o) { totalCount } }`, `{"o":{"field":"EMAI","direction":"ASC"}}`},
		{`query($f: OrgUserFilter) { orgUsers(filter: $f) { totalCount } }`, `{"f":{"serch":"a"}}`},
		{`query($f: OrgUserFilter) { orgUsers(filter: $f) { totalCount } }`, `{"f":{"signInStatus":"SIGNED"}}`},
		{`query($f: OrgUserFilte) { orgUsers(filter: $f) { totalCount } }`, `{}`},
	} {
		body := `{"query":` + quote(tc.query)
		if tc.vars != "" {
			body += `,"variables":` + tc.vars
		}
		body += "}"
		a := post(t, off, body)
		if len(a.Errors) == 0 || strings.Contains(string(a.raw), "Did you mean") || strings.Contains(string(a.raw), "did you mean") {
			t.Errorf("%s %s: %s", tc.query, tc.vars, a.raw)
		}
		// With introspection on, the schema is public: suggestions help.
		if b := post(t, on, body); len(b.Errors) == 0 {
			t.Errorf("introspection on: %s", b.raw)
		}
	}
	a := postQuery(t, on, `{ orgUsers(fist: 1) { totalCount } }`)
	if !strings.Contains(string(a.raw), "Did you mean") {
		t.Errorf("no suggestion with introspection on: %s", a.raw)
	}
}

// TestGraphiQLIntrospectionFitsTheLimits runs the query GraphiQL sends to
// load the schema.
func TestGraphiQLIntrospectionFitsTheLimits(t *testing.T) {
	url := serve(t, Options{Introspection: true}, admin)
	a := postQuery(t, url, graphiqlIntrospection)
	if a.status != 200 || len(a.Errors) != 0 || !strings.Contains(string(a.Data), `"OrgUserFilter"`) {
		t.Fatalf("%d %.400s", a.status, a.raw)
	}
}

// graphiqlIntrospection is the schema query GraphiQL 3 sends (with
// descriptions, as it does by default).
const graphiqlIntrospection = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}`

func mustRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func postRequest(t testing.TB, url, body string) *http.Request {
	req := mustRequest(t, http.MethodPost, url, body)
	req.Header.Set("Content-Type", "application/json")
	return req
}

func urlEncode(s string) string { return url.QueryEscape(s) }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// A body over the limit is refused with 413 however its length is told:
// declared too large (refused unread), chunked (read through
// http.MaxBytesReader), or declared small but longer (the limit counted
// while reading); a body of exactly the limit is read.
func TestBodyLimitWhateverTheLength(t *testing.T) {
	const limit = 4 << 10
	h := NewHandler(Options{Directory: testDirectory(), MaxBodyBytes: limit})
	exact := `{"query":"{ __typename }","variables":{"a":"`
	exact += strings.Repeat("x", limit-len(exact)-3) + `"}}`
	over := exact + " "
	for _, c := range []struct {
		name, body    string
		contentLength int64
		status        int
	}{
		{"declared", over, int64(len(over)), 413},
		{"chunked", over, -1, 413},
		{"declared small", over, 100, 413},
		{"exactly the limit", exact, int64(len(exact)), 200},
		{"exactly the limit, chunked", exact, -1, 200},
	} {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(c.body))
		req.ContentLength = c.contentLength
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(auth.WithPrincipal(req.Context(), admin))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status || c.status == 413 && !strings.Contains(rec.Body.String(), "4096 bytes") {
			t.Errorf("%s: %d %.200s", c.name, rec.Code, rec.Body)
		}
	}
}
