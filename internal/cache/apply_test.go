package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// profilesFunc is a Profiles whose behaviour each test supplies.
type profilesFunc func(ctx context.Context, userID string) (directory.Member, error)

func (f profilesFunc) Profile(ctx context.Context, userID string) (directory.Member, error) {
	return f(ctx, userID)
}

var _ Profiles = profilesFunc(nil)

// twoMembers loads orgs holding user_a and user_b, the one shared user.
func twoMembers(orgID string) *directory.Snapshot {
	return directory.NewSnapshot(orgID, []directory.Member{
		{UserID: "user_a", Role: "org:member", MembershipUpdatedAt: time.Unix(100, 0), UserUpdatedAt: time.Unix(100, 0)},
		{UserID: "user_shared", Role: "org:member", MembershipUpdatedAt: time.Unix(100, 0), UserUpdatedAt: time.Unix(100, 0)},
	}, time.Time{})
}

func upsert(orgID, userID, role string, at int64) directory.Change {
	return directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: orgID, UserID: userID,
		Member: directory.Member{Role: role, MembershipUpdatedAt: time.Unix(at, 0)}, UpdatedAt: time.Unix(at, 0)}
}

func TestApplyPatchesCachedOrganizationsOnly(t *testing.T) {
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) { return twoMembers(orgID), nil }}
	c := newTestCache(t, src, newFakeClock(), Config{})
	before := mustMembers(t, c, "org_1")
	mustMembers(t, c, "org_2")

	if err := c.Apply(t.Context(), []directory.Change{
		upsert("org_1", "user_a", "org:admin", 200),
		upsert("org_uncached", "user_a", "org:admin", 200),
		{Kind: directory.ChangeUserUpdated, UserID: "user_shared", Member: directory.Member{FirstName: new(string)}, UpdatedAt: time.Unix(200, 0)},
	}); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, src, 2) // no load for any change
	after := mustMembers(t, c, "org_1")
	if after.Member("user_a").Role != "org:admin" || before.Member("user_a").Role != "org:member" || after.Version() == before.Version() {
		t.Fatal("the role change is not in the cached snapshot, or it changed the old one")
	}
	for _, org := range []string{"org_1", "org_2"} {
		if mustMembers(t, c, org).Member("user_shared").FirstName == nil {
			t.Fatalf("%s: the user change did not reach every organization holding the user", org)
		}
	}
	if s := c.Stats(); s.Patches != 2 || s.ChangesApplied != 3 || s.Entries != 2 {
		t.Fatalf("stats %+v", s)
	}
	// An organization dropped in Clerk leaves the cache.
	if err := c.Apply(t.Context(), []directory.Change{{Kind: directory.ChangeOrgDropped, OrgID: "org_2"}}); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Entries != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestApplyFetchesTheProfileOfANewMemberOnce(t *testing.T) {
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) { return twoMembers(orgID), nil }}
	var fetches atomic.Int64
	fail := false
	c := newTestCache(t, src, newFakeClock(), Config{Profiles: profilesFunc(func(_ context.Context, id string) (directory.Member, error) {
		fetches.Add(1)
		if fail {
			return directory.Member{}, errors.New("clerk is down")
		}
		email := id + "@example.com"
		return directory.Member{UserID: id, Email: &email, UserUpdatedAt: time.Unix(150, 0)}, nil
	})})
	mustMembers(t, c, "org_1")
	if err := c.Apply(t.Context(), []directory.Change{upsert("org_1", "user_new", "org:member", 200)}); err != nil {
		t.Fatal(err)
	}
	m := mustMembers(t, c, "org_1").Member("user_new")
	if m == nil || m.Email == nil || *m.Email != "user_new@example.com" || m.Role != "org:member" || fetches.Load() != 1 {
		t.Fatalf("member %+v, %d fetches", m, fetches.Load())
	}
	wantCalls(t, src, 1)

	// When the fetch fails, the organization is reloaded on the next read.
	fail = true
	if err := c.Apply(t.Context(), []directory.Change{upsert("org_1", "user_other", "org:member", 300)}); err != nil {
		t.Fatal(err)
	}
	mustMembers(t, c, "org_1")
	wantCalls(t, src, 2)
}

// TestApplyCoalescesABurst sends 1,000 membership changes for one
// organization at once: they all land, in far fewer patches.
func TestApplyCoalescesABurst(t *testing.T) {
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) { return twoMembers(orgID), nil }}
	c := newTestCache(t, src, newFakeClock(), Config{Profiles: profilesFunc(func(_ context.Context, id string) (directory.Member, error) {
		return directory.Member{UserID: id}, nil
	})})
	mustMembers(t, c, "org_1")
	const n = 1000
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Go(func() {
			ch := upsert("org_1", fmt.Sprintf("user_%04d", i), "org:member", 200)
			ch.HasProfile = true
			if err := c.Apply(context.Background(), []directory.Change{ch}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	snap := mustMembers(t, c, "org_1")
	s := c.Stats()
	if snap.Len() != n+2 || s.ChangesApplied != n {
		t.Fatalf("%d members, stats %+v", snap.Len(), s)
	}
	if s.Patches >= n/4 {
		t.Fatalf("%d changes took %d patches", n, s.Patches)
	}
	t.Logf("%d changes in %d patches", n, s.Patches)
}

// TestApplyKeepsALoadInFlightFromCaching: a load that started before a change
// may not have it, so its result answers its waiters but is not cached.
func TestApplyKeepsALoadInFlightFromCaching(t *testing.T) {
	release := make(chan struct{})
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
		<-release
		return twoMembers(orgID), nil
	}}
	c := newTestCache(t, src, newFakeClock(), Config{})
	done := make(chan struct{})
	go func() { defer close(done); mustMembers(t, c, "org_1") }()
	for c.Stats().Loads == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Apply(t.Context(), []directory.Change{upsert("org_1", "user_a", "org:admin", 200)}); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	mustMembers(t, c, "org_1") // loads again: the first load was not cached
	wantCalls(t, src, 2)
}

func TestHoldingNamesTheCachedOrganizationsOfAUser(t *testing.T) {
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) { return twoMembers(orgID), nil }}
	c := newTestCache(t, src, newFakeClock(), Config{})
	mustMembers(t, c, "org_1")
	mustMembers(t, c, "org_2")
	got := c.Holding("user_shared")
	slices.Sort(got)
	if !slices.Equal(got, []string{"org_1", "org_2"}) || len(c.Holding("user_nobody")) != 0 {
		t.Fatalf("Holding = %v", got)
	}
}
