package rest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

// fakeSource serves a fixed snapshot or an error.
type fakeSource struct {
	members func(ctx context.Context, orgID string) (*directory.Snapshot, error)
}

var _ directory.Source = (*fakeSource)(nil)

func (f *fakeSource) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	return f.members(ctx, orgID)
}

func ptr[T any](v T) *T { return &v }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// members is a small org: mixed-case emails, one without an email, one who
// never signed in, nested and numeric metadata.
func members() []directory.Member {
	return []directory.Member{
		{UserID: "user_c", Email: ptr("carol@example.com"), FirstName: ptr("Carol"), LastName: ptr("Chen"), Username: ptr("carol"),
			ImageURL: ptr("https://img.example.com/c.png"), LastSignInAt: ptr(ts("2026-03-01T10:00:00Z")), CreatedAt: ts("2025-01-01T00:00:00Z"),
			PublicMetadata: json.RawMessage(`{"department":"Engineering","vnum":7,"location":{"country":"DE"}}`), Role: "org:admin", RoleName: "Admin",
			MembershipMetadata: json.RawMessage(`{}`), JoinedAt: ts("2025-01-02T00:00:00Z")},
		{UserID: "user_a", Email: ptr("Alice@example.com"), FirstName: ptr("Alice"), CreatedAt: ts("2025-02-01T00:00:00Z"),
			PublicMetadata: json.RawMessage(`{"department":"Sales","vnum":"7"}`), Role: "org:member", RoleName: "Member",
			MembershipMetadata: json.RawMessage(`{}`), JoinedAt: ts("2025-02-02T00:00:00Z")},
		{UserID: "user_n", CreatedAt: ts("2025-03-01T00:00:00Z"), LastSignInAt: ptr(ts("2026-01-01T00:00:00.123Z")),
			PublicMetadata: json.RawMessage(`{}`), Role: "org:billing", RoleName: "Billing",
			MembershipMetadata: json.RawMessage(`{}`), JoinedAt: ts("2025-03-02T00:00:00Z")},
		{UserID: "user_b", Email: ptr("bob@example.com"), LastName: ptr("Brown"), CreatedAt: ts("2025-04-01T00:00:00Z"),
			LastSignInAt: ptr(ts("2026-02-01T00:00:00Z")), Role: "org:member", RoleName: "Member", JoinedAt: ts("2025-04-02T00:00:00Z")},
	}
}

type fixture struct {
	srv     *httptest.Server
	loads   int
	failure error
	members []directory.Member // the org the source serves; members() unless a test replaces it
}

// newFixture serves the handler with an authentication stand-in: the test
// names the principal with headers, because verifying tokens is auth's job
// (tested there and end to end in package main).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{members: members()}
	src := &fakeSource{members: func(ctx context.Context, orgID string) (*directory.Snapshot, error) {
		f.loads++
		if f.failure != nil {
			return nil, f.failure
		}
		if orgID != "org_1" {
			return nil, errors.New("unexpected org " + orgID)
		}
		return directory.NewSnapshot(orgID, f.members, time.Now()), nil
	}}
	h := &Handler{Directory: &directory.Service{Source: src}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	mux.Handle(Path, withTestPrincipal(h))
	mux.Handle(OpenAPIPath, OpenAPIHandler())
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func withTestPrincipal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		switch who := r.Header.Get("X-Test-Principal"); who {
		case "":
		case "invalid":
			ctx = auth.WithAuthError(ctx, directory.Errorf(directory.CodeUnauthenticated, "token expired"))
		default:
			org, role, _ := strings.Cut(who, "/")
			ctx = auth.WithPrincipal(ctx, &auth.Principal{UserID: "user_x", OrgID: org, OrgRole: role, Permissions: []string{}})
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

const admin = "org_1/org:admin"

func (f *fixture) get(t *testing.T, method, target, principal string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+target, nil)
	if principal != "" {
		req.Header.Set("X-Test-Principal", principal)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestStatuses(t *testing.T) {
	cases := []struct {
		name, method, target, principal string
		failure                         error
		status                          int
		code, message                   string
	}{
		{"ok", "GET", Path, admin, nil, 200, "", ""},
		{"no token", "GET", Path, "", nil, 401, "UNAUTHENTICATED", "missing bearer token"},
		{"bad token", "GET", Path, "invalid", nil, 401, "UNAUTHENTICATED", "token expired"},
		{"no org", "GET", Path, "/", nil, 400, "NO_ACTIVE_ORGANIZATION", "User is not part of any organization"},
		{"member", "GET", Path, "org_1/org:member", nil, 403, "FORBIDDEN", "User is not an admin in the organization"},
		{"post", "POST", Path, admin, nil, 405, "METHOD_NOT_ALLOWED", "Only GET requests are accepted"},
		{"delete", "DELETE", Path, admin, nil, 405, "METHOD_NOT_ALLOWED", "Only GET requests are accepted"},
		{"unknown param", "GET", Path + "?limit=10", admin, nil, 400, "BAD_USER_INPUT", `unknown query parameter "limit"`},
		{"bad status", "GET", Path + "?signInStatus=sometimes", admin, nil, 400, "BAD_USER_INPUT", `parameter "signInStatus" must be signed_in or never_signed_in, got "sometimes"`},
		{"bad time", "GET", Path + "?createdAfter=yesterday", admin, nil, 400, "BAD_USER_INPUT", ""},
		{"repeated single", "GET", Path + "?search=a&search=b", admin, nil, 400, "BAD_USER_INPUT", `parameter "search" must be given once`},
		{"empty metadata path", "GET", Path + "?metadata.=x", admin, nil, 400, "BAD_USER_INPUT", `parameter "metadata.": the metadata path must be dot-separated keys such as metadata.location.country, with no empty key`},
		{"empty metadata key", "GET", Path + "?metadata.a..b=x", admin, nil, 400, "BAD_USER_INPUT", `parameter "metadata.a..b": the metadata path must be dot-separated keys such as metadata.location.country, with no empty key`},
		{"bracket metadata form", "GET", Path + "?metadata%5Bdepartment%5D=Sales", admin, nil, 400, "BAD_USER_INPUT", `unknown query parameter "metadata[department]"`},
		{"bad format", "GET", Path + "?format=xml", admin, nil, 400, "BAD_USER_INPUT", ""},
		{"most metadata conditions", "GET", Path + "?" + strings.Repeat("metadata.k=v&", maxMetadataConditions-1) + "metadata.k=v", admin, nil, 200, "", ""},
		{"too many metadata conditions", "GET", Path + "?" + strings.Repeat("metadata.k=v&", maxMetadataConditions) + "metadata.k=v", admin, nil, 400, "BAD_USER_INPUT",
			`parameter "metadata.k": a query may hold at most 199 metadata conditions`},
		{"upstream down", "GET", Path, admin, directory.Wrap(directory.CodeUpstreamUnavailable, errors.New("clerk 503 trace abc"), "the identity provider is unavailable"), 503, "UPSTREAM_UNAVAILABLE", "the identity provider is unavailable"},
		{"internal", "GET", Path, admin, errors.New("secret internal detail"), 500, "INTERNAL_SERVER_ERROR", "internal error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.failure = tc.failure
			resp, body := f.get(t, tc.method, tc.target, tc.principal, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 200 {
				return
			}
			var e struct{ Error, Code string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if e.Code != tc.code || (tc.message != "" && e.Error != tc.message) {
				t.Fatalf("error = %+v, want code %s message %q", e, tc.code, tc.message)
			}
			if strings.Contains(string(body), "secret") || strings.Contains(string(body), "trace") {
				t.Fatalf("internal detail leaked: %s", body)
			}
			switch tc.status {
			case 405:
				if resp.Header.Get("Allow") == "" {
					t.Fatal("405 without Allow")
				}
			case 503:
				if resp.Header.Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After")
				}
			}
		})
	}
}

func TestRowsExactKeysOrderAndValues(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "GET", Path, admin, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Key order, from the raw bytes.
	wantKeys := []string{"id", "email", "firstName", "lastName", "username", "imageUrl", "lastSignInAt", "publicMetadata", "createdAt", "role"}
	dec := json.NewDecoder(bytes.NewReader(body))
	var rows []json.RawMessage
	if err := dec.Decode(&rows); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		keys := objectKeys(t, row)
		if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
			t.Fatalf("keys = %v, want %v", keys, wantKeys)
		}
	}
	var got []map[string]any
	_ = json.Unmarshal(body, &got)
	var ids []string
	for _, r := range got {
		ids = append(ids, r["id"].(string))
	}
	// Email order case-insensitively, no email last.
	if strings.Join(ids, ",") != "user_a,user_b,user_c,user_n" {
		t.Fatalf("order = %v", ids)
	}
	b := got[1]
	if b["firstName"] != nil || b["username"] != nil || b["imageUrl"] != nil {
		t.Fatalf("absent values must be null: %v", b)
	}
	if md, ok := b["publicMetadata"].(map[string]any); !ok || len(md) != 0 {
		t.Fatalf("empty metadata must be {}: %v", b["publicMetadata"])
	}
	if got[0]["lastSignInAt"] != nil {
		t.Fatalf("never signed in must be null: %v", got[0]["lastSignInAt"])
	}
	if got[3]["lastSignInAt"] != "2026-01-01T00:00:00.123Z" || got[0]["createdAt"] != "2025-02-01T00:00:00.000Z" {
		t.Fatalf("timestamps: %v %v", got[3]["lastSignInAt"], got[0]["createdAt"])
	}
	if got[2]["role"] != "org:admin" {
		t.Fatalf("role = %v", got[2]["role"])
	}
}

func objectKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestFilters(t *testing.T) {
	cases := []struct{ query, want string }{
		{"role=org:member", "user_a,user_b"},
		{"role=org:member&role=org:billing", "user_a,user_b,user_n"},
		{"signInStatus=never_signed_in", "user_a"},
		{"signInStatus=signed_in", "user_b,user_c,user_n"},
		{"search=CHEN", "user_c"},
		{"createdAfter=2025-02-15T00:00:00Z", "user_b,user_n"},
		{"lastSignInBefore=2026-02-15T00:00:00Z", "user_b,user_n"},
		{"metadata.department=Engineering", "user_c"},
		{"metadata.location.country=DE", "user_c"},
		{"metadata.vnum=7", "user_a,user_c"},
		{"metadata.department=Engineering&metadata.vnum=7", "user_c"},
		{"metadata.department=Nowhere", ""},
		{"metadata.vnum=7%20", ""}, // the text "7 ", not the number 7
		{"metadata.vnum=7+", ""},
	}
	f := newFixture(t)
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := f.get(t, "GET", Path+"?"+tc.query, admin, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var rows []struct{ ID string }
			_ = json.Unmarshal(body, &rows)
			var ids []string
			for _, r := range rows {
				ids = append(ids, r.ID)
			}
			if got := strings.Join(ids, ","); got != tc.want {
				t.Fatalf("ids = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCSV(t *testing.T) {
	f := newFixture(t)
	for _, how := range []struct {
		target string
		hdr    map[string]string
	}{{Path + "?format=csv", nil}, {Path, map[string]string{"Accept": "text/csv"}}} {
		resp, body := f.get(t, "GET", how.target, admin, how.hdr)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 5 || strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
			t.Fatalf("csv = %v", recs)
		}
		if recs[3][0] != "user_c" || recs[3][7] != `{"department":"Engineering","vnum":7,"location":{"country":"DE"}}` {
			t.Fatalf("row = %v", recs[3])
		}
	}
}

func TestETag(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "GET", Path, admin, nil)
	etag := resp.Header.Get("ETag")
	if etag == "" || len(body) == 0 {
		t.Fatal("no ETag")
	}
	resp, body = f.get(t, "GET", Path, admin, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 304 || len(body) != 0 {
		t.Fatalf("If-None-Match: status %d, %d bytes", resp.StatusCode, len(body))
	}
	// Another query, another tag.
	resp, _ = f.get(t, "GET", Path+"?role=org:admin", admin, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Fatalf("filtered request: status %d etag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

// TestResponsesMatchOpenAPI validates real responses, success and every
// error, against the published OpenAPI document.
func TestResponsesMatchOpenAPI(t *testing.T) {
	ctx := context.Background()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("document invalid: %v", err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	cases := []struct {
		name, method, target, principal string
		failure                         error
		status                          int
	}{
		{"ok", "GET", Path + "?role=org:member&metadata.department=Sales", admin, nil, 200},
		{"csv", "GET", Path + "?format=csv", admin, nil, 200},
		{"400", "GET", Path + "?signInStatus=x", admin, nil, 400},
		{"400 no org", "GET", Path, "/", nil, 400},
		{"401", "GET", Path, "", nil, 401},
		{"403", "GET", Path, "org_1/org:member", nil, 403},
		{"405", "POST", Path, admin, nil, 405},
		{"500", "GET", Path, admin, errors.New("boom"), 500},
		{"503", "GET", Path, admin, directory.Errorf(directory.CodeUpstreamUnavailable, "down"), 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.failure = tc.failure
			resp, body := f.get(t, tc.method, tc.target, tc.principal, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			req, _ := http.NewRequest("GET", tc.target, nil)
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatal(err)
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if tc.method == "GET" && tc.status != 400 {
				if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
					t.Fatalf("request invalid: %v", err)
				}
			}
			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
				Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
			if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
				t.Fatalf("response invalid: %v\n%s", err, body)
			}
		})
	}
}

func TestCSVNeutralizesFormulas(t *testing.T) {
	cases := []struct{ in, want string }{
		// Formula characters first.
		{"=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"},
		{"+1", "'+1"},
		{"-2", "'-2"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		// Tab and carriage return first, whatever follows.
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		// Formula characters after leading white space.
		{" =1+1", "' =1+1"},
		{"   +1", "'   +1"},
		{"\t=1", "'\t=1"},
		{"\n=1+1", "'\n=1+1"},
		{"\r\n=1", "'\r\n=1"},
		{"\n\n -x", "'\n\n -x"},
		{"\u00a0=1", "'\u00a0=1"},
		{"\u2007@x", "'\u2007@x"},
		{"\u202f+1", "'\u202f+1"},
		{"\u3000=1", "'\u3000=1"},
		{"\ufeff=1", "'\ufeff=1"},
		{"\u200b=1", "'\u200b=1"},
		{"\v\f\u0085\u2028=1", "'\v\f\u0085\u2028=1"},
		// Fullwidth forms, first and after white space.
		{"\uff1dSUM(A1)", "'\uff1dSUM(A1)"},
		{"\uff0b1", "'\uff0b1"},
		{"\uff0d1", "'\uff0d1"},
		{"\uff20x", "'\uff20x"},
		{" \uff1d1", "' \uff1d1"},
		{"\u3000\uff0b1", "'\u3000\uff0b1"},
		{"\n\uff20x", "'\n\uff20x"},
		// Plain text is unchanged.
		{"Ada", "Ada"},
		{"Alice", "Alice"},
		{"", ""},
		{" Alice", " Alice"},
		{"\nAlice", "\nAlice"},
		{"\u00a0Alice", "\u00a0Alice"},
		{"   ", "   "},
		{"a=b", "a=b"},
		{"Ada -x", "Ada -x"},
		{"x\uff1d1", "x\uff1d1"},
		{"{\"a\":1}", "{\"a\":1}"},
		{"\xff=1", "\xff=1"},
	}
	for _, tc := range cases {
		if got := neutralizeFormula(tc.in); got != tc.want {
			t.Errorf("neutralizeFormula(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	// Through the handler: each case is one member's first name, read back
	// from the CSV export; the JSON answer keeps the name as it is.
	f := newFixture(t)
	f.members = nil
	for i, tc := range cases {
		f.members = append(f.members, directory.Member{
			UserID: fmt.Sprintf("user_%02d", i), Email: ptr(fmt.Sprintf("u%02d@example.com", i)), FirstName: ptr(tc.in),
			CreatedAt: ts("2025-01-01T00:00:00Z"), Role: "org:member", RoleName: "Member", JoinedAt: ts("2025-01-02T00:00:00Z"),
		})
	}
	resp, body := f.get(t, "GET", Path+"?format=csv", admin, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("csv: status %d: %s", resp.StatusCode, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) != len(cases)+1 {
		t.Fatalf("csv: %d records, %v", len(recs), err)
	}
	resp, body = f.get(t, "GET", Path, admin, nil)
	var rows []struct {
		ID        string
		FirstName *string
	}
	if err := json.Unmarshal(body, &rows); err != nil || resp.StatusCode != 200 || len(rows) != len(cases) {
		t.Fatalf("json: status %d, %d rows, %v", resp.StatusCode, len(rows), err)
	}
	for i, tc := range cases {
		id := fmt.Sprintf("user_%02d", i)
		rec, row := recs[i+1], rows[i]
		// encoding/csv reads a quoted \r\n back as \n.
		want := strings.ReplaceAll(tc.want, "\r\n", "\n")
		if rec[0] != id || rec[2] != want {
			t.Errorf("csv row %d: id %q first name %q, want %q %q", i, rec[0], rec[2], id, want)
		}
		// encoding/json writes an invalid UTF-8 byte as U+FFFD.
		if in := strings.ToValidUTF8(tc.in, "\uFFFD"); row.ID != id || row.FirstName == nil || *row.FirstName != in {
			t.Errorf("json row %d: %q %v, want %q %q", i, row.ID, row.FirstName, id, in)
		}
	}
}
