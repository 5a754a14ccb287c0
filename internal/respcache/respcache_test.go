package respcache

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestKeysDifferByPartBoundaries(t *testing.T) {
	if NewKey("ab", "c") == NewKey("a", "bc") {
		t.Fatal("part boundaries collide")
	}
	if NewKey("a", "b") != NewKey("a", "b") {
		t.Fatal("equal parts, different keys")
	}
}

func TestBoundedByBytesLeastRecentlyUsedFirst(t *testing.T) {
	c := New(400)
	body := []byte(strings.Repeat("x", 100))
	a, b, d, e := NewKey("a"), NewKey("b"), NewKey("d"), NewKey("e")
	c.Put(a, Entry{Body: body})
	c.Put(b, Entry{Body: body})
	c.Put(d, Entry{Body: body})
	c.Put(e, Entry{Body: body})
	if c.Bytes() != 400 || c.Len() != 4 {
		t.Fatalf("bytes %d len %d", c.Bytes(), c.Len())
	}
	c.Get(a) // a is now the most recently used
	c.Put(NewKey("f"), Entry{Body: body})
	if _, ok := c.Get(b); ok {
		t.Fatal("b should have been evicted first")
	}
	if _, ok := c.Get(a); !ok {
		t.Fatal("a was used recently and must stay")
	}
	if c.Bytes() != 400 {
		t.Fatalf("bytes = %d, want 400", c.Bytes())
	}
	// Too large for the bound: not stored.
	c.Put(NewKey("big"), Entry{Body: make([]byte, 101)})
	if _, ok := c.Get(NewKey("big")); ok {
		t.Fatal("an entry over a quarter of the bound was stored")
	}
}

func TestNilCachesNothing(t *testing.T) {
	var c *Cache = New(0)
	c.Put(NewKey("a"), Entry{Body: []byte("x")})
	if _, ok := c.Get(NewKey("a")); ok || c.Len() != 0 {
		t.Fatal("nil cache stored an entry")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New(1 << 12)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := NewKey(fmt.Sprint(i % 50))
				if e, ok := c.Get(k); ok && string(e.Body) != fmt.Sprint(i%50) {
					t.Errorf("key %d holds %q", i%50, e.Body)
					return
				}
				c.Put(k, Entry{Body: []byte(fmt.Sprint(i % 50))})
			}
		}(g)
	}
	wg.Wait()
	if c.Bytes() > 1<<12 {
		t.Fatalf("bytes %d over bound", c.Bytes())
	}
}

func TestPutWithAnotherTagReplaces(t *testing.T) {
	c := New(1000)
	k := NewKey("q")
	c.Put(k, Entry{Body: []byte("old answer"), Tag: "v1"})
	c.Put(k, Entry{Body: []byte("same version, ignored"), Tag: "v1"})
	if e, _ := c.Get(k); string(e.Body) != "old answer" {
		t.Fatalf("same tag replaced the entry: %q", e.Body)
	}
	c.Put(k, Entry{Body: []byte("new"), Tag: "v2"})
	e, ok := c.Get(k)
	if !ok || string(e.Body) != "new" || e.Tag != "v2" {
		t.Fatalf("entry = %+v, %v; want the v2 answer", e, ok)
	}
	if c.Bytes() != len("new") || c.Len() != 1 {
		t.Fatalf("bytes %d len %d after replacing", c.Bytes(), c.Len())
	}
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "gzip; q=0.000": false,
		"*": true, "br": false, "identity": false, "br, gzip ; q=1": true,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Accept-Encoding", v)
		}
		if got := AcceptsGzip(h); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestNewEntryCompressesOnlyWhatGains(t *testing.T) {
	if e := NewEntry([]byte(`{"a":1}`), "application/json", ""); e.Gzip != nil {
		t.Fatal("a tiny body was compressed")
	}
	body := []byte(strings.Repeat(`{"email":"someone@example.com"},`, 200))
	e := NewEntry(body, "application/json", "v1")
	if e.Gzip == nil || len(e.Gzip) >= len(body) {
		t.Fatalf("%d bytes compressed to %d", len(body), len(e.Gzip))
	}
}

// TestNewKeyWith: the tail is one more length-prefixed part, so the key of
// a request body equals NewKey with the body as its last part, and no two
// splits of the same bytes collide.
func TestNewKeyWith(t *testing.T) {
	body := []byte(`{"query":"{ viewer { userId } }"}`)
	if NewKeyWith(body, "org_1", "user_1") != NewKey("org_1", "user_1", string(body)) {
		t.Fatal("NewKeyWith differs from NewKey with the tail as its last part")
	}
	if NewKeyWith([]byte("b"), "a") == NewKeyWith([]byte(""), "ab") || NewKeyWith([]byte("ab")) == NewKeyWith([]byte("b"), "a") {
		t.Fatal("two splits of the same bytes share a key")
	}
	big := make([]byte, 1<<20)
	if NewKeyWith(big, "x") != NewKey("x", string(big)) {
		t.Fatal("a megabyte tail")
	}
}

// NewEntry formats the Content-Length values once; they are what an entry
// built otherwise formats on each call.
func TestContentLength(t *testing.T) {
	body := bytes.Repeat([]byte(`{"a":"bbbbbbbb"}`), 200)
	e := NewEntry(body, "application/json", "")
	literal := Entry{Body: e.Body, Gzip: e.Gzip}
	for _, gz := range []bool{false, true} {
		want := len(body)
		if gz {
			want = len(e.Gzip)
		}
		if got := e.ContentLength(gz); len(got) != 1 || got[0] != strconv.Itoa(want) || cap(got) != 1 {
			t.Fatalf("NewEntry, gzip %v: %q (cap %d), want %d", gz, got, cap(got), want)
		}
		if got := literal.ContentLength(gz); len(got) != 1 || got[0] != strconv.Itoa(want) {
			t.Fatalf("literal, gzip %v: %q, want %d", gz, got, want)
		}
	}
}

// NewKeyWithList is NewKeyWith with the list joined as its last part.
func TestNewKeyWithList(t *testing.T) {
	tail := []byte(`{"query":"{ viewer { userId } }"}`)
	for _, list := range [][]string{nil, {}, {""}, {"a"}, {"org:members:read", "org:members:manage"}, {"a,b", "", "c"}} {
		if got, want := NewKeyWithList(tail, list, "org", "user"), NewKeyWith(tail, "org", "user", strings.Join(list, ",")); got != want {
			t.Errorf("list %q: a different key", list)
		}
	}
}
