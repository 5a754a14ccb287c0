package clerksource

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

// reply is one scripted answer of a scriptServer.
type reply struct {
	status     int
	retryAfter string
}

// scriptServer answers the replies in order, repeating the last one, and
// counts the requests it served.
type scriptServer struct {
	*httptest.Server
	hits    atomic.Int64
	bodies  chan string
	mu      sync.Mutex
	replies []reply
}

// setReplies replaces the script; the request count goes on.
func (s *scriptServer) setReplies(replies ...reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = replies
}

func newScriptServer(t *testing.T, replies ...reply) *scriptServer {
	t.Helper()
	s := &scriptServer{replies: replies, bodies: make(chan string, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.hits.Add(1))
		body, _ := io.ReadAll(r.Body)
		select {
		case s.bodies <- string(body):
		default:
		}
		s.mu.Lock()
		rep := s.replies[min(n, len(s.replies))-1]
		s.mu.Unlock()
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

// sleepRecorder stands in for the timer: it records each wait and returns at once.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// roundTripFunc is a fake base transport.
type roundTripFunc struct {
	fn func(*http.Request) (*http.Response, error)
}

func (f *roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f.fn(r) }

var _ http.RoundTripper = (*roundTripFunc)(nil)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestTransport returns a Transport over http.DefaultTransport whose
// waits are recorded instead of slept.
func newTestTransport(t *testing.T, cfg Config) (*Transport, *sleepRecorder) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	tr := NewTransport(nil, cfg)
	rec := &sleepRecorder{}
	tr.Sleep = rec.sleep
	return tr, rec
}

// do sends one request through tr and returns the status (0 on error).
func do(t *testing.T, tr http.RoundTripper, ctx context.Context, method, url string, body string) (int, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp.StatusCode, nil
}

func TestTransportRetries(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		replies    []reply
		wantStatus int
		wantHits   int64
		// wantWaits, when set, are the exact waits expected (Retry-After);
		// otherwise there must be wantHits-1 jittered waits.
		wantWaits []time.Duration
	}{
		{"429 honours Retry-After seconds", http.MethodGet, []reply{{429, "2"}, {200, ""}}, 200, 2, []time.Duration{2 * time.Second}},
		{"503 honours Retry-After", http.MethodGet, []reply{{503, "1"}, {503, "3"}, {200, ""}}, 200, 3, []time.Duration{time.Second, 3 * time.Second}},
		{"5xx retried then success", http.MethodGet, []reply{{500, ""}, {502, ""}, {503, ""}, {200, ""}}, 200, 4, nil},
		{"persistent 503 gives up after MaxAttempts", http.MethodGet, []reply{{503, ""}}, 503, 4, nil},
		{"400 not retried", http.MethodGet, []reply{{400, ""}}, 400, 1, nil},
		{"401 not retried", http.MethodGet, []reply{{401, ""}}, 401, 1, nil},
		{"404 not retried", http.MethodGet, []reply{{404, ""}}, 404, 1, nil},
		{"422 not retried", http.MethodGet, []reply{{422, ""}}, 422, 1, nil},
		{"POST not retried", http.MethodPost, []reply{{503, ""}, {200, ""}}, 503, 1, nil},
		{"PATCH not retried after a 503", http.MethodPatch, []reply{{503, ""}, {200, ""}}, 503, 1, nil},
		{"PATCH retried after a 429, which Clerk answers before doing anything", http.MethodPatch, []reply{{429, "1"}, {200, ""}}, 200, 2, []time.Duration{time.Second}},
		{"POST retried after a 429", http.MethodPost, []reply{{429, "2"}, {201, ""}}, 201, 2, []time.Duration{2 * time.Second}},
		{"DELETE retried", http.MethodDelete, []reply{{502, ""}, {200, ""}}, 200, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.replies...)
			tr, rec := newTestTransport(t, Config{MaxAttempts: 4, BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
			status, err := do(t, tr, context.Background(), tc.method, srv.URL, "")
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if status != tc.wantStatus {
				t.Errorf("status = %d, want %d", status, tc.wantStatus)
			}
			if got := srv.hits.Load(); got != tc.wantHits {
				t.Errorf("upstream requests = %d, want %d", got, tc.wantHits)
			}
			waits := rec.recorded()
			if tc.wantWaits != nil {
				if !equalDurations(waits, tc.wantWaits) {
					t.Errorf("waits = %v, want %v", waits, tc.wantWaits)
				}
				return
			}
			if int64(len(waits)) != tc.wantHits-1 {
				t.Fatalf("waits = %v, want %d of them", waits, tc.wantHits-1)
			}
			for i, w := range waits {
				ceiling := min(time.Second, 100*time.Millisecond<<i)
				if w < 0 || w > ceiling {
					t.Errorf("wait %d = %v, want within [0, %v]", i+1, w, ceiling)
				}
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTransportRetryAfterHTTPDate(t *testing.T) {
	at := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	srv := newScriptServer(t, reply{429, at}, reply{200, ""})
	tr, rec := newTestTransport(t, Config{})
	status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, "")
	if err != nil || status != 200 {
		t.Fatalf("status %d, err %v; want 200", status, err)
	}
	waits := rec.recorded()
	if len(waits) != 1 || waits[0] < 28*time.Second || waits[0] > 30*time.Second {
		t.Errorf("waits = %v, want one of about 30s (the Retry-After date)", waits)
	}
}

func TestTransportRefusesHourLongRetryAfterWithoutDeadline(t *testing.T) {
	srv := newScriptServer(t, reply{429, "3600"}, reply{200, ""})
	tr, rec := newTestTransport(t, Config{})
	status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, "")
	if err != nil || status != 429 || srv.hits.Load() != 1 || len(rec.recorded()) != 0 {
		t.Errorf("status %d, err %v, %d requests, waits %v; want the 429 after 1 request and no wait",
			status, err, srv.hits.Load(), rec.recorded())
	}
}

func TestTransportGivesUpWhenWaitPassesDeadline(t *testing.T) {
	tests := []struct {
		name    string
		replies []reply
		backoff time.Duration
	}{
		{"Retry-After beyond deadline", []reply{{429, "30"}, {200, ""}}, 10 * time.Millisecond},
		{"backoff beyond deadline", []reply{{503, ""}, {200, ""}}, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.replies...)
			// Full jitter may draw a short wait; force the ceiling by a
			// base backoff far beyond the deadline and check the outcome
			// only when no wait was taken.
			tr, rec := newTestTransport(t, Config{BaseBackoff: tc.backoff, MaxBackoff: tc.backoff})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			status, err := do(t, tr, ctx, http.MethodGet, srv.URL, "")
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if waits := rec.recorded(); len(waits) > 0 {
				for _, w := range waits {
					if w > 5*time.Second {
						t.Fatalf("slept %v past the 5s deadline", w)
					}
				}
				return // jitter drew a wait inside the deadline: legal
			}
			if status != tc.replies[0].status || srv.hits.Load() != 1 {
				t.Errorf("status %d after %d requests; want the first answer %d after 1", status, srv.hits.Load(), tc.replies[0].status)
			}
		})
	}
}

func TestTransportRetriesNetworkErrorsAndReplaysBody(t *testing.T) {
	var calls atomic.Int64
	var bodies []string
	var mu sync.Mutex
	base := &roundTripFunc{fn: func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if calls.Add(1) == 1 {
			return nil, errors.New("connection reset by peer")
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}, Request: r}, nil
	}}
	tr := NewTransport(base, Config{Logger: quietLogger()})
	rec := &sleepRecorder{}
	tr.Sleep = rec.sleep
	status, err := do(t, tr, context.Background(), http.MethodPut, "http://clerk.invalid/v1/x", `{"a":1}`)
	if err != nil || status != 200 {
		t.Fatalf("status %d, err %v; want 200", status, err)
	}
	if calls.Load() != 2 {
		t.Errorf("attempts = %d, want 2", calls.Load())
	}
	if len(bodies) != 2 || bodies[0] != `{"a":1}` || bodies[1] != `{"a":1}` {
		t.Errorf("bodies sent = %q, want the same body twice", bodies)
	}
}

func TestTransportAttemptTimeout(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			select { // hang until the attempt times out
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	tr, _ := newTestTransport(t, Config{RequestTimeout: 100 * time.Millisecond})
	status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, "")
	if err != nil || status != 200 {
		t.Fatalf("status %d, err %v; want 200 after the first attempt timed out", status, err)
	}
	if hits.Load() < 2 {
		t.Errorf("upstream requests = %d, want a retry after the timed-out attempt", hits.Load())
	}
}

func TestTransportCallerCancellation(t *testing.T) {
	srv := newScriptServer(t, reply{503, ""})
	tr, _ := newTestTransport(t, Config{BreakerFailures: 1})
	ctx, cancel := context.WithCancel(context.Background())
	tr.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}
	_, err := do(t, tr, ctx, http.MethodGet, srv.URL, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// A call its caller abandoned does not count against Clerk.
	tr.Sleep = (&sleepRecorder{}).sleep
	srv.setReplies(reply{200, ""})
	if status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, ""); err != nil || status != 200 {
		t.Errorf("after a cancelled call: status %d, err %v; want 200 (breaker still closed)", status, err)
	}
}

func TestTransportBreaker(t *testing.T) {
	srv := newScriptServer(t, reply{503, ""})
	tr, _ := newTestTransport(t, Config{MaxAttempts: 2, BreakerFailures: 3, BreakerCooldown: time.Hour})
	for i := range 3 {
		status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, "")
		if err != nil || status != 503 {
			t.Fatalf("call %d: status %d, err %v; want 503", i+1, status, err)
		}
	}
	if got := srv.hits.Load(); got != 6 {
		t.Fatalf("upstream requests = %d, want 6 (3 calls x 2 attempts)", got)
	}
	for i := range 5 {
		_, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, "")
		if !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("call %d after opening: err = %v, want ErrCircuitOpen", i+1, err)
		}
	}
	if got := srv.hits.Load(); got != 6 {
		t.Errorf("upstream requests = %d after the breaker opened, want still 6", got)
	}
}

func TestTransportBreakerIgnoresClientErrorsAndRecovers(t *testing.T) {
	srv := newScriptServer(t, reply{404, ""})
	tr, _ := newTestTransport(t, Config{MaxAttempts: 1, BreakerFailures: 2, BreakerCooldown: 500 * time.Millisecond})
	for range 5 {
		if status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, ""); err != nil || status != 404 {
			t.Fatalf("status %d, err %v; want 404 (4xx must not open the breaker)", status, err)
		}
	}
	srv.setReplies(reply{500, ""})
	for range 2 {
		_, _ = do(t, tr, context.Background(), http.MethodGet, srv.URL, "")
	}
	if _, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, ""); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen after 2 failed calls", err)
	}
	// After the cooldown a probe goes through and, succeeding, closes the breaker.
	srv.setReplies(reply{200, ""})
	var status int
	var err error
	for range 300 {
		time.Sleep(10 * time.Millisecond)
		if status, err = do(t, tr, context.Background(), http.MethodGet, srv.URL, ""); !errors.Is(err, ErrCircuitOpen) {
			break
		}
	}
	if err != nil || status != 200 {
		t.Fatalf("after cooldown: status %d, err %v; want 200", status, err)
	}
	if status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL, ""); err != nil || status != 200 {
		t.Errorf("breaker did not close: status %d, err %v", status, err)
	}
}

func TestTransportRateLimit(t *testing.T) {
	// A budget of 10 per 10s is a burst of 1 then 0.9 per second: of many
	// requests that may wait at most 300ms, exactly one is served.
	srv := newScriptServer(t, reply{200, ""})
	tr, _ := newTestTransport(t, Config{RateLimit: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var served, refused atomic.Int64
	for range 8 {
		wg.Go(func() {
			if status, err := do(t, tr, ctx, http.MethodGet, srv.URL, ""); err == nil && status == 200 {
				served.Add(1)
			} else {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if served.Load() != 1 || srv.hits.Load() != 1 || refused.Load() != 7 {
		t.Errorf("served %d (upstream saw %d), refused %d; want 1, 1, 7", served.Load(), srv.hits.Load(), refused.Load())
	}
	// Our own limiter's refusals say nothing about Clerk: the breaker stays closed.
	if st := tr.breaker.State(); st != gobreaker.StateClosed {
		t.Errorf("breaker %v after local rate-limit refusals, want closed", st)
	}
}

func TestNewLimiterStaysUnderBudget(t *testing.T) {
	tests := []struct {
		perTenSeconds int
		wantBurst     int
	}{
		{900, 90},
		{100, 10},
		{10, 1},
		{5, 1},
		{1, 1},
	}
	for _, tc := range tests {
		lim := newLimiter(tc.perTenSeconds)
		if lim.Burst() != tc.wantBurst {
			t.Errorf("newLimiter(%d).Burst() = %d, want %d", tc.perTenSeconds, lim.Burst(), tc.wantBurst)
		}
		// Tokens available in any 10s window: the burst plus 10s of refill.
		inWindow := float64(lim.Burst()) + 10*float64(lim.Limit())
		if inWindow > float64(max(tc.perTenSeconds, 1))+1e-9 && tc.perTenSeconds > 1 {
			t.Errorf("newLimiter(%d) allows %.1f per 10s", tc.perTenSeconds, inWindow)
		}
		if lim.Limit() <= 0 {
			t.Errorf("newLimiter(%d) never refills", tc.perTenSeconds)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tc := range tests {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestTransportSlotsBoundInFlightRequests(t *testing.T) {
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	tr, _ := newTestTransport(t, Config{})
	ctx := withSlots(context.Background(), make(chan struct{}, 3))
	var wg sync.WaitGroup
	var served atomic.Int64
	for range 10 {
		wg.Go(func() {
			if status, err := do(t, tr, ctx, http.MethodGet, srv.URL, ""); err == nil && status == 200 {
				served.Add(1)
			}
		})
	}
	// Let the requests pile up on the slots, then drain them one by one.
	for range 10 {
		release <- struct{}{}
	}
	wg.Wait()
	if served.Load() != 10 || peak.Load() > 3 || peak.Load() == 0 {
		t.Errorf("served %d with at most %d in flight; want 10 with at most 3", served.Load(), peak.Load())
	}
}
