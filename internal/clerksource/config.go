package clerksource

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Config configures a Repository and its Transport. Zero values take the
// defaults documented on each field.
type Config struct {
	// APIURL is the Backend API base including /v1, e.g. "https://api.clerk.com/v1".
	APIURL string
	// SecretKey is the Clerk secret key sent as the bearer token.
	SecretKey string
	// HTTPClient supplies the base transport, timeout, redirect policy and
	// jar; nil means a plain client over http.DefaultTransport. New wraps its
	// Transport in a *Transport and never modifies the client given.
	HTTPClient *http.Client
	// PageSize is the page size for list calls, 1..500; 0 or more than 500 means 500.
	PageSize int
	// Concurrency is the maximum number of in-flight upstream requests per
	// load; default 20, so the 18 pages after the first two of a 5,000-member
	// organization go out in one wave. RateLimit still bounds the budget.
	Concurrency int
	// RateLimit is the number of requests per 10 seconds this client may
	// send, across every load (CLERK_RATE_LIMIT); default 900.
	RateLimit int
	// Limiter, when set, replaces the process-wide limiter that RateLimit
	// builds: server.go gives it the fleet-wide one (internal/fleet) when
	// Redis is configured. Wait blocks until one request may go out and
	// fails at once when that would pass ctx's deadline, as
	// rate.Limiter.Wait does.
	Limiter Limiter
	// MaxAttempts is the number of attempts per upstream call; default 4.
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the exponential backoff with full
	// jitter between attempts; defaults 100ms and 2s.
	BaseBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds each attempt; default 10s.
	RequestTimeout time.Duration
	// BreakerFailures is the number of consecutive failed calls that opens
	// the circuit breaker; default 5.
	BreakerFailures int
	// BreakerCooldown is how long an open breaker fails fast before letting
	// probe calls through (half-open); default 5s.
	BreakerCooldown time.Duration
	// Logger receives upstream failures and breaker state changes; nil means slog.Default().
	Logger *slog.Logger
	// Observer, when set, hears every attempt sent to Clerk, every rate
	// limiter wait and every breaker state change (server.go gives it the
	// metrics); nil observes nothing and costs nothing.
	Observer Observer
	// WrapAttempt, when set, wraps the base transport every attempt is sent
	// through, inside the retries, limiter and breaker: server.go gives it
	// the tracing, so that each attempt is a client span whose traceparent
	// Clerk receives. Nil wraps nothing and costs nothing.
	WrapAttempt func(http.RoundTripper) http.RoundTripper
}

// Limiter admits requests to Clerk; *rate.Limiter is one.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Observer hears what a Transport does. Its methods are called on the
// request's goroutine (ObserveBreakerState under the breaker's lock), so
// they must be quick and safe for concurrent use.
type Observer interface {
	// ObserveRequest reports one attempt: its method, its URL path relative
	// to the API base (e.g. "/users/user_1" for ".../v1/users/user_1"; the
	// whole path when it is not below the base), the response status (0
	// when there was no response) and the time until the response headers.
	ObserveRequest(method, path string, status int, d time.Duration)
	// ObserveLimiterWait reports how long one attempt waited for the
	// process-wide rate limiter, admitted or not.
	ObserveLimiterWait(d time.Duration)
	// ObserveBreakerState reports the breaker's new state: BreakerClosed,
	// BreakerHalfOpen or BreakerOpen.
	ObserveBreakerState(state int)
}

// Breaker states as Observer.ObserveBreakerState reports them.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Defaults.
const (
	maxPageSize            = 500
	defaultConcurrency     = 20
	defaultRateLimit       = 900
	defaultMaxAttempts     = 4
	defaultBaseBackoff     = 100 * time.Millisecond
	defaultMaxBackoff      = 2 * time.Second
	defaultRequestTimeout  = 10 * time.Second
	defaultBreakerFailures = 5
	defaultBreakerCooldown = 5 * time.Second
)

// withDefaults returns cfg with every zero or out-of-range field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.PageSize <= 0 || cfg.PageSize > maxPageSize {
		cfg.PageSize = maxPageSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = defaultConcurrency
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = defaultRateLimit
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = defaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.BaseBackoff {
		cfg.MaxBackoff = cfg.BaseBackoff
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = defaultBreakerFailures
	}
	if cfg.BreakerCooldown <= 0 {
		cfg.BreakerCooldown = defaultBreakerCooldown
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}
