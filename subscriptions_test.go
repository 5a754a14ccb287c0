package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/directory"
)

const changedQuery = `subscription Changed($filter: OrgUserFilter) { orgUsersChanged(filter: $filter) { kind userId version user { id email role } } }`

// change is one orgUsersChanged event as clients decode it.
type change struct {
	Kind    string `json:"kind"`
	UserID  string `json:"userId"`
	Version string `json:"version"`
	User    *struct {
		ID    string  `json:"id"`
		Email *string `json:"email"`
		Role  string  `json:"role"`
	} `json:"user"`
}

// streamEvent is one "next" payload: an event, or errors.
type streamEvent struct {
	Data *struct {
		OrgUsersChanged change `json:"orgUsersChanged"`
	} `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (e streamEvent) code() string {
	if len(e.Errors) == 0 {
		return ""
	}
	c, _ := e.Errors[0].Extensions["code"].(string)
	return c
}

// sseStream is a GraphQL-over-SSE subscription read frame by frame.
type sseStream struct {
	resp   *http.Response
	frames chan sseFrame
	cancel context.CancelFunc
}

type sseFrame struct {
	event string
	data  string
}

// subscribeSSE opens a subscription over SSE; the response must be a stream.
func (s *stack) subscribeSSE(t testing.TB, token string, vars map[string]any) *sseStream {
	t.Helper()
	resp, cancel := s.openSSE(t, token, vars)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, %s: %s", resp.StatusCode, ct, raw)
	}
	st := &sseStream{resp: resp, frames: make(chan sseFrame, 1024), cancel: cancel}
	go func() {
		defer close(st.frames)
		r := bufio.NewReader(resp.Body)
		var f sseFrame
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if f.event != "" {
					st.frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event: "):
				f.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data:"):
				f.data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	t.Cleanup(st.close)
	return st
}

func (s *stack) openSSE(t testing.TB, token string, vars map[string]any) (*http.Response, context.CancelFunc) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": changedQuery, "variables": vars})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return resp, func() { cancel(); resp.Body.Close() }
}

func (st *sseStream) close() { st.cancel() }

// next returns the next "next" event, failing on "complete" or silence.
func (st *sseStream) next(t testing.TB) streamEvent {
	t.Helper()
	select {
	case f, ok := <-st.frames:
		if !ok || f.event != "next" {
			t.Fatalf("the stream ended (%q) instead of sending an event", f.event)
		}
		var ev streamEvent
		if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
			t.Fatalf("%q: %v", f.data, err)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return streamEvent{}
}

// completes asserts the stream's next frame is "complete".
func (st *sseStream) completes(t testing.TB) {
	t.Helper()
	select {
	case f := <-st.frames:
		if f.event != "complete" {
			t.Fatalf("frame %q %s, want complete", f.event, f.data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no complete within 10s")
	}
}

// wsClient is a graphql-transport-ws client on one connection.
type wsClient struct {
	conn *websocket.Conn
	msgs chan wsMessage
	err  error // why reading stopped, once msgs is closed
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialWS connects with the graphql-transport-ws subprotocol and sends
// connection_init with payload; header goes with the upgrade.
func (s *stack) dialWS(t testing.TB, header http.Header, payload map[string]any) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &wsClient{conn: conn, msgs: make(chan wsMessage, 1024)}
	go func() {
		defer close(c.msgs)
		for {
			var m wsMessage
			if err := wsjson.Read(context.Background(), conn, &m); err != nil {
				c.err = err
				return
			}
			if m.Type == "ping" {
				_ = wsjson.Write(context.Background(), conn, wsMessage{Type: "pong"})
				continue
			}
			c.msgs <- m
		}
	}()
	init, _ := json.Marshal(payload)
	if err := wsjson.Write(ctx, conn, wsMessage{Type: "connection_init", Payload: init}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *wsClient) read(t testing.TB) (wsMessage, bool) {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		return m, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return wsMessage{}, false
}

// acked waits for connection_ack.
func (c *wsClient) acked(t testing.TB) {
	t.Helper()
	if m, ok := c.read(t); !ok || m.Type != "connection_ack" {
		t.Fatalf("got %+v (open %v, %v), want connection_ack", m, ok, c.err)
	}
}

func (c *wsClient) subscribe(t testing.TB, id string, vars map[string]any) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"query": changedQuery, "variables": vars})
	if err := wsjson.Write(context.Background(), c.conn, wsMessage{ID: id, Type: "subscribe", Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

// next returns the next "next" event of operation id.
func (c *wsClient) next(t testing.TB, id string) streamEvent {
	t.Helper()
	m, ok := c.read(t)
	if !ok || m.ID != id || m.Type != "next" {
		t.Fatalf("got %+v (open %v, %v), want next for %s", m, ok, c.err, id)
	}
	var ev streamEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// closed waits for the server to close the connection and returns the code.
func (c *wsClient) closed(t testing.TB) (websocket.StatusCode, string) {
	t.Helper()
	for {
		if _, ok := c.read(t); !ok {
			var ce websocket.CloseError
			if !errors.As(c.err, &ce) {
				t.Fatalf("the connection ended without a close frame: %v", c.err)
			}
			return ce.Code, ce.Reason
		}
	}
}

// emuAPI calls the emulator's Backend API as the Clerk dashboard would.
func (s *stack) emuAPI(t testing.TB, method, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, strings.TrimSuffix(s.emuURL, "/")+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.emu.SecretKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
}

func wantChange(t testing.TB, ev streamEvent, kind, userID, role string) {
	t.Helper()
	if ev.Data == nil || len(ev.Errors) > 0 {
		t.Fatalf("an error instead of %s %s: %+v", kind, userID, ev.Errors)
	}
	c := ev.Data.OrgUsersChanged
	if c.Kind != kind || c.UserID != userID || c.Version == "" {
		t.Fatalf("got %s %s (version %q), want %s %s", c.Kind, c.UserID, c.Version, kind, userID)
	}
	switch {
	case kind == "REMOVED" && c.User != nil:
		t.Fatalf("REMOVED carries a user: %+v", c.User)
	case kind != "REMOVED" && (c.User == nil || c.User.ID != userID || c.User.Role != role):
		t.Fatalf("%s carries %+v, want %s with role %s", kind, c.User, userID, role)
	}
}

// TestSubscriptionsFollowClerkChanges: subscribers over SSE and over
// graphql-ws see the changes made in "Clerk" (the emulator's Backend API,
// reaching the server as signed webhooks), each as their filter sees it.
func TestSubscriptionsFollowClerkChanges(t *testing.T) {
	s := newWebhookStack(t)
	members := s.subscribeSSE(t, s.tokens.Admin, map[string]any{"filter": map[string]any{"roles": []string{"org:member"}}})
	ws := s.dialWS(t, nil, map[string]any{"authorization": "Bearer " + s.tokens.Admin})
	ws.acked(t)
	ws.subscribe(t, "all", nil)
	// The subscriptions are registered once their snapshot is loaded;
	// a query after them is served by the same warm snapshot.
	waitSubscribers(t, s, 2)

	start := time.Now()
	s.emuAPI(t, http.MethodPatch, "/v1/organizations/org_acme/memberships/user_acme_member", `{"role":"org:billing"}`)
	t.Logf("the emulator's write returned after %s", time.Since(start))
	wantChange(t, ws.next(t, "all"), "UPDATED", clerkemu.UserAcmeMember, "org:billing")
	t.Logf("role change to the graphql-ws subscriber: %s", time.Since(start))
	wantChange(t, members.next(t), "REMOVED", clerkemu.UserAcmeMember, "") // left the filter
	t.Logf("role change to the SSE subscriber: %s", time.Since(start))

	s.emuAPI(t, http.MethodPatch, "/v1/organizations/org_acme/memberships/user_acme_member", `{"role":"org:member"}`)
	wantChange(t, ws.next(t, "all"), "UPDATED", clerkemu.UserAcmeMember, "org:member")
	wantChange(t, members.next(t), "ADDED", clerkemu.UserAcmeMember, "org:member") // back in it

	s.emuAPI(t, http.MethodPost, "/v1/organizations/org_acme/memberships", `{"user_id":"user_no_org","role":"org:member"}`)
	wantChange(t, ws.next(t, "all"), "ADDED", clerkemu.UserNoOrg, "org:member")
	wantChange(t, members.next(t), "ADDED", clerkemu.UserNoOrg, "org:member")

	s.emuAPI(t, http.MethodDelete, "/v1/organizations/org_acme/memberships/user_no_org", "")
	wantChange(t, ws.next(t, "all"), "REMOVED", clerkemu.UserNoOrg, "")
	wantChange(t, members.next(t), "REMOVED", clerkemu.UserNoOrg, "")

	// The admin operations feed the same stream.
	resp, raw := s.graphql(t, s.tokens.Admin, `mutation { updateOrgMemberRoles(input: {target: {userIds: ["user_acme_viewer"]}, role: "org:member"}) { succeeded } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("%s", raw)
	}
	wantChange(t, ws.next(t, "all"), "UPDATED", clerkemu.UserAcmeViewer, "org:member")
	wantChange(t, members.next(t), "ADDED", clerkemu.UserAcmeViewer, "org:member")
}

// waitSubscribers waits until the hub counts n open subscriptions.
func waitSubscribers(t testing.TB, s *stack, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.app.Live.Stats().Subscribers != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", s.app.Live.Stats().Subscribers, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscriptionRefusals(t *testing.T) {
	s := newStack(t, Extras{}, "SUBSCRIPTIONS_MAX_PER_CALLER", "2", "CORS_ALLOWED_ORIGINS", "https://app.example.com")

	// Without a session: 401 before any stream.
	resp, cancel := s.openSSE(t, "", nil)
	raw, _ := io.ReadAll(resp.Body)
	cancel()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(raw), "UNAUTHENTICATED") {
		t.Fatalf("no token: %d %s", resp.StatusCode, raw)
	}
	// A member: FORBIDDEN, then the stream completes.
	member := s.subscribeSSE(t, s.tokens.Member, nil)
	if ev := member.next(t); ev.code() != "FORBIDDEN" {
		t.Fatalf("a member got %+v", ev)
	}
	member.completes(t)
	// Over graphql-ws, the same.
	ws := s.dialWS(t, nil, map[string]any{"authorization": "Bearer " + s.tokens.Member})
	ws.acked(t)
	ws.subscribe(t, "1", nil)
	if ev := ws.next(t, "1"); ev.code() != "FORBIDDEN" {
		t.Fatalf("a member over graphql-ws got %+v", ev)
	}
	// A connection without a valid session is closed with 4403.
	for name, payload := range map[string]map[string]any{
		"no token":       {},
		"a forged token": {"authorization": "Bearer " + s.tokens.Admin[:len(s.tokens.Admin)-4] + "AAAA"},
		"not bearer":     {"authorization": s.tokens.Admin},
	} {
		c := s.dialWS(t, nil, payload)
		if code, reason := c.closed(t); code != 4403 {
			t.Fatalf("%s: closed with %d %q, want 4403", name, code, reason)
		}
	}
	// The upgrade request's own Authorization header counts too.
	c := s.dialWS(t, http.Header{"Authorization": {"Bearer " + s.tokens.Admin}}, nil)
	c.acked(t)

	// Two subscriptions per caller here; the third is refused.
	for range 2 {
		s.subscribeSSE(t, s.tokens.Admin, nil)
	}
	waitSubscribers(t, s, 2)
	third := s.subscribeSSE(t, s.tokens.Admin, nil)
	if ev := third.next(t); ev.code() != "TOO_MANY_SUBSCRIPTIONS" {
		t.Fatalf("a third subscription got %+v", ev)
	}

	// A cross-site page may not open a socket; an allowed origin may.
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_, hresp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.url, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"Origin": {"https://evil.example"}},
	})
	if err == nil || hresp == nil || hresp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site upgrade: %v %v", hresp, err)
	}
	ok := s.dialWS(t, http.Header{"Origin": {"https://app.example.com"}}, map[string]any{"authorization": "Bearer " + s.tokens.Admin})
	ok.acked(t)
}

// TestSubscriptionEndsWhenItsTokenExpires: both transports end a
// subscription when the session token that opened it expires.
func TestSubscriptionEndsWhenItsTokenExpires(t *testing.T) {
	s := newStack(t, Extras{})
	short, err := s.emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgAcme, OrgSlug: "acme", OrgRole: "org:admin", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sse := s.subscribeSSE(t, short, nil)
	ws := s.dialWS(t, nil, map[string]any{"authorization": "Bearer " + short})
	ws.acked(t)
	ws.subscribe(t, "1", nil)
	ev := sse.next(t)
	if ev.code() != "UNAUTHENTICATED" || !strings.Contains(ev.Errors[0].Message, "expired") {
		t.Fatalf("at expiry the SSE stream sent %+v", ev)
	}
	sse.completes(t)
	if code, reason := ws.closed(t); code != 4403 || !strings.Contains(reason, "expired") {
		t.Fatalf("at expiry the socket closed with %d %q, want 4403", code, reason)
	}
	waitSubscribers(t, s, 0)
}

// TestSlowSubscriberIsClosed: a subscriber that does not read is ended
// with SLOW_CONSUMER once changes waited for it longer than
// SUBSCRIPTIONS_MAX_LAG; meanwhile the server holds one merged set of
// changed members for it (at most 10,000), however many changes come.
func TestSlowSubscriberIsClosed(t *testing.T) {
	s := newStack(t, Extras{}, "SUBSCRIPTIONS_MAX_LAG", "1s")
	slow := s.subscribeSSE(t, s.tokens.Admin, nil)
	waitSubscribers(t, s, 1)
	snap, err := s.app.Cache.Members(context.Background(), clerkemu.OrgAcme)
	if err != nil {
		t.Fatal(err)
	}
	// Flip every member's role, up to 300 times (360,000 events, far more
	// than loopback's socket buffers hold) while the subscriber reads nothing.
	ms := snap.Members()
	for round := range 300 {
		changes := make([]directory.Change, len(ms))
		for i, m := range ms {
			m.Role = fmt.Sprintf("org:r%d", round)
			m.MembershipUpdatedAt = time.Unix(int64(2_000_000_000+round), 0)
			changes[i] = directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: clerkemu.OrgAcme, UserID: m.UserID, Member: m, UpdatedAt: m.MembershipUpdatedAt}
		}
		if err := s.app.Cache.Apply(context.Background(), changes); err != nil {
			t.Fatal(err)
		}
		if s.app.Live.Stats().SlowClosed > 0 {
			t.Logf("closed after %d rounds of %d changes", round+1, len(ms))
			break
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.app.Live.Stats().SlowClosed != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the slow subscriber is still open: %+v", s.app.Live.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := s.app.Live.Stats()
	if st.Subscribers != 0 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("events sent before it was closed: %d", st.Events)
	// Reading now, the client gets what was in flight, then the reason.
	for {
		ev := slow.next(t)
		if ev.code() != "" {
			if ev.code() != "SLOW_CONSUMER" {
				t.Fatalf("ended with %+v", ev)
			}
			break
		}
	}
	slow.completes(t)
}

// BenchmarkWebhookToSubscribers measures the time from a webhook's
// arrival (a role change, signed as Clerk signs it) to each of 1,000 SSE
// subscribers on one process receiving its event.
func BenchmarkWebhookToSubscribers(b *testing.B) {
	const subscribers = 1000
	secret, key := newWebhookSecret(b)
	s := newStack(b, Extras{}, "CLERK_WEBHOOK_SIGNING_SECRET", secret,
		"SUBSCRIPTIONS_MAX_PER_CALLER", fmt.Sprint(subscribers), "SUBSCRIPTIONS_MAX", fmt.Sprint(subscribers))
	arrived := make(chan time.Time, subscribers)
	for range subscribers {
		st := s.subscribeSSE(b, s.tokens.Admin, map[string]any{"filter": map[string]any{"roles": []string{"org:member", "org:billing"}}})
		go func() {
			for f := range st.frames {
				if f.event == "next" {
					arrived <- time.Now()
				}
			}
		}()
	}
	waitSubscribers(b, s, subscribers)
	roles := []string{"org:billing", "org:member"}
	var took []time.Duration
	stamp := time.Now().UnixMilli()
	for i := 0; b.Loop(); i++ {
		stamp++
		t0 := time.Now()
		if status, body := s.deliver(b, key, delivery{body: membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, roles[i%2], stamp)}, nil); status != 200 {
			b.Fatalf("%d %s", status, body)
		}
		for range subscribers {
			select {
			case at := <-arrived:
				took = append(took, at.Sub(t0))
			case <-time.After(30 * time.Second):
				b.Fatalf("%d of %d subscribers got the event", len(took)%subscribers, subscribers)
			}
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
}
