package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
)

// nthLogLine returns the nth (from 1) line of a JSON log with request id,
// decoded, waiting for it: the access log writes its line after the
// answer has gone.
func nthLogLine(t *testing.T, logs *syncBuffer, id string, n int) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(readyTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		seen := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["request_id"] == id {
				if seen++; seen == n {
					return m
				}
			}
		}
	}
	t.Fatalf("no log line #%d for %s in %s", n, id, logs.String())
	return nil
}

// TestCachedHitAnswersAsTheMiss checks, over the wire, that a
// response-cache hit (the path issue 15 made cheap) answers exactly as the
// request that filled the cache: the same status, body, headers (in order,
// for Vary) and access log line, but for X-Response-Cache, and that the
// headers are exactly those listed here.
func TestCachedHitAnswersAsTheMiss(t *testing.T) {
	const origin = "https://app.example.com"
	logs := &syncBuffer{}
	logger, err := accesslog.NewLogger("json", "info", logs)
	if err != nil {
		t.Fatal(err)
	}
	s := newLoggedStack(t, Extras{}, logger, "CORS_ALLOWED_ORIGINS", origin)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	for i, c := range []struct {
		name   string
		header http.Header
		want   http.Header // the hit's headers, but for Date
	}{
		{"bearer", http.Header{"Authorization": {"Bearer " + s.tokens.Admin}}, http.Header{
			"Cache-Control": {"private, no-store"}, "Content-Type": {"application/json"},
			"Vary":             {"Origin", "Authorization", "Accept", "Accept-Encoding"},
			"X-Response-Cache": {"hit"}, "X-Request-Id": {"req-bearer"},
		}},
		{"gzip", http.Header{"Authorization": {"Bearer " + s.tokens.Admin}, "Accept-Encoding": {"br, gzip"}}, http.Header{
			"Cache-Control": {"private, no-store"}, "Content-Type": {"application/json"}, "Content-Encoding": {"gzip"},
			"Vary":             {"Origin", "Authorization", "Accept", "Accept-Encoding"},
			"X-Response-Cache": {"hit"}, "X-Request-Id": {"req-gzip"},
		}},
		{"graphql-response", http.Header{"Authorization": {"Bearer " + s.tokens.Admin}, "Accept": {"application/graphql-response+json"}}, http.Header{
			"Cache-Control": {"private, no-store"}, "Content-Type": {"application/graphql-response+json"},
			"Vary":             {"Origin", "Authorization", "Accept", "Accept-Encoding"},
			"X-Response-Cache": {"hit"}, "X-Request-Id": {"req-graphql-response"},
		}},
		{"cookie from a listed origin", http.Header{"Cookie": {auth.SessionCookie + "=" + s.tokens.Admin}, "Origin": {origin}}, http.Header{
			"Cache-Control": {"private, no-store"}, "Content-Type": {"application/json"},
			"Vary":                        {"Origin", "Cookie", "Authorization", "Accept", "Accept-Encoding"},
			"Access-Control-Allow-Origin": {origin}, "Access-Control-Allow-Credentials": {"true"},
			"Access-Control-Expose-Headers": {"ETag, Retry-After, WWW-Authenticate, X-Request-Id"},
			"X-Response-Cache":              {"hit"}, "X-Request-Id": {"req-cookie-from-a-listed-origin"},
		}},
	} {
		// Each case its own cache entry: the key holds neither the
		// credential's source nor Accept-Encoding.
		body := fmt.Sprintf(`{"query":"query Page($first: Int) { orgUsers(first: $first) { totalCount nodes { `+allFields+` } } }","variables":{"first":%d}}`, 30+i)
		t.Run(c.name, func(t *testing.T) {
			type answer struct {
				status int
				header http.Header
				body   []byte
				log    map[string]any
			}
			id := "req-" + strings.ReplaceAll(c.name, " ", "-")
			n := 0
			send := func() answer {
				req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql", strings.NewReader(body))
				for k, v := range c.header {
					req.Header[k] = v
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Request-Id", id)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				resp.Header.Del("Date")
				n++
				return answer{resp.StatusCode, resp.Header, raw, nthLogLine(t, logs, id, n)}
			}
			miss, hit := send(), send()
			if miss.header.Get("X-Response-Cache") != "" || hit.header.Get("X-Response-Cache") != "hit" {
				t.Fatalf("X-Response-Cache: miss %q, hit %q", miss.header.Get("X-Response-Cache"), hit.header.Get("X-Response-Cache"))
			}
			if hit.status != http.StatusOK || miss.status != hit.status || !bytes.Equal(miss.body, hit.body) {
				t.Fatalf("miss %d %.200q\nhit %d %.200q", miss.status, miss.body, hit.status, hit.body)
			}
			if hit.header.Get("Content-Length") == "" {
				t.Fatalf("no Content-Length: %v", hit.header)
			}
			want := c.want.Clone()
			want.Set("Content-Length", hit.header.Get("Content-Length"))
			if !reflect.DeepEqual(hit.header, want) {
				t.Errorf("hit headers\n got %v\nwant %v", hit.header, want)
			}
			miss.header.Set("X-Response-Cache", "hit")
			if !reflect.DeepEqual(hit.header, miss.header) {
				t.Errorf("hit headers %v\nmiss headers %v", hit.header, miss.header)
			}
			for _, m := range []map[string]any{miss.log, hit.log} {
				if _, ok := m["duration_ms"].(float64); !ok {
					t.Errorf("log line without duration_ms: %v", m)
				}
				delete(m, "time")
				delete(m, "duration_ms")
			}
			if !reflect.DeepEqual(miss.log, hit.log) || hit.log["graphql_operation"] != "Page" || hit.log["org_id"] == nil {
				t.Errorf("log lines differ:\nmiss %v\nhit  %v", miss.log, hit.log)
			}
		})
	}
}
