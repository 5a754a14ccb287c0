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
	"embed"
	"fmt"
	"html/template"
	"net/http"

	"github.com/orgusers/orgusers/internal/webpage"
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
	return webpage.Handler(page, ContentSecurityPolicy, assets)
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

// assets serves the files the page loads at content-hashed URLs.
var assets = webpage.NewAssets(AssetPrefix, files)

var (
	pageStyle  = assets.URL("static/dashboard.css")
	pageScript = assets.URL("static/dashboard.js")
)
