package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

func ptr[T any](v T) *T { return &v }

// sameMember compares every field; metadata by bytes (nil and empty are
// both "no bytes"), times by instant.
func sameMember(t *testing.T, got, want *directory.Member) {
	t.Helper()
	strs := func(m *directory.Member) []*string {
		return []*string{m.Email, m.FirstName, m.LastName, m.Username, m.ImageURL}
	}
	for i, g := range strs(got) {
		w := strs(want)[i]
		if (g == nil) != (w == nil) || g != nil && *g != *w {
			t.Errorf("%s: optional string %d = %v, want %v", want.UserID, i, g, w)
		}
	}
	times := func(m *directory.Member) []*time.Time { return []*time.Time{m.LastSignInAt, m.LastActiveAt} }
	for i, g := range times(got) {
		w := times(want)[i]
		if (g == nil) != (w == nil) || g != nil && !g.Equal(*w) {
			t.Errorf("%s: optional time %d = %v, want %v", want.UserID, i, g, w)
		}
	}
	for i, pair := range [][2]time.Time{{got.CreatedAt, want.CreatedAt}, {got.JoinedAt, want.JoinedAt}, {got.UserUpdatedAt, want.UserUpdatedAt}, {got.MembershipUpdatedAt, want.MembershipUpdatedAt}} {
		if !pair[0].Equal(pair[1]) || pair[0].IsZero() != pair[1].IsZero() {
			t.Errorf("%s: time %d = %v, want %v", want.UserID, i, pair[0], pair[1])
		}
	}
	if got.UserID != want.UserID || got.Banned != want.Banned || got.Role != want.Role || got.RoleName != want.RoleName ||
		!bytes.Equal(got.PublicMetadata, want.PublicMetadata) || !bytes.Equal(got.MembershipMetadata, want.MembershipMetadata) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	loaded := time.Date(2026, 12, 3, 16, 0, 0, 123456789, time.UTC)
	signIn := time.Date(2025, 5, 1, 10, 0, 0, 1, time.FixedZone("x", 3600))
	members := []directory.Member{
		{UserID: "user_bare"}, // every optional field nil, zero times, no metadata
		{
			UserID: "user_full", Email: ptr("a@example.com"), FirstName: ptr("Zoë"), LastName: ptr(""), Username: ptr("ada"),
			ImageURL: ptr("https://img.example/1"), LastSignInAt: &signIn, LastActiveAt: ptr(signIn.Add(time.Hour)),
			CreatedAt: time.Unix(-5, 999).UTC(), Banned: true,
			PublicMetadata: json.RawMessage(`{"a":[1,2,{"b":"\u00e9"}],"n":null}`), Role: "org:admin", RoleName: "Admin",
			MembershipMetadata: json.RawMessage(`{}`), JoinedAt: time.Unix(1700000000, 0).UTC(),
			UserUpdatedAt: time.Unix(1700000001, 5).UTC(), MembershipUpdatedAt: time.Unix(1700000002, 0).UTC(),
		},
		{UserID: "user_other", Role: "org:member", RoleName: "Member", PublicMetadata: json.RawMessage(`{"x":"` + string(bytes.Repeat([]byte("y"), 600)) + `"}`)},
	}
	snap := directory.NewSnapshot("org_1", members, loaded)
	data := Encode(snap)
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.OrgID() != "org_1" || !got.LoadedAt().Equal(loaded) || got.Len() != len(members) {
		t.Fatalf("decoded org %q loaded %v len %d", got.OrgID(), got.LoadedAt(), got.Len())
	}
	if got.Version() != snap.Version() {
		t.Errorf("version %s after the round trip, want %s", got.Version(), snap.Version())
	}
	for i := range members {
		sameMember(t, &got.Members()[i], &members[i])
	}
	if data[1] != compressDeflate {
		t.Errorf("a %d-byte snapshot with a repetitive field was not compressed", len(data))
	}

	// Small and empty snapshots stay uncompressed.
	empty := Encode(directory.NewSnapshot("org_2", nil, time.Time{}))
	if empty[1] != compressNone {
		t.Errorf("empty snapshot compressed: % x", empty)
	}
	if s, err := Decode(empty); err != nil || s.Len() != 0 || !s.LoadedAt().IsZero() || s.OrgID() != "org_2" {
		t.Errorf("empty: %v %v", s, err)
	}
}

func TestCodecRefusesWhatItCannotRead(t *testing.T) {
	data := Encode(directory.NewSnapshot("org_1", genMembers(50, 1), time.Now()))
	for name, b := range map[string][]byte{
		"empty":          nil,
		"future format":  append([]byte{2}, data[1:]...),
		"unknown codec":  append([]byte{1, 9}, data[2:]...),
		"truncated":      data[:len(data)/2],
		"trailing bytes": append(Encode(directory.NewSnapshot("o", nil, time.Now())), 0),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := Decode([]byte{3, 0}); !errors.Is(err, errFormat) {
		t.Errorf("format 3: %v, want errFormat", err)
	}
}

// TestCodecSize measures the encoding of a generated 5,000-member
// organization, with and without compression, against JSON.
func TestCodecSize(t *testing.T) {
	members := genMembers(5000, 7)
	snap := directory.NewSnapshot("org_big", members, time.Now())
	data := Encode(snap)
	raw := encodeMembers(snap.OrgID(), snap.Members(), snap.LoadedAt(), nil, false)
	js, _ := json.Marshal(members)
	t.Logf("5,000 members: encoded %d bytes (%.1f B/member, codec %d); uncompressed %d (%.1f B/member); JSON %d (%.1f B/member)",
		len(data), float64(len(data))/5000, data[1], len(raw), float64(len(raw))/5000, len(js), float64(len(js))/5000)
	if len(data) >= len(raw) {
		t.Errorf("compression did not pay: %d >= %d", len(data), len(raw))
	}
	got, err := Decode(data)
	if err != nil || got.Version() != snap.Version() {
		t.Fatalf("round trip: %v, version %s want %s", err, got.Version(), snap.Version())
	}
}

func BenchmarkCodec(b *testing.B) {
	snap := directory.NewSnapshot("org_big", genMembers(5000, 7), time.Now())
	data := Encode(snap)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			Encode(snap)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCodecKeepsRemovals: a member's removal survives the round trip, so a
// late delivery of an older change does not bring them back from Redis.
func TestCodecKeepsRemovals(t *testing.T) {
	members := genMembers(3, 2)
	gone := members[1].UserID
	left := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	snap, res := directory.NewSnapshot("org_1", members, time.Now()).Apply([]directory.Change{
		{Kind: directory.ChangeMemberRemoved, OrgID: "org_1", UserID: gone, UpdatedAt: left},
		{Kind: directory.ChangeUserDeleted, UserID: members[2].UserID},
	})
	if res.Applied != 2 {
		t.Fatalf("%+v", res)
	}
	got, err := Decode(Encode(snap))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Removals()) != 2 || !got.Removals()[gone].Equal(left) {
		t.Fatalf("removals %v, want %v", got.Removals(), snap.Removals())
	}
	late := members[1]
	_, res = got.Apply([]directory.Change{{Kind: directory.ChangeMemberUpserted, OrgID: "org_1", UserID: gone,
		Member: late, HasProfile: true, UpdatedAt: left.Add(-time.Hour)}})
	if res.Stale != 1 || res.Applied != 0 {
		t.Fatalf("a late upsert from before the removal: %+v", res)
	}
}
