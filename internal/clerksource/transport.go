package clerksource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// ErrCircuitOpen is returned by Transport.RoundTrip, without calling
// upstream, while the circuit breaker is open (or half-open and already
// probing). The Repository reports it as UPSTREAM_UNAVAILABLE.
var ErrCircuitOpen = errors.New("clerksource: circuit breaker open, not calling upstream")

// maxRetryAfter is the longest Retry-After a call waits for when its
// context has no deadline; a longer one ends the call with the response.
const maxRetryAfter = time.Minute

// errCallFailed and errCallExcluded report a call's outcome to the breaker.
var (
	errCallFailed   = errors.New("upstream call failed")
	errCallExcluded = errors.New("call ended by its caller")
)

// Transport is the upstream discipline every request to Clerk goes through:
// a process-wide rate limiter, a circuit breaker, a timeout per attempt and
// retries with exponential backoff and full jitter.
//
// Idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE) with a replayable
// body are retried on 429, 5xx and network errors, honouring Retry-After;
// other 4xx answers are returned at once. A wait never runs past the
// request context's deadline: when it would, the last response or error is
// returned. A call (all its attempts) that ends in 429, 5xx or a network
// error counts as a failure for the breaker; BreakerFailures consecutive
// failures open it and RoundTrip then returns ErrCircuitOpen for
// BreakerCooldown without calling upstream. After the cooldown the breaker
// is half-open: up to Concurrency probe calls go through (others still get
// ErrCircuitOpen) and as many successes close it, one failure reopens it.
// Calls ended by their caller's context count neither way.
//
// A request whose context carries a slot pool (the Repository gives each
// load one) holds a slot from just before its attempt is sent until its
// response body has been read or closed: that bounds the requests in
// flight without holding slots while answers are decoded or backoffs wait.
//
// Build one with NewTransport; it is safe for concurrent use and meant to be
// shared by every request of one Clerk client.
type Transport struct {
	base           http.RoundTripper
	limiter        Limiter
	breaker        *gobreaker.TwoStepCircuitBreaker[struct{}]
	maxAttempts    int
	baseBackoff    time.Duration
	maxBackoff     time.Duration
	attemptTimeout time.Duration
	log            *slog.Logger
	obs            Observer // nil: nothing observed
	basePath       string   // the API base's path, cut from observed paths

	// Sleep waits d or until ctx is done, returning ctx.Err() then. Nil
	// means a real timer; tests set it before first use to observe waits.
	Sleep func(ctx context.Context, d time.Duration) error
}

// pooledTransport is http.DefaultTransport keeping enough idle connections
// to Clerk for a few loads at full Concurrency. The default keeps two per
// host, so every wave of a load would otherwise open most of its
// connections anew: a TLS handshake, one or two more round trips, per
// request.
func pooledTransport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4 * concurrency
	t.MaxIdleConns = max(t.MaxIdleConns, t.MaxIdleConnsPerHost)
	return t
}

// NewTransport returns a Transport around base (nil means
// http.DefaultTransport with a pool sized for cfg.Concurrency), wrapped by cfg.WrapAttempt when set, configured by
// the limit, retry, timeout, breaker and observer fields of cfg; other
// fields are ignored.
func NewTransport(base http.RoundTripper, cfg Config) *Transport {
	cfg = cfg.withDefaults()
	if base == nil {
		base = pooledTransport(cfg.Concurrency)
	}
	if cfg.WrapAttempt != nil {
		base = cfg.WrapAttempt(base)
	}
	t := &Transport{
		base:           base,
		limiter:        cfg.Limiter,
		maxAttempts:    cfg.MaxAttempts,
		baseBackoff:    cfg.BaseBackoff,
		maxBackoff:     cfg.MaxBackoff,
		attemptTimeout: cfg.RequestTimeout,
		log:            cfg.Logger,
		obs:            cfg.Observer,
	}
	if t.limiter == nil {
		t.limiter = newLimiter(cfg.RateLimit)
	}
	if u, err := url.Parse(cfg.APIURL); err == nil {
		t.basePath = strings.TrimRight(u.Path, "/")
	}
	failures := uint32(cfg.BreakerFailures)
	t.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name: "clerk",
		// Half-open lets one load's worth of concurrent probes through.
		MaxRequests: uint32(cfg.Concurrency),
		Timeout:     cfg.BreakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errCallExcluded) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			t.log.Warn("clerk circuit breaker state change", "breaker", name, "from", from.String(), "to", to.String())
			if t.obs != nil {
				t.obs.ObserveBreakerState(breakerState(to))
			}
		},
	})
	return t
}

// errRateLimited is returned when the process-wide limiter cannot admit a
// request before the caller's deadline. It never counts against the breaker.
var errRateLimited = errors.New("clerksource: local rate limit would pass the deadline")

// newLimiter keeps any 10-second window under perTenSeconds requests: a
// burst of a tenth of the budget plus a steady rate for the remainder.
func newLimiter(perTenSeconds int) *rate.Limiter {
	burst := max(perTenSeconds/10, 1)
	perSecond := float64(perTenSeconds-burst) / 10
	if perSecond <= 0 {
		perSecond = float64(perTenSeconds) / 10
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// RoundTrip implements http.RoundTripper. It returns ErrCircuitOpen while
// the breaker is open, the context's error when the caller gives up, and
// otherwise the last response or transport error once retries are spent.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	done, err := t.breaker.Allow()
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("%w (%v)", ErrCircuitOpen, err)
	}
	resp, err := t.roundTrip(req)
	switch {
	case req.Context().Err() != nil, errors.Is(err, errRateLimited):
		// The caller gave up, or our own limiter refused: Clerk is not failing.
		done(errCallExcluded)
	case err != nil || failedStatus(resp.StatusCode):
		done(errCallFailed)
	default:
		done(nil)
	}
	return resp, err
}

// roundTrip runs the attempts of one call.
func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		release, err := t.admit(ctx)
		if err != nil {
			if attempt == 1 {
				closeBody(req)
			}
			return nil, err
		}
		resp, err := t.attempt(req, attempt, release)
		if ctx.Err() != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return nil, ctx.Err()
		}
		if !resendable || attempt >= t.maxAttempts || !shouldRetryRequest(req.Method, resp, err) {
			return resp, err
		}
		wait := t.backoff(attempt)
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = ra
				if _, hasDeadline := ctx.Deadline(); !hasDeadline && wait > maxRetryAfter {
					return resp, nil
				}
			}
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
			return resp, err
		}
		t.log.Debug("retrying clerk request", "method", req.Method, "path", req.URL.Path,
			"attempt", attempt, "status", statusOf(resp), "error", err, "wait", wait)
		if resp != nil {
			drain(resp.Body)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// admit waits for a slot of the request's pool, if any, then for the rate
// limiter. It returns the function that gives the slot back.
func (t *Transport) admit(ctx context.Context) (release func(), err error) {
	release = func() {}
	if pool, ok := ctx.Value(slotsKey{}).(chan struct{}); ok {
		select {
		case pool <- struct{}{}:
			release = sync.OnceFunc(func() { <-pool })
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var waitStart time.Time
	if t.obs != nil {
		waitStart = time.Now()
	}
	err = t.limiter.Wait(ctx)
	if t.obs != nil {
		t.obs.ObserveLimiterWait(time.Since(waitStart))
	}
	if err != nil {
		release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The call's deadline would pass while waiting: as good as passed.
		return nil, fmt.Errorf("%w: %w: %v", errRateLimited, context.DeadlineExceeded, err)
	}
	return release, nil
}

// attempt sends one try of req, bounded by the attempt timeout. The timeout
// stays in force until the response body is closed; release runs once the
// body has been read to its end or closed.
func (t *Transport) attempt(req *http.Request, n int, release func()) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.attemptTimeout)
	r := req.Clone(ctx)
	if n > 1 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			cancel()
			release()
			return nil, err
		}
		r.Body = body
	}
	var sent time.Time
	if t.obs != nil {
		sent = time.Now()
	}
	resp, err := t.base.RoundTrip(r)
	if t.obs != nil {
		t.obs.ObserveRequest(req.Method, t.relativePath(req.URL.Path), statusOf(resp), time.Since(sent))
	}
	if err != nil {
		cancel()
		release()
		return nil, err
	}
	resp.Body = &attemptBody{ReadCloser: resp.Body, cancel: cancel, release: release}
	return resp, nil
}

// relativePath returns path without the API base's path, when below it.
func (t *Transport) relativePath(path string) string {
	if rest, ok := strings.CutPrefix(path, t.basePath); ok && (rest == "" || rest[0] == '/') {
		return rest
	}
	return path
}

// breakerState maps gobreaker's states to the Observer's.
func breakerState(s gobreaker.State) int {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}

// slotsKey is the context key of a request's slot pool.
type slotsKey struct{}

// withSlots returns ctx carrying pool: requests made with it through a
// Transport keep at most cap(pool) in flight.
func withSlots(ctx context.Context, pool chan struct{}) context.Context {
	return context.WithValue(ctx, slotsKey{}, pool)
}

// backoff returns the full-jitter wait before attempt+1: uniform in
// [0, min(maxBackoff, baseBackoff*2^(attempt-1))].
func (t *Transport) backoff(attempt int) time.Duration {
	ceiling := t.maxBackoff
	if shift := attempt - 1; shift < 32 {
		if d := t.baseBackoff << shift; d > 0 && d < ceiling {
			ceiling = d
		}
	}
	return rand.N(ceiling + 1)
}

func (t *Transport) sleep(ctx context.Context, d time.Duration) error {
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// idempotent reports whether a request with this method may be sent twice.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// failedStatus reports whether a status means the upstream failed (as
// opposed to refusing a bad request).
func failedStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// shouldRetryRequest reports whether an attempt may be repeated: an
// idempotent request after any failure, any other (a PATCH, a POST) only
// after a 429, which Clerk answers before doing anything.
func shouldRetryRequest(method string, resp *http.Response, err error) bool {
	if idempotent(method) {
		return shouldRetry(resp, err)
	}
	return err == nil && resp.StatusCode == http.StatusTooManyRequests
}

func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		return true
	}
	return failedStatus(resp.StatusCode)
}

// retryAfter parses a Retry-After header, in seconds or as an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// drain reads a little of an unwanted body so its connection can be reused, and closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}

// closeBody honours the RoundTripper contract of closing the request body
// when the request is never sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// attemptBody gives an attempt's slot back once the body is read to its end
// or closed, and ends the attempt's context when it is closed.
type attemptBody struct {
	io.ReadCloser
	cancel  context.CancelFunc
	release func()
}

func (b *attemptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *attemptBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	b.cancel()
	return err
}
