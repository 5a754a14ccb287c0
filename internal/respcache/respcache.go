// Package respcache holds encoded responses for identical warm requests:
// a least-recently-used cache bounded by total bytes. Callers key entries by
// everything the answer depends on (organization, caller, request) and put
// the version of the data it was built from either in the key or in the
// entry's Tag, which they check before serving; a Put with a new Tag replaces
// the old answer.
package respcache

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/orgusers/orgusers/internal/bytelru"
)

// Key identifies a response. Build it with NewKey.
type Key [sha256.Size]byte

// NewKey hashes parts, each length-prefixed so that no two different part
// lists collide by concatenation.
func NewKey(parts ...string) Key { return sum(parts, nil, false, nil, false) }

// NewKeyWith hashes parts as NewKey does, then tail (length-prefixed too):
// for a request body, without copying it into a string.
func NewKeyWith(tail []byte, parts ...string) Key { return sum(parts, nil, false, tail, true) }

// NewKeyWithList is NewKeyWith(tail, append(parts, strings.Join(list,
// ","))...), the same key, without building the joined string: a
// response-cache hit computes one key per request, and the caller's
// permissions are such a list.
func NewKeyWithList(tail []byte, list []string, parts ...string) Key {
	return sum(parts, list, true, tail, true)
}

// sum hashes the length-prefixed parts, then list joined by "," as one
// more part (when withList) and tail (when withTail), in one pooled
// buffer: a response-cache hit computes a key per request, and this
// allocates nothing.
func sum(parts, list []string, withList bool, tail []byte, withTail bool) Key {
	bp := keyBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	for _, p := range parts {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	if withList {
		n := max(len(list)-1, 0) // the commas
		for _, p := range list {
			n += len(p)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(n))
		for i, p := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, p...)
		}
	}
	if withTail {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(tail)))
		b = append(b, tail...)
	}
	k := Key(sha256.Sum256(b))
	if cap(b) <= 64<<10 { // a buffer grown by a megabyte body is not kept
		*bp = b[:0]
		keyBuffers.Put(bp)
	}
	return k
}

var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Entry is a cached response. Its Body and Gzip are shared between readers
// and must not be modified. Build one with NewEntry, which compresses the
// body once, so that no hit compresses it again.
type Entry struct {
	Body []byte
	// Gzip is Body gzip-compressed, or nil when Body is too small to gain.
	Gzip        []byte
	ContentType string
	// Tag is the caller's validator, e.g. the data version the body was built from.
	Tag string
	// OpName and OpType are what the caller wants to know again on a hit
	// (the GraphQL transport: the operation, for its access log).
	OpName, OpType string

	// bodyLength and gzipLength are the Content-Length header values of
	// Body and Gzip, formatted once by NewEntry: a hit then formats and
	// allocates none (strconv.Itoa allocates for lengths from 100 up).
	bodyLength, gzipLength []string
}

// ContentLength returns the Content-Length header value of Body, or of
// Gzip when gzip is true, as a one-element slice for the header map. It is
// built by NewEntry (shared: callers must not modify it) or here for an
// entry built otherwise.
func (e *Entry) ContentLength(gzip bool) []string {
	n, v := len(e.Body), e.bodyLength
	if gzip {
		n, v = len(e.Gzip), e.gzipLength
	}
	if v == nil {
		v = headerValue(strconv.Itoa(n))
	}
	return v
}

// headerValue returns a header value slice whose length is its capacity,
// so that a later Header.Add appends to a copy and never writes into a
// slice that entries share.
func headerValue(v string) []string { return []string{v} }

// Cache is a byte-bounded LRU of entries, safe for concurrent use. A nil
// *Cache caches nothing.
type Cache struct {
	lru *bytelru.Cache[Key, Entry]
}

// New returns a cache holding at most maxBytes of bodies; maxBytes <= 0
// returns nil, which caches nothing.
func New(maxBytes int) *Cache {
	if maxBytes <= 0 {
		return nil
	}
	return &Cache{lru: bytelru.New[Key, Entry](maxBytes)}
}

// Get returns the entry for k.
func (c *Cache) Get(k Key) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	return c.lru.Get(k)
}

// Put stores e under k, replacing an entry with another Tag (an answer
// built from older data) and evicting least recently used entries to stay
// within the byte bound. Bodies larger than a quarter of the bound are not
// stored.
func (c *Cache) Put(k Key, e Entry) {
	if c == nil {
		return
	}
	if old, ok := c.lru.Peek(k); ok && old.Tag == e.Tag {
		return
	}
	c.lru.Add(k, e, len(e.Body)+len(e.Gzip))
}

// Len returns the number of entries.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	return c.lru.Len()
}

// Bytes returns the total size of the bodies held.
func (c *Cache) Bytes() int {
	if c == nil {
		return 0
	}
	return c.lru.Bytes()
}

// minCompress is the smallest body worth compressing: below it the gzip
// header and the client's work cost more than the bytes saved.
const minCompress = 1 << 10

// NewEntry returns the entry of body, with its gzip form when that pays.
func NewEntry(body []byte, contentType, tag string) Entry {
	e := Entry{Body: body, Gzip: Compress(body), ContentType: contentType, Tag: tag}
	e.bodyLength = headerValue(strconv.Itoa(len(e.Body)))
	if e.Gzip != nil {
		e.gzipLength = headerValue(strconv.Itoa(len(e.Gzip)))
	}
	return e
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// Compress returns body gzip-compressed at the fastest level, or nil when
// body is under 1 KiB or does not shrink.
func Compress(body []byte) []byte {
	if len(body) < minCompress {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(body) / 4)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(body); err != nil || zw.Close() != nil || buf.Len() >= len(body) {
		return nil
	}
	return buf.Bytes()
}

// AcceptsGzip reports whether a request's Accept-Encoding allows gzip (and
// does not give it q=0).
func AcceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
