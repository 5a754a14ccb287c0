package live_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/cache"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/live"
)

// members is an organization's members as a test sets them; loads copy them.
type members struct {
	mu    sync.Mutex
	byOrg map[string][]directory.Member
	loads int
}

func (m *members) Members(_ context.Context, orgID string) (*directory.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	return directory.NewSnapshot(orgID, append([]directory.Member(nil), m.byOrg[orgID]...), time.Now()), nil
}

func member(id, role string) directory.Member {
	return directory.Member{UserID: id, Role: role, MembershipUpdatedAt: time.Unix(100, 0), UserUpdatedAt: time.Unix(100, 0)}
}

// stack is a cache over src whose snapshots feed a hub.
func stack(t *testing.T, src directory.Source, cfg live.Config) (*cache.Cache, *live.Hub) {
	t.Helper()
	var hub *live.Hub
	c := cache.New(src, cache.Config{Logger: slog.New(slog.DiscardHandler), OnSnapshot: func(orgID string, s *directory.Snapshot) { hub.Observe(orgID, s) }})
	hub = live.NewHub(c, cfg)
	t.Cleanup(func() { hub.Close(); c.Close() })
	return c, hub
}

func role(orgID, userID, r string, at int64) directory.Change {
	return directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: orgID, UserID: userID,
		Member: directory.Member{Role: r, MembershipUpdatedAt: time.Unix(at, 0)}, UpdatedAt: time.Unix(at, 0)}
}

// next returns the subscription's next event, failing after a while.
func next(t *testing.T, s *live.Subscription) live.Event {
	t.Helper()
	select {
	case ev, ok := <-s.C:
		if !ok {
			t.Fatalf("the subscription ended: %v", s.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return live.Event{}
}

func want(t *testing.T, ev live.Event, kind live.Kind, userID string) {
	t.Helper()
	if ev.Kind != kind || ev.UserID != userID {
		t.Fatalf("event %s %s, want %s %s", ev.Kind, ev.UserID, kind, userID)
	}
	if (ev.Member == nil) != (kind == live.Removed) || (ev.Member != nil && ev.Member.UserID != userID) {
		t.Fatalf("event %s %s carries member %+v", ev.Kind, ev.UserID, ev.Member)
	}
}

func TestEventsFollowTheFilteredSet(t *testing.T) {
	src := &members{byOrg: map[string][]directory.Member{"org_1": {member("user_a", "org:admin"), member("user_b", "org:member"), member("user_c", "org:admin")}}}
	c, hub := stack(t, src, live.Config{})
	ctx := context.Background()
	admins, _ := directory.NewSelector(&directory.Filter{Roles: []string{"org:admin"}})
	onlyAdmins, err := hub.Subscribe(ctx, "org_1", "p1", admins)
	if err != nil {
		t.Fatal(err)
	}
	everyone, err := hub.Subscribe(ctx, "org_1", "p2", nil)
	if err != nil {
		t.Fatal(err)
	}

	// user_a leaves the admins: REMOVED for the admins' subscriber, UPDATED for everyone's.
	if err := c.Apply(ctx, []directory.Change{role("org_1", "user_a", "org:member", 200)}); err != nil {
		t.Fatal(err)
	}
	want(t, next(t, onlyAdmins), live.Removed, "user_a")
	ev := next(t, everyone)
	want(t, ev, live.Updated, "user_a")
	if ev.Member.Role != "org:member" {
		t.Fatalf("the event carries role %q", ev.Member.Role)
	}
	// user_b becomes an admin: ADDED for the admins' subscriber.
	if err := c.Apply(ctx, []directory.Change{role("org_1", "user_b", "org:admin", 200)}); err != nil {
		t.Fatal(err)
	}
	want(t, next(t, onlyAdmins), live.Added, "user_b")
	want(t, next(t, everyone), live.Updated, "user_b")
	// A change outside the admins' set is not theirs; a new member is everyone's.
	newcomer := role("org_1", "user_d", "org:member", 300)
	newcomer.Member.UserID, newcomer.HasProfile = "user_d", true
	if err := c.Apply(ctx, []directory.Change{newcomer}); err != nil {
		t.Fatal(err)
	}
	want(t, next(t, everyone), live.Added, "user_d")
	// Removal of an admin.
	if err := c.Apply(ctx, []directory.Change{{Kind: directory.ChangeMemberRemoved, OrgID: "org_1", UserID: "user_c", UpdatedAt: time.Unix(300, 0)}}); err != nil {
		t.Fatal(err)
	}
	want(t, next(t, onlyAdmins), live.Removed, "user_c")
	want(t, next(t, everyone), live.Removed, "user_c")
	select {
	case ev := <-onlyAdmins.C:
		t.Fatalf("the admins' subscriber got %s %s for a member outside its set", ev.Kind, ev.UserID)
	default:
	}
}

// TestAReloadIsDiffed: a change the cache cannot apply drops the
// organization; the hub reloads it and sends what the reload changed.
func TestAReloadIsDiffed(t *testing.T) {
	src := &members{byOrg: map[string][]directory.Member{"org_1": {member("user_a", "org:admin"), member("user_b", "org:member")}}}
	c, hub := stack(t, src, live.Config{})
	sub, err := hub.Subscribe(context.Background(), "org_1", "p1", nil)
	if err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.byOrg["org_1"] = []directory.Member{member("user_a", "org:admin"), member("user_b", "org:admin")}
	src.mu.Unlock()
	c.Invalidate("org_1") // what a ChangeReload does
	ev := next(t, sub)
	want(t, ev, live.Updated, "user_b")
	if ev.Member.Role != "org:admin" {
		t.Fatalf("the reloaded member has role %q", ev.Member.Role)
	}
}

// TestABigChangeIsNotTooMuch: one change touching far more members than
// MaxPending reaches a subscriber that keeps up, every member of it.
func TestABigChangeIsNotTooMuch(t *testing.T) {
	var ms []directory.Member
	for i := range 300 {
		ms = append(ms, member(fmt.Sprintf("user_%03d", i), "org:member"))
	}
	src := &members{byOrg: map[string][]directory.Member{"org_1": ms}}
	c, hub := stack(t, src, live.Config{MaxPending: 10})
	sub, err := hub.Subscribe(context.Background(), "org_1", "p1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var changes []directory.Change
	for _, m := range ms {
		changes = append(changes, role("org_1", m.UserID, "org:admin", 200))
	}
	if err := c.Apply(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range ms {
		ev := next(t, sub)
		if ev.Kind != live.Updated || ev.Member.Role != "org:admin" || seen[ev.UserID] {
			t.Fatalf("event %s %s %+v", ev.Kind, ev.UserID, ev.Member)
		}
		seen[ev.UserID] = true
	}
	if sub.Err() != nil {
		t.Fatal(sub.Err())
	}
}

func TestLimits(t *testing.T) {
	src := &members{byOrg: map[string][]directory.Member{"org_1": {member("user_a", "org:admin")}}}
	_, hub := stack(t, src, live.Config{MaxPerPrincipal: 2, MaxTotal: 3})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var subs []*live.Subscription
	for i := range 2 {
		s, err := hub.Subscribe(ctx, "org_1", "p1", nil)
		if err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
		subs = append(subs, s)
	}
	if _, err := hub.Subscribe(ctx, "org_1", "p1", nil); directory.ErrorCode(err) != live.CodeTooManySubscriptions {
		t.Fatalf("a third for one principal: %v, want TOO_MANY_SUBSCRIPTIONS", err)
	}
	if _, err := hub.Subscribe(ctx, "org_1", "p2", nil); err != nil {
		t.Fatalf("another principal: %v", err)
	}
	if _, err := hub.Subscribe(ctx, "org_1", "p3", nil); directory.ErrorCode(err) != live.CodeTooManySubscriptions {
		t.Fatalf("past the process's limit: %v, want TOO_MANY_SUBSCRIPTIONS", err)
	}
	subs[0].Close()
	if _, err := hub.Subscribe(ctx, "org_1", "p1", nil); err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	// A subscription whose context ends gives its place back.
	sctx, scancel := context.WithCancel(ctx)
	subs[1].Close()
	s, err := hub.Subscribe(sctx, "org_1", "p1", nil)
	if err != nil {
		t.Fatal(err)
	}
	scancel()
	if _, ok := <-s.C; ok {
		t.Fatal("an event after the context ended")
	}
	if s.Err() != nil {
		t.Fatalf("a subscription ended by its context: %v", s.Err())
	}
	if got := hub.Stats().Subscribers; got != 2 {
		t.Fatalf("%d subscribers counted, want 2", got)
	}
}

// TestASlowConsumerIsClosed: a subscriber that reads nothing is closed
// once more than MaxPending members changed while it was behind, holding
// no more than its channel's few events meanwhile.
func TestASlowConsumerIsClosed(t *testing.T) {
	var ms []directory.Member
	for i := range 50 {
		ms = append(ms, member(fmt.Sprintf("user_%02d", i), "org:member"))
	}
	src := &members{byOrg: map[string][]directory.Member{"org_1": ms}}
	c, hub := stack(t, src, live.Config{MaxPending: 8})
	ctx := context.Background()
	slow, err := hub.Subscribe(ctx, "org_1", "p1", nil)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := hub.Subscribe(ctx, "org_1", "p2", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for i := range 50 {
		if err := c.Apply(ctx, []directory.Change{role("org_1", ms[i].UserID, "org:admin", 200)}); err != nil {
			t.Fatal(err)
		}
		next(t, reader)
		got++
	}
	if len(slow.C) > cap(slow.C) || cap(slow.C) > 16 {
		t.Fatalf("the slow subscriber holds %d events", len(slow.C))
	}
	for range slow.C { // drain: the channel is closed after what it held
	}
	if directory.ErrorCode(slow.Err()) != live.CodeSlowConsumer {
		t.Fatalf("the slow subscriber ended with %v, want SLOW_CONSUMER", slow.Err())
	}
	if st := hub.Stats(); st.SlowClosed != 1 || st.Subscribers != 1 || got != 50 {
		t.Fatalf("stats %+v, reader got %d of 50", st, got)
	}
}
