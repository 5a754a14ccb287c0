package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// MaxBodyBytes bounds the body of a delivery; a longer one is refused
// before any of it is decoded.
const MaxBodyBytes = 1 << 20

// The handler remembers applied deliveries by svix-id, for at most
// seenTTL and at most seenMax ids, so that Svix's retries and replays are
// applied once.
const (
	seenMax = 100_000
	seenTTL = 24 * time.Hour
)

// Sink applies the changes of a verified, decoded event. server.go
// implements it over the cache (and the fleet tier).
type Sink interface {
	// Apply applies changes, in order. An error means they may not have
	// been applied: the handler answers 500 so that Svix retries.
	Apply(ctx context.Context, changes []directory.Change) error
}

// NewHandler returns the HTTP handler of Clerk's webhook endpoint, which
// server.go mounts. For each delivery it:
//   - refuses methods other than POST (405, code METHOD_NOT_ALLOWED);
//   - reads the raw body, at most MaxBodyBytes, verifies it with v and
//     decodes it with Decode; any failure is 400 with code BAD_REQUEST and
//     the *Error's message, and nothing is applied;
//   - acknowledges (200) a svix-id it already applied, without applying
//     it again;
//   - applies the event's changes to sink, answering 500 (code
//     INTERNAL_SERVER_ERROR, detail logged) when that fails so that Svix
//     retries, and 200 {"ok":true} when it succeeds, with "ignored":true
//     for an event that changes nothing.
//
// v and sink must not be nil; a nil logger discards logs.
func NewHandler(v *Verifier, sink Sink, logger *slog.Logger) http.Handler {
	return NewObservedHandler(v, sink, logger, nil)
}

// Observer hears the outcome of each delivery; server.go gives it the
// metrics. Its method must be quick and safe for concurrent use.
type Observer interface {
	// ObserveDelivery reports one delivery: eventType is one of the Type
	// constants of this package, or "other" for any other type and for a
	// delivery whose type is not known (refused before decoding, or
	// replayed); outcome is one of the Outcome constants.
	ObserveDelivery(eventType, outcome string)
}

// Delivery outcomes as Observer.ObserveDelivery reports them.
const (
	OutcomeApplied  = "applied"  // its changes were applied
	OutcomeIgnored  = "ignored"  // it changes nothing this service holds
	OutcomeReplayed = "replayed" // its svix-id was already applied
	OutcomeRefused  = "refused"  // 4xx: wrong method, unreadable, unverified or undecodable
	OutcomeFailed   = "failed"   // 500: the sink could not apply it
)

// OtherType is the event type reported for types this package does not handle.
const OtherType = "other"

// knownTypes are the event types Decode handles.
var knownTypes = []string{
	TypeMembershipCreated, TypeMembershipUpdated, TypeMembershipDeleted,
	TypeUserUpdated, TypeUserDeleted, TypeOrganizationDeleted,
	TypeInvitationCreated, TypeInvitationAccepted, TypeInvitationRevoked,
}

// boundedType returns t when Decode handles it, else OtherType: the type
// is sender-chosen text.
func boundedType(t string) string {
	if slices.Contains(knownTypes, t) {
		return t
	}
	return OtherType
}

// NewObservedHandler is NewHandler reporting each delivery's outcome to
// obs; nil observes nothing.
func NewObservedHandler(v *Verifier, sink Sink, logger *slog.Logger, obs Observer) http.Handler {
	if v == nil || sink == nil {
		panic("webhook: NewHandler needs a Verifier and a Sink")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &handler{
		verifier: v,
		sink:     sink,
		log:      logger,
		seen:     newSeenSet(seenMax, seenTTL),
		obs:      obs,
	}
}

type handler struct {
	verifier *Verifier
	sink     Sink
	log      *slog.Logger
	seen     *seenSet
	obs      Observer // nil: nothing observed
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	typ, outcome := h.serve(w, r)
	if h.obs != nil {
		h.obs.ObserveDelivery(boundedType(typ), outcome)
	}
}

// serve handles one delivery and returns its event type ("" when not
// decoded) and outcome.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) (eventType, outcome string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{"only POST is accepted", "METHOD_NOT_ALLOWED"})
		return "", OutcomeRefused
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.refuse(w, r, newError("body too large"))
		} else {
			h.refuse(w, r, newError("body could not be read"))
		}
		return "", OutcomeRefused
	}
	if err := h.verifier.Verify(r.Header, body); err != nil {
		h.refuse(w, r, err)
		return "", OutcomeRefused
	}
	id := r.Header.Get("svix-id")
	if h.seen.contains(id, h.verifier.now()) {
		h.log.InfoContext(r.Context(), "webhook delivery already applied", "svix_id", truncate(id))
		writeJSON(w, http.StatusOK, okBody{OK: true})
		return "", OutcomeReplayed
	}
	ev, err := Decode(body)
	if err != nil {
		h.refuse(w, r, err)
		return "", OutcomeRefused
	}
	if ev.Reason != "" {
		h.log.WarnContext(r.Context(), "webhook event cannot be applied exactly; its snapshots reload",
			"svix_id", truncate(id), "event_type", ev.Type, "reason", ev.Reason)
	}
	if len(ev.Changes) == 0 {
		writeJSON(w, http.StatusOK, okBody{OK: true, Ignored: true})
		return ev.Type, OutcomeIgnored
	}
	if err := h.sink.Apply(r.Context(), ev.Changes); err != nil {
		h.log.ErrorContext(r.Context(), "applying webhook event failed",
			"svix_id", truncate(id), "event_type", ev.Type, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{"internal error", "INTERNAL_SERVER_ERROR"})
		return ev.Type, OutcomeFailed
	}
	h.seen.add(id, h.verifier.now())
	h.log.InfoContext(r.Context(), "webhook event applied",
		"svix_id", truncate(id), "event_type", ev.Type, "changes", len(ev.Changes))
	writeJSON(w, http.StatusOK, okBody{OK: true})
	return ev.Type, OutcomeApplied
}

// refuse answers 400 with the message of err, an *Error.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	msg := "bad request"
	var e *Error
	if errors.As(err, &e) {
		msg = e.Message
	}
	h.log.WarnContext(r.Context(), "webhook delivery refused",
		"svix_id", truncate(r.Header.Get("svix-id")), "reason", msg)
	writeJSON(w, http.StatusBadRequest, errorBody{msg, "BAD_REQUEST"})
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

type okBody struct {
	OK      bool `json:"ok"`
	Ignored bool `json:"ignored,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// truncate bounds a sender-chosen string before it is logged.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// seenSet remembers ids for a while: at most max of them, each for at most
// ttl, the oldest forgotten first. It is safe for concurrent use.
type seenSet struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	added map[string]time.Time
	order []seenEntry // in the order they were added, oldest first
}

// seenEntry is one add; it is stale once its id was added again later.
type seenEntry struct {
	id string
	at time.Time
}

func newSeenSet(max int, ttl time.Duration) *seenSet {
	return &seenSet{max: max, ttl: ttl, added: make(map[string]time.Time)}
}

// contains reports whether id was added less than ttl before now.
func (s *seenSet) contains(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.added[id]
	return ok && now.Sub(at) < s.ttl
}

// add remembers id as added at now, forgetting expired ids and, past max,
// the oldest ones.
func (s *seenSet) add(id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.added[id] = now
	s.order = append(s.order, seenEntry{id, now})
	for len(s.order) > 0 {
		oldest := s.order[0]
		if len(s.added) <= s.max && now.Sub(oldest.at) < s.ttl {
			break
		}
		if s.added[oldest.id].Equal(oldest.at) {
			delete(s.added, oldest.id)
		}
		s.order[0] = seenEntry{}
		s.order = s.order[1:]
	}
}
