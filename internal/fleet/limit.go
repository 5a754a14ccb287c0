package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limiter is the fleet-wide Clerk budget: CLERK_RATE_LIMIT requests per
// 10 s shared by every replica on one Redis and prefix, with the same shape
// as the per-process limiter it replaces (clerksource's newLimiter): a
// burst of a tenth of the budget, then a steady rate for the rest.
//
// It is GCRA (the generic cell rate algorithm) in a few lines of Lua: one
// key holds the theoretical arrival time, updated atomically on Redis's
// clock, so replicas with skewed clocks agree. go-redis/redis_rate (also
// GCRA) was not used: the module proxy list on this machine does not
// serve it, and the script is short enough to own.
//
// While Redis is unreachable (the shared breaker is open, or a call
// fails) each replica falls back to a local limiter with the whole budget,
// as before the fleet tier: availability first, logged by the breaker.
type Limiter struct {
	st       *store
	key      string
	interval time.Duration // one request's share of the steady rate
	burst    int
	local    *rate.Limiter
	sleep    func(ctx context.Context, d time.Duration) error
}

// Limiter returns the fleet-wide limiter of perTenSeconds requests per
// 10 s. Its Wait is what clerksource's transport calls before each attempt.
func (r *Redis) Limiter(perTenSeconds int) *Limiter {
	burst := max(perTenSeconds/10, 1)
	perSecond := float64(perTenSeconds-burst) / 10
	if perSecond <= 0 {
		perSecond = float64(perTenSeconds) / 10
	}
	return &Limiter{
		st:       r.st,
		key:      r.st.prefix + "clerk-rate",
		interval: time.Duration(float64(time.Second) / perSecond),
		burst:    burst,
		local:    rate.NewLimiter(rate.Limit(perSecond), burst),
		sleep:    sleepCtx,
	}
}

// gcraScript admits one request or says how long to wait. KEYS[1] holds
// the theoretical arrival time (TAT) in microseconds of Redis time. ARGV
// emission interval (µs), burst. Returns 0 when admitted, else the wait in
// µs before trying again.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new = tat + interval
local wait = new - tolerance - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1000)
return 0
`)

// errWouldPassDeadline: admission would come after the caller's deadline.
var errWouldPassDeadline = errors.New("fleet: the fleet-wide Clerk rate limit would pass the deadline")

// Wait blocks until the fleet budget admits one request. It fails at once
// when the wait would pass ctx's deadline (as rate.Limiter.Wait does), and
// with ctx's error when ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		if !l.st.healthy() {
			return l.local.Wait(ctx)
		}
		var wait int64
		err := l.st.do(ctx, func(ctx context.Context) error {
			var err error
			wait, err = gcraScript.Run(ctx, l.st.rdb, []string{l.key}, l.interval.Microseconds(), l.burst).Int64()
			return err
		})
		if err != nil {
			if ended(ctx) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return context.DeadlineExceeded
			}
			return l.local.Wait(ctx)
		}
		if wait == 0 {
			return nil
		}
		d := time.Duration(wait) * time.Microsecond
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return fmt.Errorf("%w (would wait %v)", errWouldPassDeadline, d)
		}
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
