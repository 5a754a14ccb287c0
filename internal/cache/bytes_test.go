package cache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// sized returns a snapshot of orgID with n members.
func sized(orgID string, n int) *directory.Snapshot {
	ms := make([]directory.Member, n)
	for i := range ms {
		ms[i] = directory.Member{UserID: fmt.Sprintf("user_%s_%d", orgID, i), Role: "org:member"}
	}
	return directory.NewSnapshot(orgID, ms, time.Time{})
}

func TestEvictionByBytes(t *testing.T) {
	per := int64(sized("org_x", 100).SizeBytes())
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
		if orgID == "org_huge" {
			return sized(orgID, 1000), nil
		}
		return sized(orgID, 100), nil
	}}
	c := newTestCache(t, src, newFakeClock(), Config{MaxBytes: 2*per + per/2})
	for _, org := range []string{"org_a", "org_b", "org_c"} {
		mustMembers(t, c, org)
	}
	if s := c.Stats(); s.Entries != 2 || s.Evictions != 1 || c.SizeBytes() > 2*per+per/2 {
		t.Fatalf("stats %+v, %d bytes", s, c.SizeBytes())
	}
	mustMembers(t, c, "org_a") // evicted first, as the least recently used: loads again
	wantCalls(t, src, 4)
	// One organization larger than the bound alone is still kept and served.
	mustMembers(t, c, "org_huge")
	mustMembers(t, c, "org_huge")
	if s := c.Stats(); s.Entries != 1 || c.SizeBytes() != int64(sized("org_huge", 1000).SizeBytes()) {
		t.Fatalf("stats %+v, %d bytes", s, c.SizeBytes())
	}
	wantCalls(t, src, 5)
	// Patches and removals keep the count honest.
	if err := c.Apply(t.Context(), []directory.Change{{Kind: directory.ChangeMemberRemoved, OrgID: "org_huge", UserID: "user_org_huge_1"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := c.SizeBytes(), int64(mustMembers(t, c, "org_huge").SizeBytes()); got != want {
		t.Fatalf("bytes %d after a patch, want %d", got, want)
	}
	c.Invalidate("org_huge")
	if c.SizeBytes() != 0 {
		t.Fatalf("bytes %d with nothing cached", c.SizeBytes())
	}
}

// blob is a memo that retains n bytes.
type blob int

func (b blob) SizeBytes() int { return int(b) }

type blobKey struct{}

// TestMemoBytesCount: a memo built on a cached snapshot after it was
// stored (the fast path's encoded members) counts at the organization's
// next read, and makes room by evicting the least recently used.
func TestMemoBytesCount(t *testing.T) {
	per := int64(sized("org_x", 100).SizeBytes())
	src := &fakeSource{MembersFunc: func(_ context.Context, orgID string) (*directory.Snapshot, error) { return sized(orgID, 100), nil }}
	c := newTestCache(t, src, newFakeClock(), Config{MaxBytes: 3 * per})
	mustMembers(t, c, "org_a")
	b := mustMembers(t, c, "org_b")
	if c.SizeBytes() != 2*per {
		t.Fatalf("%d bytes, want %d", c.SizeBytes(), 2*per)
	}
	b.Memo(blobKey{}, func(*directory.Snapshot) any { return blob(per + per/2) })
	if got := int64(b.SizeBytes()); got != per+per+per/2 {
		t.Fatalf("the snapshot says %d bytes with its memo, want %d", got, per+per+per/2)
	}
	mustMembers(t, c, "org_b") // noticed here: 3.5 units, over the bound of 3
	if s := c.Stats(); s.Entries != 1 || s.Evictions != 1 || c.SizeBytes() != per+per+per/2 {
		t.Fatalf("stats %+v, %d bytes", s, c.SizeBytes())
	}
	c.Invalidate("org_b")
	if c.SizeBytes() != 0 {
		t.Fatalf("bytes %d with nothing cached", c.SizeBytes())
	}
}
