package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/cache"
	"github.com/orgusers/orgusers/internal/directory"
)

func TestChangeMessageRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000000, time.UTC)
	changes := []directory.Change{
		{Kind: directory.ChangeMemberUpserted, OrgID: "org_1", UserID: "user_1", HasProfile: true, UpdatedAt: at,
			Member: directory.Member{Email: ptr("a@b.c"), Role: "org:admin", RoleName: "Admin", PublicMetadata: json.RawMessage(`{"k":1}`),
				MembershipMetadata: json.RawMessage(`{}`), JoinedAt: at, LastSignInAt: &at}},
		{Kind: directory.ChangeMemberRemoved, OrgID: "org_1", UserID: "user_2"},
		{Kind: directory.ChangeUserDeleted, UserID: "user_3", UpdatedAt: at},
	}
	b, err := encodeChanges("r1", changes)
	if err != nil {
		t.Fatal(err)
	}
	msg, got, err := decodeMessage(b)
	if err != nil || msg.From != "r1" || len(got) != len(changes) {
		t.Fatalf("%+v %v %v", msg, got, err)
	}
	for i := range changes {
		g, w := got[i], changes[i]
		if g.Kind != w.Kind || g.OrgID != w.OrgID || g.UserID != w.UserID || g.HasProfile != w.HasProfile || !g.UpdatedAt.Equal(w.UpdatedAt) || g.UpdatedAt.IsZero() != w.UpdatedAt.IsZero() {
			t.Errorf("change %d: %+v, want %+v", i, g, w)
		}
		sameMember(t, &g.Member, &w.Member)
	}
	if !bytes.Equal(got[1].Member.PublicMetadata, nil) {
		t.Errorf("absent metadata became %q", got[1].Member.PublicMetadata)
	}
}

// replica is one replica's stack for the fan-out tests: the fleet Source
// and the near cache in front of it, subscribed to the fleet's changes.
type replica struct {
	fleet *Source
	near  *cache.Cache
}

func newStack(t *testing.T, prefix string, inner directory.Source) replica {
	rdb, _ := newRedis(t)
	f := newReplica(t, rdb, prefix, inner, Config{})
	near := cache.New(f, cache.Config{Logger: quietLogger()})
	t.Cleanup(near.Close)
	f.Start(near.Apply, near.Holding)
	return replica{f, near}
}

// receive is what the webhook endpoint does with changes (server.go's
// sinks): the fleet first, then the near cache.
func (r replica) receive(t *testing.T, changes ...directory.Change) {
	t.Helper()
	if err := r.fleet.Apply(t.Context(), changes); err != nil {
		t.Fatal(err)
	}
	if err := r.near.Apply(t.Context(), changes); err != nil {
		t.Fatal(err)
	}
}

// TestChangeReachesEveryReplica: a change received by one replica reaches
// the other's near cache (measured, reported), and the snapshot in Redis,
// which a fresh replica then serves without loading.
func TestChangeReachesEveryReplica(t *testing.T) {
	_, prefix := newRedis(t)
	for _, n := range []int{50, 5000} {
		t.Run(fmt.Sprint(n, "members"), func(t *testing.T) {
			inner := &fakeSource{n: n}
			org := fmt.Sprint("org_", n)
			a, b := newStack(t, prefix, inner), newStack(t, prefix, inner)
			snap, err := a.near.Members(t.Context(), org)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.near.Members(t.Context(), org); err != nil {
				t.Fatal(err)
			}
			if inner.loads.Load() != 1 {
				t.Fatalf("%d loads", inner.loads.Load())
			}
			user := snap.Members()[0].UserID
			var lat []time.Duration
			for i, role := range []string{"org:admin", "org:billing", "org:member", "org:admin", "org:billing"} {
				at := time.Now()
				start := time.Now()
				a.receive(t, directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: org, UserID: user,
					Member: directory.Member{Role: role, RoleName: role, MembershipUpdatedAt: at}, UpdatedAt: at})
				waitFor(t, 15*time.Second, "the change on the other replica", func() bool {
					s, err := b.near.Members(t.Context(), org)
					return err == nil && s.Member(user).Role == role
				})
				lat = append(lat, time.Since(start))
				_ = i
			}
			// A user change (no organization): patched where the receiving
			// replica's near cache holds the user.
			name := "Renamed"
			upd := snap.Member(user)
			profile := *upd
			profile.FirstName = &name
			a.receive(t, directory.Change{Kind: directory.ChangeUserUpdated, UserID: user, Member: profile, UpdatedAt: time.Now()})
			waitFor(t, 15*time.Second, "the user change on the other replica", func() bool {
				s, err := b.near.Members(t.Context(), org)
				return err == nil && s.Member(user).FirstName != nil && *s.Member(user).FirstName == name
			})
			c := newStack(t, prefix, inner)
			s, err := c.near.Members(t.Context(), org)
			if err != nil || s.Member(user).Role != "org:billing" || *s.Member(user).FirstName != name || inner.loads.Load() != 1 {
				t.Fatalf("fresh replica: %v, role %q, loads %d", err, s.Member(user).Role, inner.loads.Load())
			}
			t.Logf("%d members: change visible on the other replica's near cache after %v (five changes, receive to visible, loopback Redis)", n, lat)
		})
	}
}

// TestConcurrentPatchesAreNotLost: two replicas patch the same snapshot
// at once; compare-and-set keeps every change.
func TestConcurrentPatchesAreNotLost(t *testing.T) {
	_, prefix := newRedis(t)
	inner := &fakeSource{n: 200}
	a, b := newStack(t, prefix, inner), newStack(t, prefix, inner)
	snap, err := a.near.Members(t.Context(), "org_1")
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		r := []replica{a, b}[i%2]
		wg.Go(func() {
			at := time.Now()
			if err := r.fleet.Apply(t.Context(), []directory.Change{{Kind: directory.ChangeMemberUpserted, OrgID: "org_1",
				UserID: snap.Members()[i].UserID, Member: directory.Member{Role: "org:admin", RoleName: "Admin", MembershipUpdatedAt: at}, UpdatedAt: at}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st, err := a.fleet.st.get(t.Context(), "org_1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(st.data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if got.Member(snap.Members()[i].UserID).Role != "org:admin" {
			t.Errorf("change %d was lost", i)
		}
	}
	t.Logf("%d concurrent patches: %d compare-and-set retries", n, a.fleet.Stats().Conflicts+b.fleet.Stats().Conflicts)
}

// TestLoadFromBeforeAPatchIsNotStored: a load that began before a change
// reached Redis may not include it, so it is not stored over the patch.
func TestLoadFromBeforeAPatchIsNotStored(t *testing.T) {
	rdb, prefix := newRedis(t)
	r := newReplica(t, rdb, prefix, &fakeSource{}, Config{})
	ctx := t.Context()
	l, err := r.st.acquire(ctx, "org_1")
	if err != nil || l == nil {
		t.Fatal(l, err)
	}
	time.Sleep(5 * time.Millisecond)
	// The change arrives while the org is not in Redis: only stamped.
	if err := r.Apply(ctx, []directory.Change{{Kind: directory.ChangeMemberRemoved, OrgID: "org_1", UserID: "user_x"}}); err != nil {
		t.Fatal(err)
	}
	data := Encode(directory.NewSnapshot("org_1", genMembers(3, 1), time.Now()))
	if _, err := r.st.put(ctx, "org_1", data, time.Now(), l.started); err != errConflict {
		t.Fatalf("put of a load from before the patch: %v, want errConflict", err)
	}
	// A load that began after it is stored.
	_ = r.st.release(ctx, l)
	time.Sleep(5 * time.Millisecond)
	l2, err := r.st.acquire(ctx, "org_1")
	if err != nil || l2 == nil {
		t.Fatal(err)
	}
	if _, err := r.st.put(ctx, "org_1", data, time.Now(), l2.started); err != nil {
		t.Fatal(err)
	}
}

// TestReloadChangeDropsTheSharedSnapshot: a change that cannot be applied
// exactly (ChangeReload) drops the Redis snapshot; the next read reloads.
func TestReloadChangeDropsTheSharedSnapshot(t *testing.T) {
	_, prefix := newRedis(t)
	inner := &fakeSource{}
	a, b := newStack(t, prefix, inner), newStack(t, prefix, inner)
	if _, err := a.near.Members(t.Context(), "org_1"); err != nil {
		t.Fatal(err)
	}
	a.receive(t, directory.Change{Kind: directory.ChangeReload, OrgID: "org_1"})
	if _, err := b.near.Members(t.Context(), "org_1"); err != nil {
		t.Fatal(err)
	}
	if n := inner.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2: the reload request must reach Redis", n)
	}
}

// TestUserDeletionReachesRedisEverywhere: a user change carries no
// organization. The receiving replica patches the Redis snapshots of the
// organizations it holds the user in, and each peer those it holds: here
// the receiver holds org_a only and the peer org_b only, and a fresh
// replica reading either from Redis no longer finds the deleted user.
func TestUserDeletionReachesRedisEverywhere(t *testing.T) {
	_, prefix := newRedis(t)
	shared := genMembers(5, 3)
	inner := &fakeSource{members: map[string][]directory.Member{"org_a": shared, "org_b": shared}}
	a, b := newStack(t, prefix, inner), newStack(t, prefix, inner)
	if _, err := a.near.Members(t.Context(), "org_a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.near.Members(t.Context(), "org_b"); err != nil {
		t.Fatal(err)
	}
	user := shared[0].UserID
	a.receive(t, directory.Change{Kind: directory.ChangeUserDeleted, UserID: user, UpdatedAt: time.Now()})
	waitFor(t, 15*time.Second, "the peer's near cache", func() bool {
		s, err := b.near.Members(t.Context(), "org_b")
		return err == nil && s.Member(user) == nil
	})
	c := newStack(t, prefix, inner)
	for _, org := range []string{"org_a", "org_b"} {
		var s *directory.Snapshot
		waitFor(t, 15*time.Second, "the Redis snapshot of "+org, func() bool {
			c.near.Invalidate(org)
			var err error
			s, err = c.near.Members(t.Context(), org)
			return err == nil && s.Member(user) == nil
		})
	}
	if n := inner.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2: the fresh replica read both from Redis", n)
	}
}
