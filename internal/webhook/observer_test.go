package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/webhook"
)

// deliveries records what the handler tells its Observer.
type deliveries struct {
	mu  sync.Mutex
	got []string // "type outcome"
}

var _ webhook.Observer = (*deliveries)(nil)

func (d *deliveries) ObserveDelivery(eventType, outcome string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, eventType+" "+outcome)
}

func TestHandlerObserverOutcomes(t *testing.T) {
	fail := false
	sink := &fakeSink{ApplyFunc: func(context.Context, []directory.Change) error {
		if fail {
			return errors.New("boom")
		}
		return nil
	}}
	s := newTestServer(t, sink)
	obs := &deliveries{}
	v := &webhook.Verifier{Secrets: [][]byte{s.key}, Now: func() time.Time { return s.now }}
	s.handler = webhook.NewObservedHandler(v, sink, nil, obs)

	event := readEvent(t, "organizationMembership.updated")
	s.deliver("msg_1", event)                                              // applied
	s.deliver("msg_1", event)                                              // replayed
	s.deliver("msg_2", []byte(`{"type":"session.created","data":{}}`))     // ignored, a type not handled
	s.deliver("msg_3", []byte(`{"type":"attacker.chosen.type","data":1}`)) // ignored too
	r := signed(s, "msg_4", event)
	r.Header.Set("svix-signature", "v1,AAAA")
	s.serve(r)                                                           // refused: not verified
	s.serve(httptest.NewRequest(http.MethodGet, "/webhooks/clerk", nil)) // refused: wrong method
	fail = true
	s.deliver("msg_5", event) // failed

	want := []string{
		"organizationMembership.updated applied",
		"other replayed",
		"other ignored",
		"other ignored",
		"other refused",
		"other refused",
		"organizationMembership.updated failed",
	}
	if !slices.Equal(obs.got, want) {
		t.Fatalf("observed\n%q\nwant\n%q", obs.got, want)
	}
}
