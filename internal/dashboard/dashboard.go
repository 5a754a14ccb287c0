// Package dashboard serves a small members dashboard from files embedded in
// the binary: facet counts as bar charts, the member table with its filters
// and cursor paging, live row updates over the orgUsersChanged subscription
// (GraphQL over SSE) and a bulk role change with its dry-run preview.
//
// The page is plain HTML, CSS and one script with no library and no build
// step. It talks only to the public GraphQL endpoint, like any other client,
// and runs under a strict Content-Security-Policy: no inline script, no
// inline style, no eval, nothing from another origin.
package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// Path is where the server wiring mounts the page.
const Path = "/dashboard"

// AssetPrefix is the absolute URL path under which Handler serves the page's
// script and style. Asset URLs are "/dashboard/assets/<content hash>/<file>",
// so they can be cached forever: a new build with other files yields other
// URLs.
const AssetPrefix = "/dashboard/assets/"

// ContentSecurityPolicy is the policy Handler sets on the page. Everything
// is denied unless listed: the script and the style sheet come from this
// origin only, with no inline script, no inline style and no eval (bar
// widths are set through the CSSOM, element.style, which style-src does not
// govern); requests go to this origin only (the GraphQL endpoint must be
// same-origin); the only image is the empty data: favicon. Trusted Types
// are required, so no string can ever reach an HTML sink: the script builds
// the page with DOM calls and textContent only.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Config is what the page uses. The zero value is usable: it points the page
// at "/graphql" with the title "Members".
type Config struct {
	// Endpoint is the GraphQL endpoint path on the same origin, e.g. "/graphql".
	Endpoint string
	// Title is the page title.
	Title string
	// Headers are sent with every request, e.g. {"Authorization": "Bearer
	// ..."}. The page is then a credential: only use this in demo mode.
	// Without Headers the page relies on Clerk's same-site __session cookie
	// (requests are sent with credentials "same-origin") and offers a field
	// to paste a bearer token, kept in memory only.
	Headers map[string]string
}

// Handler returns an http.Handler serving the dashboard page for cfg and its
// assets. Requests whose path starts with AssetPrefix get an embedded asset
// (404 if unknown); every other path gets the page. So mount it at Path and
// at AssetPrefix:
//
//	h := dashboard.Handler(cfg)
//	mux.Handle("GET "+dashboard.Path, h)
//	mux.Handle("GET "+dashboard.AssetPrefix, h)
//
// The page is rendered once, here, and sent with ContentSecurityPolicy and
// "Cache-Control: no-store" (it may hold a token). Assets are sent with their
// content type, a year-long immutable cache lifetime, an ETag, and gzip when
// the client accepts it. Methods other than GET and HEAD get 405.
func Handler(cfg Config) http.Handler {
	page, err := renderPage(cfg)
	if err != nil {
		// Only a broken embedded template can get here, never a Config value.
		panic(fmt.Sprintf("dashboard: render page: %v", err))
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

// pageConfig is read by static/dashboard.js.
type pageConfig struct {
	Endpoint string            `json:"endpoint"`
	Headers  map[string]string `json:"headers,omitempty"`
}

func renderPage(cfg Config) ([]byte, error) {
	pc := pageConfig{Endpoint: cfg.Endpoint, Headers: cfg.Headers}
	if pc.Endpoint == "" {
		pc.Endpoint = "/graphql"
	}
	title := cfg.Title
	if title == "" {
		title = "Members"
	}
	var buf bytes.Buffer
	// html/template escapes Title for HTML and renders Config as JSON with
	// <, > and & escaped, so no value can close the <script> block (a JSON
	// data block, which script-src does not run).
	err := pageTemplate.Execute(&buf, struct {
		Title         string
		Config        pageConfig
		Style, Script string
	}{title, pc, pageStyle, pageScript})
	return buf.Bytes(), err
}

//go:embed static/dashboard.js static/dashboard.css
var files embed.FS

var (
	pageStyle  = assetURL("static/dashboard.css")
	pageScript = assetURL("static/dashboard.js")
)

type asset struct {
	contentType string
	etag        string // quoted content hash
	body        []byte
	gzipped     func() []byte // compressed on first use
}

// assets maps URL path to asset; assetURL fills it.
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
		panic("dashboard: no content type for " + name)
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
