package clerksource

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

// waves groups the requests a RoundTripper sees into waves: every request
// is held until none has arrived for quiet, and then all those held go on
// together. Requests sent before any of their wave's answers came back are
// one wave; a request that waited for another's answer starts the next.
// (quiet only decides when a wave is over; nothing here measures time.)
type waves struct {
	next  http.RoundTripper
	quiet time.Duration

	mu    sync.Mutex
	gate  chan struct{}
	timer *time.Timer
	sizes []int
}

func (w *waves) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	if w.gate == nil {
		gate := make(chan struct{})
		w.gate = gate
		w.sizes = append(w.sizes, 0)
		w.timer = time.AfterFunc(w.quiet, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			close(gate)
			w.gate = nil
		})
	} else {
		w.timer.Reset(w.quiet)
	}
	w.sizes[len(w.sizes)-1]++
	gate := w.gate
	w.mu.Unlock()
	<-gate
	return w.next.RoundTrip(req)
}

// take returns the waves seen so far and forgets them.
func (w *waves) take() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sizes
	w.sizes = nil
	return s
}

// forget drops what is known of orgID, so that its next load is cold: two
// waves (the cold-load benchmark loads the same organization again and
// again).
func (k *knownTotals) forget(orgID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, orgID)
}

// TestLoadWaves: a cold load takes two waves (the first page of both
// lists, then every other page of both); a refresh of an organization whose
// size is known takes one; one that grew meanwhile takes one more, and
// still answers every member.
func TestLoadWaves(t *testing.T) {
	const n = 1234 // 3 pages of 500
	w := &waves{next: http.DefaultTransport, quiet: 150 * time.Millisecond}
	emu, repo, _ := newEmulated(t, syntheticOrg("org_w", n), Config{HTTPClient: &http.Client{Transport: w}})
	load := func(want int) {
		t.Helper()
		snap, err := repo.Members(context.Background(), "org_w")
		if err != nil {
			t.Fatal(err)
		}
		if snap.Len() != want {
			t.Fatalf("%d members, want %d", snap.Len(), want)
		}
	}
	load(n)
	if got := w.take(); !slices.Equal(got, []int{2, 4}) {
		t.Fatalf("a cold load's waves: %v, want [2 4] (the first pages, then the other 2 pages of both lists)", got)
	}
	load(n)
	if got := w.take(); !slices.Equal(got, []int{6}) {
		t.Fatalf("a refresh's waves: %v, want [6] (every page of both lists at once)", got)
	}
	for i := range 400 { // 1,634 members now: a fourth page
		id := fmt.Sprintf("user_late_%03d", i)
		if err := emu.AddMember("org_w", clerkemu.User{ID: id, EmailAddresses: []clerkemu.EmailAddress{{ID: "idn_" + id, EmailAddress: id + "@example.com"}}}, "org:member"); err != nil {
			t.Fatal(err)
		}
	}
	load(n + 400)
	if got := w.take(); !slices.Equal(got, []int{6, 2}) {
		t.Fatalf("a refresh after the organization grew: waves %v, want [6 2] (the known pages, then the new page of both lists)", got)
	}
	load(n + 400)
	if got := w.take(); !slices.Equal(got, []int{8}) {
		t.Fatalf("the next refresh: waves %v, want [8]", got)
	}
}
