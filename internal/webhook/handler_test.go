package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/webhook"
)

// fakeSink records the changes it is given and answers with ApplyFunc.
type fakeSink struct {
	ApplyFunc func(ctx context.Context, changes []directory.Change) error

	mu      sync.Mutex
	applied [][]directory.Change
}

var _ webhook.Sink = (*fakeSink)(nil)

func (s *fakeSink) Apply(ctx context.Context, changes []directory.Change) error {
	s.mu.Lock()
	s.applied = append(s.applied, changes)
	s.mu.Unlock()
	if s.ApplyFunc != nil {
		return s.ApplyFunc(ctx, changes)
	}
	return nil
}

func (s *fakeSink) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.applied)
}

// testServer is the handler with a clock the test moves.
type testServer struct {
	handler http.Handler
	key     []byte
	now     time.Time
}

func newTestServer(t *testing.T, sink webhook.Sink) *testServer {
	t.Helper()
	s := &testServer{key: mustSecrets(t, vectorSecret)[0], now: vectorTime}
	v := &webhook.Verifier{Secrets: [][]byte{s.key}, Now: func() time.Time { return s.now }}
	s.handler = webhook.NewHandler(v, sink, nil)
	return s
}

// deliver POSTs body as a Svix delivery with the given id, signed now.
func (s *testServer) deliver(id string, body []byte) *httptest.ResponseRecorder {
	return s.serve(signed(s, id, body))
}

func (s *testServer) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	return w
}

// assertResponse checks the status and the JSON body of an answer.
func assertResponse(t *testing.T, w *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d (body %s)", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got, wantv any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &wantv); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(wantv)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("body %s, want %s", gotJSON, wantJSON)
	}
}

func TestHandlerAppliesEvent(t *testing.T) {
	sink := &fakeSink{}
	s := newTestServer(t, sink)
	assertResponse(t, s.deliver("msg_1", readEvent(t, "organizationMembership.updated")), http.StatusOK, `{"ok":true}`)
	if sink.calls() != 1 {
		t.Fatalf("sink called %d times, want 1", sink.calls())
	}
	got := sink.applied[0]
	if len(got) != 1 || got[0].Kind != directory.ChangeMemberUpserted || got[0].OrgID != "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S" ||
		got[0].UserID != "user_2h8op3Isl1QR7tKu5FGNfaLKEoU" || got[0].Member.Role != "org:admin" {
		t.Fatalf("sink got %+v, want the membership update", got)
	}
}

func TestHandlerAppliesReplayOnce(t *testing.T) {
	sink := &fakeSink{}
	s := newTestServer(t, sink)
	body := readEvent(t, "user.deleted")
	for i := range 3 {
		assertResponse(t, s.deliver("msg_replayed", body), http.StatusOK, `{"ok":true}`)
		s.now = s.now.Add(time.Minute) // Svix signs each attempt anew
		if sink.calls() != 1 {
			t.Fatalf("after delivery %d the sink was called %d times, want 1", i+1, sink.calls())
		}
	}
	// Another id with the same body is another delivery.
	assertResponse(t, s.deliver("msg_other", body), http.StatusOK, `{"ok":true}`)
	if sink.calls() != 2 {
		t.Fatalf("sink called %d times, want 2", sink.calls())
	}
	// Ids are remembered for 24 hours.
	s.now = s.now.Add(24 * time.Hour)
	assertResponse(t, s.deliver("msg_replayed", body), http.StatusOK, `{"ok":true}`)
	if sink.calls() != 3 {
		t.Fatalf("a day later the sink was called %d times, want 3", sink.calls())
	}
}

func TestHandlerSinkFailureIsRetried(t *testing.T) {
	fail := true
	sink := &fakeSink{ApplyFunc: func(context.Context, []directory.Change) error {
		if fail {
			return errors.New("cache unavailable")
		}
		return nil
	}}
	s := newTestServer(t, sink)
	body := readEvent(t, "organization.deleted")
	assertResponse(t, s.deliver("msg_1", body), http.StatusInternalServerError, `{"error":"internal error","code":"INTERNAL_SERVER_ERROR"}`)

	// The failed delivery was not remembered: Svix's retry is applied.
	fail = false
	assertResponse(t, s.deliver("msg_1", body), http.StatusOK, `{"ok":true}`)
	assertResponse(t, s.deliver("msg_1", body), http.StatusOK, `{"ok":true}`)
	if sink.calls() != 2 {
		t.Fatalf("sink called %d times, want 2 (the failure and the retry)", sink.calls())
	}
}

func TestHandlerIgnoresUnknownTypes(t *testing.T) {
	sink := &fakeSink{}
	s := newTestServer(t, sink)
	for _, body := range [][]byte{
		[]byte(`{"type":"session.created","object":"event","data":{"id":"sess_1"}}`),
		readEvent(t, "user.created"),
	} {
		assertResponse(t, s.deliver("msg_ignored", body), http.StatusOK, `{"ok":true,"ignored":true}`)
	}
	if sink.calls() != 0 {
		t.Fatalf("sink called %d times, want 0", sink.calls())
	}
}

func TestHandlerRefusesBadDeliveries(t *testing.T) {
	valid := readEvent(t, "user.updated")
	tests := []struct {
		name    string
		request func(s *testServer) *http.Request
		want    string
	}{
		{"bad signature", func(s *testServer) *http.Request {
			r := signed(s, "msg_1", valid)
			r.Header.Set("svix-signature", webhook.Sign([]byte("another key"), "msg_1", s.now, valid))
			return r
		}, "no valid signature"},
		{"tampered body", func(s *testServer) *http.Request {
			r := signed(s, "msg_1", valid)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(valid, []byte("Doe Updated"), []byte("Doe Hacked!"), 1)))
			return r
		}, "no valid signature"},
		{"missing svix-id", func(s *testServer) *http.Request {
			r := signed(s, "msg_1", valid)
			r.Header.Del("svix-id")
			return r
		}, "missing svix-id header"},
		{"missing svix-timestamp", func(s *testServer) *http.Request {
			r := signed(s, "msg_1", valid)
			r.Header.Del("svix-timestamp")
			return r
		}, "missing svix-timestamp header"},
		{"missing svix-signature", func(s *testServer) *http.Request {
			r := signed(s, "msg_1", valid)
			r.Header.Del("svix-signature")
			return r
		}, "missing svix-signature header"},
		{"old delivery", func(s *testServer) *http.Request {
			r := signed(s, "msg_1", valid)
			s.now = s.now.Add(10 * time.Minute)
			return r
		}, "timestamp too old"},
		{"malformed JSON, signed", func(s *testServer) *http.Request {
			return signed(s, "msg_1", []byte(`{"type":"user.updated","data":`))
		}, "event is not valid JSON"},
		{"no organization id, signed", func(s *testServer) *http.Request {
			return signed(s, "msg_1", []byte(`{"type":"organizationMembership.created","data":{"public_user_data":{"user_id":"user_1"}}}`))
		}, "organizationMembership.created event has no data.organization.id"},
		{"body too large, signed", func(s *testServer) *http.Request {
			big := append(bytes.Repeat([]byte(" "), webhook.MaxBodyBytes), valid...)
			return signed(s, "msg_1", big)
		}, "body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &fakeSink{}
			s := newTestServer(t, sink)
			w := s.serve(tt.request(s))
			want, _ := json.Marshal(map[string]string{"error": tt.want, "code": "BAD_REQUEST"})
			assertResponse(t, w, http.StatusBadRequest, string(want))
			if sink.calls() != 0 {
				t.Fatalf("sink called %d times, want 0", sink.calls())
			}
		})
	}
}

func TestHandlerBodyLimit(t *testing.T) {
	sink := &fakeSink{}
	s := newTestServer(t, sink)
	valid := readEvent(t, "user.deleted")
	// Exactly MaxBodyBytes is accepted: JSON allows trailing spaces.
	body := append(append([]byte{}, valid...), bytes.Repeat([]byte(" "), webhook.MaxBodyBytes-len(valid))...)
	assertResponse(t, s.deliver("msg_max", body), http.StatusOK, `{"ok":true}`)
	// One more byte is not.
	body = append(body, ' ')
	assertResponse(t, s.deliver("msg_over", body), http.StatusBadRequest, `{"error":"body too large","code":"BAD_REQUEST"}`)
	if sink.calls() != 1 {
		t.Fatalf("sink called %d times, want 1", sink.calls())
	}
}

func TestHandlerAcceptsOnlyPost(t *testing.T) {
	sink := &fakeSink{}
	s := newTestServer(t, sink)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodHead, http.MethodOptions} {
		r := signed(s, "msg_1", readEvent(t, "user.deleted"))
		r.Method = method
		w := s.serve(r)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
			t.Fatalf("%s: status %d, Allow %q; want 405 and POST", method, w.Code, w.Header().Get("Allow"))
		}
		if method != http.MethodHead {
			assertResponse(t, w, http.StatusMethodNotAllowed, `{"error":"only POST is accepted","code":"METHOD_NOT_ALLOWED"}`)
		}
	}
	if sink.calls() != 0 {
		t.Fatalf("sink called %d times, want 0", sink.calls())
	}
}

func TestHandlerErrorsDoNotEchoTheBody(t *testing.T) {
	s := newTestServer(t, &fakeSink{})
	const marker = "SECRET-IN-BODY"
	w := s.deliver("msg_1", []byte(`{"type":"user.updated","data":{"id":5,"x":"`+marker+`"}}`))
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), marker) {
		t.Fatalf("answer %d %s: want 400 without the body's content", w.Code, w.Body)
	}
}

// signed returns a POST of body as a Svix delivery with the given id,
// signed now.
func signed(s *testServer, id string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/clerk", bytes.NewReader(body))
	r.Header.Set("svix-id", id)
	r.Header.Set("svix-timestamp", strconv.FormatInt(s.now.Unix(), 10))
	r.Header.Set("svix-signature", webhook.Sign(s.key, id, s.now, body))
	return r
}
