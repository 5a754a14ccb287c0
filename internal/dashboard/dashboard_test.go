package dashboard_test

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

	"github.com/orgusers/orgusers/internal/dashboard"
)

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

// pageAssets returns the asset URLs the page references, by base name.
func pageAssets(t *testing.T, page string) map[string]string {
	t.Helper()
	urls := map[string]string{}
	for _, m := range assetRefs.FindAllStringSubmatch(page, -1) {
		urls[path.Base(m[1])] = m[1]
	}
	return urls
}

func TestPageHeaders(t *testing.T) {
	h := dashboard.Handler(dashboard.Config{})
	resp := get(t, h, http.MethodGet, dashboard.Path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": dashboard.ContentSecurityPolicy,
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// What the policy must say, whatever else it says.
	csp := dashboard.ContentSecurityPolicy
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(csp, d+";") && !strings.HasSuffix(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
}

// TestPageHasNoInlineCode: every script has a src or is a JSON data block,
// and no element carries a style attribute or an event handler attribute,
// so the page needs nothing the CSP forbids.
func TestPageHasNoInlineCode(t *testing.T) {
	page := body(t, get(t, dashboard.Handler(dashboard.Config{}), http.MethodGet, dashboard.Path, nil))
	for _, m := range regexp.MustCompile(`<script([^>]*)>([^<]*)</script>`).FindAllStringSubmatch(page, -1) {
		attrs, content := m[1], m[2]
		switch {
		case strings.Contains(attrs, `type="application/json"`):
		case strings.Contains(attrs, "src=") && strings.TrimSpace(content) == "":
		default:
			t.Errorf("inline script: %s", m[0])
		}
	}
	if n := strings.Count(page, "<script"); n != 2 {
		t.Errorf("page has %d script elements, want 2 (config and dashboard.js)", n)
	}
	if regexp.MustCompile(`(?i)\sstyle=|<style|\son[a-z]+=|javascript:`).MatchString(page) {
		t.Errorf("page has inline style or handler:\n%s", page)
	}
	if strings.Contains(page, "//") && regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).MatchString(page) {
		t.Errorf("page loads something from another origin:\n%s", page)
	}
}

func TestPageConfig(t *testing.T) {
	const token = `Bearer t0k</script><b>&'"`
	h := dashboard.Handler(dashboard.Config{Endpoint: "/api/graphql", Title: "Acme <members>", Headers: map[string]string{"Authorization": token}})
	page := body(t, get(t, h, http.MethodGet, dashboard.Path, nil))
	if !strings.Contains(page, "<title>Acme &lt;members&gt;</title>") {
		t.Errorf("title not escaped:\n%s", page)
	}
	if strings.Contains(page, "</script><b>") {
		t.Fatalf("the token closes the config block:\n%s", page)
	}
	m := regexp.MustCompile(`(?s)<script type="application/json" id="dashboard-config">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no config block:\n%s", page)
	}
	var cfg struct {
		Endpoint string            `json:"endpoint"`
		Headers  map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config block %q: %v", m[1], err)
	}
	if cfg.Endpoint != "/api/graphql" || cfg.Headers["Authorization"] != token {
		t.Errorf("config = %+v", cfg)
	}

	// The zero Config: /graphql, no headers (the page then offers a token field).
	page = body(t, get(t, dashboard.Handler(dashboard.Config{}), http.MethodGet, dashboard.Path, nil))
	if !strings.Contains(page, `{"endpoint":"/graphql"}`) || !strings.Contains(page, "<title>Members</title>") {
		t.Errorf("zero config page:\n%s", page)
	}
}

func TestAssets(t *testing.T) {
	h := dashboard.Handler(dashboard.Config{})
	urls := pageAssets(t, body(t, get(t, h, http.MethodGet, dashboard.Path, nil)))
	want := map[string]string{"dashboard.js": "static/dashboard.js", "dashboard.css": "static/dashboard.css"}
	if len(urls) != len(want) {
		t.Fatalf("page assets = %v, want %v", urls, want)
	}
	hashed := regexp.MustCompile(`^` + regexp.QuoteMeta(dashboard.AssetPrefix) + `[0-9a-f]{16}/[a-z.]+$`)
	for name, file := range want {
		url := urls[name]
		if !hashed.MatchString(url) {
			t.Errorf("%s is served at %q, want %s<hash>/%s", name, url, dashboard.AssetPrefix, name)
			continue
		}
		onDisk, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		resp := get(t, h, http.MethodGet, url, nil)
		got := body(t, resp)
		if resp.StatusCode != http.StatusOK || got != string(onDisk) {
			t.Errorf("GET %s = %d, %d bytes; want 200 and the %d bytes of %s", url, resp.StatusCode, len(got), len(onDisk), file)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s Cache-Control = %q", url, cc)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, map[string]string{".js": "text/javascript", ".css": "text/css"}[path.Ext(name)]) {
			t.Errorf("GET %s Content-Type = %q", url, ct)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" || !strings.Contains(url, strings.Trim(etag, `"`)) {
			t.Errorf("GET %s ETag = %q, want the URL's hash", url, etag)
		}
		if resp := get(t, h, http.MethodGet, url, map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", url, resp.StatusCode)
		}
		gz := get(t, h, http.MethodGet, url, map[string]string{"Accept-Encoding": "gzip"})
		if gz.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s with gzip: Content-Encoding = %q", url, gz.Header.Get("Content-Encoding"))
		} else {
			zr, err := gzip.NewReader(bytes.NewReader([]byte(body(t, gz))))
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := io.ReadAll(zr)
			if string(plain) != string(onDisk) {
				t.Errorf("GET %s gzipped does not decode to %s", url, file)
			}
		}
	}
}

func TestUnknownAssetIs404(t *testing.T) {
	h := dashboard.Handler(dashboard.Config{})
	urls := pageAssets(t, body(t, get(t, h, http.MethodGet, dashboard.Path, nil)))
	js := urls["dashboard.js"]
	for _, target := range []string{
		dashboard.AssetPrefix + "0000000000000000/dashboard.js", // a stale hash
		dashboard.AssetPrefix + "page.html",                     // embedded, but not an asset
		dashboard.AssetPrefix,
		js + "x",
		strings.Replace(js, "dashboard.js", "../static/dashboard.js", 1),
	} {
		if resp := get(t, h, http.MethodGet, target, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", target, resp.StatusCode)
		}
	}
}

func TestMethods(t *testing.T) {
	h := dashboard.Handler(dashboard.Config{})
	resp := get(t, h, http.MethodPost, dashboard.Path, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d, Allow %q; want 405, GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp := get(t, h, http.MethodHead, dashboard.Path, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD = %d, want 200", resp.StatusCode)
	}
}
