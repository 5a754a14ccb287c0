// Package respcache holds encoded responses for identical warm requests:
// a least-recently-used cache bounded by total bytes. Callers key entries by
// everything the answer depends on (organization, caller, request) and put
// the version of the data it was built from either in the key or in the
// entry's Tag, which they check before serving; a Put with a new Tag replaces
// the old answer.
package respcache

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/orgusers/orgusers/internal/bytelru"
)

// Key identifies a response. Build it with NewKey.
type Key [sha256.Size]byte

// NewKey hashes parts, each length-prefixed so that no two different part
// lists collide by concatenation.
func NewKey(parts ...string) Key {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var k Key
	h.Sum(k[:0])
	return k
}

// Entry is a cached response. Its Body is shared between readers and must not
// be modified.
type Entry struct {
	Body        []byte
	ContentType string
	// Tag is the caller's validator, e.g. the data version the body was built from.
	Tag string
}

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
	c.lru.Add(k, e, len(e.Body))
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
