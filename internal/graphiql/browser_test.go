package graphiql_test

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/orgusers/orgusers/internal/graphiql"
	"github.com/orgusers/orgusers/internal/graphiql/graphiqltest"
)

//go:embed testdata/introspection.json
var introspectionJSON []byte

// fakeGraphQL answers GraphiQL's introspection query with a one-field schema
// and any other query with a fixed result, and records the Authorization
// header of the non-introspection requests.
type fakeGraphQL struct {
	mu    sync.Mutex
	auths []string
}

func (f *fakeGraphQL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query string `json:"query"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "want a POST with a JSON body", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(req.Query, "__schema") {
		w.Write(introspectionJSON)
		return
	}
	f.mu.Lock()
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.Write([]byte(`{"data":{"hello":"hello from the fake endpoint"}}`))
}

func (f *fakeGraphQL) authorizations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auths...)
}

// TestBrowserRunsQuery loads the page in headless Chromium under the
// handler's CSP, runs the default query with GraphiQL's run button, and checks
// the result pane and the prefilled header the request carried. Set
// GRAPHIQL_SCREENSHOT=/some/file.png to keep a screenshot.
func TestBrowserRunsQuery(t *testing.T) {
	// The token holds characters that would break out of the page's config
	// block if it were not escaped; it must arrive unchanged.
	const token = `Bearer t0k</script><b>&'"`
	fake := &fakeGraphQL{}
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", fake)
	page := graphiql.Handler(graphiql.Config{
		Endpoint:     "/graphql",
		Title:        "Org users",
		Headers:      map[string]string{"Authorization": token},
		DefaultQuery: "{ hello }",
	})
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+graphiql.AssetPrefix, page)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, console := graphiqltest.NewBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	result, err := graphiqltest.Execute(ctx, "hello from the fake endpoint")
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(console.All(), "\n"))
	}
	if !strings.Contains(result, `"hello"`) {
		t.Errorf("result pane = %q, want the hello field", result)
	}
	if got := fake.authorizations(); len(got) != 1 || got[0] != token {
		t.Errorf("Authorization headers of the query requests = %q, want [%q]", got, token)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil || title != "Org users" {
		t.Errorf("title = %q, %v; want %q", title, err, "Org users")
	}
	// The docs explorer lists the introspected field; the settings dialog
	// injects a <style> element, which the CSP has to allow.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[aria-label="Show Documentation Explorer"]`)),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-doc-explorer")),
	); err != nil {
		t.Fatalf("open docs explorer: %v", err)
	}
	if docs, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".graphiql-doc-explorer"))); err != nil || !strings.Contains(docs, "Query") {
		t.Errorf("docs explorer text = %q, %v; want the Query root type", docs, err)
	}
	graphiqltest.Screenshot(t, ctx, "GRAPHIQL_SCREENSHOT")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`[aria-label="Open settings dialog"]`)),
		chromedp.WaitVisible(chromedp.CSS(".graphiql-dialog")),
	); err != nil {
		t.Fatalf("open settings dialog: %v", err)
	}

	if v := console.CSPViolations(); len(v) > 0 {
		t.Errorf("CSP violations:\n%s", strings.Join(v, "\n"))
	}
	if e := console.Errors(); len(e) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(e, "\n"))
	}
	t.Logf("console:\n%s", strings.Join(console.All(), "\n"))
}
