package clerksource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/directory"
)

// Emulator route templates, as counted by clerkemu.Emulator.Requests.
const (
	routeMemberships = "GET /v1/organizations/{id}/memberships"
	routeUsers       = "GET /v1/users"
	routeUsersCount  = "GET /v1/users/count"
	routeUser        = "GET /v1/users/{id}"
)

// newEmulated starts the Clerk emulator over data (nil: the default
// dataset) and returns it with a Repository pointed at it. Waits are
// recorded, not slept, unless cfg says otherwise through the returned recorder.
func newEmulated(tb testing.TB, data *clerkemu.Dataset, cfg Config) (*clerkemu.Emulator, *Repository, *sleepRecorder) {
	tb.Helper()
	emu, err := clerkemu.New(clerkemu.Options{Data: data})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(emu.Handler())
	tb.Cleanup(srv.Close)
	cfg.APIURL = srv.URL + "/v1"
	cfg.SecretKey = emu.SecretKey()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	repo, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	rec := &sleepRecorder{}
	repo.transport.Sleep = rec.sleep
	return emu, repo, rec
}

func TestMembersAcmeAgainstEmulator(t *testing.T) {
	emu, repo, _ := newEmulated(t, nil, Config{})
	data := emu.Data()
	emu.ResetCounters()

	snap, err := repo.Members(context.Background(), clerkemu.OrgAcme)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}

	// Exactly what paging needs: ceil(1200/500) = 3 pages of each list.
	want := map[string]int64{routeMemberships: 3, routeUsers: 3}
	if got := emu.Requests(); !equalRequests(got, want) {
		t.Errorf("requests = %v, want %v (and no %s)", got, want, routeUsersCount)
	}

	if snap.OrgID() != clerkemu.OrgAcme || snap.Len() != clerkemu.AcmeMembers {
		t.Fatalf("snapshot of %s has %d members, want %d", snap.OrgID(), snap.Len(), clerkemu.AcmeMembers)
	}
	var primaryNotFirst, noNames, neverSignedIn, withMetadata int
	for _, dm := range data.Memberships {
		if dm.OrganizationID != clerkemu.OrgAcme {
			continue
		}
		u := data.User(dm.UserID)
		m := snap.Member(dm.UserID)
		if m == nil {
			t.Errorf("member %s missing", dm.UserID)
			continue
		}
		checkMember(t, m, u, dm)
		if len(u.EmailAddresses) > 1 && u.EmailAddresses[0].ID != u.PrimaryEmailAddressID {
			primaryNotFirst++
		}
		if u.FirstName == nil && u.LastName == nil {
			noNames++
		}
		if u.LastSignInAt == nil {
			neverSignedIn++
		}
		if len(u.PublicMetadata) > 0 && len(dm.PublicMetadata) > 0 {
			withMetadata++
		}
	}
	// The dataset must exercise each trap for this test to mean anything.
	for name, n := range map[string]int{"primary email not first": primaryNotFirst, "no names": noNames,
		"never signed in": neverSignedIn, "metadata": withMetadata} {
		if n == 0 {
			t.Errorf("no member with %s in the dataset", name)
		}
	}

	secrets := privateKeys(data, clerkemu.OrgAcme)
	for _, m := range snap.Members() {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("member %s carries private or unsafe metadata %s: %s", m.UserID, s, b)
			}
		}
	}
}

// checkMember compares a loaded member with the emulator's user and membership.
func checkMember(t *testing.T, m *directory.Member, u *clerkemu.User, dm clerkemu.Membership) {
	t.Helper()
	if got, want := deref(m.Email), u.PrimaryEmail(); got != want {
		t.Errorf("%s email = %q, want primary %q", u.ID, got, want)
	}
	if deref(m.FirstName) != deref(u.FirstName) || (m.FirstName == nil) != (u.FirstName == nil) ||
		deref(m.LastName) != deref(u.LastName) || (m.LastName == nil) != (u.LastName == nil) ||
		deref(m.Username) != deref(u.Username) || (m.Username == nil) != (u.Username == nil) {
		t.Errorf("%s names = %v %v %v, want %v %v %v", u.ID, m.FirstName, m.LastName, m.Username, u.FirstName, u.LastName, u.Username)
	}
	if deref(m.ImageURL) != u.ImageURL {
		t.Errorf("%s image = %v, want %q", u.ID, m.ImageURL, u.ImageURL)
	}
	if !sameMillis(m.LastSignInAt, u.LastSignInAt) || !sameMillis(m.LastActiveAt, u.LastActiveAt) {
		t.Errorf("%s last sign-in/active = %v/%v, want %v/%v", u.ID, m.LastSignInAt, m.LastActiveAt, u.LastSignInAt, u.LastActiveAt)
	}
	if !m.CreatedAt.Equal(time.UnixMilli(u.CreatedAt)) || m.CreatedAt.Location() != time.UTC {
		t.Errorf("%s created = %v, want %d ms UTC", u.ID, m.CreatedAt, u.CreatedAt)
	}
	if !m.JoinedAt.Equal(time.UnixMilli(dm.CreatedAt)) || m.JoinedAt.Location() != time.UTC {
		t.Errorf("%s joined = %v, want %d ms UTC", u.ID, m.JoinedAt, dm.CreatedAt)
	}
	if m.Banned != u.Banned || m.Role != dm.Role || m.RoleName == "" || (dm.RoleName != "" && m.RoleName != dm.RoleName) {
		t.Errorf("%s banned/role/role name = %v/%q/%q, want %v/%q/%q", u.ID, m.Banned, m.Role, m.RoleName, u.Banned, dm.Role, dm.RoleName)
	}
	if !jsonEqual(t, m.PublicMetadata, u.PublicMetadata) || !jsonEqual(t, m.MembershipMetadata, dm.PublicMetadata) {
		t.Errorf("%s metadata = %s / %s, want %v / %v", u.ID, m.PublicMetadata, m.MembershipMetadata, u.PublicMetadata, dm.PublicMetadata)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func sameMillis(got *time.Time, want *int64) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return got.Equal(time.UnixMilli(*want)) && got.Location() == time.UTC
}

// jsonEqual reports whether raw holds the same JSON object as want (nil: {}).
func jsonEqual(t *testing.T, raw json.RawMessage, want map[string]any) bool {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil || got == nil {
		t.Errorf("metadata %s is not a JSON object", raw)
		return false
	}
	if want == nil {
		want = map[string]any{}
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return bytes.Equal(a, b)
}

// privateKeys returns, as quoted JSON strings, every key of the private and
// unsafe metadata of orgID's users and memberships.
func privateKeys(d *clerkemu.Dataset, orgID string) []string {
	set := map[string]bool{}
	add := func(md map[string]any) {
		for k := range md {
			set[fmt.Sprintf("%q", k)] = true
		}
	}
	for _, m := range d.Memberships {
		if m.OrganizationID == orgID {
			add(m.PrivateMetadata)
			u := d.User(m.UserID)
			add(u.PrivateMetadata)
			add(u.UnsafeMetadata)
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return out
}

// equalRequests compares emulator request counts, ignoring zero entries.
func equalRequests(got, want map[string]int64) bool {
	for k, v := range got {
		if v != want[k] {
			return false
		}
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestMembersSmallOrganizations(t *testing.T) {
	emu, repo, _ := newEmulated(t, nil, Config{})
	tests := []struct {
		org  string
		want int
	}{
		{clerkemu.OrgSolo, 1},
		{clerkemu.OrgSmall, clerkemu.SmallMembers},
		{clerkemu.OrgMid, clerkemu.MidMembers},
		{"org_unknown", 0},
	}
	for _, tc := range tests {
		emu.ResetCounters()
		snap, err := repo.Members(context.Background(), tc.org)
		if tc.org == "org_unknown" {
			// Clerk answers 404 for an unknown organization: an upstream failure.
			if directory.ErrorCode(err) != directory.CodeUpstreamUnavailable {
				t.Errorf("%s: err = %v, want UPSTREAM_UNAVAILABLE", tc.org, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.org, err)
		}
		if snap.Len() != tc.want {
			t.Errorf("%s: %d members, want %d", tc.org, snap.Len(), tc.want)
		}
		if want := (map[string]int64{routeMemberships: 1, routeUsers: 1}); !equalRequests(emu.Requests(), want) {
			t.Errorf("%s: requests = %v, want %v", tc.org, emu.Requests(), want)
		}
	}
}

func TestMembersFetchesUserHiddenFromListByID(t *testing.T) {
	emu, repo, _ := newEmulated(t, nil, Config{})
	hidden := emu.Data().MemberIDs(clerkemu.OrgAcme, clerkemu.RoleMember)[7]
	emu.HideFromUserList(hidden)
	emu.ResetCounters()

	snap, err := repo.Members(context.Background(), clerkemu.OrgAcme)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if snap.Len() != clerkemu.AcmeMembers || snap.Member(hidden) == nil || snap.Member(hidden).Email == nil {
		t.Errorf("%d members, hidden user %s loaded: %v; want all %d", snap.Len(), hidden, snap.Member(hidden), clerkemu.AcmeMembers)
	}
	want := map[string]int64{routeMemberships: 3, routeUsers: 3, routeUser: 1}
	if got := emu.Requests(); !equalRequests(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
}

func TestMembersRetriesTransientFaults(t *testing.T) {
	emu, repo, rec := newEmulated(t, nil, Config{})
	emu.SetFaults(
		clerkemu.Fault{Endpoint: routeUsers, Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second, Count: 2},
		clerkemu.Fault{Endpoint: routeMemberships, Status: http.StatusServiceUnavailable, Count: 2},
	)
	emu.ResetCounters()

	snap, err := repo.Members(context.Background(), clerkemu.OrgAcme)
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if snap.Len() != clerkemu.AcmeMembers {
		t.Errorf("%d members, want %d", snap.Len(), clerkemu.AcmeMembers)
	}
	want := map[string]int64{routeMemberships: 3 + 2, routeUsers: 3 + 2}
	if got := emu.Requests(); !equalRequests(got, want) {
		t.Errorf("requests = %v, want %v (each fault answered once, then retried)", got, want)
	}
	var retryAfters int
	for _, w := range rec.recorded() {
		if w == 2*time.Second {
			retryAfters++
		}
	}
	if len(rec.recorded()) != 4 || retryAfters < 2 {
		t.Errorf("waits = %v, want 4 with the two 429s waiting their Retry-After of 2s", rec.recorded())
	}
}

func TestMembersPersistentOutage(t *testing.T) {
	// Attempts are counted where they leave for Clerk: a cancelled request
	// of an earlier load can still reach the emulator, and be counted
	// there, after the load has returned.
	var attempts atomic.Int64
	cfg := Config{MaxAttempts: 2, BreakerFailures: 2, BreakerCooldown: time.Hour,
		WrapAttempt: func(base http.RoundTripper) http.RoundTripper {
			return &roundTripFunc{func(r *http.Request) (*http.Response, error) {
				attempts.Add(1)
				return base.RoundTrip(r)
			}}
		}}
	emu, repo, _ := newEmulated(t, nil, cfg)
	emu.SetFaults(clerkemu.Fault{Status: http.StatusServiceUnavailable})

	for i := range 2 {
		_, err := repo.Members(context.Background(), clerkemu.OrgAcme)
		if directory.ErrorCode(err) != directory.CodeUpstreamUnavailable || directory.ErrorMessage(err) != upstreamMessage {
			t.Fatalf("load %d: err = %v, want UPSTREAM_UNAVAILABLE %q", i+1, err, upstreamMessage)
		}
	}
	// Each load ends in at least one failed call (the first failure cancels
	// the load's other calls, which then count neither way), so two loads
	// opened the breaker: the next load fails fast without calling Clerk.
	emu.ClearFaults()
	attempts.Store(0)
	_, err := repo.Members(context.Background(), clerkemu.OrgAcme)
	if directory.ErrorCode(err) != directory.CodeUpstreamUnavailable || !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("err = %v, want UPSTREAM_UNAVAILABLE from the open breaker", err)
	}
	if n := attempts.Load(); n != 0 {
		t.Errorf("the open breaker let %d requests through", n)
	}
}

func TestMembersReloadSeesChanges(t *testing.T) {
	emu, repo, _ := newEmulated(t, nil, Config{})
	removed := emu.Data().MemberIDs(clerkemu.OrgSmall, clerkemu.RoleMember)[0]
	if err := emu.RemoveMember(clerkemu.OrgSmall, removed); err != nil {
		t.Fatal(err)
	}
	if err := emu.SetUserPublicMetadata(clerkemu.UserSmallAdmin, map[string]any{"tier": "gold"}); err != nil {
		t.Fatal(err)
	}
	snap, err := repo.Members(context.Background(), clerkemu.OrgSmall)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Len() != clerkemu.SmallMembers-1 || snap.Member(removed) != nil {
		t.Errorf("%d members, removed %s present: %v", snap.Len(), removed, snap.Member(removed) != nil)
	}
	if m := snap.Member(clerkemu.UserSmallAdmin); m == nil || string(m.PublicMetadata) != `{"tier":"gold"}` {
		t.Errorf("admin metadata = %v, want {\"tier\":\"gold\"}", m)
	}
}

// BenchmarkMembersColdLoad loads a 5,000-member organization from the
// emulator, as a cold cache would (the repository forgets the
// organization's size before each load, so every load takes two waves):
// with 100ms of latency on every request (the target case, at the default
// Concurrency of 20 and at 8), and with none (the CPU cost of paging,
// decoding and joining, emulator included). The refresh case reloads it
// knowing its size, as a cache refresh does: one wave. The rate limit is
// lifted: at the default budget (900 per 10 s) back-to-back loads of 20
// requests each would soon be paced by it, and this measures one load.
func BenchmarkMembersColdLoad(b *testing.B) {
	const n = 5000
	data := syntheticOrg("org_big", n)
	cases := []struct {
		name        string
		latency     time.Duration
		concurrency int
		refresh     bool
	}{
		{"latency=100ms/concurrency=8", 100 * time.Millisecond, 8, false},
		{"latency=100ms/concurrency=default", 100 * time.Millisecond, 0, false},
		{"latency=0", 0, 0, false},
		{"refresh/latency=100ms", 100 * time.Millisecond, 0, true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			emu, repo, _ := newEmulated(b, data, Config{Concurrency: bc.concurrency, RateLimit: 1_000_000})
			repo.transport.Sleep = nil
			if bc.refresh {
				if _, err := repo.Members(context.Background(), "org_big"); err != nil {
					b.Fatal(err)
				}
			}
			if bc.latency > 0 {
				emu.SetFaults(clerkemu.Fault{Latency: bc.latency})
			}
			emu.ResetCounters()
			b.ReportAllocs()
			for b.Loop() {
				if !bc.refresh {
					repo.totals.forget("org_big")
				}
				snap, err := repo.Members(context.Background(), "org_big")
				if err != nil {
					b.Fatal(err)
				}
				if snap.Len() != n {
					b.Fatalf("%d members, want %d", snap.Len(), n)
				}
			}
			b.ReportMetric(float64(emu.TotalRequests())/float64(b.N), "requests/op")
		})
	}
}

// syntheticOrg returns a dataset of one organization with n members.
func syntheticOrg(orgID string, n int) *clerkemu.Dataset {
	const base = int64(1700000000000)
	d := &clerkemu.Dataset{Organizations: []clerkemu.Organization{{ID: orgID, Name: "Big", Slug: "big", CreatedAt: base}}}
	for i := range n {
		id := fmt.Sprintf("user_%05d", i)
		first := fmt.Sprintf("First%d", i)
		signIn := base + int64(i)*1000
		d.Users = append(d.Users, clerkemu.User{
			ID: id, FirstName: &first, ImageURL: "https://img.example.com/" + id,
			EmailAddresses:        []clerkemu.EmailAddress{{ID: "idn_" + id, EmailAddress: id + "@example.com", Verified: true}},
			PrimaryEmailAddressID: "idn_" + id,
			PublicMetadata:        map[string]any{"department": "eng", "n": i},
			PrivateMetadata:       map[string]any{"salary": 1},
			LastSignInAt:          &signIn,
			CreatedAt:             base + int64(i), UpdatedAt: base + int64(i),
		})
		d.Memberships = append(d.Memberships, clerkemu.Membership{
			ID: "orgmem_" + id, OrganizationID: orgID, UserID: id, Role: clerkemu.RoleMember,
			PublicMetadata: map[string]any{"team": "core"},
			CreatedAt:      base + int64(i), UpdatedAt: base + int64(i),
		})
	}
	return d
}

func TestProfileIsTheMembersProfile(t *testing.T) {
	emu, repo, _ := newEmulated(t, nil, Config{})
	snap, err := repo.Members(context.Background(), clerkemu.OrgAcme)
	if err != nil {
		t.Fatal(err)
	}
	emu.ResetCounters()
	for _, m := range snap.Members()[:20] {
		p, err := repo.Profile(context.Background(), m.UserID)
		if err != nil {
			t.Fatal(err)
		}
		// The profile with the membership put back is the member, field for field.
		ch := directory.Change{Member: m}.WithProfile(p)
		got := directory.NewSnapshot("x", []directory.Member{ch.Member}, time.Time{}).Version()
		if want := directory.NewSnapshot("x", []directory.Member{m}, time.Time{}).Version(); got != want {
			t.Fatalf("%s: the profile differs from the member's: %+v", m.UserID, p)
		}
	}
	if got := emu.Requests()["GET /v1/users/{id}"]; got != 20 {
		t.Fatalf("requests %v", emu.Requests())
	}
	if _, err := repo.Profile(context.Background(), "user_missing"); directory.ErrorCode(err) != directory.CodeUpstreamUnavailable {
		t.Fatalf("missing user: %v", err)
	}
}

// TestWriteThatTheRateLimitCannotAdmitInTimeIsADeadline: a write the local
// limiter could only admit after the call's deadline fails as the deadline,
// so a bulk call reports it SKIPPED, not FAILED.
func TestWriteThatTheRateLimitCannotAdmitInTimeIsADeadline(t *testing.T) {
	_, repo, _ := newEmulated(t, nil, Config{RateLimit: 1})
	if _, err := repo.SetRole(context.Background(), clerkemu.OrgAcme, clerkemu.UserAcmeMember, clerkemu.RoleBilling); err != nil {
		t.Fatal(err) // the bucket's one request
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := repo.SetRole(ctx, clerkemu.OrgAcme, clerkemu.UserAcmeMember, clerkemu.RoleViewer)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

// TestRefreshReusesConnections: refreshes of a loaded organization send
// their concurrent requests over connections already open, instead of
// opening new ones (a TLS handshake each against the real Clerk): after
// the first refresh, whose one wave is wider than the load's, none opens a
// connection.
func TestRefreshReusesConnections(t *testing.T) {
	emu, err := clerkemu.New(clerkemu.Options{Data: syntheticOrg("org_big", 1200)})
	if err != nil {
		t.Fatal(err)
	}
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(emu.Handler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	// With latency, each wave's requests are all in flight at once.
	emu.SetFaults(clerkemu.Fault{Latency: 200 * time.Millisecond})
	repo, err := New(Config{APIURL: srv.URL + "/v1", SecretKey: emu.SecretKey(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the load, then the first refresh
		if _, err := repo.Members(context.Background(), "org_big"); err != nil {
			t.Fatal(err)
		}
	}
	before := opened.Load()
	for range 3 {
		emu.ResetCounters()
		if _, err := repo.Members(context.Background(), "org_big"); err != nil {
			t.Fatal(err)
		}
		if n := emu.TotalRequests(); n != 6 {
			t.Fatalf("a refresh sent %d requests, want 6 in one wave", n)
		}
	}
	if n := opened.Load() - before; n != 0 {
		t.Errorf("three refreshes opened %d new connections; %d were open to reuse", n, before)
	}
}
