package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
)

// TestHitFirstAnswersAsTheTransport: a hit that hitFirst serves is the
// hit httpTransport.do serves behind gqlgen's Server, byte for byte: the
// status, headers, body, access log line and what the Observer hears.
func TestHitFirstAnswersAsTheTransport(t *testing.T) {
	obs := &operations{}
	h, _ := buildHandler(Options{Directory: testDirectory(), Observer: obs}, true)
	front, ok := h.(hitFirst)
	if !ok {
		t.Fatalf("NewHandler without tracing is %T, not hitFirst", h)
	}
	var logs bytes.Buffer
	logger, err := accesslog.NewLogger("json", "info", &logs)
	if err != nil {
		t.Fatal(err)
	}
	// As server.go mounts it: the access log outside, a session
	// middleware that may have added Vary already.
	mount := func(next http.Handler) http.Handler {
		return accesslog.Middleware(logger, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Cookie") != "" {
				w.Header().Add("Vary", "Cookie")
			}
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), admin)))
		}))
	}
	viaFront, viaServer := mount(front), mount(front.next)
	type answer struct {
		status int
		header http.Header
		body   []byte
		log    map[string]any
		heard  []string
	}
	send := func(h http.Handler, body string, header http.Header) answer {
		logs.Reset()
		obs.got = nil
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		req.Header = header.Clone()
		req.Header.Set("X-Request-Id", "req-1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var line map[string]any
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("log %q: %v", logs.Bytes(), err)
		}
		delete(line, "time")
		delete(line, "duration_ms")
		return answer{rec.Code, rec.Header(), rec.Body.Bytes(), line, obs.got}
	}
	// Over 1 KiB of answer, so that it is stored gzipped too.
	var aliases strings.Builder
	for i := range 20 {
		fmt.Fprintf(&aliases, " a%d: viewer { userId organizationId organizationRole organizationSlug permissions }", i)
	}
	big := `{"query":"query Q($n: Int) { orgUsers(first: $n) { totalCount nodes { id email } }` + aliases.String() + ` }","variables":{"n":50}}`
	for _, c := range []struct {
		name, body string
		header     http.Header
	}{
		{"json", `{"query":"{ orgUsers(first: 2) { totalCount nodes { id } } }"}`, http.Header{"Content-Type": {"application/json"}}},
		{"gzip", big, http.Header{"Content-Type": {"application/json"}, "Accept-Encoding": {"gzip"}}},
		{"no gzip", big, http.Header{"Content-Type": {"application/json"}}},
		{"graphql-response", big, http.Header{"Content-Type": {"application/json"}, "Accept": {"application/graphql-response+json"}}},
		{"vary set before", big, http.Header{"Content-Type": {"application/json"}, "Cookie": {"a=b"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if a := send(viaServer, c.body, c.header); a.status != 200 {
				t.Fatalf("priming: %d %s", a.status, a.body)
			}
			want := send(viaServer, c.body, c.header)
			got := send(viaFront, c.body, c.header)
			if want.header.Get("X-Response-Cache") != "hit" || len(want.heard) != 1 || (c.name == "gzip") != (want.header.Get("Content-Encoding") == "gzip") {
				t.Fatalf("the transport did not answer from the cache: %v", want.header)
			}
			if got.status != want.status || !bytes.Equal(got.body, want.body) || !reflect.DeepEqual(got.header, want.header) ||
				!reflect.DeepEqual(got.log, want.log) || !reflect.DeepEqual(got.heard, want.heard) {
				t.Fatalf("hitFirst:  %d %v %v %v %.100q\ntransport: %d %v %v %v %.100q",
					got.status, got.header, got.log, got.heard, got.body, want.status, want.header, want.log, want.heard, want.body)
			}
		})
	}
}

// slowBody returns its bytes, then a timeout.
type slowBody struct{ io.Reader }

func (slowBody) Close() error { return nil }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// A request hitFirst read but could not answer reaches the transport with
// the same bytes and the same read error: a miss is answered, a body that
// timed out is 408, one longer than it said is 413.
func TestHitFirstReplaysWhatItRead(t *testing.T) {
	h := NewHandler(Options{Directory: testDirectory(), MaxBodyBytes: 1 << 10})
	send := func(body io.Reader, length int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", body)
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(auth.WithPrincipal(req.Context(), admin))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	q := `{"query":"{ orgUsers(first: 1) { totalCount } }"}`
	for i, wantHit := range []bool{false, true} {
		rec := send(strings.NewReader(q), int64(len(q)))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"totalCount"`) || (rec.Header().Get("X-Response-Cache") == "hit") != wantHit {
			t.Fatalf("#%d: %d %v %s", i, rec.Code, rec.Header(), rec.Body)
		}
	}
	slow := slowBody{io.MultiReader(strings.NewReader(q[:10]), errReader{timeoutError{}})}
	if rec := send(slow, int64(len(q))); rec.Code != http.StatusRequestTimeout {
		t.Fatalf("slow body: %d %s", rec.Code, rec.Body)
	}
	long := `{"query":"{ __typename }","x":"` + strings.Repeat("x", 2<<10) + `"}`
	if rec := send(strings.NewReader(long), 100); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("long body: %d %s", rec.Code, rec.Body)
	}
}

// A body past hitFirstMaxBody reaches the Server unread (a large hostile
// body is not hashed and copied for a lookup first), and its answer is
// still served from the cache, by the transport.
func TestHitFirstLeavesLargeBodiesToTheServer(t *testing.T) {
	h, _ := buildHandler(Options{Directory: testDirectory()}, true)
	front := h.(hitFirst)
	q := `{"query":"{ orgUsers(first: 1) { totalCount } }"}` + strings.Repeat(" ", hitFirstMaxBody)
	newReq := func() *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(q))
		req.Header.Set("Content-Type", "application/json")
		return req.WithContext(auth.WithPrincipal(req.Context(), admin))
	}
	var reached io.ReadCloser
	req := newReq()
	original := req.Body
	hitFirst{next: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { reached = r.Body }), t: front.t}.ServeHTTP(httptest.NewRecorder(), req)
	if reached != original {
		t.Fatalf("the Server got %T, not the request's own body", reached)
	}
	for i, wantHit := range []bool{false, true} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newReq())
		if rec.Code != 200 || (rec.Header().Get("X-Response-Cache") == "hit") != wantHit {
			t.Fatalf("#%d: %d %v %.200s", i, rec.Code, rec.Header(), rec.Body)
		}
	}
}
