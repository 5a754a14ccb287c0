package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// NewClient returns a Redis client for url (redis:// or rediss:// for TLS,
// as go-redis parses it) whose every call is bounded by opTimeout: dials,
// reads and writes time out, the caller's deadline is honoured and nothing
// is retried, so a Redis that is down costs a request at most opTimeout
// before the circuit breaker opens.
//
// go-redis's own log lines (a failed dial, once per attempt) go to slog at
// debug level: the breaker logs the outage once per state change.
//
// url names one server (redis://host:6379/0), a Redis Cluster (its seed
// nodes: redis://host1:6379?addr=host2:6379&addr=host3:6379) or a Sentinel
// deployment (redis://sentinel1:26379?master_name=mymaster&addr=sentinel2:26379),
// as go-redis parses them (ParseURL, ParseClusterURL, ParseFailoverURL).
func NewClient(url string, opTimeout time.Duration) (redis.UniversalClient, error) {
	quietOnce.Do(func() { redis.SetLogger(debugLogger{}) })
	if opTimeout <= 0 {
		opTimeout = DefaultOpTimeout
	}
	switch kind, err := urlKind(url); {
	case err != nil:
		return nil, err
	case kind == "cluster":
		opt, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, err
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = opTimeout, opTimeout, opTimeout, opTimeout
		opt.ContextTimeoutEnabled, opt.MaxRetries, opt.DialerRetries, opt.DisableIdentity = true, -1, 1, true
		return redis.NewClusterClient(opt), nil
	case kind == "sentinel":
		opt, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, err
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = opTimeout, opTimeout, opTimeout, opTimeout
		opt.ContextTimeoutEnabled, opt.MaxRetries, opt.DialerRetries, opt.DisableIdentity = true, -1, 1, true
		return redis.NewFailoverClient(opt), nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout = opTimeout
	opt.ReadTimeout = opTimeout
	opt.WriteTimeout = opTimeout
	opt.PoolTimeout = opTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1 // no retries: the breaker and the per-process fallback handle failures
	opt.DialerRetries = 1
	opt.DisableIdentity = true
	return redis.NewClient(opt), nil
}

// urlKind says which deployment a REDIS_URL names: "server", "cluster"
// (addr= seed nodes) or "sentinel" (master_name=).
func urlKind(raw string) (string, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		return "sentinel", nil
	case q.Has("addr"):
		return "cluster", nil
	}
	return "server", nil
}

// ParseURL checks a REDIS_URL as NewClient reads it, without connecting.
func ParseURL(url string) error {
	kind, err := urlKind(url)
	switch {
	case err != nil:
		return err
	case kind == "cluster":
		_, err = redis.ParseClusterURL(url)
	case kind == "sentinel":
		_, err = redis.ParseFailoverURL(url)
	default:
		_, err = redis.ParseURL(url)
	}
	return err
}

var quietOnce sync.Once

// debugLogger passes go-redis's log lines to slog at debug level.
type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// store is the Redis side of the fleet tier: snapshots, leases and the
// circuit breaker every call goes through. Every key of one organization
// carries the hash tag {orgID}, so a cluster keeps them in one slot.
//
// An organization's snapshot is a hash, prefix+"{org}:snap":
//
//	data     the encoded snapshot (codec.go); absent after a reload was asked for
//	gen      a counter bumped by every write: the version patches compare-and-set on
//	loaded   the snapshot's LoadedAt, Unix milliseconds
//	patched  Redis time (ms) of the last patch or reload request: a load
//	         that began before it may miss that change and is not stored
//
// and expires MaxStale after its last write.
type store struct {
	rdb       redis.UniversalClient
	prefix    string
	opTimeout time.Duration
	keyTTL    time.Duration
	leaseTTL  time.Duration
	breaker   *gobreaker.CircuitBreaker[any]
	log       *slog.Logger
	up        atomic.Bool // the breaker is closed
}

// errConflict: a compare-and-set lost to another write.
var errConflict = errors.New("fleet: snapshot changed meanwhile")

func newStore(rdb redis.UniversalClient, cfg *Config) *store {
	s := &store{
		rdb: rdb, prefix: cfg.Prefix, opTimeout: cfg.OpTimeout,
		keyTTL: cfg.MaxStale, leaseTTL: cfg.LeaseTTL, log: cfg.Logger,
	}
	s.up.Store(true)
	s.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     cfg.BreakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(cfg.BreakerFailures) },
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, redis.Nil) || errors.Is(err, errConflict)
		},
		// A caller that gave up says nothing about Redis.
		IsExcluded: func(err error) bool { _, gone := errors.AsType[*callerGone](err); return gone },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch to {
			case gobreaker.StateOpen:
				if from == gobreaker.StateClosed {
					s.up.Store(false)
					s.log.Warn("fleet: Redis is unreachable; each replica now loads, caches and rate-limits on its own until it returns",
						"breaker", to.String())
					if cfg.OnState != nil {
						cfg.OnState(false)
					}
				}
			case gobreaker.StateClosed:
				s.up.Store(true)
				s.log.Info("fleet: Redis is back; sharing snapshots, loads and the Clerk budget with the fleet again")
				if cfg.OnState != nil {
					cfg.OnState(true)
				}
			}
		},
	})
	return s
}

func (s *store) snapKey(orgID string) string  { return s.prefix + "{" + orgID + "}:snap" }
func (s *store) leaseKey(orgID string) string { return s.prefix + "{" + orgID + "}:lease" }
func (s *store) channel() string              { return s.prefix + "events" }

// do runs op through the breaker with a deadline of opTimeout. A call
// that fails because the caller's context ended says nothing about Redis:
// it counts neither way.
func (s *store) do(ctx context.Context, op func(ctx context.Context) error) error {
	_, err := s.breaker.Execute(func() (any, error) {
		opCtx, cancel := context.WithTimeout(ctx, s.opTimeout)
		defer cancel()
		err := op(opCtx)
		if err != nil && ended(ctx) {
			return nil, &callerGone{err}
		}
		return nil, err
	})
	return err
}

// ended reports whether ctx is done or its deadline has passed: a socket
// read bounded by that deadline can fail a moment before ctx.Err() is set.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// callerGone wraps the error of a call whose caller's context ended.
type callerGone struct{ err error }

func (e *callerGone) Error() string { return e.err.Error() }
func (e *callerGone) Unwrap() error { return e.err }

// entry is what Redis holds for one organization.
type stored struct {
	data     []byte // nil: no snapshot (absent, or a reload was asked for)
	gen      int64
	loadedAt time.Time
}

// get reads orgID's entry; a missing key is a zero stored and no error.
func (s *store) get(ctx context.Context, orgID string) (stored, error) {
	var st stored
	err := s.do(ctx, func(ctx context.Context) error {
		vals, err := s.rdb.HMGet(ctx, s.snapKey(orgID), "data", "gen", "loaded").Result()
		if err != nil {
			return err
		}
		if d, ok := vals[0].(string); ok {
			st.data = []byte(d)
		}
		if g, ok := vals[1].(string); ok {
			st.gen, _ = strconv.ParseInt(g, 10, 64)
		}
		if l, ok := vals[2].(string); ok {
			ms, _ := strconv.ParseInt(l, 10, 64)
			st.loadedAt = time.UnixMilli(ms)
		}
		return nil
	})
	return st, err
}

// putScript stores a loaded snapshot unless a newer load is stored or a
// patch (or reload request) came after the load began, either of which
// the load may not reflect. KEYS[1] snapshot; ARGV data, loaded (ms), load
// start in Redis time (ms), expiry (ms). Returns the new gen, or -1.
var putScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'loaded', 'patched', 'data')
if cur[3] and cur[1] and tonumber(cur[1]) > tonumber(ARGV[2]) then return -1 end
if cur[2] and tonumber(cur[2]) >= tonumber(ARGV[3]) then return -1 end
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'loaded', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return gen
`)

// put stores a snapshot loaded at loadedAt by a load that began at
// started (Redis time, from acquire). errConflict when it was not stored.
func (s *store) put(ctx context.Context, orgID string, data []byte, loadedAt time.Time, started int64) (int64, error) {
	var gen int64
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		gen, err = putScript.Run(ctx, s.rdb, []string{s.snapKey(orgID)},
			data, loadedAt.UnixMilli(), started, s.keyTTL.Milliseconds()).Int64()
		if err == nil && gen < 0 {
			err = errConflict
		}
		return err
	})
	return gen, err
}

// casScript replaces the snapshot if gen is still ARGV[1], stamping the
// patch with Redis time. An empty ARGV[2] drops the data (reload). A
// missing snapshot (gen "0" expected) only gets the stamp, so that a load
// in flight from before the change is not stored. KEYS[1] snapshot; ARGV
// expected gen, data, expiry (ms). Returns the new gen, or -1.
var casScript = redis.NewScript(`
local gen = redis.call('HGET', KEYS[1], 'gen') or '0'
if gen ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], 'data', 'loaded')
else
  redis.call('HSET', KEYS[1], 'data', ARGV[2])
end
redis.call('HSET', KEYS[1], 'patched', now)
local g = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return g
`)

// cas replaces orgID's snapshot data (nil: drops it) if its gen is still
// gen. errConflict when another write came first.
func (s *store) cas(ctx context.Context, orgID string, gen int64, data []byte) (int64, error) {
	var next int64
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		next, err = casScript.Run(ctx, s.rdb, []string{s.snapKey(orgID)},
			gen, data, s.keyTTL.Milliseconds()).Int64()
		if err == nil && next < 0 {
			err = errConflict
		}
		return err
	})
	return next, err
}

// acquireScript takes the lease (SET NX PX) and returns Redis time in ms,
// or 0 when another holds it. KEYS[1] lease; ARGV token, ttl (ms).
var acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
return 0
`)

// releaseScript deletes the lease if it still holds the token; renewScript
// extends it. KEYS[1] lease; ARGV token (, ttl).
var (
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)
)

// lease is a held load lease.
type lease struct {
	orgID   string
	token   string
	started int64 // Redis time (ms) when it was taken
}

// acquire tries to take orgID's load lease; nil when another replica holds it.
func (s *store) acquire(ctx context.Context, orgID string) (*lease, error) {
	l := &lease{orgID: orgID, token: randomToken()}
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		l.started, err = acquireScript.Run(ctx, s.rdb, []string{s.leaseKey(orgID)}, l.token, s.leaseTTL.Milliseconds()).Int64()
		return err
	})
	if err != nil || l.started == 0 {
		return nil, err
	}
	return l, nil
}

// renew extends a held lease; false when it was lost (expired, taken over).
func (s *store) renew(ctx context.Context, l *lease) (bool, error) {
	var n int64
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		n, err = renewScript.Run(ctx, s.rdb, []string{s.leaseKey(l.orgID)}, l.token, s.leaseTTL.Milliseconds()).Int64()
		return err
	})
	return n == 1, err
}

// release gives the lease back if it is still ours.
func (s *store) release(ctx context.Context, l *lease) error {
	return s.do(ctx, func(ctx context.Context) error {
		return releaseScript.Run(ctx, s.rdb, []string{s.leaseKey(l.orgID)}, l.token).Err()
	})
}

// publish sends msg on the fleet's channel.
func (s *store) publish(ctx context.Context, msg []byte) error {
	return s.do(ctx, func(ctx context.Context) error {
		return s.rdb.Publish(ctx, s.channel(), msg).Err()
	})
}

// healthy reports whether the breaker lets calls through: closed, or
// half-open and ready to probe.
func (s *store) healthy() bool { return s.breaker.State() != gobreaker.StateOpen }

func (s *store) String() string { return fmt.Sprintf("redis(prefix %q)", s.prefix) }
