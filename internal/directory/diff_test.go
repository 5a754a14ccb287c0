package directory_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/orgusers/orgusers/internal/directory"
)

// refDiff is Diff by definition: the users whose member is not deeply
// equal in the two lists.
func refDiff(old, next []directory.Member) []string {
	byID := map[string]directory.Member{}
	for _, m := range old {
		byID[m.UserID] = m
	}
	var ids []string
	for _, m := range next {
		o, ok := byID[m.UserID]
		if !ok || !reflect.DeepEqual(o, m) {
			ids = append(ids, m.UserID)
		}
		delete(byID, m.UserID)
	}
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestDiffFindsEveryChangedMember(t *testing.T) {
	members := genMembers(400, 3)
	for i := range members {
		members[i].UserUpdatedAt, members[i].MembershipUpdatedAt = at(1), at(1)
	}
	r := rand.New(rand.NewPCG(9, 9))
	snap := directory.NewSnapshot("org_d", members, base)
	for round := range 60 {
		var changes []directory.Change
		for range 1 + r.IntN(6) {
			m := snap.Members()[r.IntN(snap.Len())]
			switch r.IntN(5) {
			case 0: // a role change
				m.Role = []string{"org:admin", "org:member", "org:billing"}[r.IntN(3)]
				changes = append(changes, directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: "org_d", UserID: m.UserID, Member: m, UpdatedAt: at(2 + round)})
			case 1: // a profile change, sometimes to the same values
				if r.IntN(2) == 0 {
					m.PublicMetadata = json.RawMessage(fmt.Sprintf(`{"department":"D%d"}`, r.IntN(3)))
				}
				changes = append(changes, directory.Change{Kind: directory.ChangeUserUpdated, UserID: m.UserID, Member: m, UpdatedAt: m.UserUpdatedAt})
			case 2:
				changes = append(changes, directory.Change{Kind: directory.ChangeMemberRemoved, OrgID: "org_d", UserID: m.UserID, UpdatedAt: at(2 + round)})
			case 3: // a new member
				n := m
				n.UserID = fmt.Sprintf("user_new_%d_%d", round, r.IntN(1000))
				changes = append(changes, directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: "org_d", UserID: n.UserID, Member: n, HasProfile: true, UpdatedAt: at(2 + round)})
			default: // a stale change: applies nothing
				m.Role = "org:stale"
				changes = append(changes, directory.Change{Kind: directory.ChangeMemberUpserted, OrgID: "org_d", UserID: m.UserID, Member: m, UpdatedAt: at(0)})
			}
		}
		next, _ := snap.Apply(changes)
		want := refDiff(snap.Members(), next.Members())
		if got := directory.Diff(snap, next); !slices.Equal(got, want) {
			t.Fatalf("round %d: Diff after Apply = %v, want %v", round, got, want)
		}
		// The same content reloaded: no patch history to use.
		reloaded := directory.NewSnapshot("org_d", slices.Clone(next.Members()), base)
		if got := directory.Diff(snap, reloaded); !slices.Equal(got, want) {
			t.Fatalf("round %d: Diff after reload = %v, want %v", round, got, want)
		}
		if got := directory.Diff(next, reloaded); len(got) != 0 {
			t.Fatalf("round %d: Diff of equal content = %v, want none", round, got)
		}
		snap = next
	}
	if got := directory.Diff(nil, snap); len(got) != snap.Len() {
		t.Fatalf("Diff from nothing lists %d users, want all %d", len(got), snap.Len())
	}
}

func TestSelectorAgreesWithQueries(t *testing.T) {
	snap := directory.NewSnapshot("org_s", genMembers(1500, 5), base)
	filters := []*directory.Filter{
		nil,
		{Roles: []string{"org:admin"}},
		{SignInStatus: directory.NeverSignedIn},
		{Metadata: []directory.MetadataCondition{{Path: "department", Op: directory.OpIn, Values: []any{"Sales", "Legal"}}}},
		{Search: ptr("an"), Or: []directory.Filter{{Roles: []string{"org:member"}}, {Metadata: []directory.MetadataCondition{{Path: "skills", Op: directory.OpIncludes, Value: "go"}}}}},
		{Not: &directory.Filter{Metadata: []directory.MetadataCondition{{Path: "location.country", Op: directory.OpEquals, Value: "DE"}}}},
	}
	for i, f := range filters {
		sel, err := directory.NewSelector(f)
		if err != nil {
			t.Fatalf("filter %d: %v", i, err)
		}
		page, err := snap.All(f, directory.Order{})
		if err != nil {
			t.Fatalf("filter %d: %v", i, err)
		}
		want := map[string]bool{}
		for _, m := range page.Members {
			want[m.UserID] = true
		}
		in := sel.Bind(snap)
		for _, m := range snap.Members() {
			if in(m.UserID) != want[m.UserID] {
				t.Fatalf("filter %d: selector says %v for %s, the query %v", i, in(m.UserID), m.UserID, want[m.UserID])
			}
		}
		if in("user_not_a_member") {
			t.Fatalf("filter %d selects a user who is not a member", i)
		}
	}
	if _, err := directory.NewSelector(&directory.Filter{Metadata: []directory.MetadataCondition{{Path: ""}}}); directory.ErrorCode(err) != directory.CodeBadUserInput {
		t.Fatalf("an empty path: %v, want BAD_USER_INPUT", err)
	}
}
