// Package graphiql serves the GraphiQL IDE from files embedded in the binary,
// so it works offline and under a strict Content-Security-Policy.
//
// The page loads GraphiQL 3.x's UMD build with React 18's UMD builds (see
// assets/README.md for versions and how to refresh them) and a small bootstrap
// script; it uses no CDN, no inline script and no eval.
package graphiql

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/orgusers/orgusers/internal/webpage"
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
	return webpage.Handler(page, ContentSecurityPolicy, assets)
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

// assets serves the files the page loads at content-hashed URLs.
var assets = webpage.NewAssets(AssetPrefix, files)

// The files the page loads, in order: React before ReactDOM before GraphiQL
// before the bootstrap that uses all three.
var (
	pageStyles = []string{
		assets.URL("assets/graphiql/graphiql.min.css"),
		assets.URL("static/page.css"),
	}
	pageScripts = []string{
		assets.URL("assets/react/react.production.min.js"),
		assets.URL("assets/react-dom/react-dom.production.min.js"),
		assets.URL("assets/graphiql/graphiql.min.js"),
		assets.URL("static/init.js"),
	}
)
