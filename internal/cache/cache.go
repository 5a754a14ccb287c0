// Package cache is a per-organization snapshot cache that decorates any
// directory.Source behind the same interface.
//
// A snapshot is fresh for Config.TTL after the load that produced it
// started. After that it is still served at once while one background
// refresh runs (stale-while-revalidate), and, while refreshes fail, until
// it is Config.MaxStale old (stale-if-error). Older than that, a request
// loads synchronously. Concurrent requests for an organization share one
// load, which runs detached from any caller, so a caller that gives up
// neither cancels it nor loses its result for the others. Errors are never
// cached. At most Config.MaxOrgs organizations are kept, least recently
// used evicted first.
package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// Defaults for the zero fields of Config.
const (
	DefaultTTL         = 30 * time.Second
	DefaultMaxStale    = 10 * time.Minute
	DefaultMaxOrgs     = 1000
	DefaultMaxBytes    = 256 << 20
	DefaultLoadTimeout = 30 * time.Second
)

// maxRetryBackoff bounds how long a failed background refresh holds back the
// next one for the same organization (the backoff is min(TTL, this)).
const maxRetryBackoff = 5 * time.Second

// ErrClosed is the cause of the error Members returns after Close when it
// would have to load.
var ErrClosed = errors.New("cache: closed")

// Config tunes a Cache. The zero value of each field selects its default.
type Config struct {
	// TTL is how long a snapshot is fresh: served with no load at all.
	// After it, the snapshot is served while a background refresh runs.
	// Default DefaultTTL (the wiring reads CACHE_TTL).
	TTL time.Duration
	// MaxStale is the age up to which a snapshot is still served while
	// refreshes fail; beyond it a request loads synchronously and gets the
	// load's error if it fails. Values below TTL are raised to TTL.
	// Default DefaultMaxStale (CACHE_MAX_STALE).
	MaxStale time.Duration
	// MaxOrgs bounds the number of cached organizations; the least recently
	// used is evicted first. Default DefaultMaxOrgs (CACHE_MAX_ORGS).
	MaxOrgs int
	// MaxBytes bounds the cached snapshots' estimated heap
	// (Snapshot.SizeBytes); the least recently used go first. The one
	// organization just loaded is kept even when it alone is larger (and
	// logged): it is still served, its loads still collapsed. Default
	// DefaultMaxBytes (CACHE_MAX_BYTES).
	MaxBytes int64
	// AgeFromSnapshot counts a snapshot's age from its LoadedAt when that
	// is earlier than the start of the load that returned it: a shared tier
	// (internal/fleet) may return a copy another replica loaded a while
	// ago, which is then fresh only for the rest of its TTL. Off, the age
	// counts from the load's start (the Source loads from Clerk itself).
	AgeFromSnapshot bool
	// LoadTimeout bounds one load. Loads run on a context detached from
	// any caller's cancellation. Default DefaultLoadTimeout.
	LoadTimeout time.Duration
	// Now is the clock; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
	// Logger receives failed loads; nil means slog.Default().
	Logger *slog.Logger
	// Profiles fetches the user of a member that Apply adds without a
	// profile; nil makes such a change reload the organization instead.
	Profiles Profiles
	// OnLoad, when set, is called as each load of the Source starts, with
	// the context of the request that started it (its values, not its
	// cancellation) and whether it is a background refresh; the load runs
	// with the context it returns, and the function it returns is called
	// once when the load ends, with the members loaded (0 on error) and the
	// load's error. server.go gives it the tracing; nil observes nothing.
	OnLoad func(ctx context.Context, refresh bool) (context.Context, func(members int, err error))
	// OnSnapshot, when set, is called each time an organization's cached
	// snapshot changes: a load or refresh stored, a patch by Apply, and
	// with nil when Invalidate drops it (the next read reloads it).
	// Evicting an organization to make room is not a change and is not
	// reported. It is called with the cache's lock held, in the order the
	// snapshots were installed: it must be quick and must not call the
	// Cache. server.go gives it the live subscriptions' hub.
	OnSnapshot func(orgID string, snap *directory.Snapshot)
}

// Stats counts what a Cache did since New. Counters only grow.
type Stats struct {
	Hits        uint64 // requests served a fresh snapshot
	StaleServed uint64 // requests served a snapshot older than TTL
	Misses      uint64 // requests that waited for a load (cold, invalidated, or older than MaxStale)
	Loads       uint64 // synchronous loads started (shared by the requests that waited)
	Refreshes   uint64 // background refreshes started
	Errors      uint64 // loads and refreshes that failed
	Evictions   uint64 // organizations evicted to respect MaxOrgs or MaxBytes
	// Patches counts snapshots that Apply rebuilt; ChangesApplied and
	// ChangesStale the changes it applied and skipped as older than held.
	Patches, ChangesApplied, ChangesStale uint64
	Entries                               int // organizations cached now
}

// Cache is a directory.Source that caches the snapshots of another Source
// per organization. It is safe for concurrent use. Build one with New and
// stop it with Close.
type Cache struct {
	src  directory.Source
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
	stop context.CancelFunc // cancels ctx: aborts loads at Close
	ctx  context.Context
	wg   sync.WaitGroup // running loads

	mu       sync.Mutex
	closed   bool
	entries  map[string]*list.Element // of *entry, in lru
	lru      *list.List               // front is most recently used
	inflight map[string]*call
	bytes    int64             // the cached snapshots' SizeBytes, summed
	pending  map[string]*batch // changes waiting for Apply's patch, per organization
	patching map[string]bool   // organizations whose patch goroutine runs
	stats    Stats
}

var _ directory.Source = (*Cache)(nil)

type entry struct {
	orgID    string
	snap     *directory.Snapshot
	loadedAt time.Time // start of the load that produced snap
	retryAt  time.Time // no background refresh before this (set after a failed one)
	counted  int64     // snap's bytes as Cache.bytes counts them
}

// call is one load in flight. snap and err are written once, before done
// is closed.
type call struct {
	done    chan struct{}
	snap    *directory.Snapshot
	err     error
	dropped bool // Invalidate ran during the load: do not cache its result (guarded by Cache.mu)
}

// New returns a Cache in front of src. The caller owns the Cache and must
// call Close when done with it, to stop background work.
func New(src directory.Source, cfg Config) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	cfg.MaxStale = max(cfg.MaxStale, cfg.TTL)
	if cfg.MaxOrgs <= 0 {
		cfg.MaxOrgs = DefaultMaxOrgs
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = DefaultLoadTimeout
	}
	c := &Cache{
		src:      src,
		cfg:      cfg,
		now:      cfg.Now,
		log:      cfg.Logger,
		entries:  make(map[string]*list.Element),
		lru:      list.New(),
		inflight: make(map[string]*call),
		pending:  make(map[string]*batch),
		patching: make(map[string]bool),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	return c
}

// Members returns the snapshot of orgID's members, from the cache when it
// is younger than MaxStale, else from a load shared with every concurrent
// request for orgID. Any caller may call it; the snapshot is shared and
// read-only.
//
// Errors: those of the Source's load (UPSTREAM_UNAVAILABLE, or
// INTERNAL_SERVER_ERROR, which is also returned when the Source panics or
// returns no snapshot); other errors of the Source are wrapped as
// UPSTREAM_UNAVAILABLE. When ctx ends first, UPSTREAM_UNAVAILABLE wrapping
// ctx.Err() (errors.Is works); the load goes on for the others. After Close,
// UPSTREAM_UNAVAILABLE wrapping ErrClosed instead of a load.
func (c *Cache) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	now := c.now()
	c.mu.Lock()
	if el, ok := c.entries[orgID]; ok {
		e := el.Value.(*entry)
		c.lru.MoveToFront(el)
		if n := int64(e.snap.SizeBytes()); n != e.counted {
			// A memo built since (the fast path's encoded members)
			// made the snapshot larger: count it, and make room.
			c.bytes += n - e.counted
			e.counted = n
			c.evictLocked()
		}
		snap, age := e.snap, now.Sub(e.loadedAt) // e changes under c.mu when a load lands
		if age < c.cfg.TTL {
			c.stats.Hits++
			c.mu.Unlock()
			return snap, nil
		}
		if age < c.cfg.MaxStale {
			c.stats.StaleServed++
			if !c.closed && c.inflight[orgID] == nil && !now.Before(e.retryAt) {
				c.stats.Refreshes++
				c.startLocked(ctx, orgID, now, true)
			}
			c.mu.Unlock()
			return snap, nil
		}
	}
	c.stats.Misses++
	cl := c.inflight[orgID]
	if cl == nil {
		if c.closed {
			c.mu.Unlock()
			return nil, directory.Wrap(directory.CodeUpstreamUnavailable, ErrClosed, "organization members are unavailable")
		}
		c.stats.Loads++
		cl = c.startLocked(ctx, orgID, now, false)
	}
	c.mu.Unlock()

	select {
	case <-cl.done:
		return cl.snap, cl.err
	case <-ctx.Done():
		return nil, directory.Wrap(directory.CodeUpstreamUnavailable, ctx.Err(), "organization members were not loaded in time")
	}
}

// Invalidate drops orgID from the cache, for example when a webhook says its
// members changed. The next request loads anew; a load already in flight
// still answers the requests waiting for it, but its result is not cached.
// Any caller may call it.
func (c *Cache) Invalidate(orgID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, cached := c.entries[orgID]
	if cached {
		c.removeLocked(el)
	}
	cl := c.inflight[orgID]
	if cl != nil {
		cl.dropped = true
		delete(c.inflight, orgID)
	}
	if (cached || cl != nil) && c.cfg.OnSnapshot != nil {
		c.cfg.OnSnapshot(orgID, nil)
	}
}

// Stats returns the counters so far. Any caller may call it.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = c.lru.Len()
	return s
}

// SizeBytes returns the approximate heap held by the cached snapshots, the
// sum of their Snapshot.SizeBytes, which MaxBytes bounds. The metrics
// collector calls it once per scrape.
func (c *Cache) SizeBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Close cancels the loads in flight, waits for them to finish and stops
// new ones: afterwards Members serves only what is cached. It is safe to
// call more than once; the owner calls it at shutdown.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
}

// startLocked starts a load of orgID and registers it as in flight. The load
// keeps ctx's values but not its cancellation. c.mu must be held and the
// cache not closed.
func (c *Cache) startLocked(ctx context.Context, orgID string, started time.Time, background bool) *call {
	cl := &call{done: make(chan struct{})}
	c.inflight[orgID] = cl
	c.wg.Add(1)
	go c.load(context.WithoutCancel(ctx), orgID, cl, started, background)
	return cl
}

// load runs one load, caches its result and wakes the waiters.
func (c *Cache) load(parent context.Context, orgID string, cl *call, started time.Time, background bool) {
	defer c.wg.Done()
	var ended func(int, error)
	if c.cfg.OnLoad != nil {
		parent, ended = c.cfg.OnLoad(parent, background)
	}
	ctx, cancel := context.WithTimeout(parent, c.cfg.LoadTimeout)
	unhook := context.AfterFunc(c.ctx, cancel)
	snap, err := c.fetch(ctx, orgID)
	unhook()
	cancel()
	if ended != nil {
		n := 0
		if snap != nil {
			n = snap.Len()
		}
		ended(n, err)
	}

	finished := c.now()
	c.mu.Lock()
	if c.inflight[orgID] == cl {
		delete(c.inflight, orgID)
	}
	var age time.Duration
	if err != nil {
		c.stats.Errors++
		if el, ok := c.entries[orgID]; ok && background {
			e := el.Value.(*entry)
			e.retryAt = finished.Add(min(c.cfg.TTL, maxRetryBackoff))
			age = finished.Sub(e.loadedAt)
		}
	} else if !cl.dropped {
		at := started
		if c.cfg.AgeFromSnapshot && !snap.LoadedAt().IsZero() && snap.LoadedAt().Before(at) {
			at = snap.LoadedAt()
		}
		c.storeLocked(orgID, snap, at)
		if el, ok := c.entries[orgID]; ok && c.cfg.AgeFromSnapshot && finished.Sub(el.Value.(*entry).loadedAt) >= c.cfg.TTL {
			// Still stale after the load (a shared tier served an old
			// copy, its reload failing): back off as after a failed
			// refresh, not a refresh on every request meanwhile.
			el.Value.(*entry).retryAt = finished.Add(min(c.cfg.TTL, maxRetryBackoff))
		}
	}
	c.mu.Unlock()

	if err != nil {
		if background {
			c.log.WarnContext(parent, "cache: background refresh failed; serving the stale snapshot",
				"org_id", orgID, "age", age, "err", err)
		} else {
			c.log.WarnContext(parent, "cache: load failed", "org_id", orgID, "err", err)
		}
	}
	// The failure was logged above, once: the transports that pass it on
	// to a client do not log it again.
	cl.snap, cl.err = snap, directory.Logged(err)
	close(cl.done)
}

// fetch calls the Source and makes sure what it returns is a snapshot or a
// coded error, even if it panics.
func (c *Cache) fetch(ctx context.Context, orgID string) (snap *directory.Snapshot, err error) {
	defer func() {
		if r := recover(); r != nil {
			snap = nil
			err = directory.Wrap(directory.CodeInternal, fmt.Errorf("source panicked: %v\n%s", r, debug.Stack()), "internal error")
		}
	}()
	snap, err = c.src.Members(ctx, orgID)
	switch {
	case err == nil && snap == nil:
		return nil, directory.Wrap(directory.CodeInternal, errors.New("source returned neither snapshot nor error"), "internal error")
	case err == nil:
		return snap, nil
	}
	if _, ok := errors.AsType[*directory.Error](err); !ok {
		err = directory.Wrap(directory.CodeUpstreamUnavailable, err, "organization members are unavailable")
	}
	return nil, err
}

// storeLocked caches snap as orgID's snapshot and evicts beyond MaxOrgs
// and MaxBytes. c.mu must be held.
func (c *Cache) storeLocked(orgID string, snap *directory.Snapshot, loadedAt time.Time) {
	if el, ok := c.entries[orgID]; ok {
		e := el.Value.(*entry)
		if loadedAt.Before(e.loadedAt) {
			return // a newer load already landed
		}
		c.replaceLocked(e, snap)
		e.loadedAt, e.retryAt = loadedAt, time.Time{}
		return
	}
	n := int64(snap.SizeBytes())
	c.entries[orgID] = c.lru.PushFront(&entry{orgID: orgID, snap: snap, loadedAt: loadedAt, counted: n})
	c.bytes += n
	if c.cfg.OnSnapshot != nil {
		c.cfg.OnSnapshot(orgID, snap)
	}
	c.evictLocked()
}

// replaceLocked swaps e's snapshot, keeping the byte count, and evicts
// what no longer fits. c.mu must be held.
func (c *Cache) replaceLocked(e *entry, snap *directory.Snapshot) {
	n := int64(snap.SizeBytes())
	c.bytes += n - e.counted
	e.snap, e.counted = snap, n
	if c.cfg.OnSnapshot != nil {
		c.cfg.OnSnapshot(e.orgID, snap)
	}
	c.evictLocked()
}

// evictLocked removes the least recently used organizations until at most
// MaxOrgs remain and their snapshots fit MaxBytes, keeping the most
// recently used one whatever its size. c.mu must be held.
func (c *Cache) evictLocked() {
	for c.lru.Len() > c.cfg.MaxOrgs || c.bytes > c.cfg.MaxBytes && c.lru.Len() > 1 {
		back := c.lru.Back()
		c.removeLocked(back)
		c.stats.Evictions++
	}
	if c.bytes > c.cfg.MaxBytes {
		e := c.lru.Front().Value.(*entry)
		c.log.Warn("cache: one organization's snapshot is larger than CACHE_MAX_BYTES; it is kept alone",
			"org_id", e.orgID, "bytes", c.bytes, "max_bytes", c.cfg.MaxBytes)
	}
}

// removeLocked drops a cached organization. c.mu must be held.
func (c *Cache) removeLocked(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.entries, e.orgID)
	c.bytes -= e.counted
}
