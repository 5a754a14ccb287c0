// Package graphiql serves the GraphiQL IDE from files embedded in the binary,
// so it works offline and under a strict Content-Security-Policy.
//
// The page loads GraphiQL 3.x's UMD build with React 18's UMD builds (see
// assets/README.md for versions and how to refresh them) and a small bootstrap
// script; it uses no CDN, no inline script and no eval.
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// AssetPrefix is the absolute URL path under which Handler serves GraphiQL's
// scripts and styles. Asset URLs are "/graphiql/assets/<content hash>/<file>",
// so they can be cached forever: a new build with other files yields other URLs.
const AssetPrefix = "/graphiql/assets/"

// ContentSecurityPolicy is the policy Handler sets on the page. Scripts come
// only from this origin, with no inline script and no eval. Styles need
// 'unsafe-inline': GraphiQL's dialogs and menus inject a <style> element with
// computed values (react-remove-scroll) and CodeMirror builds some elements
// with style attributes; without it the browser reports violations (checked
// by the browser test). Fonts and images need data: because GraphiQL's CSS
// embeds its fonts and icons. The GraphQL endpoint must be on the same origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

// Config is what the page shows. The zero value is usable: it points GraphiQL
// at "/graphql" with the title "GraphiQL".
type Config struct {
	// Endpoint is the GraphQL endpoint path on the same origin, e.g. "/graphql".
	Endpoint string
	// Title is the page title.
	Title string
	// Headers prefill GraphiQL's request-headers editor and are sent with
	// every request, e.g. {"Authorization": "Bearer ..."}. The page is then
	// a credential: only use this in demo mode. GraphiQL keeps its editor
	// state in memory only, so the token is not written to localStorage and a
	// reload shows the configured headers and query again.
	Headers map[string]string
	// DefaultQuery is the example query shown in the editor.
	DefaultQuery string
}

// Handler returns an http.Handler serving the GraphiQL page for cfg and its
// assets. Requests whose path starts with AssetPrefix get an embedded asset
// (404 if unknown); every other path gets the page. So mount it at the page
// path and at AssetPrefix, for example:
//
//	h := graphiql.Handler(cfg)
//	mux.Handle("GET /{$}", h)
//	mux.Handle("GET "+graphiql.AssetPrefix, h)
//
// The page is rendered once, here, and sent with ContentSecurityPolicy and
// "Cache-Control: no-store" (it may hold a token). Assets are sent with their
// content type, a year-long immutable cache lifetime, an ETag, and gzip when
// the client accepts it. Methods other than GET and HEAD get 405. The server
// wiring may call it in demo mode or when introspection is enabled; it reports
// no directory error codes, only HTTP statuses.
func Handler(cfg Config) http.Handler {
	page, err := renderPage(cfg)
	if err != nil {
		// Only a broken embedded template can get here, never a Config value.
		panic(fmt.Sprintf("graphiql: render page: %v", err))
	}
	return &handler{page: page}
}

type handler struct {
	page []byte
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	if strings.HasPrefix(r.URL.Path, AssetPrefix) {
		serveAsset(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(len(h.page)))
	w.Write(h.page)
}

//go:embed static/page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// pageConfig is read by static/init.js.
type pageConfig struct {
	Endpoint     string `json:"endpoint"`
	Headers      string `json:"headers,omitempty"` // a JSON object, as GraphiQL's headers editor wants it
	DefaultQuery string `json:"defaultQuery,omitempty"`
}

func renderPage(cfg Config) ([]byte, error) {
	pc := pageConfig{Endpoint: cfg.Endpoint, DefaultQuery: cfg.DefaultQuery}
	if pc.Endpoint == "" {
		pc.Endpoint = "/graphql"
	}
	if len(cfg.Headers) > 0 {
		// Not HTML-escaped here: the editor shows this text as is, and the
		// template escapes the whole block below.
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(cfg.Headers); err != nil {
			return nil, err
		}
		pc.Headers = strings.TrimSuffix(b.String(), "\n")
	}
	title := cfg.Title
	if title == "" {
		title = "GraphiQL"
	}
	var buf bytes.Buffer
	// html/template escapes Title for HTML and renders Config as JSON with
	// <, > and & escaped, so no value can close the <script> block.
	err := pageTemplate.Execute(&buf, struct {
		Title           string
		Config          pageConfig
		Styles, Scripts []string
	}{title, pc, pageStyles, pageScripts})
	return buf.Bytes(), err
}

// The vendored files (assets/) and our own (static/). The LICENSE files stay
// in the repository and are not served.
//
//go:embed assets/graphiql/graphiql.min.js assets/graphiql/graphiql.min.css
//go:embed assets/react/react.production.min.js assets/react-dom/react-dom.production.min.js
//go:embed static/init.js static/page.css
var files embed.FS

// The files the page loads, in order: React before ReactDOM before GraphiQL
// before the bootstrap that uses all three.
var (
	pageStyles = []string{
		assetURL("assets/graphiql/graphiql.min.css"),
		assetURL("static/page.css"),
	}
	pageScripts = []string{
		assetURL("assets/react/react.production.min.js"),
		assetURL("assets/react-dom/react-dom.production.min.js"),
		assetURL("assets/graphiql/graphiql.min.js"),
		assetURL("static/init.js"),
	}
)

type asset struct {
	contentType string
	etag        string // quoted content hash
	body        []byte
	gzipped     func() []byte // compressed on first use
}

// assets maps URL path to asset; assetURL fills it as the page lists files.
var assets = map[string]*asset{}

// assetURL registers the embedded file name and returns its URL path.
func assetURL(name string) string {
	body, err := fs.ReadFile(files, name)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:8])
	a := &asset{
		contentType: contentTypes[path.Ext(name)],
		etag:        `"` + hash + `"`,
		body:        body,
		gzipped:     sync.OnceValue(func() []byte { return gzipBytes(body) }),
	}
	if a.contentType == "" {
		panic("graphiql: no content type for " + name)
	}
	url := AssetPrefix + hash + "/" + path.Base(name)
	assets[url] = a
	return url
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, etag := a.body, a.etag
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		body, etag = a.gzipped(), a.etag[:len(a.etag)-1]+`-gz"`
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	hdr.Set("ETag", etag)
	hdr.Set("Vary", "Accept-Encoding")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if gz {
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	zw.Write(b)                                              // a bytes.Buffer does not fail
	zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip: it lists
// gzip without q=0. A bare "*" is ignored; identity is always fine.
func acceptsGzip(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

// etagMatches reports whether an If-None-Match value names etag (weakly, as
// RFC 9110 asks for If-None-Match) or is "*".
func etagMatches(ifNoneMatch, etag string) bool {
	for tag := range strings.SplitSeq(ifNoneMatch, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag || tag == "*" {
			return true
		}
	}
	return false
}
