package graphiql_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/graphiql"
)

// The files the page must load, by base name, and where they live in the
// repository, so the test can check the bytes served are the vendored ones.
var wantAssets = map[string]string{
	"react.production.min.js":     "assets/react/react.production.min.js",
	"react-dom.production.min.js": "assets/react-dom/react-dom.production.min.js",
	"graphiql.min.js":             "assets/graphiql/graphiql.min.js",
	"graphiql.min.css":            "assets/graphiql/graphiql.min.css",
	"init.js":                     "static/init.js",
	"page.css":                    "static/page.css",
}

// get sends a request to h and returns the response. Go's client is not
// involved, so Accept-Encoding is exactly what the caller sets.
func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

var assetRefs = regexp.MustCompile(`(?:src|href)="(/[^"]+)"`)

// pageAssets returns the asset URLs the page references, in order.
func pageAssets(t *testing.T, page string) []string {
	t.Helper()
	var urls []string
	for _, m := range assetRefs.FindAllStringSubmatch(page, -1) {
		urls = append(urls, m[1])
	}
	return urls
}

func TestPageHeaders(t *testing.T) {
	h := graphiql.Handler(graphiql.Config{})
	resp := get(t, h, http.MethodGet, "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": graphiql.ContentSecurityPolicy,
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// The directives the product requires, whatever else the policy says.
	for _, d := range []string{
		"default-src 'self'", "script-src 'self'", "connect-src 'self'",
		"img-src 'self' data:", "frame-ancestors 'none'",
	} {
		if !strings.Contains(graphiql.ContentSecurityPolicy, d+";") && !strings.HasSuffix(graphiql.ContentSecurityPolicy, d) {
			t.Errorf("CSP lacks %q", d)
		}
	}
	if strings.Contains(graphiql.ContentSecurityPolicy, "unsafe-eval") {
		t.Error("CSP allows unsafe-eval")
	}
}

// TestPageAndAssets checks that every file the page references is served
// with its content type, long cache lifetime and the vendored bytes, and that
// the page has no inline script and nothing from another origin.
func TestPageAndAssets(t *testing.T) {
	h := graphiql.Handler(graphiql.Config{})
	page := body(t, get(t, h, http.MethodGet, "/", nil))

	urls := pageAssets(t, page)
	seen := map[string]bool{}
	for _, u := range urls {
		if !strings.HasPrefix(u, graphiql.AssetPrefix) {
			t.Errorf("page references %q, outside %s", u, graphiql.AssetPrefix)
			continue
		}
		name := path.Base(u)
		file, ok := wantAssets[name]
		if !ok {
			t.Errorf("page references unexpected asset %q", u)
			continue
		}
		seen[name] = true
		resp := get(t, h, http.MethodGet, u, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", u, resp.StatusCode)
			continue
		}
		wantType := "text/javascript; charset=utf-8"
		if strings.HasSuffix(name, ".css") {
			wantType = "text/css; charset=utf-8"
		}
		if got := resp.Header.Get("Content-Type"); got != wantType {
			t.Errorf("GET %s: Content-Type = %q, want %q", u, got, wantType)
		}
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control = %q", u, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q", u, got)
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := body(t, resp); got != string(want) {
			t.Errorf("GET %s: body differs from %s (%d bytes, want %d)", u, file, len(got), len(want))
		}
	}
	for name := range wantAssets {
		if !seen[name] {
			t.Errorf("page does not reference %s", name)
		}
	}

	// Every <script> either has a src or is the JSON config block.
	scripts := regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1)
	for _, s := range scripts {
		if !strings.Contains(s, ` src="`) && !strings.Contains(s, `type="application/json"`) {
			t.Errorf("inline script tag %s", s)
		}
	}
	if strings.Contains(page, "://") {
		t.Errorf("page references another origin:\n%s", page)
	}
}

// configBlock returns the text of the page's JSON config block.
func configBlock(t *testing.T, page string) string {
	t.Helper()
	const open = `<script type="application/json" id="graphiql-config">`
	_, rest, ok := strings.Cut(page, open)
	if !ok {
		t.Fatalf("no config block in page:\n%s", page)
	}
	block, _, ok := strings.Cut(rest, "</script>")
	if !ok {
		t.Fatalf("config block not closed:\n%s", page)
	}
	return block
}

type pageConfig struct {
	Endpoint     string `json:"endpoint"`
	Headers      string `json:"headers"`
	DefaultQuery string `json:"defaultQuery"`
}

func TestConfigEscaping(t *testing.T) {
	hostile := `</script><script>alert(1)</script><!-- & '"` + "\u2028"
	cfg := graphiql.Config{
		Endpoint:     "/graphql",
		Title:        `</title><script>alert(1)</script>`,
		Headers:      map[string]string{"Authorization": "Bearer " + hostile, "X-Other": "1"},
		DefaultQuery: "query { orgUsers { nodes { email } } } # " + hostile,
	}
	page := body(t, get(t, graphiql.Handler(cfg), http.MethodGet, "/", nil))

	if n := strings.Count(page, "<script"); n != 5 {
		t.Errorf("page has %d <script tags, want 5 (config + 4 files):\n%s", n, page)
	}
	if strings.Contains(page, "<script>alert") {
		t.Errorf("hostile text reached the page unescaped:\n%s", page)
	}
	block := configBlock(t, page)
	if strings.ContainsAny(block, "<>&") {
		t.Errorf("config block holds raw <, > or &: %s", block)
	}
	var got pageConfig
	if err := json.Unmarshal([]byte(block), &got); err != nil {
		t.Fatalf("config block is not JSON: %v\n%s", err, block)
	}
	if got.Endpoint != cfg.Endpoint || got.DefaultQuery != cfg.DefaultQuery {
		t.Errorf("config = %+v, want endpoint %q and query %q", got, cfg.Endpoint, cfg.DefaultQuery)
	}
	var headers map[string]string
	if err := json.Unmarshal([]byte(got.Headers), &headers); err != nil {
		t.Fatalf("headers %q are not a JSON object: %v", got.Headers, err)
	}
	if len(headers) != 2 || headers["Authorization"] != cfg.Headers["Authorization"] || headers["X-Other"] != "1" {
		t.Errorf("headers = %q, want %q", headers, cfg.Headers)
	}
	// The editor shows the headers as written, not as \u003c escapes.
	if !strings.Contains(got.Headers, "</script>") {
		t.Errorf("headers text %q is escaped twice", got.Headers)
	}
	if !strings.Contains(page, "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>") {
		t.Errorf("title not HTML-escaped:\n%s", page)
	}
}

func TestConfigDefaults(t *testing.T) {
	page := body(t, get(t, graphiql.Handler(graphiql.Config{}), http.MethodGet, "/", nil))
	var got pageConfig
	if err := json.Unmarshal([]byte(configBlock(t, page)), &got); err != nil {
		t.Fatal(err)
	}
	if want := (pageConfig{Endpoint: "/graphql"}); got != want {
		t.Errorf("config = %+v, want %+v", got, want)
	}
	if !strings.Contains(page, "<title>GraphiQL</title>") {
		t.Errorf("default title missing:\n%s", page)
	}
}

func TestAssetGzipAndRevalidation(t *testing.T) {
	h := graphiql.Handler(graphiql.Config{})
	var jsURL string
	for _, u := range pageAssets(t, body(t, get(t, h, http.MethodGet, "/", nil))) {
		if path.Base(u) == "graphiql.min.js" {
			jsURL = u
		}
	}
	want, err := os.ReadFile(wantAssets["graphiql.min.js"])
	if err != nil {
		t.Fatal(err)
	}

	plain := get(t, h, http.MethodGet, jsURL, nil)
	gz := get(t, h, http.MethodGet, jsURL, map[string]string{"Accept-Encoding": "br, gzip"})
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip response headers = %v", gz.Header)
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, want) {
		t.Errorf("gunzipped body: %d bytes, err %v; want the %d vendored bytes", len(unzipped), err, len(want))
	}
	if plain.Header.Get("Content-Encoding") != "" {
		t.Errorf("identity response has Content-Encoding %q", plain.Header.Get("Content-Encoding"))
	}
	if plain.Header.Get("ETag") == gz.Header.Get("ETag") {
		t.Errorf("gzip and identity share ETag %s", plain.Header.Get("ETag"))
	}

	tests := []struct {
		name, encoding, ifNoneMatch string
		want                        int
	}{
		{"identity etag matches", "", plain.Header.Get("ETag"), http.StatusNotModified},
		{"gzip etag matches", "gzip", gz.Header.Get("ETag"), http.StatusNotModified},
		{"weak etag matches", "", "W/" + plain.Header.Get("ETag"), http.StatusNotModified},
		{"other etag", "", `"nope", "other"`, http.StatusOK},
		{"gzip etag on identity request", "", gz.Header.Get("ETag"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, http.MethodGet, jsURL, map[string]string{"Accept-Encoding": tt.encoding, "If-None-Match": tt.ifNoneMatch})
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestStatuses(t *testing.T) {
	h := graphiql.Handler(graphiql.Config{})
	var cssURL string
	for _, u := range pageAssets(t, body(t, get(t, h, http.MethodGet, "/", nil))) {
		if path.Base(u) == "page.css" {
			cssURL = u
		}
	}
	tests := []struct {
		name, method, target string
		want                 int
	}{
		{"page", http.MethodGet, "/", http.StatusOK},
		{"page HEAD", http.MethodHead, "/", http.StatusOK},
		{"asset HEAD", http.MethodHead, cssURL, http.StatusOK},
		{"unknown asset", http.MethodGet, graphiql.AssetPrefix + "0000000000000000/page.css", http.StatusNotFound},
		{"asset without hash", http.MethodGet, graphiql.AssetPrefix + "page.css", http.StatusNotFound},
		{"LICENSE is not served", http.MethodGet, graphiql.AssetPrefix + "graphiql/LICENSE", http.StatusNotFound},
		{"POST", http.MethodPost, "/", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.target, nil)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: status %d, want %d", tt.method, tt.target, resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
}

func BenchmarkPage(b *testing.B) {
	h := graphiql.Handler(graphiql.Config{Headers: map[string]string{"Authorization": "Bearer x"}})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func BenchmarkAssetGzip(b *testing.B) {
	h := graphiql.Handler(graphiql.Config{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	var jsURL string
	for _, m := range assetRefs.FindAllStringSubmatch(rec.Body.String(), -1) {
		if path.Base(m[1]) == "graphiql.min.js" {
			jsURL = m[1]
		}
	}
	req := httptest.NewRequest(http.MethodGet, jsURL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	h.ServeHTTP(httptest.NewRecorder(), req) // compress once, outside the loop
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		b.SetBytes(int64(w.Body.Len()))
	}
}
