package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// fetchRaw sends a request and returns the response with its body as sent
// on the wire (no transparent decompression).
func fetchRaw(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRESTCompressionAndETags(t *testing.T) {
	s := newStack(t, Extras{})
	get := func(enc, inm string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/organization/users", nil)
		req.Header.Set("Authorization", "Bearer "+s.tokens.Admin)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		return fetchRaw(t, req)
	}
	plain, plainBody := get("", "")
	zipped, zippedBody := get("gzip, deflate", "")
	if plain.Header.Get("Content-Encoding") != "" || zipped.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("encodings %q %q", plain.Header.Get("Content-Encoding"), zipped.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(gunzip(t, zippedBody), plainBody) || len(zippedBody)*4 > len(plainBody) {
		t.Fatalf("gzip %d bytes for %d plain", len(zippedBody), len(plainBody))
	}
	if plain.Header.Get("ETag") == zipped.Header.Get("ETag") || !strings.Contains(strings.Join(zipped.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Fatalf("ETags %q %q, Vary %v", plain.Header.Get("ETag"), zipped.Header.Get("ETag"), zipped.Header.Values("Vary"))
	}
	if r, _ := get("gzip", zipped.Header.Get("ETag")); r.StatusCode != 304 {
		t.Fatalf("If-None-Match with the gzip ETag: %d", r.StatusCode)
	}
	if r, _ := get("gzip;q=0", ""); r.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 was answered with gzip")
	}
}

func TestGraphQLCompression(t *testing.T) {
	s := newStack(t, Extras{})
	post := func(query, enc string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", strings.NewReader(`{"query":"`+query+`"}`))
		req.Header.Set("Authorization", "Bearer "+s.tokens.Admin)
		req.Header.Set("Content-Type", "application/json")
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		return fetchRaw(t, req)
	}
	const big = `{ orgUsers(first: 50) { nodes { id email role publicMetadata } } }`
	for i, wantHit := range []bool{false, true} { // uncached, then a response-cache hit
		resp, body := post(big, "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || (resp.Header.Get("X-Response-Cache") == "hit") != wantHit || !bytes.Contains(gunzip(t, body), []byte(`"email"`)) {
			t.Fatalf("#%d: %v", i, resp.Header)
		}
	}
	resp, body := post(big, "")
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Contains(body, []byte(`"email"`)) {
		t.Fatalf("identity: %v", resp.Header)
	}
	// A small answer is not worth compressing.
	if resp, _ := post(`{ viewer { userId } }`, "gzip"); resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("small answer compressed: %v", resp.Header)
	}
}
