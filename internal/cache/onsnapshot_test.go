package cache

import (
	"context"
	"sync"
	"testing"

	"github.com/orgusers/orgusers/internal/directory"
)

// TestOnSnapshotHearsEachChange: the hook hears a load, a patch and an
// invalidation of an organization, in order, and not an eviction.
func TestOnSnapshotHearsEachChange(t *testing.T) {
	type heard struct {
		org     string
		version string // "" for nil
	}
	var mu sync.Mutex
	var got []heard
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) { return twoMembers(orgID), nil }}
	c := newTestCache(t, src, newFakeClock(), Config{MaxOrgs: 1, OnSnapshot: func(orgID string, snap *directory.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		h := heard{org: orgID}
		if snap != nil {
			h.version = snap.Version()
		}
		got = append(got, h)
	}})
	loaded := mustMembers(t, c, "org_1")
	if err := c.Apply(context.Background(), []directory.Change{upsert("org_1", "user_a", "org:admin", 200)}); err != nil {
		t.Fatal(err)
	}
	patched := mustMembers(t, c, "org_1")
	if patched.Version() == loaded.Version() {
		t.Fatal("the patch changed nothing")
	}
	c.Invalidate("org_1")
	c.Invalidate("org_1") // nothing left to drop: not reported again
	reloaded := mustMembers(t, c, "org_1")
	other := mustMembers(t, c, "org_2") // evicts org_1 (MaxOrgs 1): not a change
	want := []heard{{"org_1", loaded.Version()}, {"org_1", patched.Version()}, {"org_1", ""}, {"org_1", reloaded.Version()}, {"org_2", other.Version()}}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("heard %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("heard %v, want %v", got, want)
		}
	}
}
