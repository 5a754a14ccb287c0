package webpage

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"br, gzip, deflate", true},
		{"gzip;q=0.5", true},
		{"gzip; q=1.0, br", true},
		{"gzip;q=0", false},
		{"gzip;q=0.000", false},
		{"gzip;q=nonsense", false},
		{"br, deflate", false},
		{"*", false},
		{"x-gzip2", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	const etag = `"abc"`
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{`*`, true},
		{`"abcd"`, false},
		{`abc`, false},
	}
	for _, tt := range tests {
		if got := etagMatches(tt.header, etag); got != tt.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

// TestAssetsAreServedByHash: an asset is served at its content-hashed URL
// with its type, a year-long cache, an ETag (304 when it matches) and gzip
// on request; an unknown URL is 404.
func TestAssetsAreServedByHash(t *testing.T) {
	files := fstest.MapFS{"static/a.js": {Data: []byte(strings.Repeat("console.log(1);\n", 200))}}
	as := NewAssets("/x/assets/", files)
	url := as.URL("static/a.js")
	if !strings.HasPrefix(url, "/x/assets/") || !strings.HasSuffix(url, "/a.js") {
		t.Fatalf("url %s", url)
	}
	get := func(path string, h map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		as.ServeHTTP(w, r)
		return w
	}
	w := get(url, nil)
	if w.Code != 200 || w.Body.String() != string(files["static/a.js"].Data) || w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(w.Header().Get("Cache-Control"), "immutable") {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	if w2 := get(url, map[string]string{"If-None-Match": w.Header().Get("ETag")}); w2.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", w2.Code)
	}
	gz := get(url, map[string]string{"Accept-Encoding": "gzip"})
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if gz.Header().Get("Content-Encoding") != "gzip" || string(plain) != string(files["static/a.js"].Data) || gz.Header().Get("ETag") == w.Header().Get("ETag") {
		t.Fatalf("gzip: %v", gz.Header())
	}
	if get("/x/assets/0000/a.js", nil).Code != http.StatusNotFound {
		t.Fatal("an unknown asset is not 404")
	}
}
