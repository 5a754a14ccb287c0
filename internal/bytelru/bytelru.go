// Package bytelru is a least-recently-used cache bounded by the total size
// of its values, as their owner estimates it, and by a count. Callers that
// keep attacker-chosen values (parsed queries, encoded responses) use it so
// that no sequence of requests can grow the process past the bound.
package bytelru

import (
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Cache is a byte-bounded LRU, safe for concurrent use. A nil *Cache holds
// nothing.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	size  int
	items *lru.Cache[K, entry[V]]
}

type entry[V any] struct {
	v    V
	size int
}

// MaxEntries bounds the number of entries whatever their size.
const MaxEntries = 1 << 16

// New returns a cache holding at most maxBytes of values; maxBytes <= 0
// returns nil, which holds nothing.
func New[K comparable, V any](maxBytes int) *Cache[K, V] {
	if maxBytes <= 0 {
		return nil
	}
	c := &Cache[K, V]{max: maxBytes}
	c.items, _ = lru.NewWithEvict[K, entry[V]](MaxEntries, func(_ K, e entry[V]) { c.size -= e.size })
	return c
}

// Get returns the value for k and marks it recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	if c == nil {
		var zero V
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items.Get(k)
	return e.v, ok
}

// Peek returns the value for k without marking it used.
func (c *Cache[K, V]) Peek(k K) (V, bool) {
	if c == nil {
		var zero V
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items.Peek(k)
	return e.v, ok
}

// Add stores v of the given size under k, replacing any value there, and
// evicts least recently used entries to stay within the bound. A value
// larger than a quarter of the bound is not stored, so one entry can never
// push out most of the others.
func (c *Cache[K, V]) Add(k K, v V, size int) {
	if c == nil || size > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items.Remove(k) // the eviction callback takes the old size off
	c.items.Add(k, entry[V]{v: v, size: size})
	c.size += size
	for c.size > c.max {
		c.items.RemoveOldest()
	}
}

// Len returns the number of entries.
func (c *Cache[K, V]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items.Len()
}

// Bytes returns the total size of the values held.
func (c *Cache[K, V]) Bytes() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
