package rest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orgusers/orgusers/internal/directory"
)

// internalNames are fragments of Go type and package names, fmt's verb
// errors and the GraphQL filter's field paths: an error message holding one
// that the query did not hold leaks an implementation detail.
var internalNames = []string{
	"directory.", "url.", "strconv.", "json.", "time.", "mime.", "http.", "reflect.", "runtime",
	"%!", "<nil>", "filter.", "filter:",
}

// request is a GET of the REST path with the raw query string raw and, when
// accept is not empty, that Accept header.
func request(raw, accept string) *http.Request {
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: Path, RawQuery: raw}, Header: http.Header{}}
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	return r
}

// checkParse checks the properties of parseQuery for one request: errors are
// BAD_USER_INPUT with a safe message naming a parameter; parsing is
// deterministic; the canonical form parses to the same query and is a fixed
// point; the negotiated format is json or csv and the parameter wins.
func checkParse(t *testing.T, raw, accept string) {
	t.Helper()
	q, err := parseQuery(request(raw, accept))
	if err != nil {
		var de *directory.Error
		if !errors.As(err, &de) || directory.ErrorCode(err) != directory.CodeBadUserInput {
			t.Fatalf("parseQuery(%q): error %v (%T), want a *directory.Error BAD_USER_INPUT", raw, err, err)
		}
		msg := directory.ErrorMessage(err)
		if msg == "" || !utf8.ValidString(msg) {
			t.Fatalf("parseQuery(%q): message %q, want non-empty UTF-8", raw, msg)
		}
		// The message may quote the query's names and values (as %q does).
		values, _ := url.ParseQuery(raw) // holds what parsed before the error
		var given strings.Builder
		given.WriteString(raw)
		named := strings.HasPrefix(msg, "malformed query string: ")
		for name, vals := range values {
			given.WriteString(name + "\x00" + strconv.Quote(name))
			for _, v := range vals {
				given.WriteString("\x00" + v + "\x00" + strconv.Quote(v))
			}
			named = named || strings.Contains(msg, strconv.Quote(name))
		}
		for _, s := range internalNames {
			if strings.Contains(msg, s) && !strings.Contains(given.String(), s) {
				t.Fatalf("parseQuery(%q): message %q holds %q", raw, msg, s)
			}
		}
		if !named {
			t.Fatalf("parseQuery(%q): message %q names no parameter of the query", raw, msg)
		}
		return
	}

	again, err := parseQuery(request(raw, accept))
	if err != nil || !reflect.DeepEqual(again, q) {
		t.Fatalf("parseQuery(%q) twice: %+v, then %+v %v", raw, q, again, err)
	}
	if (q.filter == nil) != (q.canonical == "") {
		t.Fatalf("parseQuery(%q): filter %+v with canonical %q", raw, q.filter, q.canonical)
	}
	if q.filter != nil {
		if err := q.filter.Validate(); err != nil {
			t.Fatalf("parseQuery(%q): invalid filter: %v", raw, err)
		}
	}
	canon := q.canonical
	if q.format != "" {
		canon = strings.TrimPrefix(canon+"&format="+string(q.format), "&")
	}
	c, err := parseQuery(request(canon, accept))
	if err != nil {
		t.Fatalf("parseQuery(%q): canonical %q does not parse: %v", raw, canon, err)
	}
	if c.canonical != q.canonical || c.format != q.format || !reflect.DeepEqual(c.filter, q.filter) {
		t.Fatalf("parseQuery(%q) = %+v %+v; its canonical %q parses to %+v %+v", raw, q, q.filter, canon, c, c.filter)
	}

	got := negotiate(request(raw, accept), q.format)
	if (got != formatJSON && got != formatCSV) || (q.format != "" && got != q.format) {
		t.Fatalf("negotiate(%q, Accept %q) = %q with format parameter %q", raw, accept, got, q.format)
	}
}

// FuzzParseQuery checks checkParse's properties for any query string and
// Accept header. CI runs it for a fixed number of inputs; the seeds are
// below and in testdata/fuzz/FuzzParseQuery.
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []struct{ raw, accept string }{
		{"", ""},
		{"role=org:admin&role=org:member", ""},
		{"role=org%3Aadmin", ""},
		{"metadata.department=Sales", ""},
		{"metadata.location.country=DE&metadata.vnum=7", ""},
		{"metadata.vnum=-1.5e%2B3&metadata.flag=true", ""},
		{"metadata.x=7%20", ""},
		{"metadata.=x", ""},
		{"metadata.a..b=x", ""},
		{"metadata%5Bdepartment%5D=Sales", ""},
		{"signInStatus=signed_in", ""},
		{"signInStatus=never_signed_in&search=chen", ""},
		{"signInStatus=sometimes", ""},
		{"lastSignInAfter=2025-01-01T00:00:00Z", ""},
		{"lastSignInBefore=2026-02-15T00:00:00.123%2B02:00&createdAfter=2025-01-01T00:00:00Z&createdBefore=2030-01-01T00:00:00Z", ""},
		{"createdAfter=yesterday", ""},
		{"format=csv", ""},
		{"format=json", "text/csv"},
		{"format=xml", ""},
		{"", "text/csv; charset=utf-8, application/json;q=0.5"},
		{"", "text/csv;;"},
		{"search=a&search=b", ""},
		{"search=", ""},
		{"search=a+b%20c", ""},
		{"role=", ""},
		{"limit=10", ""},
		{"=x", ""},
		{"a;b=c", ""},
		{"%zz=1", ""},
		{"search=%", ""},
		{"search=%E2%82%AC&role=%FF", ""},
		{"format=csv&format=json", ""},
	} {
		f.Add(seed.raw, seed.accept)
	}
	f.Fuzz(checkParse)
}

func TestMetadataEqualsValues(t *testing.T) {
	cases := []struct {
		v    string
		want []any
	}{
		{"Sales", []any{"Sales"}},
		{"7", []any{"7", json.Number("7")}},
		{"-1.5e+3", []any{"-1.5e+3", json.Number("-1.5e+3")}},
		{"true", []any{"true", true}},
		{"false", []any{"false", false}},
		{"", []any{""}},
		{"7 ", []any{"7 "}},
		{"7\n", []any{"7\n"}},
		{"7\t\r", []any{"7\t\r"}},
		{" 7", []any{" 7"}},
		{"007", []any{"007"}},
		{"1.", []any{"1."}},
		{"-", []any{"-"}},
		{"True", []any{"True"}},
	}
	for _, tc := range cases {
		c := metadataEquals("a.b", tc.v)
		if c.Path != "a.b" || c.Source != directory.MetadataUser || c.Op != directory.OpIn || !reflect.DeepEqual(c.Values, tc.want) {
			t.Errorf("metadataEquals(%q) = %+v, want values %#v", tc.v, c, tc.want)
		}
		f := directory.Filter{Metadata: []directory.MetadataCondition{c}}
		if err := f.Validate(); err != nil {
			t.Errorf("metadataEquals(%q): %v", tc.v, err)
		}
	}
}
