package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// fakeSource is a Source whose behaviour each test supplies.
type fakeSource struct {
	members func(ctx context.Context, orgID string) (*directory.Snapshot, error)
}

var _ directory.Source = (*fakeSource)(nil)

func (f *fakeSource) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	return f.members(ctx, orgID)
}

// fixtureService serves the fixture for org_1 and counts Source calls.
func fixtureService(t *testing.T, calls *int) *directory.Service {
	t.Helper()
	snap := fixtureSnapshot(t)
	return &directory.Service{Source: &fakeSource{members: func(_ context.Context, orgID string) (*directory.Snapshot, error) {
		*calls++
		if orgID != "org_1" {
			t.Errorf("Source asked for %q, want org_1", orgID)
		}
		return snap, nil
	}}}
}

func TestServiceList(t *testing.T) {
	var calls int
	svc := fixtureService(t, &calls)
	ctx := context.Background()
	p, err := svc.List(ctx, "org_1", directory.Query{Filter: &directory.Filter{SignInStatus: directory.SignedIn}, First: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []string{"u1", "u4"}) || p.TotalCount != 4 || !p.HasNextPage || p.HasPreviousPage {
		t.Fatalf("page 1: %v total %d next %v prev %v", got, p.TotalCount, p.HasNextPage, p.HasPreviousPage)
	}
	if p.Snapshot == nil || p.Snapshot.OrgID() != "org_1" {
		t.Errorf("page snapshot %v", p.Snapshot)
	}
	p, err = svc.List(ctx, "org_1", directory.Query{Filter: &directory.Filter{SignInStatus: directory.SignedIn}, First: 2, After: p.Cursors[1]})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []string{"u6", "u3"}) || p.HasNextPage || !p.HasPreviousPage {
		t.Errorf("page 2: %v next %v prev %v", got, p.HasNextPage, p.HasPreviousPage)
	}
	if calls != 2 {
		t.Errorf("%d Source calls, want 2", calls)
	}
}

func TestServiceRejectsBadInputBeforeLoading(t *testing.T) {
	tests := []struct {
		name string
		q    directory.Query
		msg  string
	}{
		{"first negative", directory.Query{First: -1}, "first must be between 0 and 1000"},
		{"first too big", directory.Query{First: 1001}, "first must be between 0 and 1000"},
		{"bad order", directory.Query{Order: directory.Order{Field: "AGE"}}, `orderBy.field: unknown value "AGE"`},
		{"bad filter", directory.Query{Filter: &directory.Filter{SignInStatus: "x"}}, `filter.signInStatus: unknown value "x"`},
		{"bad cursor", directory.Query{After: "xyz"}, "invalid cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls int
			_, err := fixtureService(t, &calls).List(context.Background(), "org_1", tt.q)
			wantCode(t, err, directory.CodeBadUserInput, tt.msg)
			if calls != 0 {
				t.Errorf("Source called %d times for bad input", calls)
			}
		})
	}
	var calls int
	_, err := fixtureService(t, &calls).All(context.Background(), "org_1", nil, directory.Order{Direction: "SIDEWAYS"})
	wantCode(t, err, directory.CodeBadUserInput, `orderBy.direction: unknown value "SIDEWAYS"`)
	if calls != 0 {
		t.Errorf("All: Source called %d times for bad input", calls)
	}
}

func TestServiceCursorFromOtherOrder(t *testing.T) {
	var calls int
	svc := fixtureService(t, &calls)
	p, err := svc.List(context.Background(), "org_1", directory.Query{First: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.List(context.Background(), "org_1", directory.Query{First: 1, After: p.Cursors[0],
		Order: directory.Order{Field: directory.OrderEmail, Direction: directory.Desc}})
	wantCode(t, err, directory.CodeBadUserInput, "cursor does not match orderBy")
}

func TestServiceSourceErrors(t *testing.T) {
	upstream := directory.Wrap(directory.CodeUpstreamUnavailable, errors.New("clerk: 503"), "organization members are unavailable")
	plain := errors.New("boom")
	tests := []struct {
		name string
		err  error
		snap *directory.Snapshot
		code directory.Code
	}{
		{"domain error passes through", upstream, nil, directory.CodeUpstreamUnavailable},
		{"other error passes through", plain, nil, directory.CodeInternal},
		{"neither snapshot nor error", nil, nil, directory.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &directory.Service{Source: &fakeSource{members: func(context.Context, string) (*directory.Snapshot, error) {
				return tt.snap, tt.err
			}}}
			ctx := context.Background()
			_, err1 := svc.List(ctx, "org_1", directory.Query{First: 10})
			_, err2 := svc.All(ctx, "org_1", nil, directory.Order{})
			_, _, err3 := svc.Get(ctx, "org_1", "u1")
			for _, err := range []error{err1, err2, err3} {
				if directory.ErrorCode(err) != tt.code {
					t.Errorf("code %q, want %q (%v)", directory.ErrorCode(err), tt.code, err)
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Errorf("error %v does not wrap the Source's %v", err, tt.err)
				}
			}
		})
	}
}

func TestServiceNoOrganization(t *testing.T) {
	var calls int
	svc := fixtureService(t, &calls)
	ctx := context.Background()
	_, err1 := svc.List(ctx, "", directory.Query{})
	_, err2 := svc.All(ctx, "", nil, directory.Order{})
	_, _, err3 := svc.Get(ctx, "", "u1")
	for _, err := range []error{err1, err2, err3} {
		wantCode(t, err, directory.CodeNoActiveOrganization, "")
	}
	if calls != 0 {
		t.Errorf("Source called %d times without an organization", calls)
	}
}

func TestServiceAll(t *testing.T) {
	var calls int
	svc := fixtureService(t, &calls)
	p, err := svc.All(context.Background(), "org_1", &directory.Filter{Roles: []string{"org:member"}},
		directory.Order{Field: directory.OrderFirstName, Direction: directory.Desc})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []string{"u6", "u3", "u2"}) || p.TotalCount != 3 || p.HasNextPage || p.HasPreviousPage || p.Cursors != nil {
		t.Errorf("got %v total %d next %v prev %v cursors %v", got, p.TotalCount, p.HasNextPage, p.HasPreviousPage, p.Cursors)
	}
	_, err = svc.All(context.Background(), "org_1", &directory.Filter{Emails: []string{"x"}, Metadata: []directory.MetadataCondition{{Path: "a."}}}, directory.Order{})
	wantCode(t, err, directory.CodeBadUserInput, "filter.metadata[0].path: empty path segment")
}

func TestServiceGet(t *testing.T) {
	var calls int
	svc := fixtureService(t, &calls)
	m, snap, err := svc.Get(context.Background(), "org_1", "u3")
	if err != nil || m == nil || m.UserID != "u3" || *m.FirstName != "Carol" || snap == nil {
		t.Fatalf("Get u3: %+v %v %v", m, snap, err)
	}
	m, snap, err = svc.Get(context.Background(), "org_1", "nobody")
	if err != nil || m != nil || snap == nil {
		t.Errorf("Get nobody: %+v %v %v", m, snap, err)
	}
}

func TestSnapshotAccessors(t *testing.T) {
	members := fixture()
	snap := directory.NewSnapshot("org_1", members, base)
	if snap.OrgID() != "org_1" || !snap.LoadedAt().Equal(base) || snap.Len() != 6 || &snap.Members()[0] != &members[0] {
		t.Errorf("accessors: %q %v %d", snap.OrgID(), snap.LoadedAt(), snap.Len())
	}
	if m := snap.Member("u5"); m == nil || m != &members[4] {
		t.Errorf("Member(u5) = %p, want %p", m, &members[4])
	}
	if snap.Member("u0") != nil {
		t.Error("Member(u0) is not nil")
	}
	empty := directory.NewSnapshot("org_1", nil, base)
	p, err := empty.Query(directory.Query{First: 10})
	if err != nil || len(p.Members) != 0 || p.TotalCount != 0 || p.HasNextPage {
		t.Errorf("empty snapshot: %+v %v", p, err)
	}
}

func TestVersion(t *testing.T) {
	v := fixtureSnapshot(t).Version()
	if len(v) != 16 {
		t.Errorf("version %q is not 16 hex digits", v)
	}
	reversed := fixture()
	slices.Reverse(reversed)
	if got := directory.NewSnapshot("org_1", reversed, base.Add(time.Hour)).Version(); got != v {
		t.Errorf("same members in another order, loaded later: version %s, want %s", got, v)
	}
	if directory.NewSnapshot("org_2", fixture(), base).Version() == v {
		t.Error("another organization has the same version")
	}
	if directory.NewSnapshot("org_1", fixture()[1:], base).Version() == v {
		t.Error("one member fewer has the same version")
	}

	// Changing any one field of one member changes the version.
	changes := map[string]func(m *directory.Member){
		"UserID":              func(m *directory.Member) { m.UserID = "u1x" },
		"Email":               func(m *directory.Member) { m.Email = ptr("dave2@example.com") },
		"Email nil":           func(m *directory.Member) { m.Email = nil },
		"FirstName":           func(m *directory.Member) { m.FirstName = ptr("") },
		"LastName":            func(m *directory.Member) { m.LastName = ptr("Xv") },
		"Username":            func(m *directory.Member) { m.Username = ptr("dave") },
		"ImageURL":            func(m *directory.Member) { m.ImageURL = ptr("https://img") },
		"LastSignInAt":        func(m *directory.Member) { m.LastSignInAt = ptr(at(6)) },
		"LastSignInAt nil":    func(m *directory.Member) { m.LastSignInAt = nil },
		"LastActiveAt":        func(m *directory.Member) { m.LastActiveAt = ptr(at(6)) },
		"CreatedAt":           func(m *directory.Member) { m.CreatedAt = m.CreatedAt.Add(time.Nanosecond) },
		"Banned":              func(m *directory.Member) { m.Banned = true },
		"PublicMetadata":      func(m *directory.Member) { m.PublicMetadata = json.RawMessage(`{"a":1}`) },
		"Role":                func(m *directory.Member) { m.Role = "org:admin" },
		"RoleName":            func(m *directory.Member) { m.RoleName = "Billing" },
		"MembershipMetadata":  func(m *directory.Member) { m.MembershipMetadata = json.RawMessage(`{"office":"Köln"}`) },
		"JoinedAt":            func(m *directory.Member) { m.JoinedAt = at(99) },
		"UserUpdatedAt":       func(m *directory.Member) { m.UserUpdatedAt = at(98) },
		"MembershipUpdatedAt": func(m *directory.Member) { m.MembershipUpdatedAt = at(97) },
	}
	if n := reflect.TypeFor[directory.Member]().NumField(); n != 17 {
		t.Errorf("Member has %d fields: hash the new ones in Version and add them here", n)
	}
	seen := map[string]string{v: "original"}
	for name, change := range changes {
		members := fixture()
		change(&members[0]) // u4
		got := directory.NewSnapshot("org_1", members, base).Version()
		if prev, dup := seen[got]; dup {
			t.Errorf("changing %s gives the version of %s", name, prev)
		}
		seen[got] = name
	}
}

func TestSizeBytes(t *testing.T) {
	small := directory.NewSnapshot("org_gen", genMembers(100, 4), base).SizeBytes()
	large := directory.NewSnapshot("org_gen", genMembers(1000, 4), base).SizeBytes()
	// Hundreds of bytes to a few kilobytes per member, growing about
	// linearly (shared metadata values are stored once).
	if per := small / 100; per < 300 || per > 5000 {
		t.Errorf("%d bytes per member", per)
	}
	if large < 6*small || large > 11*small {
		t.Errorf("100 members: %d bytes, 1000 members: %d bytes", small, large)
	}
}
