// Package live tells subscribers which members of an organization entered,
// changed within or left the set their filter selects, as the snapshots of
// that organization change.
//
// It is fed by the one change mechanism: the snapshot cache reports every
// snapshot it installs (a load, a refresh, a patch by a webhook or an
// admin write, an invalidation) to Hub.Observe, and the hub diffs each
// organization's new snapshot against the last one its subscribers saw.
// Nothing here polls Clerk.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// Kind says how a member's place in a subscriber's set changed.
type Kind uint8

const (
	// Added: the member entered the set (joined, or now matches the filter).
	Added Kind = iota + 1
	// Updated: the member is in the set before and after, and changed.
	Updated
	// Removed: the member left the set (left the organization, or no
	// longer matches the filter).
	Removed
)

func (k Kind) String() string {
	switch k {
	case Added:
		return "ADDED"
	case Updated:
		return "UPDATED"
	case Removed:
		return "REMOVED"
	}
	return "UNKNOWN"
}

// Event is one change a subscriber sees.
type Event struct {
	Kind   Kind
	UserID string
	// Member is the member now; nil when Removed.
	Member *directory.Member
	// Version is the version of the snapshot the event was computed from.
	Version string
}

// The error codes of subscriptions the hub refuses or ends.
const (
	// CodeTooManySubscriptions: a principal or the process holds as many
	// subscriptions as it may.
	CodeTooManySubscriptions directory.Code = "TOO_MANY_SUBSCRIPTIONS"
	// CodeSlowConsumer: the subscriber did not read its events as fast as
	// they came: more than MaxPending members changed, or changes waited
	// longer than MaxLag, while it was still busy with earlier ones.
	CodeSlowConsumer directory.Code = "SLOW_CONSUMER"
)

// Defaults of Config.
const (
	DefaultMaxPerPrincipal = 5
	DefaultMaxTotal        = 10000
	DefaultMaxPending      = 10000
	DefaultMaxLag          = 10 * time.Second
)

// Config bounds a Hub. Zero fields take their defaults.
type Config struct {
	// MaxPerPrincipal bounds the subscriptions one principal (a user in
	// an organization) holds at once.
	MaxPerPrincipal int
	// MaxTotal bounds the subscriptions of the process.
	MaxTotal int
	// MaxPending bounds the changed members waiting for a subscriber that
	// is still sending earlier events: changes that arrive meanwhile are
	// merged (a member changed twice is one event, computed from the
	// newest snapshot), and past MaxPending members the subscriber is
	// closed with SLOW_CONSUMER. One change, however many members it
	// touches (a bulk role change, a reload), is never too many for a
	// subscriber that is keeping up.
	MaxPending int
	// MaxLag bounds how long changes may wait for a subscriber still
	// sending earlier events: one that is further behind when the next
	// change comes is closed with SLOW_CONSUMER.
	MaxLag time.Duration
	// Logger hears reloads that fail; nil means slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Hub did. Counters only grow, except Subscribers.
type Stats struct {
	Subscribers int    // open now (registered: their snapshot loaded)
	Events      uint64 // events handed to subscribers
	SlowClosed  uint64 // subscribers closed as slow consumers
	Diffs       uint64 // snapshots diffed against their predecessor
}

// Hub fans snapshot changes out to subscribers. Build one with NewHub and
// feed it with Observe; it is safe for concurrent use.
type Hub struct {
	src  directory.Source
	cfg  Config
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu           sync.Mutex
	orgs         map[string]*org
	perPrincipal map[string]int
	total        int
	closed       bool

	events, slow, diffs atomic.Uint64
}

// org is what the hub holds for one organization with subscribers.
type org struct {
	// last is the snapshot the subscribers' sets were last computed from.
	last *directory.Snapshot
	subs map[*Subscription]struct{}
	// next is the newest snapshot observed and not yet diffed; reload
	// says the cache dropped the organization since.
	next    *directory.Snapshot
	reload  bool
	running bool
}

// NewHub returns a hub that loads organizations through src (the snapshot
// cache, whose OnSnapshot must call Observe).
func NewHub(src directory.Source, cfg Config) *Hub {
	if cfg.MaxPerPrincipal <= 0 {
		cfg.MaxPerPrincipal = DefaultMaxPerPrincipal
	}
	if cfg.MaxTotal <= 0 {
		cfg.MaxTotal = DefaultMaxTotal
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = DefaultMaxLag
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Hub{src: src, cfg: cfg, log: log, ctx: ctx, stop: stop,
		orgs: map[string]*org{}, perPrincipal: map[string]int{}}
}

// Subscription is one subscriber's stream of events. Events arrive on C,
// which is closed when the subscription ends: its context ended, Close was
// called, the hub closed, or the subscriber fell behind (Err then says so).
type Subscription struct {
	C <-chan Event

	ch        chan Event
	hub       *Hub
	orgID     string
	principal string
	sel       *directory.Selector
	stopCtx   func() bool
	wake      chan struct{} // a batch is pending (capacity 1)
	done      chan struct{} // closed by end

	mu     sync.Mutex
	closed bool
	err    error
	// The changes not yet turned into events: the members ids that
	// changed from snapshot from to snapshot to (nil from: none pending).
	from, to *directory.Snapshot
	ids      []string
	since    time.Time // when the pending changes began to wait
}

// Err returns why the subscription ended: nil while open or when it was
// closed by its context or Close; a SLOW_CONSUMER error when it fell behind.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and frees its place. It may be called more
// than once.
func (s *Subscription) Close() { s.end(nil) }

// Subscribe opens a subscription to the members of orgID that sel selects
// (nil: all), for principal (any string naming the caller; its
// subscriptions are counted). It loads the organization's snapshot first
// (a cache hit when warm) so that later changes are diffed against it. The
// subscription ends when ctx does.
// Errors: TOO_MANY_SUBSCRIPTIONS; the Source's errors.
func (h *Hub) Subscribe(ctx context.Context, orgID, principal string, sel *directory.Selector) (*Subscription, error) {
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		return nil, directory.Errorf(directory.CodeUpstreamUnavailable, "the server is shutting down")
	case h.perPrincipal[principal] >= h.cfg.MaxPerPrincipal:
		h.mu.Unlock()
		return nil, directory.Errorf(CodeTooManySubscriptions, "at most %d subscriptions per caller are open at once; close one first", h.cfg.MaxPerPrincipal)
	case h.total >= h.cfg.MaxTotal:
		h.mu.Unlock()
		return nil, directory.Errorf(CodeTooManySubscriptions, "the server holds as many subscriptions as it may (%d); try again later", h.cfg.MaxTotal)
	}
	h.perPrincipal[principal]++ // reserved while the snapshot loads
	h.total++
	h.mu.Unlock()

	snap, err := h.src.Members(ctx, orgID)
	if err != nil {
		h.release(principal)
		return nil, err
	}
	ch := make(chan Event, 16)
	s := &Subscription{C: ch, ch: ch, hub: h, orgID: orgID, principal: principal, sel: sel,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.release(principal)
		return nil, directory.Errorf(directory.CodeUpstreamUnavailable, "the server is shutting down")
	}
	o := h.orgs[orgID]
	if o == nil {
		o = &org{last: snap, subs: map[*Subscription]struct{}{}}
		h.orgs[orgID] = o
	}
	o.subs[s] = struct{}{}
	h.wg.Add(1)
	go s.run()
	h.mu.Unlock()
	s.mu.Lock()
	s.stopCtx = context.AfterFunc(ctx, s.Close)
	s.mu.Unlock()
	// A snapshot installed between the load and the registration above was
	// not diffed for this organization: look again.
	if cur, err := h.src.Members(ctx, orgID); err == nil && cur != snap {
		h.Observe(orgID, cur)
	}
	return s, nil
}

// release gives back a subscription's place in the counts.
func (h *Hub) release(principal string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total--
	if h.perPrincipal[principal]--; h.perPrincipal[principal] <= 0 {
		delete(h.perPrincipal, principal)
	}
}

// end ends s with err (nil for a normal end) once. Its run goroutine
// closes C.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed, s.err = true, err
	s.from, s.to, s.ids = nil, nil, nil
	close(s.done)
	stop := s.stopCtx
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	h := s.hub
	h.mu.Lock()
	if o := h.orgs[s.orgID]; o != nil {
		delete(o.subs, s)
		if len(o.subs) == 0 && !o.running {
			delete(h.orgs, s.orgID)
		}
	}
	h.mu.Unlock()
	h.release(s.principal)
}

// enqueue hands s the members ids that changed from last to next. When s
// is still busy with earlier changes they are merged with them; past
// MaxPending members s is closed as a slow consumer.
func (s *Subscription) enqueue(last, next *directory.Snapshot, ids []string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.from == nil {
		s.from, s.to, s.ids, s.since = last, next, ids, time.Now() // ids shared, never modified
	} else {
		s.to, s.ids = next, union(s.ids, ids)
		var why string
		switch cfg := s.hub.cfg; {
		case len(s.ids) > cfg.MaxPending:
			why = fmt.Sprintf("more than %d members changed while the subscriber was still reading earlier events; subscribe again", cfg.MaxPending)
		case time.Since(s.since) > cfg.MaxLag:
			why = fmt.Sprintf("changes waited more than %s for the subscriber to read earlier events; subscribe again", cfg.MaxLag)
		}
		if why != "" {
			s.mu.Unlock()
			s.hub.slow.Add(1)
			s.end(directory.Errorf(CodeSlowConsumer, "%s", why))
			return
		}
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // already signalled
	}
}

// union merges two sorted lists of ids into a new one.
func union(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// run turns s's pending changes into events, at the pace s's reader takes
// them, until s ends; then it closes C.
func (s *Subscription) run() {
	defer s.hub.wg.Done()
	defer close(s.ch)
	for {
		select {
		case <-s.wake:
		case <-s.done:
			return
		}
		s.mu.Lock()
		from, to, ids := s.from, s.to, s.ids
		s.from, s.to, s.ids = nil, nil, nil
		s.mu.Unlock()
		if from == nil {
			continue
		}
		was, is := s.sel.Bind(from), s.sel.Bind(to)
		version := to.Version()
		for _, id := range ids {
			var ev Event
			switch in, out := was(id), is(id); {
			case in && out:
				ev = Event{Kind: Updated, UserID: id, Member: to.Member(id), Version: version}
			case out:
				ev = Event{Kind: Added, UserID: id, Member: to.Member(id), Version: version}
			case in:
				ev = Event{Kind: Removed, UserID: id, Version: version}
			default:
				continue
			}
			select {
			case s.ch <- ev:
				s.hub.events.Add(1)
			case <-s.done:
				return
			}
		}
	}
}

// Observe reports that orgID's snapshot is now snap (nil: dropped, to be
// reloaded). It only records it and returns at once; the organization's
// worker diffs and sends. Organizations without subscribers cost a map
// lookup. The cache calls it under its lock, so it never calls the Source.
func (h *Hub) Observe(orgID string, snap *directory.Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.orgs[orgID]
	if o == nil || h.closed {
		return
	}
	if snap == nil {
		o.reload = true
	} else {
		o.next, o.reload = snap, false
	}
	if !o.running {
		o.running = true
		h.wg.Add(1)
		go h.work(orgID, o)
	}
}

// work diffs orgID's snapshots as they are observed, newest first (a burst
// of patches is one diff), until none is waiting.
func (h *Hub) work(orgID string, o *org) {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		next, reload := o.next, o.reload
		o.next, o.reload = nil, false
		if (next == nil && !reload) || len(o.subs) == 0 || h.closed {
			o.running = false
			if len(o.subs) == 0 && h.orgs[orgID] == o {
				delete(h.orgs, orgID)
			}
			h.mu.Unlock()
			return
		}
		last := o.last
		subs := make([]*Subscription, 0, len(o.subs))
		for s := range o.subs {
			subs = append(subs, s)
		}
		h.mu.Unlock()

		if next == nil {
			// Dropped by the cache (a change it could not apply exactly):
			// load it again; the cache reports the new snapshot to Observe.
			if _, err := h.src.Members(h.ctx, orgID); err != nil && !errors.Is(err, context.Canceled) {
				h.log.Warn("live: reloading an organization for its subscribers failed; they see its changes from the next load", "org_id", orgID, "err", err)
			}
			continue
		}
		h.diffs.Add(1)
		if ids := directory.Diff(last, next); len(ids) > 0 {
			for _, s := range subs {
				s.enqueue(last, next, ids)
			}
		}
		h.mu.Lock()
		o.last = next
		h.mu.Unlock()
	}
}

// Stats returns the counts so far.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := 0
	for _, o := range h.orgs {
		n += len(o.subs)
	}
	h.mu.Unlock()
	return Stats{Subscribers: n, Events: h.events.Load(), SlowClosed: h.slow.Load(), Diffs: h.diffs.Load()}
}

// Close ends every subscription and waits for the workers.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*Subscription
	for _, o := range h.orgs {
		for s := range o.subs {
			all = append(all, s)
		}
	}
	h.mu.Unlock()
	h.stop()
	for _, s := range all {
		s.Close()
	}
	h.wg.Wait()
}
