package clerkemu

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault makes matching requests slow or failing. See the package
// documentation for how several faults combine.
type Fault struct {
	// Endpoint is a route template such as "GET /v1/users" or
	// "GET /v1/organizations/{id}/memberships"; "" matches every endpoint.
	Endpoint string
	// PathContains, when set, restricts the fault to requests whose URL
	// path (unescaped, without the query) contains it, e.g. "/"+userID to
	// fail the writes of one user. It is a plain substring test: with ids
	// that prefix others (user_1, user_10), use Match instead.
	PathContains string
	// Match, when set, restricts the fault to requests it reports true
	// for. It runs under the faults' lock, before authentication; it must
	// not read the body or call the emulator.
	Match func(*http.Request) bool
	// Latency is the time before the answer (cut short if the client goes
	// away). A read's answer is computed as it arrives and sent when the
	// latency has passed, as a remote server's work is part of its
	// response time; a write waits, then applies.
	Latency time.Duration
	// Status, when non-zero, is the HTTP status (429, 500, 502, 503...) of
	// the answer, with a body in Clerk's error shape.
	Status int
	// RetryAfter sets the Retry-After header of 429 and 503 answers, in
	// whole seconds rounded up, at least 1. Zero sends no header.
	RetryAfter time.Duration
	// Rate is the fraction of matching requests affected, 0 < Rate <= 1;
	// 0 means 1. The draw is pseudo-random with a fixed seed.
	Rate float64
	// Count limits the fault to the next Count matching requests it
	// affects; 0 means unlimited.
	Count int
}

type faultSet struct {
	mu     sync.Mutex
	faults []*faultState
	rng    *rand.Rand
}

type faultState struct {
	f    Fault
	left int // remaining affected requests when f.Count > 0
}

func (fs *faultSet) init() { fs.rng = rand.New(rand.NewPCG(1, 2)) }

// SetFaults replaces all faults with the given ones (none clears them).
// Counts start afresh. Any caller may use it at any time; requests in flight
// keep the decision already taken.
func (e *Emulator) SetFaults(faults ...Fault) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.faults = e.faults.faults[:0]
	for _, f := range faults {
		e.faults.faults = append(e.faults.faults, &faultState{f: f, left: f.Count})
	}
}

// ClearFaults removes all faults.
func (e *Emulator) ClearFaults() { e.SetFaults() }

// decision is what the faults do to one request.
type decision struct {
	latency    time.Duration
	status     int
	retryAfter time.Duration
}

// decide applies the faults to one request r of route template route: the
// latencies of all firing faults add up; the first firing fault with a
// Status decides the status.
func (fs *faultSet) decide(route string, r *http.Request) decision {
	var d decision
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, st := range fs.faults {
		f := &st.f
		if f.Endpoint != "" && f.Endpoint != route {
			continue
		}
		if f.PathContains != "" && !strings.Contains(r.URL.Path, f.PathContains) {
			continue
		}
		if f.Match != nil && !f.Match(r) {
			continue
		}
		if f.Count > 0 && st.left <= 0 {
			continue
		}
		if f.Rate > 0 && f.Rate < 1 && fs.rng.Float64() >= f.Rate {
			continue
		}
		if f.Count > 0 {
			st.left--
		}
		d.latency += f.Latency
		if d.status == 0 && f.Status != 0 {
			d.status, d.retryAfter = f.Status, f.RetryAfter
		}
	}
	return d
}

type counters struct {
	mu    sync.Mutex
	n     map[string]int64
	total int64
}

func (c *counters) inc(route string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[route]++
	c.total++
	c.mu.Unlock()
}

// Requests returns how many requests were served per route template (such
// as "GET /v1/users"), faulted and rejected ones included, since New or the
// last ResetCounters. Requests that match no route count under
// "<METHOD> (unmatched)".
func (e *Emulator) Requests() map[string]int64 {
	e.counts.mu.Lock()
	defer e.counts.mu.Unlock()
	m := make(map[string]int64, len(e.counts.n))
	for k, v := range e.counts.n {
		m[k] = v
	}
	return m
}

// TotalRequests returns the number of requests served on every route.
func (e *Emulator) TotalRequests() int64 {
	e.counts.mu.Lock()
	defer e.counts.mu.Unlock()
	return e.counts.total
}

// ResetCounters sets all request counters to zero.
func (e *Emulator) ResetCounters() {
	e.counts.mu.Lock()
	defer e.counts.mu.Unlock()
	e.counts.n = nil
	e.counts.total = 0
}
