package clerksource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// fakeClerk is a hand-made Backend API for the edge cases the emulator's
// data cannot reach: lists that drift apart, users deleted under their
// membership, null metadata. It pages like Clerk (limit/offset).
type fakeClerk struct {
	memberships []any // membership objects, as JSON values
	listed      []any // users GET /users returns
	byID        map[string]any
	status      int // non-zero: every request fails with it

	delay time.Duration // added to every answer

	mu       sync.Mutex
	inFlight int
	peak     int // most requests in flight at once
	hits     map[string]int
	queries  []string // "route limit order_by" of every list request
}

func (f *fakeClerk) handler() http.Handler {
	mux := http.NewServeMux()
	count := func(route string, w http.ResponseWriter, r *http.Request) bool {
		f.mu.Lock()
		f.hits[route]++
		if q := r.URL.Query(); route != "user" {
			f.queries = append(f.queries, route+" "+q.Get("limit")+" "+q.Get("order_by")+" "+q.Get("organization_id"))
		}
		f.mu.Unlock()
		if f.status != 0 {
			w.Header().Set("Clerk-Trace-Id", "trace-secret-123")
			w.WriteHeader(f.status)
			_, _ = w.Write([]byte(`{"errors":[{"code":"authentication_invalid","message":"bad key","long_message":"internal detail"}],"clerk_trace_id":"trace-secret-123"}`))
			return false
		}
		return true
	}
	mux.HandleFunc("GET /v1/organizations/{id}/memberships", func(w http.ResponseWriter, r *http.Request) {
		if count("memberships", w, r) {
			writeJSON(w, map[string]any{"data": window(f.memberships, r), "total_count": len(f.memberships)})
		}
	})
	mux.HandleFunc("GET /v1/users", func(w http.ResponseWriter, r *http.Request) {
		if count("users", w, r) {
			writeJSON(w, window(f.listed, r))
		}
	})
	mux.HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !count("user", w, r) {
			return
		}
		u, ok := f.byID[r.PathValue("id")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"resource_not_found","message":"not found"}],"clerk_trace_id":"t404"}`))
			return
		}
		writeJSON(w, u)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.inFlight++
		f.peak = max(f.peak, f.inFlight)
		f.mu.Unlock()
		time.Sleep(f.delay)
		mux.ServeHTTP(w, r)
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	})
}

func window(all []any, r *http.Request) []any {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	if offset > len(all) {
		offset = len(all)
	}
	return all[offset:min(offset+limit, len(all))]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fakeUser(id string, publicMetadata any) map[string]any {
	return map[string]any{
		"object": "user", "id": id, "first_name": "F" + id, "last_name": nil, "username": "",
		"primary_email_address_id": "idn_2_" + id,
		"email_addresses": []any{
			map[string]any{"id": "idn_1_" + id, "email_address": "old-" + id + "@example.com"},
			map[string]any{"id": "idn_2_" + id, "email_address": id + "@example.com"},
		},
		"public_metadata": publicMetadata, "private_metadata": map[string]any{"salary": 123456},
		"unsafe_metadata": map[string]any{"note": "unsafe-note"},
		"last_sign_in_at": nil, "last_active_at": 1700000000123, "created_at": 1600000000000, "banned": true,
	}
}

func fakeMembership(userID string, publicMetadata any) map[string]any {
	return map[string]any{
		"object": "organization_membership", "id": "orgmem_" + userID, "role": "org:member", "role_name": "Member",
		"public_metadata": publicMetadata, "private_metadata": map[string]any{"cost_center": "cc-private"},
		"created_at": 1650000000456, "updated_at": 1650000000456,
		"public_user_data": map[string]any{"user_id": userID, "identifier": userID + "@example.com"},
	}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFakeRepo(t *testing.T, f *fakeClerk, cfg Config) (*Repository, *logBuffer) {
	t.Helper()
	f.hits = map[string]int{}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	logs := &logBuffer{}
	cfg.APIURL = srv.URL + "/v1"
	cfg.SecretKey = "sk_test_fake"
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, logs
}

func TestMembersJoinEdgeCases(t *testing.T) {
	f := &fakeClerk{byID: map[string]any{}}
	for i := range 5 {
		id := "user_" + strconv.Itoa(i)
		f.memberships = append(f.memberships, fakeMembership(id, map[string]any{"seat": i}))
		f.listed = append(f.listed, fakeUser(id, map[string]any{"n": i}))
	}
	// Users the list holds beyond the memberships (the lists drifted): the
	// last planned users page is full, so paging goes on; they are dropped.
	for i := range 4 {
		f.listed = append(f.listed, fakeUser("user_extra"+strconv.Itoa(i), nil))
	}
	// A member missing from the users list, fetched by id, with null metadata.
	f.memberships = append(f.memberships, fakeMembership("user_late", nil))
	f.byID["user_late"] = fakeUser("user_late", nil)
	// A member whose user is gone: dropped with a warning.
	f.memberships = append(f.memberships, fakeMembership("user_gone", map[string]any{}))

	repo, logs := newFakeRepo(t, f, Config{PageSize: 3})
	snap, err := repo.Members(context.Background(), "org_1")
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	var ids []string
	for _, m := range snap.Members() {
		ids = append(ids, m.UserID)
	}
	if got, want := strings.Join(ids, ","), "user_0,user_1,user_2,user_3,user_4,user_late"; got != want {
		t.Errorf("members = %s, want %s", got, want)
	}
	// 7 memberships at 3 a page: 3 pages. Users: 3 planned pages, the third
	// full (9 listed), so a 4th, short one.
	f.mu.Lock()
	hits := map[string]int{"memberships": f.hits["memberships"], "users": f.hits["users"], "user": f.hits["user"]}
	f.mu.Unlock()
	if want := map[string]int{"memberships": 3, "users": 4, "user": 2}; !equalCounts(hits, want) {
		t.Errorf("requests = %v, want %v", hits, want)
	}
	if !strings.Contains(logs.String(), "user_gone") {
		t.Errorf("no warning names the dropped member user_gone; logs:\n%s", logs)
	}

	m := snap.Member("user_1")
	if m.Email == nil || *m.Email != "user_1@example.com" {
		t.Errorf("email = %v, want the primary (second) address", m.Email)
	}
	if m.FirstName == nil || *m.FirstName != "Fuser_1" || m.LastName != nil || m.Username != nil {
		t.Errorf("names = %v %v %v, want Fuser_1, nil, nil (empty username is absent)", m.FirstName, m.LastName, m.Username)
	}
	if m.LastSignInAt != nil {
		t.Errorf("LastSignInAt = %v, want nil", m.LastSignInAt)
	}
	if want := time.UnixMilli(1700000000123).UTC(); m.LastActiveAt == nil || !m.LastActiveAt.Equal(want) || m.LastActiveAt.Location() != time.UTC {
		t.Errorf("LastActiveAt = %v, want %v UTC", m.LastActiveAt, want)
	}
	if !m.Banned || m.Role != "org:member" || m.RoleName != "Member" || !m.JoinedAt.Equal(time.UnixMilli(1650000000456)) {
		t.Errorf("member = %+v: banned, role, joined at wrong", m)
	}
	if string(m.PublicMetadata) != `{"n":1}` || string(m.MembershipMetadata) != `{"seat":1}` {
		t.Errorf("metadata = %s / %s", m.PublicMetadata, m.MembershipMetadata)
	}
	late := snap.Member("user_late")
	if string(late.PublicMetadata) != `{}` || string(late.MembershipMetadata) != `{}` {
		t.Errorf("null metadata = %s / %s, want {} / {}", late.PublicMetadata, late.MembershipMetadata)
	}
	for _, m := range snap.Members() {
		if leaked := leaks(m, "salary", "123456", "cost_center", "cc-private", "unsafe-note"); leaked != "" {
			t.Errorf("member %s carries private or unsafe metadata %q", m.UserID, leaked)
		}
	}
}

// leaks returns the first needle found anywhere in m's JSON form, or "".
func leaks(m directory.Member, needles ...string) string {
	b, _ := json.Marshal(m)
	for _, n := range needles {
		if bytes.Contains(b, []byte(n)) {
			return n
		}
	}
	return ""
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMembersPagesAtClerksMaximumInStableOrder(t *testing.T) {
	f := &fakeClerk{}
	for i := range 3 {
		id := "user_" + strconv.Itoa(i)
		f.memberships = append(f.memberships, fakeMembership(id, nil))
		f.listed = append(f.listed, fakeUser(id, nil))
	}
	repo, _ := newFakeRepo(t, f, Config{})
	if _, err := repo.Members(context.Background(), "org_1"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	got := strings.Join(f.queries, "|")
	for _, want := range []string{"memberships 500 +created_at ", "users 500 +created_at org_1"} {
		if !strings.Contains(got, want) {
			t.Errorf("list requests %q lack %q", got, want)
		}
	}
	if len(f.queries) != 2 {
		t.Errorf("list requests = %q, want exactly one of each", f.queries)
	}
}

func TestMembersBoundsRequestsInFlight(t *testing.T) {
	f := &fakeClerk{delay: 5 * time.Millisecond, byID: map[string]any{}}
	for i := range 12 {
		id := "user_" + strconv.Itoa(i)
		f.memberships = append(f.memberships, fakeMembership(id, nil))
		if i%3 == 0 {
			f.byID[id] = fakeUser(id, nil) // missing from the list: fetched by id
		} else {
			f.listed = append(f.listed, fakeUser(id, nil))
		}
	}
	repo, _ := newFakeRepo(t, f, Config{PageSize: 1, Concurrency: 3})
	snap, err := repo.Members(context.Background(), "org_1")
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if snap.Len() != 12 || f.peak > 3 || f.peak == 0 {
		t.Errorf("%d members with at most %d requests in flight; want 12 with at most 3", snap.Len(), f.peak)
	}
}

func TestMembersClerkErrorIsUpstreamUnavailable(t *testing.T) {
	f := &fakeClerk{status: http.StatusUnauthorized}
	repo, logs := newFakeRepo(t, f, Config{})
	_, err := repo.Members(context.Background(), "org_1")
	if code := directory.ErrorCode(err); code != directory.CodeUpstreamUnavailable {
		t.Fatalf("code = %q (err %v), want UPSTREAM_UNAVAILABLE", code, err)
	}
	if msg := directory.ErrorMessage(err); msg != "the identity provider is unavailable" {
		t.Errorf("client message = %q", msg)
	}
	// The detail travels in the error for the one layer that logs it (the
	// cache); the repository itself does not log the failure.
	for _, want := range []string{"trace-secret-123", "status=401", "authentication_invalid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(logs.String(), "trace-secret-123") {
		t.Errorf("the repository logged the failure itself:\n%s", logs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The first failure cancels the load, so the users list may not have been asked.
	if f.hits["memberships"] > 1 || f.hits["users"] > 1 || f.hits["memberships"]+f.hits["users"] == 0 {
		t.Errorf("requests = %v, want at most one of each list (401 is not retried)", f.hits)
	}
}

func TestMembersContextErrorPassesThrough(t *testing.T) {
	f := &fakeClerk{}
	repo, _ := newFakeRepo(t, f, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := repo.Members(ctx, "org_1"); !errors.Is(err, context.Canceled) || directory.ErrorCode(err) != directory.CodeInternal {
		t.Errorf("err = %v, want context.Canceled itself", err)
	}
}

func TestMembersRejectsOrgIDThatIsNotAPathSegment(t *testing.T) {
	f := &fakeClerk{}
	repo, _ := newFakeRepo(t, f, Config{})
	for _, id := range []string{"", "org_1/../users", "org 1", "org?x=1"} {
		if _, err := repo.Members(context.Background(), id); directory.ErrorCode(err) != directory.CodeInternal {
			t.Errorf("Members(%q) err = %v, want INTERNAL_SERVER_ERROR", id, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.hits) != 0 {
		t.Errorf("requests = %v, want none", f.hits)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []Config{
		{APIURL: "", SecretKey: "sk"},
		{APIURL: "api.clerk.com/v1", SecretKey: "sk"},
		{APIURL: "ftp://api.clerk.com/v1", SecretKey: "sk"},
		{APIURL: "https://api.clerk.com/v1", SecretKey: ""},
	}
	for _, cfg := range tests {
		if r, err := New(cfg); err == nil || r != nil {
			t.Errorf("New(%+v) = %v, %v; want an error", cfg, r, err)
		}
	}
}
