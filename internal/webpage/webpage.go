// Package webpage serves the project's embedded browser pages (GraphiQL,
// the dashboard): one rendered HTML page under a strict
// Content-Security-Policy, and its scripts and styles from embedded files at
// content-hashed URLs, so the pages work offline and load nothing from
// another origin.
package webpage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// Assets are the embedded files one page loads, each served at
// prefix+"<content hash>/<file name>": a new build with other bytes gets
// other URLs, so every URL can be cached for a year. Register them with URL
// when the package initializes; serve them with ServeHTTP.
type Assets struct {
	prefix string
	files  fs.FS
	byURL  map[string]*asset
}

type asset struct {
	contentType string
	etag        string // quoted content hash
	body        []byte
	gzipped     func() []byte // compressed on first use
}

// NewAssets returns the assets of files served under prefix (an absolute
// URL path ending in "/").
func NewAssets(prefix string, files fs.FS) *Assets {
	return &Assets{prefix: prefix, files: files, byURL: map[string]*asset{}}
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// URL registers the embedded file name and returns the URL path it is
// served at. It panics for a file that is not embedded or not a script or
// style sheet: a build mistake, found when the package initializes.
func (a *Assets) URL(name string) string {
	body, err := fs.ReadFile(a.files, name)
	if err != nil {
		panic(err)
	}
	ct := contentTypes[path.Ext(name)]
	if ct == "" {
		panic("webpage: no content type for " + name)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:8])
	url := a.prefix + hash + "/" + path.Base(name)
	a.byURL[url] = &asset{
		contentType: ct,
		etag:        `"` + hash + `"`,
		body:        body,
		gzipped:     sync.OnceValue(func() []byte { return gzipBytes(body) }),
	}
	return url
}

// ServeHTTP serves the asset at r's URL path (404 for any other): its
// content type, a year-long immutable cache lifetime, an ETag (304 for a
// matching If-None-Match), and gzip when the client accepts it.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	as, ok := a.byURL[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, etag := as.body, as.etag
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		body, etag = as.gzipped(), as.etag[:len(as.etag)-1]+`-gz"`
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	hdr.Set("ETag", etag)
	hdr.Set("Vary", "Accept-Encoding")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", as.contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if gz {
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// Handler serves page, rendered once by the caller, with csp and
// "Cache-Control: no-store" (a page may hold a token); requests whose path
// starts with the assets' prefix get an asset. Methods other than GET and
// HEAD get 405.
func Handler(page []byte, csp string, assets *Assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		if strings.HasPrefix(r.URL.Path, assets.prefix) {
			assets.ServeHTTP(w, r)
			return
		}
		hdr := w.Header()
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Content-Security-Policy", csp)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("Content-Length", strconv.Itoa(len(page)))
		_, _ = w.Write(page)
	})
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(b)                                       // a bytes.Buffer does not fail
	_ = zw.Close()
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
