package directory_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// stamped returns the fixture with every member's user and membership
// stamped at hour 10.
func stamped() []directory.Member {
	ms := fixture()
	for i := range ms {
		ms[i].UserUpdatedAt, ms[i].MembershipUpdatedAt = at(10), at(10)
	}
	return ms
}

// same reports whether two snapshots hold the same members: equal
// versions (the version hashes every field of every member).
func same(t *testing.T, got *directory.Snapshot, want []directory.Member) {
	t.Helper()
	if w := directory.NewSnapshot(got.OrgID(), want, base); got.Version() != w.Version() || got.Len() != w.Len() {
		t.Fatalf("snapshot of %d members, version %s; want %d members, version %s", got.Len(), got.Version(), w.Len(), w.Version())
	}
}

func TestApplyMembershipChanges(t *testing.T) {
	old := directory.NewSnapshot("org_1", stamped(), base)
	oldVersion := old.Version()
	first := old.Members()[0]

	// A role change, newer than what the snapshot holds.
	up := first
	up.Role, up.RoleName, up.MembershipMetadata, up.MembershipUpdatedAt = "org:admin", "Admin", json.RawMessage(`{"desk":7}`), at(11)
	next, res := old.Apply([]directory.Change{{Kind: directory.ChangeMemberUpserted, OrgID: "org_1", UserID: first.UserID, Member: up, UpdatedAt: at(11)}})
	want := stamped()
	want[0].Role, want[0].RoleName, want[0].MembershipMetadata, want[0].MembershipUpdatedAt = "org:admin", "Admin", json.RawMessage(`{"desk":7}`), at(11)
	same(t, next, want)
	if res.Applied != 1 || next.Version() == oldVersion || old.Version() != oldVersion || old.Members()[0].Role == "org:admin" {
		t.Fatalf("res %+v; the old snapshot must not change", res)
	}

	// The same change again changes nothing: the same snapshot comes back.
	again, res := next.Apply([]directory.Change{{Kind: directory.ChangeMemberUpserted, OrgID: "org_1", UserID: first.UserID, Member: up, UpdatedAt: at(11)}})
	if again != next || res.Applied != 0 {
		t.Fatalf("a repeated change rebuilt the snapshot: %+v", res)
	}

	// An older change (delivered late) is skipped.
	late := first
	late.Role = "org:viewer"
	if got, res := next.Apply([]directory.Change{{Kind: directory.ChangeMemberUpserted, OrgID: "org_1", UserID: first.UserID, Member: late, UpdatedAt: at(10)}}); got != next || res.Stale != 1 {
		t.Fatalf("an older change applied: %+v", res)
	}

	// Another organization's change is not this one's.
	if got, _ := next.Apply([]directory.Change{{Kind: directory.ChangeMemberRemoved, OrgID: "org_2", UserID: first.UserID, UpdatedAt: at(20)}}); got != next {
		t.Fatal("another organization's removal applied")
	}
}

func TestApplyAdditionsAndRemovals(t *testing.T) {
	old := directory.NewSnapshot("org_1", stamped(), base)
	newcomer := directory.Member{UserID: "u_new", Email: ptr("new@example.com"), CreatedAt: at(1), PublicMetadata: json.RawMessage(`{}`),
		Role: "org:member", MembershipMetadata: json.RawMessage(`{}`), JoinedAt: at(12), UserUpdatedAt: at(12)}
	add := directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: "org_1", UserID: "u_new", Member: newcomer, UpdatedAt: at(12)}

	// Without a profile, the caller must fetch one.
	if got, res := old.Apply([]directory.Change{add}); got != old || !slices.Equal(res.NeedProfile, []string{"u_new"}) {
		t.Fatalf("%+v", res)
	}
	add.HasProfile = true
	next, res := old.Apply([]directory.Change{add})
	withNew := append(stamped(), newcomer)
	withNew[len(withNew)-1].MembershipUpdatedAt = at(12)
	same(t, next, withNew)
	if res.Applied != 1 || next.Member("u_new") == nil {
		t.Fatalf("%+v", res)
	}

	// Removed at hour 13; the creation delivered again afterwards is late.
	gone, res := next.Apply([]directory.Change{
		{Kind: directory.ChangeMemberRemoved, OrgID: "org_1", UserID: "u_new", UpdatedAt: at(13)},
		add,
	})
	same(t, gone, stamped())
	if res.Applied != 1 || res.Stale != 1 {
		t.Fatalf("%+v", res)
	}
	// A removal that arrived before the creation it follows keeps it out too.
	early, res := old.Apply([]directory.Change{{Kind: directory.ChangeMemberRemoved, OrgID: "org_1", UserID: "u_new", UpdatedAt: at(13)}})
	if early != old || res.Applied != 0 {
		t.Fatalf("%+v", res)
	}
	// ...but the tombstone lives in the snapshot only when something changed;
	// a removal and a later re-join both apply in order.
	rejoin := add
	rejoin.UpdatedAt, rejoin.Member.MembershipUpdatedAt = at(14), at(14)
	back, _ := gone.Apply([]directory.Change{rejoin})
	if back.Member("u_new") == nil {
		t.Fatal("a member who joined again after leaving is missing")
	}

	// A deleted user never comes back, whatever the stamps.
	deleted, res := back.Apply([]directory.Change{{Kind: directory.ChangeUserDeleted, UserID: "u_new"}})
	if deleted.Member("u_new") != nil || res.Applied != 1 {
		t.Fatalf("%+v", res)
	}
	rejoin.UpdatedAt = at(1000)
	if again, _ := deleted.Apply([]directory.Change{rejoin}); again.Member("u_new") != nil {
		t.Fatal("a deleted user came back")
	}
}

func TestApplyUserChanges(t *testing.T) {
	old := directory.NewSnapshot("org_1", stamped(), base)
	first := old.Members()[0]
	profile := directory.Member{UserID: first.UserID, Email: ptr("renamed@example.com"), FirstName: ptr("Renamed"), CreatedAt: first.CreatedAt,
		PublicMetadata: json.RawMessage(`{"department":"Legal"}`), UserUpdatedAt: at(11)}
	next, res := old.Apply([]directory.Change{{Kind: directory.ChangeUserUpdated, UserID: first.UserID, Member: profile, UpdatedAt: at(11)}})
	want := stamped()
	want[0].Email, want[0].FirstName, want[0].LastName, want[0].Username, want[0].ImageURL = ptr("renamed@example.com"), ptr("Renamed"), nil, nil, nil
	want[0].LastSignInAt, want[0].LastActiveAt, want[0].Banned = nil, nil, false
	want[0].PublicMetadata, want[0].UserUpdatedAt = json.RawMessage(`{"department":"Legal"}`), at(11)
	same(t, next, want)
	if res.Applied != 1 || next.Members()[0].Role != first.Role {
		t.Fatalf("%+v: the membership must stay", res)
	}
	// A user the organization does not hold changes nothing.
	if got, _ := old.Apply([]directory.Change{{Kind: directory.ChangeUserUpdated, UserID: "u_elsewhere", Member: profile}}); got != old {
		t.Fatal("a stranger's profile changed the snapshot")
	}
	// An older profile is skipped; the organization dropped is reported.
	if got, res := next.Apply([]directory.Change{{Kind: directory.ChangeUserUpdated, UserID: first.UserID, Member: first, UpdatedAt: at(10)}, {Kind: directory.ChangeOrgDropped, OrgID: "org_1"}}); got != next || res.Stale != 1 || !res.Dropped {
		t.Fatalf("%+v", res)
	}
}

// BenchmarkApply is the cost of one patch (a role change) on a large
// organization: a copy of the members and a new snapshot.
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{5_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			snap := directory.NewSnapshot("org_gen", genMembers(n, 4), base)
			m := snap.Members()[n/2]
			m.Role = "org:changed"
			change := []directory.Change{{Kind: directory.ChangeMemberUpserted, OrgID: "org_gen", UserID: m.UserID, Member: m, UpdatedAt: time.Now()}}
			b.ReportAllocs()
			for b.Loop() {
				if next, res := snap.Apply(change); res.Applied != 1 || next == snap {
					b.Fatal(res)
				}
			}
		})
	}
}
