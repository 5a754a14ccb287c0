package directory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

var invBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// invitationFixture: 12 invitations, statuses cycling, two pairs sharing a
// created_at (ties break by id).
func invitationFixture() []directory.Invitation {
	statuses := []directory.InvitationStatus{directory.InvitationPending, directory.InvitationAccepted, directory.InvitationRevoked, directory.InvitationExpired}
	var out []directory.Invitation
	for i := range 12 {
		created := invBase.Add(time.Duration(i/2*2) * time.Hour) // 0,0,2,2,4,4,... hours
		if i >= 4 {
			created = invBase.Add(time.Duration(i) * time.Hour)
		}
		out = append(out, directory.Invitation{
			ID: fmt.Sprintf("inv_%02d", i), EmailAddress: fmt.Sprintf("User%d@Example.com", i), Role: "org:member",
			Status: statuses[i%4], PublicMetadata: json.RawMessage(`{}`), CreatedAt: created, UpdatedAt: created,
		})
	}
	return out
}

func invIDs(invs []*directory.Invitation) []string {
	out := make([]string, len(invs))
	for i, inv := range invs {
		out[i] = inv.ID
	}
	return out
}

func TestPageInvitations(t *testing.T) {
	all := invitationFixture()
	newestFirst := []string{"inv_11", "inv_10", "inv_09", "inv_08", "inv_07", "inv_06", "inv_05", "inv_04", "inv_02", "inv_03", "inv_00", "inv_01"}
	for _, c := range []struct {
		name string
		q    directory.InvitationQuery
		want []string
	}{
		{"all, newest first, ties by id", directory.InvitationQuery{First: 100}, newestFirst},
		{"pending", directory.InvitationQuery{First: 100, Statuses: []directory.InvitationStatus{directory.InvitationPending}}, []string{"inv_08", "inv_04", "inv_00"}},
		{"two statuses", directory.InvitationQuery{First: 100, Statuses: []directory.InvitationStatus{directory.InvitationRevoked, directory.InvitationExpired}}, []string{"inv_11", "inv_10", "inv_07", "inv_06", "inv_02", "inv_03"}},
		{"empty status list matches none", directory.InvitationQuery{First: 100, Statuses: []directory.InvitationStatus{}}, []string{}},
		{"search is a case-insensitive substring", directory.InvitationQuery{First: 100, Search: "USER1"}, []string{"inv_11", "inv_10", "inv_01"}},
		{"first 0", directory.InvitationQuery{First: 0}, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			page, err := directory.PageInvitations(all, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := invIDs(page.Invitations); !slices.Equal(got, c.want) && (len(got) != 0 || len(c.want) != 0) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if c.q.First > 0 && page.TotalCount != len(c.want) {
				t.Fatalf("total %d, want %d", page.TotalCount, len(c.want))
			}
		})
	}

	// Paging by 5 walks the whole order once, even when the last invitation
	// of a page is gone before the next page is asked for.
	var got []string
	q := directory.InvitationQuery{First: 5}
	list := all
	for {
		page, err := directory.PageInvitations(list, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != len(list) {
			t.Fatalf("total %d", page.TotalCount)
		}
		got = append(got, invIDs(page.Invitations)...)
		if !page.HasNextPage {
			break
		}
		q.After = page.EndCursor
		last := page.Invitations[len(page.Invitations)-1].ID
		list = slices.DeleteFunc(slices.Clone(list), func(inv directory.Invitation) bool { return inv.ID == last })
	}
	if !slices.Equal(got, newestFirst) {
		t.Fatalf("paged %v, want %v", got, newestFirst)
	}
}

func TestInvitationQueryErrors(t *testing.T) {
	page, _ := directory.PageInvitations(invitationFixture(), directory.InvitationQuery{First: 3})
	tampered := []byte(page.EndCursor)
	tampered[3] ^= 1
	for _, c := range []struct {
		q    directory.InvitationQuery
		name string
	}{
		{directory.InvitationQuery{First: 101}, "first"},
		{directory.InvitationQuery{First: -1}, "first"},
		{directory.InvitationQuery{First: 1, After: "nonsense"}, "after"},
		{directory.InvitationQuery{First: 1, After: string(tampered)}, "after"},
		{directory.InvitationQuery{First: 1, After: page.EndCursor[:len(page.EndCursor)-2]}, "after"},
	} {
		_, err := directory.PageInvitations(invitationFixture(), c.q)
		if directory.ErrorCode(err) != directory.CodeBadUserInput || !strings.HasPrefix(directory.ErrorMessage(err), c.name+":") {
			t.Errorf("%+v: %v", c.q, err)
		}
	}
}

func TestValidEmail(t *testing.T) {
	for s, want := range map[string]bool{
		"a@b.example.com": true, "first.last+tag@example.org": true,
		"": false, "not-an-email": false, "a@localhost": false, "Name <a@b.com>": false, " a@b.com": false, "a@b.com.": false, "a@.b.com": false,
	} {
		if directory.ValidEmail(s) != want {
			t.Errorf("ValidEmail(%q) != %v", s, want)
		}
	}
}

func strp(s string) *string { return &s }

func TestPlanInvites(t *testing.T) {
	roles := []string{"org:admin", "org:member"}
	members := []directory.Member{{UserID: "u1", Email: strp("Member@Example.com")}, {UserID: "u2"}}
	invs := []directory.Invitation{
		{ID: "inv_p", EmailAddress: "pending@example.com", Status: directory.InvitationPending},
		{ID: "inv_r", EmailAddress: "revoked@example.com", Status: directory.InvitationRevoked},
	}
	req := directory.InviteRequest{Invitations: []directory.NewInvitation{
		{EmailAddress: "new@example.com", Role: "org:member"},
		{EmailAddress: "NEW@example.com", Role: "org:admin"},
		{EmailAddress: "member@example.com", Role: "org:member"},
		{EmailAddress: "Pending@Example.com", Role: "org:member"},
		{EmailAddress: "revoked@example.com", Role: "org:member"},
		{EmailAddress: "bad", Role: "org:member"},
	}}
	items, writes, err := directory.PlanInvites(req, roles, members, invs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, it := range items {
		got = append(got, fmt.Sprintf("%s %v %s %s %s", it.EmailAddress, writes[i], it.Status, it.Code, it.InvitationID))
	}
	want := []string{
		"new@example.com true   ",
		"member@example.com false UNCHANGED ALREADY_A_MEMBER ",
		"Pending@Example.com false UNCHANGED ALREADY_INVITED inv_p",
		"revoked@example.com true   ",
		"bad false FAILED INVALID_EMAIL ",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for name, r := range map[string]directory.InviteRequest{
		"role":           {Invitations: []directory.NewInvitation{{EmailAddress: "a@b.com", Role: "org:owner"}}},
		"publicMetadata": {Invitations: []directory.NewInvitation{{EmailAddress: "a@b.com", Role: "org:member", PublicMetadata: json.RawMessage(`[1]`)}}},
		"redirectUrl":    {Invitations: []directory.NewInvitation{{EmailAddress: "a@b.com", Role: "org:member"}}, RedirectURL: "ftp://x"},
	} {
		if _, _, err := directory.PlanInvites(r, roles, members, invs); directory.ErrorCode(err) != directory.CodeBadUserInput || !strings.HasPrefix(directory.ErrorMessage(err), name+":") {
			t.Errorf("%s: %v", name, err)
		}
	}
	many := directory.InviteRequest{Invitations: make([]directory.NewInvitation, directory.MaxBulkTargets+1)}
	if _, _, err := directory.PlanInvites(many, roles, nil, nil); directory.ErrorCode(err) != directory.CodeTooManyTargets {
		t.Errorf("too many: %v", err)
	}
}

func TestPlanRevokes(t *testing.T) {
	invs := []directory.Invitation{
		{ID: "inv_p", EmailAddress: "p@example.com", Status: directory.InvitationPending},
		{ID: "inv_a", EmailAddress: "a@example.com", Status: directory.InvitationAccepted},
	}
	for _, dry := range []bool{false, true} {
		items, writes := directory.PlanRevokes([]string{"inv_p", "inv_a", "inv_p", "inv_x", "a/b"}, invs, dry)
		var got []string
		for i, it := range items {
			got = append(got, fmt.Sprintf("%s %v %s %s", it.InvitationID, writes[i], it.Status, it.Code))
		}
		unknown := "inv_x true  "
		if dry {
			unknown = "inv_x false FAILED resource_not_found"
		}
		want := []string{"inv_p true  ", "inv_a false UNCHANGED NOT_PENDING", unknown, "a/b false FAILED INVALID_ID"}
		if !slices.Equal(got, want) {
			t.Fatalf("dry %v: got %q, want %q", dry, got, want)
		}
	}
}

// fakeStore is an InvitationStore over an in-memory list.
type fakeStore struct {
	mu        sync.Mutex
	list      []directory.Invitation
	loads     int
	bulkCalls [][]string
	singles   []string
	revokes   []string
	// refuse, when set, refuses a bulk batch as a whole.
	refuse func(emails []string) error
	// loading, when set, runs inside Invitations (between start and answer).
	loading func()
}

var _ directory.InvitationStore = (*fakeStore)(nil)

func (f *fakeStore) Invitations(_ context.Context, _ string) ([]directory.Invitation, error) {
	f.mu.Lock()
	f.loads++
	list := slices.Clone(f.list)
	hook := f.loading
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return list, nil
}

func (f *fakeStore) add(inv directory.NewInvitation) directory.Invitation {
	d := directory.Invitation{ID: fmt.Sprintf("inv_new_%d", len(f.list)), EmailAddress: inv.EmailAddress, Role: inv.Role, Status: directory.InvitationPending, CreatedAt: invBase}
	f.list = append(f.list, d)
	return d
}

func (f *fakeStore) CreateInvitations(_ context.Context, _, _, _ string, invs []directory.NewInvitation) ([]directory.Invitation, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var emails []string
	for _, inv := range invs {
		emails = append(emails, inv.EmailAddress)
	}
	f.bulkCalls = append(f.bulkCalls, emails)
	if f.refuse != nil {
		if err := f.refuse(emails); err != nil {
			return nil, "trace", err
		}
	}
	var out []directory.Invitation
	for _, inv := range invs {
		out = append(out, f.add(inv))
	}
	return out, "trace", nil
}

func (f *fakeStore) CreateInvitation(_ context.Context, _, _, _ string, inv directory.NewInvitation) (directory.Invitation, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.singles = append(f.singles, inv.EmailAddress)
	if strings.HasPrefix(inv.EmailAddress, "dup") {
		return directory.Invitation{}, "", &directory.WriteError{Code: "organization_invitation_not_unique", Status: 400}
	}
	if strings.HasPrefix(inv.EmailAddress, "blocked") {
		return directory.Invitation{}, "", &directory.WriteError{Code: "form_identifier_blocked", Message: "blocked", Status: 422}
	}
	return f.add(inv), "trace", nil
}

func (f *fakeStore) RevokeInvitation(_ context.Context, _, _, id string) (directory.Invitation, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revokes = append(f.revokes, id)
	for i := range f.list {
		if f.list[i].ID == id {
			if f.list[i].Status != directory.InvitationPending {
				return directory.Invitation{}, "", &directory.WriteError{Code: "organization_invitation_not_pending", Status: 404}
			}
			f.list[i].Status = directory.InvitationRevoked
			return f.list[i], "trace", nil
		}
	}
	return directory.Invitation{}, "", &directory.WriteError{Code: "resource_not_found", Message: "not found", Status: 404}
}

func (f *fakeStore) OrganizationRoles(context.Context) ([]string, error) {
	return []string{"org:admin", "org:member"}, nil
}

func newInvitations(store *fakeStore, now *time.Time) *directory.Invitations {
	snap := directory.NewSnapshot("org_1", []directory.Member{{UserID: "u1", Email: strp("member@example.com")}}, invBase)
	return &directory.Invitations{
		Store:   store,
		Members: &fakeSource{members: func(context.Context, string) (*directory.Snapshot, error) { return snap, nil }},
		Now:     func() time.Time { return *now },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestInvitationsCache(t *testing.T) {
	now := invBase
	store := &fakeStore{list: invitationFixture()}
	s := newInvitations(store, &now)
	ctx := context.Background()
	list := func() int {
		t.Helper()
		page, err := s.List(ctx, "org_1", directory.InvitationQuery{First: 100})
		if err != nil {
			t.Fatal(err)
		}
		return page.TotalCount
	}
	list()
	now = now.Add(9 * time.Second)
	list()
	if store.loads != 1 {
		t.Fatalf("%d loads within the TTL", store.loads)
	}
	now = now.Add(2 * time.Second)
	list()
	if store.loads != 2 {
		t.Fatalf("%d loads after the TTL", store.loads)
	}
	// Bad input is refused before loading.
	if _, err := s.List(ctx, "org_1", directory.InvitationQuery{First: 1000}); directory.ErrorCode(err) != directory.CodeBadUserInput || store.loads != 2 {
		t.Fatalf("%v, %d loads", err, store.loads)
	}
	// An invalidation while a load is in flight: that load's answer is not kept.
	s.Invalidate("org_1")
	store.loading = func() { s.Invalidate("org_1") }
	list()
	store.loading = nil
	list()
	if store.loads != 4 {
		t.Fatalf("%d loads, want the in-flight one discarded", store.loads)
	}
	// Our own writes drop the list: the next read shows them.
	before := list()
	if _, err := s.Invite(ctx, "org_1", "u_admin", directory.InviteRequest{Invitations: []directory.NewInvitation{{EmailAddress: "x@example.com", Role: "org:member"}}}); err != nil {
		t.Fatal(err)
	}
	if after := list(); after != before+1 {
		t.Fatalf("after invite: %d, want %d", after, before+1)
	}
}

func TestInvitationsInviteBatches(t *testing.T) {
	now := invBase
	store := &fakeStore{}
	s := newInvitations(store, &now)
	ctx := context.Background()
	var req directory.InviteRequest
	for i := range 25 {
		req.Invitations = append(req.Invitations, directory.NewInvitation{EmailAddress: fmt.Sprintf("n%02d@example.com", i), Role: "org:member"})
	}
	req.Invitations = append(req.Invitations, directory.NewInvitation{EmailAddress: "member@example.com", Role: "org:member"})

	req.DryRun = true
	res, err := s.Invite(ctx, "org_1", "u_admin", req)
	if err != nil || res.Succeeded != 25 || res.Unchanged != 1 || len(store.bulkCalls) != 0 {
		t.Fatalf("dry run: %+v %v, %d calls", res, err, len(store.bulkCalls))
	}
	req.DryRun = false
	res, err = s.Invite(ctx, "org_1", "u_admin", req)
	if err != nil || res.Succeeded != 25 || res.Unchanged != 1 || res.Requested != 26 {
		t.Fatalf("%+v %v", res, err)
	}
	sizes := []int{}
	for _, b := range store.bulkCalls {
		sizes = append(sizes, len(b))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{5, 10, 10}) || len(store.singles) != 0 {
		t.Fatalf("batches %v, singles %v", sizes, store.singles)
	}
	for _, it := range res.Items[:25] {
		if it.InvitationID == "" {
			t.Fatalf("%+v", it)
		}
	}

	// A batch refused as a whole is retried one by one.
	store.refuse = func([]string) error {
		return &directory.WriteError{Code: "duplicate_record", Status: 400}
	}
	res, err = s.Invite(ctx, "org_1", "u_admin", directory.InviteRequest{Invitations: []directory.NewInvitation{
		{EmailAddress: "ok@example.com", Role: "org:member"},
		{EmailAddress: "dup@example.com", Role: "org:member"},
		{EmailAddress: "blocked@example.com", Role: "org:member"},
	}})
	if err != nil || !slices.Equal(store.singles, []string{"ok@example.com", "dup@example.com", "blocked@example.com"}) {
		t.Fatalf("%v, singles %v", err, store.singles)
	}
	var got []string
	for _, it := range res.Items {
		got = append(got, string(it.Status)+" "+it.Code)
	}
	if !slices.Equal(got, []string{"SUCCEEDED ", "UNCHANGED ALREADY_INVITED", "FAILED form_identifier_blocked"}) {
		t.Fatalf("%v", got)
	}
	// An upstream failure of a batch is not retried one by one: each item fails with it.
	store.refuse = func([]string) error { return &directory.WriteError{Code: "upstream_unavailable", Status: 503} }
	store.singles = nil
	res, _ = s.Invite(ctx, "org_1", "u_admin", directory.InviteRequest{Invitations: []directory.NewInvitation{{EmailAddress: "z@example.com", Role: "org:member"}}})
	if res.Failed != 1 || res.Items[0].Code != "upstream_unavailable" || len(store.singles) != 0 {
		t.Fatalf("%+v, singles %v", res, store.singles)
	}
}

func TestInvitationsRevoke(t *testing.T) {
	now := invBase
	store := &fakeStore{list: invitationFixture()}
	s := newInvitations(store, &now)
	ctx := context.Background()
	for i, want := range []directory.ItemStatus{directory.ItemSucceeded, directory.ItemUnchanged} {
		res, err := s.Revoke(ctx, "org_1", "u_admin", []string{"inv_00", "inv_zz"}, false)
		if err != nil || res.Items[0].Status != want || res.Items[1].Code != "resource_not_found" {
			t.Fatalf("#%d: %+v %v", i, res, err)
		}
	}
	// Writes run concurrently: their order is not the list's.
	revokes := slices.Sorted(slices.Values(store.revokes))
	if !slices.Equal(revokes, []string{"inv_00", "inv_zz", "inv_zz"}) {
		t.Fatalf("revokes %v", store.revokes)
	}
	if _, err := s.Revoke(ctx, "org_1", "u_admin", make([]string, directory.MaxBulkTargets+1), false); directory.ErrorCode(err) != directory.CodeTooManyTargets {
		t.Fatalf("%v", err)
	}
}
