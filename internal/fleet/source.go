// Package fleet is the second cache tier, shared by every replica through
// Redis. A Source decorates the Clerk source behind the same
// directory.Source interface; the in-process cache (internal/cache) stays in
// front of it as the near cache.
//
// A replica that needs an organization reads its snapshot from Redis. When
// Redis has none, or one older than Config.TTL, the replica takes the
// organization's load lease (SET NX PX, released by token in Lua) and loads
// from Clerk, then stores the snapshot and tells the fleet; the others
// wait for that (pub/sub, with a bounded poll behind it) and read it from
// Redis, so N replicas cost one Clerk load. A lease holder that dies stops
// renewing its lease, which expires within Config.LeaseTTL; the next
// waiter takes it and loads.
//
// Webhooks: the replica that receives changes patches the Redis snapshots
// with compare-and-set (a patch that loses a race is read and applied
// again, so none is lost) and publishes the changes; every replica applies
// them to its near cache (see Apply and Start).
//
// Redis is never a single point of failure: every call has a deadline
// (Config.OpTimeout), and a circuit breaker opens after
// Config.BreakerFailures consecutive failures. While it is open the Source
// loads straight from its inner source, as a replica without Redis would,
// and the state change is logged once; after Config.BreakerCooldown one
// probe tries Redis again and the replica rejoins the fleet on success.
//
// Only directory.Member data (public profile and membership fields, as
// the API serves them) reaches Redis: no session token, secret key or
// private metadata.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orgusers/orgusers/internal/directory"
)

// Defaults for the zero fields of Config.
const (
	DefaultPrefix          = "orgusers:"
	DefaultTTL             = 30 * time.Second
	DefaultMaxStale        = 10 * time.Minute
	DefaultLeaseTTL        = 5 * time.Second
	DefaultOpTimeout       = 500 * time.Millisecond
	DefaultPollInterval    = 200 * time.Millisecond
	DefaultBreakerFailures = 3
	DefaultBreakerCooldown = 5 * time.Second
)

// Config tunes a Source. The zero value of each field selects its default.
type Config struct {
	// Client is the Redis client (NewClient builds one from REDIS_URL).
	// Required.
	Client redis.UniversalClient
	// Prefix starts every key and the channel name (REDIS_KEY_PREFIX):
	// deployments sharing one Redis use different prefixes.
	Prefix string
	// TTL is how long a snapshot in Redis is fresh after its load began;
	// an older one is reloaded by one replica. Use the near cache's TTL.
	TTL time.Duration
	// MaxStale is how long Redis keeps a snapshot after its last write,
	// and the age up to which a stale one is served when a reload fails.
	MaxStale time.Duration
	// LeaseTTL is the lease's lifetime; its holder renews it every third
	// of it while it loads, so a dead holder blocks the others at most
	// this long.
	LeaseTTL time.Duration
	// OpTimeout bounds each Redis call.
	OpTimeout time.Duration
	// PollInterval is how often a replica waiting for another's load
	// looks at Redis when no notification came.
	PollInterval time.Duration
	// BreakerFailures consecutive failed Redis calls open the breaker;
	// BreakerCooldown later one probe may close it again.
	BreakerFailures int
	BreakerCooldown time.Duration
	// ReplicaID names this replica in published messages (its own are
	// skipped). Default: host name and a random suffix.
	ReplicaID string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Profiles fetches a new member's profile when a patch needs it; nil
	// means the inner source's Profile method when it has one (the Clerk
	// repository does), else such a change drops the Redis snapshot (the
	// next read reloads).
	Profiles interface {
		Profile(ctx context.Context, userID string) (directory.Member, error)
	}
	// OnState, when set, hears the breaker's state: false when Redis
	// became unreachable, true when it is back.
	OnState func(up bool)
}

// Stats counts what a Source did. Counters only grow.
type Stats struct {
	Hits      uint64 // answered from a fresh snapshot in Redis
	Loads     uint64 // loads from the inner source under the lease
	Waits     uint64 // waited for another replica's load
	Fallbacks uint64 // Redis unreachable: loaded from the inner source directly
	Stored    uint64 // loads stored in Redis
	Patches   uint64 // Redis snapshots patched by Apply
	Conflicts uint64 // compare-and-set retries
}

// Source is a directory.Source shared by the fleet through Redis. Build
// one with New, start the change subscriber with Start, stop with Close.
type Source struct {
	inner directory.Source
	cfg   Config
	st    *store
	log   *slog.Logger
	now   func() time.Time

	holders func(userID string) []string // set by Start

	mu       sync.Mutex
	waiters  map[string][]chan struct{}
	pending  map[string]*patchBatch // changes waiting for patchLoop, per organization
	patching map[string]bool        // organizations whose patchLoop runs

	stats struct {
		hits, loads, waits, fallbacks, stored, patches, conflicts atomic.Uint64
	}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ directory.Source = (*Source)(nil)

// Redis is one replica's connection to the fleet: the client, the key
// prefix and the circuit breaker that the Source and the Limiter share, so
// that Redis is up or down for both at once and each state change is
// logged once. Build one with Connect.
type Redis struct {
	cfg Config
	st  *store
}

// Connect applies cfg's defaults and returns the connection. It panics
// without a client. It does not dial: the first call does.
func Connect(cfg Config) *Redis {
	if cfg.Client == nil {
		panic("fleet: Config.Client is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	cfg.MaxStale = max(cfg.MaxStale, cfg.TTL)
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerCooldown <= 0 {
		cfg.BreakerCooldown = DefaultBreakerCooldown
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReplicaID == "" {
		host, _ := os.Hostname()
		cfg.ReplicaID = host + "-" + randomToken()[:8]
	}
	r := &Redis{cfg: cfg}
	r.st = newStore(cfg.Client, &r.cfg)
	return r
}

// Up reports whether Redis is in use (the breaker is not open).
func (r *Redis) Up() bool { return r.st.healthy() }

// New returns a Source in front of inner on a connection of its own:
// Connect(cfg).Source(inner).
func New(inner directory.Source, cfg Config) *Source { return Connect(cfg).Source(inner) }

// Source returns the fleet Source in front of inner on this connection.
func (r *Redis) Source(inner directory.Source) *Source {
	s := &Source{
		inner: inner, cfg: r.cfg, log: r.cfg.Logger, now: r.cfg.Now, st: r.st,
		waiters: map[string][]chan struct{}{},
		pending: map[string]*patchBatch{}, patching: map[string]bool{},
	}
	if s.cfg.Profiles == nil {
		if p, ok := inner.(interface {
			Profile(ctx context.Context, userID string) (directory.Member, error)
		}); ok {
			s.cfg.Profiles = p // the Clerk repository fetches users
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	return Stats{
		Hits: s.stats.hits.Load(), Loads: s.stats.loads.Load(), Waits: s.stats.waits.Load(),
		Fallbacks: s.stats.fallbacks.Load(), Stored: s.stats.stored.Load(),
		Patches: s.stats.patches.Load(), Conflicts: s.stats.conflicts.Load(),
	}
}

// Up reports whether Redis is in use (the breaker is not open).
func (s *Source) Up() bool { return s.st.healthy() }

// Close stops the subscriber and background work. It does not close the
// client, which the caller owns.
func (s *Source) Close() {
	s.cancel()
	s.wg.Wait()
}

// Members returns orgID's snapshot: from Redis when it is fresh there,
// else from one load in the fleet (this replica's, under the lease, or
// another's it waits for). When Redis cannot be reached it loads from the
// inner source directly. Errors are the inner source's, or
// UPSTREAM_UNAVAILABLE when ctx ends while waiting.
func (s *Source) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	if !s.st.healthy() {
		return s.fallback(ctx, orgID)
	}
	waited := false
	var stale *directory.Snapshot
	for {
		st, err := s.st.get(ctx, orgID)
		if err != nil {
			return s.fallback(ctx, orgID)
		}
		if st.data != nil {
			snap, err := Decode(st.data)
			switch {
			case err != nil:
				s.log.WarnContext(ctx, "fleet: cannot read the snapshot in Redis; loading", "org_id", orgID, "err", err)
			case s.now().Sub(snap.LoadedAt()) < s.cfg.TTL,
				// A load that landed while we waited is the one we waited
				// for, whatever our clock says of its age.
				waited && (stale == nil || snap.LoadedAt().After(stale.LoadedAt())):
				s.stats.hits.Add(1)
				return snap, nil
			default:
				stale = snap
			}
		}
		l, err := s.st.acquire(ctx, orgID)
		if err != nil {
			return s.fallback(ctx, orgID)
		}
		if l != nil {
			// Double-check: a load may have landed between our read and
			// the lease (its holder stored it, then released the lease).
			if snap := s.freshAfterLease(ctx, orgID, stale); snap != nil {
				_ = s.st.release(context.WithoutCancel(ctx), l)
				s.stats.hits.Add(1)
				return snap, nil
			}
			return s.load(ctx, l, stale)
		}
		// Another replica loads: wait for its notification, or poll.
		if !waited {
			s.stats.waits.Add(1)
			waited = true
		}
		if err := s.wait(ctx, orgID); err != nil {
			if stale != nil && s.now().Sub(stale.LoadedAt()) < s.cfg.MaxStale {
				return stale, nil
			}
			return nil, directory.Wrap(directory.CodeUpstreamUnavailable, err, "organization members were not loaded in time")
		}
	}
}

// freshAfterLease returns orgID's snapshot in Redis if it is fresh, or
// newer than stale (what was read before the lease); nil otherwise, or if
// Redis fails (the lease holder then loads).
func (s *Source) freshAfterLease(ctx context.Context, orgID string, stale *directory.Snapshot) *directory.Snapshot {
	st, err := s.st.get(ctx, orgID)
	if err != nil || st.data == nil {
		return nil
	}
	snap, err := Decode(st.data)
	if err != nil {
		return nil
	}
	if s.now().Sub(snap.LoadedAt()) < s.cfg.TTL || stale != nil && snap.LoadedAt().After(stale.LoadedAt()) {
		return snap
	}
	return nil
}

// fallback loads from the inner source without Redis; when the Redis
// call failed because ctx ended, it returns that instead.
func (s *Source) fallback(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	if ended(ctx) {
		err := ctx.Err()
		if err == nil {
			err = context.DeadlineExceeded
		}
		return nil, directory.Wrap(directory.CodeUpstreamUnavailable, err, "organization members were not loaded in time")
	}
	s.stats.fallbacks.Add(1)
	return s.inner.Members(ctx, orgID)
}

// load runs the inner source's load under the lease l, renewing it, then
// stores the result and notifies the fleet. When the load fails, a stale
// snapshot younger than MaxStale is served instead (stale-if-error).
func (s *Source) load(ctx context.Context, l *lease, stale *directory.Snapshot) (*directory.Snapshot, error) {
	s.stats.loads.Add(1)
	renewCtx, stopRenew := context.WithCancel(context.WithoutCancel(ctx))
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(s.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				if ok, err := s.st.renew(renewCtx, l); err != nil || !ok {
					return // lost: whoever holds it now loads too; put sorts out the order
				}
			}
		}
	}()
	snap, err := s.inner.Members(ctx, l.orgID)
	stopRenew()
	<-renewed
	bg := context.WithoutCancel(ctx)
	if err == nil {
		if _, perr := s.st.put(bg, l.orgID, Encode(snap), snap.LoadedAt(), l.started); perr == nil {
			s.stats.stored.Add(1)
		} else if !errors.Is(perr, errConflict) {
			s.log.WarnContext(ctx, "fleet: storing a snapshot in Redis failed", "org_id", l.orgID, "err", perr)
		}
	}
	_ = s.st.release(bg, l)
	s.notifyLoaded(bg, l.orgID)
	if err != nil && stale != nil && s.now().Sub(stale.LoadedAt()) < s.cfg.MaxStale {
		s.log.WarnContext(ctx, "fleet: reload failed; serving the stale snapshot from Redis", "org_id", l.orgID, "err", err)
		return stale, nil
	}
	return snap, err
}

// wait returns when orgID's load may have landed: a notification came, or
// PollInterval passed. Its error is ctx's.
func (s *Source) wait(ctx context.Context, orgID string) error {
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiters[orgID] = append(s.waiters[orgID], ch)
	s.mu.Unlock()
	t := time.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		s.dropWaiter(orgID, ch)
		return nil
	case <-ctx.Done():
		s.dropWaiter(orgID, ch)
		return ctx.Err()
	}
}

func (s *Source) dropWaiter(orgID string, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[orgID]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.waiters, orgID)
	} else {
		s.waiters[orgID] = ws
	}
}

// wake releases every local waiter for orgID.
func (s *Source) wake(orgID string) {
	s.mu.Lock()
	ws := s.waiters[orgID]
	delete(s.waiters, orgID)
	s.mu.Unlock()
	for _, ch := range ws {
		close(ch)
	}
}

// randomToken returns 32 random hex digits.
func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
