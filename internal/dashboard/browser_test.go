package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orgusers/orgusers/internal/dashboard"
	"github.com/orgusers/orgusers/internal/graphiql/graphiqltest"
)

// liveQuery is the subscription the page must send, word for word.
const liveQuery = `subscription Live($filter: OrgUserFilter) { orgUsersChanged(filter: $filter) { kind userId version user { id email firstName lastName role roleName lastSignInAt publicMetadata } } }`

// stream is one subscription the page opened on fakeAPI.
type stream struct {
	auth, accept, contentType string
	vars                      map[string]any
	frames                    chan string // written as they come; "event: complete" ends the stream
}

// fakeAPI answers the dashboard's operations with three members and serves
// its subscription as GraphQL over SSE, with frames the test sends.
type fakeAPI struct {
	mu     sync.Mutex
	counts map[string]int // operation name -> requests
	auths  []string       // Authorization of every query request
	subs   chan *stream
	quit   chan struct{} // closed at the end: open streams return
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{counts: map[string]int{}, subs: make(chan *stream, 10), quit: make(chan struct{})}
}

func (f *fakeAPI) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

var fakeMembers = []map[string]any{
	{"id": "user_1", "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "role": "org:admin", "roleName": "Admin", "lastSignInAt": "2026-01-02T03:04:05Z", "publicMetadata": map[string]any{"department": "Engineering"}},
	{"id": "user_2", "email": "grace@example.com", "firstName": "Grace", "lastName": "Hopper", "role": "org:member", "roleName": "Member", "lastSignInAt": nil, "publicMetadata": map[string]any{"department": "Navy"}},
	{"id": "user_3", "email": "linus@example.com", "firstName": "Linus", "lastName": nil, "role": "org:member", "roleName": "Member", "lastSignInAt": nil, "publicMetadata": map[string]any{}},
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "want a POST with a JSON body", http.StatusBadRequest)
		return
	}
	if strings.HasPrefix(req.Query, "subscription") {
		s := &stream{auth: r.Header.Get("Authorization"), accept: r.Header.Get("Accept"), contentType: r.Header.Get("Content-Type"),
			vars: req.Variables, frames: make(chan string, 10)}
		if req.Query != liveQuery {
			http.Error(w, "unexpected subscription: "+req.Query, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, ":\n\n")
		w.(http.Flusher).Flush()
		f.subs <- s
		for {
			select {
			case frame := <-s.frames:
				fmt.Fprint(w, frame)
				w.(http.Flusher).Flush()
				if strings.HasPrefix(frame, "event: complete") {
					return
				}
			case <-r.Context().Done():
				return
			case <-f.quit:
				return
			}
		}
	}
	op := "other"
	for _, name := range []string{"__schema", "DashboardPage", "DashboardFacets", "DashboardMetadata"} {
		if strings.Contains(req.Query, name) {
			op = name
		}
	}
	f.mu.Lock()
	f.counts[op]++
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	n := f.counts[op]
	f.mu.Unlock()
	var data any
	switch op {
	case "__schema":
		data = map[string]any{"__schema": map[string]any{"subscriptionType": map[string]any{"fields": []any{map[string]any{"name": "orgUsersChanged"}}}}}
	case "DashboardPage":
		data = map[string]any{"orgUsers": map[string]any{"totalCount": 3, "nodes": fakeMembers,
			"pageInfo": map[string]any{"hasNextPage": false, "hasPreviousPage": false, "startCursor": "c1", "endCursor": "c3"}}}
	case "DashboardFacets":
		// The admin count is the number of facet requests so far, so the
		// test sees each refresh.
		data = map[string]any{"orgUsers": map[string]any{"totalCount": 3, "facets": map[string]any{
			"roles":        []any{map[string]any{"value": "org:member", "count": 2}, map[string]any{"value": "org:admin", "count": n}},
			"signInStatus": []any{map[string]any{"value": "SIGNED_IN", "count": 1}, map[string]any{"value": "NEVER_SIGNED_IN", "count": 2}},
			"lastSignIn":   []any{map[string]any{"value": "<=7", "count": 0}, map[string]any{"value": "never", "count": 2}},
		}}}
	case "DashboardMetadata":
		data = map[string]any{"orgUsers": map[string]any{"facets": map[string]any{"metadata": map[string]any{
			"path": req.Variables["path"], "values": []any{map[string]any{"value": "Engineering", "count": 1}, map[string]any{"value": "Navy", "count": 1}},
			"otherCount": 0, "missingCount": 1}}}}
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"errors":[{"message":"unexpected operation","extensions":{"code":"BAD_REQUEST"}}]}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": data})
}

// TestBrowserLiveUpdates runs the page against fakeAPI in headless Chromium:
// without configured headers it offers the token field and then sends the
// pasted token, on queries and on the subscription; an UPDATED event
// changes the row in place and refreshes the counts, ADDED reloads the page,
// and a stream that completes or fails is opened again.
func TestBrowserLiveUpdates(t *testing.T) {
	ctx, console := graphiqltest.NewBrowser(t)
	fake := newFakeAPI()
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", fake)
	page := dashboard.Handler(dashboard.Config{})
	mux.Handle("GET "+dashboard.Path, page)
	mux.Handle("GET "+dashboard.AssetPrefix, page)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(fake.quit) // before srv.Close, which waits for the streams

	tab := graphiqltest.Page{T: t, Ctx: ctx, Console: console}
	fail, waitJS, do := tab.Fail, tab.WaitJS, tab.Do
	nextSub := func(what string) *stream {
		t.Helper()
		select {
		case s := <-fake.subs:
			return s
		case <-time.After(30 * time.Second):
			fail("no subscription for %s", what)
			return nil
		}
	}
	const roleOf2 = `document.querySelector('#rows tr[data-user-id="user_2"] td.role').textContent`
	const adminCount = `Number(document.querySelector('#chart-roles .bar[data-value="org:admin"] .count').textContent)`

	do("navigate", chromedp.Navigate(srv.URL+dashboard.Path))
	waitJS("the rows", `document.querySelectorAll('#rows tr[data-user-id]').length === 3`)
	s := nextSub("the first load")
	if s.auth != "" || s.accept != "text/event-stream" || s.contentType != "application/json" {
		t.Errorf("first subscription: Authorization %q, Accept %q, Content-Type %q", s.auth, s.accept, s.contentType)
	}
	waitJS("the live badge", `document.getElementById('live').dataset.state === 'on'`)

	// A pasted token is used from then on, the stream included.
	waitJS("the token field", `!document.getElementById('auth').hidden`)
	do("paste a token", chromedp.SendKeys(chromedp.CSS("#token"), "tok_123"), chromedp.Click(chromedp.CSS(`#auth button`)))
	s = nextSub("the token")
	if s.auth != "Bearer tok_123" {
		t.Errorf("subscription after the token: Authorization %q", s.auth)
	}
	waitJS("the live badge", `document.getElementById('live').dataset.state === 'on'`)

	// UPDATED: the row changes in place, highlighted; the counts are asked
	// again (once, however many events come within 300 ms).
	facets := fake.count("DashboardFacets")
	waitJS("the counts of the last facet request", fmt.Sprintf(`%s === %d`, adminCount, facets))
	updated := `event: next
data: {"data":{"orgUsersChanged":{"kind":"UPDATED","userId":"user_2","version":"7","user":{"id":"user_2","email":"grace@example.com","firstName":"Grace","lastName":"Hopper","role":"org:billing","roleName":"Billing","lastSignInAt":null,"publicMetadata":{"department":"Navy"}}}}}

`
	do("mark the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	s.frames <- ": keep-alive\n\n"
	s.frames <- updated
	s.frames <- strings.ReplaceAll(updated, "\n", "\r\n") // CRLF frames too
	waitJS("the updated row", roleOf2+` === 'org:billing' && document.querySelector('#rows tr[data-user-id="user_2"]').classList.contains('flash')`)
	waitJS("refreshed counts", fmt.Sprintf(`%s === %d`, adminCount, facets+1))
	waitJS("the highlight to fade", `!document.querySelector('#rows tr.flash')`)
	if got := fake.count("DashboardFacets"); got != facets+1 {
		t.Errorf("%d facet requests after two events, want %d (debounced)", got, facets+1)
	}

	// ADDED: the page is asked again.
	pages := fake.count("DashboardPage")
	s.frames <- "event: next\ndata: {\"data\":{\"orgUsersChanged\":{\"kind\":\"ADDED\",\"userId\":\"user_4\",\"version\":\"8\",\"user\":null}}}\n\n"
	deadline := time.Now().Add(10 * time.Second)
	for fake.count("DashboardPage") == pages && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if fake.count("DashboardPage") == pages {
		t.Error("ADDED did not reload the page")
	}
	// The page shows the server's rows again (the fake never changed user_2).
	waitJS("the reloaded rows", roleOf2+` === 'org:member'`)

	// complete: the stream is opened again after a second.
	s.frames <- "event: complete\ndata:\n\n"
	s = nextSub("the reconnect after complete")
	if s.auth != "Bearer tok_123" {
		t.Errorf("reconnect: Authorization %q", s.auth)
	}
	// An error frame: again.
	s.frames <- "event: next\ndata: {\"errors\":[{\"message\":\"token expired\",\"extensions\":{\"code\":\"UNAUTHENTICATED\"}}]}\n\n"
	s = nextSub("the reconnect after an error")
	waitJS("the live badge", `document.getElementById('live').dataset.state === 'on'`)

	// Another filter: the subscription follows it.
	do("search", chromedp.SendKeys(chromedp.CSS("#f-search"), "gr"), chromedp.Click(chromedp.CSS(`#filters button`)))
	s = nextSub("the new filter")
	if f, _ := s.vars["filter"].(map[string]any); f["search"] != "gr" {
		t.Errorf("subscription variables after the search: %v", s.vars)
	}
	waitJS("no reload", `window.notReloaded === true`)

	fake.mu.Lock()
	auths := fake.auths
	fake.mu.Unlock()
	for i, a := range auths {
		if a != "" && a != "Bearer tok_123" {
			t.Errorf("query %d sent Authorization %q", i, a)
		}
	}
	if auths[len(auths)-1] != "Bearer tok_123" {
		t.Errorf("the last query sent Authorization %q, want the pasted token", auths[len(auths)-1])
	}
	if v := console.CSPViolations(); len(v) > 0 {
		t.Errorf("CSP violations:\n%s", strings.Join(v, "\n"))
	}
	if e := console.Errors(); len(e) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
	}
}
