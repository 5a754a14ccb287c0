package clerksource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// observed records what a Transport tells its Observer.
type observed struct {
	mu       sync.Mutex
	requests []string // "METHOD path status"
	waits    int
	states   []int
}

var _ Observer = (*observed)(nil)

func (o *observed) ObserveRequest(method, path string, status int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	o.requests = append(o.requests, fmt.Sprintf("%s %s %d", method, path, status))
}

func (o *observed) ObserveLimiterWait(time.Duration) { o.mu.Lock(); o.waits++; o.mu.Unlock() }

func (o *observed) ObserveBreakerState(s int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.states = append(o.states, s)
}

func TestTransportObserver(t *testing.T) {
	srv := newScriptServer(t, reply{429, "0"}, reply{200, ""})
	obs := &observed{}
	tr, _ := newTestTransport(t, Config{APIURL: srv.URL + "/v1/", Observer: obs})
	status, err := do(t, tr, context.Background(), http.MethodGet, srv.URL+"/v1/users/user_1", "")
	if err != nil || status != 200 {
		t.Fatalf("status %d err %v", status, err)
	}
	// Every attempt is observed, its path relative to the API base.
	want := []string{"GET /users/user_1 429", "GET /users/user_1 200"}
	if !slices.Equal(obs.requests, want) || obs.waits != 2 {
		t.Fatalf("requests %q waits %d, want %q and 2 waits", obs.requests, obs.waits, want)
	}
	// A path not below the base is reported whole.
	if _, err := do(t, tr, context.Background(), http.MethodGet, srv.URL+"/v10/x", ""); err != nil {
		t.Fatal(err)
	}
	if got := obs.requests[len(obs.requests)-1]; got != "GET /v10/x 200" {
		t.Fatalf("last request %q", got)
	}
}

func TestTransportObserverHearsTheBreaker(t *testing.T) {
	srv := newScriptServer(t, reply{503, ""})
	obs := &observed{}
	tr, _ := newTestTransport(t, Config{MaxAttempts: 1, BreakerFailures: 2, BreakerCooldown: time.Hour, Observer: obs})
	for range 2 {
		if status, _ := do(t, tr, context.Background(), http.MethodGet, srv.URL+"/jwks", ""); status != 503 {
			t.Fatalf("status %d", status)
		}
	}
	if _, err := do(t, tr, context.Background(), http.MethodGet, srv.URL+"/jwks", ""); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("err %v, want ErrCircuitOpen", err)
	}
	if !slices.Equal(obs.states, []int{BreakerOpen}) {
		t.Fatalf("states %v, want [open]", obs.states)
	}
	// No attempt while open: two requests observed, with status 503.
	if want := []string{"GET /jwks 503", "GET /jwks 503"}; !slices.Equal(obs.requests, want) {
		t.Fatalf("requests %q, want %q", obs.requests, want)
	}
}
