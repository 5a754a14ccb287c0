package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/webhook"
)

// newWebhookSecret returns a fresh whsec_ secret and its key.
func newWebhookSecret(t testing.TB) (string, []byte) {
	t.Helper()
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key
}

// delivery is one webhook request as Svix would send it.
type delivery struct {
	id   string
	at   time.Time
	body []byte
	sig  string // "" signs with key
}

var deliveries atomic.Int64

func (s *stack) deliver(t testing.TB, key []byte, d delivery, mutate func(h http.Header)) (int, string) {
	t.Helper()
	if d.id == "" {
		d.id = fmt.Sprintf("msg_test_%d", deliveries.Add(1))
	}
	if d.at.IsZero() {
		d.at = time.Now()
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+WebhookPath, bytes.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("svix-id", d.id)
	req.Header.Set("svix-timestamp", fmt.Sprint(d.at.Unix()))
	sig := d.sig
	if sig == "" {
		sig = webhook.Sign(key, d.id, d.at, d.body)
	}
	req.Header.Set("svix-signature", sig)
	if mutate != nil {
		mutate(req.Header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// membershipEvent is a Clerk organizationMembership event for userID in orgID.
func membershipEvent(typ, orgID, userID, role string, updatedAt int64) []byte {
	b, _ := json.Marshal(map[string]any{
		"object": "event", "type": typ, "timestamp": updatedAt, "instance_id": "ins_test",
		"data": map[string]any{
			"object": "organization_membership", "id": "orgmem_" + userID, "role": role, "role_name": role,
			"permissions": []string{}, "public_metadata": map[string]any{}, "private_metadata": map[string]any{},
			"organization":     map[string]any{"object": "organization", "id": orgID, "name": "x", "slug": "x", "created_at": 1, "updated_at": 1},
			"public_user_data": map[string]any{"user_id": userID, "identifier": userID + "@example.com", "has_image": false},
			"created_at":       1700000000000, "updated_at": updatedAt,
		},
	})
	return b
}

const roleQuery = `query($id: ID!) { orgUser(id: $id) { role } }`

func (s *stack) role(t testing.TB, userID string) string {
	t.Helper()
	resp, raw := s.graphql(t, s.tokens.Admin, roleQuery, map[string]any{"id": userID})
	var out struct{ OrgUser *struct{ Role string } }
	if err := json.Unmarshal(resp.Data, &out); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("%s", raw)
	}
	if out.OrgUser == nil {
		return ""
	}
	return out.OrgUser.Role
}

func TestWebhookRefusalsChangeNothing(t *testing.T) {
	secret, key := newWebhookSecret(t)
	s := newStack(t, Extras{}, "CLERK_WEBHOOK_SIGNING_SECRET", secret)
	if got := s.role(t, clerkemu.UserAcmeMember); got != "org:member" {
		t.Fatalf("role %q", got)
	}
	s.emu.ResetCounters()
	_, otherKey := newWebhookSecret(t)
	good := membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:admin", time.Now().UnixMilli())
	cases := []struct {
		name   string
		d      delivery
		key    []byte
		mutate func(http.Header)
		says   string
	}{
		{"wrong secret", delivery{body: good}, otherKey, nil, "no valid signature"},
		{"bad signature", delivery{body: good, sig: "v1,AAAA"}, key, nil, "no valid signature"},
		{"tampered body", delivery{body: good}, key, func(h http.Header) {
			h.Set("svix-signature", webhook.Sign(key, h.Get("svix-id"), time.Now(), []byte("{}")))
		}, "no valid signature"},
		{"stale timestamp", delivery{body: good, at: time.Now().Add(-6 * time.Minute)}, key, nil, "timestamp too old"},
		{"future timestamp", delivery{body: good, at: time.Now().Add(6 * time.Minute)}, key, nil, "timestamp too new"},
		{"no svix-id", delivery{body: good}, key, func(h http.Header) { h.Del("svix-id") }, "missing svix-id header"},
		{"no svix-timestamp", delivery{body: good}, key, func(h http.Header) { h.Del("svix-timestamp") }, "missing svix-timestamp header"},
		{"no svix-signature", delivery{body: good}, key, func(h http.Header) { h.Del("svix-signature") }, "missing svix-signature header"},
		{"body too large", delivery{body: append(good[:len(good)-1], []byte(`,"pad":"`+strings.Repeat("x", webhook.MaxBodyBytes)+`"}`)...)}, key, nil, "body too large"},
		{"malformed JSON", delivery{body: []byte(`{"type":"organizationMembership.updated","data":`)}, key, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := s.deliver(t, tc.key, tc.d, tc.mutate)
			if status != 400 || !strings.Contains(body, `"code":"BAD_REQUEST"`) || !strings.Contains(body, tc.says) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
	if got := s.role(t, clerkemu.UserAcmeMember); got != "org:member" {
		t.Fatalf("a refused delivery changed the role to %q", got)
	}
	if n := s.emu.TotalRequests(); n != 0 {
		t.Fatalf("refused deliveries cost %d Clerk requests: %v", n, s.emu.Requests())
	}
	// The good one, signed with the right secret, applies.
	if status, body := s.deliver(t, key, delivery{body: good}, nil); status != 200 || s.role(t, clerkemu.UserAcmeMember) != "org:admin" {
		t.Fatalf("%d %s", status, body)
	}
}

func TestWebhookOrderingReplaysAndStrangers(t *testing.T) {
	secret, key := newWebhookSecret(t)
	s := newStack(t, Extras{}, "CLERK_WEBHOOK_SIGNING_SECRET", secret)
	s.role(t, clerkemu.UserAcmeMember) // cache org_acme
	s.emu.ResetCounters()
	now := time.Now().UnixMilli()

	// A newer change, then an older one delivered late: the newer stays.
	newer := delivery{body: membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:billing", now)}
	if status, body := s.deliver(t, key, newer, nil); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	older := membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:viewer", now-1000)
	if status, body := s.deliver(t, key, delivery{body: older}, nil); status != 200 || s.role(t, clerkemu.UserAcmeMember) != "org:billing" {
		t.Fatalf("%d %s: role %q", status, body, s.role(t, clerkemu.UserAcmeMember))
	}
	// A replayed delivery (same svix-id) is acknowledged, not applied again:
	// were it applied, this newer body would change the role.
	first := delivery{id: "msg_replayed", body: membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:admin", now+1000)}
	s.deliver(t, key, first, nil)
	replay := first
	replay.body = membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:viewer", now+2000)
	if status, body := s.deliver(t, key, replay, nil); status != 200 || s.role(t, clerkemu.UserAcmeMember) != "org:admin" {
		t.Fatalf("%d %s: a replay was applied", status, body)
	}
	before := s.app.Cache.Stats()
	// An event for an organization nobody asked about costs nothing.
	if status, body := s.deliver(t, key, delivery{body: membershipEvent("organizationMembership.updated", clerkemu.OrgMid, "user_x", "org:admin", now)}, nil); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	// An unknown event type is acknowledged and ignored.
	if status, body := s.deliver(t, key, delivery{body: []byte(`{"object":"event","type":"session.created","data":{"id":"sess_1"}}`)}, nil); status != 200 || !strings.Contains(body, `"ignored":true`) {
		t.Fatalf("%d %s", status, body)
	}
	if after := s.app.Cache.Stats(); after.Patches != before.Patches || after.Entries != before.Entries {
		t.Fatalf("stats %+v then %+v", before, after)
	}
	if n := s.emu.TotalRequests(); n != 0 {
		t.Fatalf("webhooks cost %d Clerk requests: %v", n, s.emu.Requests())
	}
}

// TestWebhookBurstIsCoalesced sends 1,000 membership updates for one
// organization at once, 32 at a time, and counts the snapshot rebuilds.
func TestWebhookBurstIsCoalesced(t *testing.T) {
	secret, key := newWebhookSecret(t)
	s := newStack(t, Extras{}, "CLERK_WEBHOOK_SIGNING_SECRET", secret)
	s.role(t, clerkemu.UserAcmeMember)
	data := s.emu.Data()
	var users []string
	for _, m := range data.Memberships {
		if m.OrganizationID == clerkemu.OrgAcme && m.Role != clerkemu.RoleAdmin && len(users) < 1000 {
			users = append(users, m.UserID)
		}
	}
	s.emu.ResetCounters()
	before := s.app.Cache.Stats()
	now := time.Now().UnixMilli()
	work := make(chan string)
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Go(func() {
			for u := range work {
				if status, body := s.deliver(t, key, delivery{body: membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, u, "org:billing", now)}, nil); status != 200 {
					t.Errorf("%d %s", status, body)
				}
			}
		})
	}
	for _, u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
	resp, raw := s.graphql(t, s.tokens.Admin, `{ orgUsers(filter: {roles: ["org:billing"]}) { totalCount } }`, nil)
	var out struct{ OrgUsers struct{ TotalCount int } }
	_ = json.Unmarshal(resp.Data, &out)
	after := s.app.Cache.Stats()
	patches := after.Patches - before.Patches
	if len(users) != 1000 || out.OrgUsers.TotalCount < 1000 || after.ChangesApplied-before.ChangesApplied != 1000 {
		t.Fatalf("%d users; %s; stats %+v", len(users), raw, after)
	}
	if patches >= 250 {
		t.Fatalf("1,000 events took %d rebuilds", patches)
	}
	t.Logf("1,000 events, %d snapshot rebuilds", patches)
	if n := s.emu.TotalRequests(); n != 0 {
		t.Fatalf("%d Clerk requests", n)
	}
}

// BenchmarkWebhookToQuery measures, on one process over loopback, the time
// from sending a role change as a signed delivery to the first query that
// shows it, on the 1,200-member org_acme: p50 and p99 are reported
// (BENCHMARKS.md; target p99 under 50 ms). The endpoint answers once the
// change is applied, so the query right after it is the first to show it.
func BenchmarkWebhookToQuery(b *testing.B) {
	secret, key := newWebhookSecret(b)
	s := newStack(b, Extras{}, "CLERK_WEBHOOK_SIGNING_SECRET", secret)
	s.role(b, clerkemu.UserAcmeMember)
	roles := []string{"org:billing", "org:member"}
	var took []time.Duration
	stamp := time.Now().UnixMilli()
	for i := 0; b.Loop(); i++ {
		stamp++
		role := roles[i%2]
		t0 := time.Now()
		if status, body := s.deliver(b, key, delivery{body: membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, role, stamp)}, nil); status != 200 {
			b.Fatalf("%d %s", status, body)
		}
		if got := s.role(b, clerkemu.UserAcmeMember); got != role {
			b.Fatalf("role %q after the delivery, want %q", got, role)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// newWebhookStack is newStack with the emulator delivering its writes'
// webhooks, signed, to the server.
func newWebhookStack(t testing.TB) *stack {
	t.Helper()
	secret, _ := newWebhookSecret(t)
	s := newStack(t, Extras{}, "CLERK_WEBHOOK_SIGNING_SECRET", secret)
	if err := s.emu.SetWebhook(s.url+WebhookPath, secret); err != nil {
		t.Fatal(err)
	}
	return s
}

// member returns userID's member as orgUser answers it, or nil.
func (s *stack) member(t testing.TB, userID string) map[string]any {
	t.Helper()
	resp, raw := s.graphql(t, s.tokens.Admin, `query($id: ID!) { orgUser(id: $id) { id email firstName role publicMetadata membershipMetadata } }`, map[string]any{"id": userID})
	var out struct{ OrgUser map[string]any }
	if err := json.Unmarshal(resp.Data, &out); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("%s", raw)
	}
	return out.OrgUser
}

// TestEmulatorWritesReachTheNextQuery: each kind of change made in "Clerk"
// (the emulator's Backend API, through the real SDK's routes) arrives as a
// signed delivery and shows in the very next query, with no Clerk request
// but the one user fetch an addition needs.
func TestEmulatorWritesReachTheNextQuery(t *testing.T) {
	s := newWebhookStack(t)
	if m := s.member(t, clerkemu.UserAcmeMember); m["role"] != "org:member" {
		t.Fatalf("%v", m)
	}
	api := func(method, path, body string) { t.Helper(); s.emuAPI(t, method, path, body) }
	s.emu.ResetCounters()
	reads := func() int64 { // Clerk requests of our server: every emulator request but the test's own writes
		r := s.emu.Requests()
		return r["GET /v1/users"] + r["GET /v1/organizations/{id}/memberships"] + r["GET /v1/users/{id}"]
	}

	api(http.MethodPatch, "/v1/organizations/org_acme/memberships/user_acme_member", `{"role":"org:billing"}`)
	if m := s.member(t, clerkemu.UserAcmeMember); m["role"] != "org:billing" {
		t.Fatalf("role change: %v", m)
	}
	api(http.MethodPatch, "/v1/organizations/org_acme/memberships/user_acme_member/metadata", `{"public_metadata":{"desk":"B7"}}`)
	if m := s.member(t, clerkemu.UserAcmeMember); !strings.Contains(fmt.Sprint(m["membershipMetadata"]), "B7") {
		t.Fatalf("membership metadata: %v", m)
	}
	api(http.MethodPatch, "/v1/users/user_acme_member/metadata", `{"public_metadata":{"department":"Legal"}}`)
	if m := s.member(t, clerkemu.UserAcmeMember); !strings.Contains(fmt.Sprint(m["publicMetadata"]), "Legal") {
		t.Fatalf("user metadata: %v", m)
	}
	if err := s.emu.UpdateUser(clerkemu.UserAcmeMember, func(u *clerkemu.User) { name := "Renamed"; u.FirstName = &name }); err != nil {
		t.Fatal(err)
	}
	if m := s.member(t, clerkemu.UserAcmeMember); m["firstName"] != "Renamed" {
		t.Fatalf("profile: %v", m)
	}
	api(http.MethodDelete, "/v1/organizations/org_acme/memberships/user_acme_viewer", "")
	if m := s.member(t, clerkemu.UserAcmeViewer); m != nil {
		t.Fatalf("removed, still there: %v", m)
	}
	if n := reads(); n != 0 {
		t.Fatalf("changes cost %d Clerk requests: %v", n, s.emu.Requests())
	}
	// An addition: the membership event lacks the profile, fetched once.
	api(http.MethodPost, "/v1/organizations/org_acme/memberships", `{"user_id":"user_no_org","role":"org:member"}`)
	m := s.member(t, clerkemu.UserNoOrg)
	if m == nil || m["role"] != "org:member" || m["email"] == nil {
		t.Fatalf("added: %v", m)
	}
	if r := s.emu.Requests(); reads() != 1 || r["GET /v1/users/{id}"] != 1 {
		t.Fatalf("an addition cost %v", r)
	}

	// A redelivered event (a Svix retry) is acknowledged, not applied again.
	ds := s.emu.Deliveries()
	var roleChange string
	for _, d := range ds {
		if d.Type == clerkemu.EventMembershipUpdated && strings.Contains(string(d.Body), `"org:billing"`) {
			roleChange = d.ID
		}
	}
	api(http.MethodPatch, "/v1/organizations/org_acme/memberships/user_acme_member", `{"role":"org:viewer"}`)
	before := s.app.Cache.Stats()
	d, err := s.emu.Redeliver(roleChange)
	if err != nil || d.Status != 200 {
		t.Fatalf("%+v %v", d, err)
	}
	if m := s.member(t, clerkemu.UserAcmeMember); m["role"] != "org:viewer" || s.app.Cache.Stats().Patches != before.Patches {
		t.Fatalf("a redelivery was applied: %v", m)
	}
	for _, d := range s.emu.Deliveries() {
		if d.Status != 200 {
			t.Fatalf("delivery %+v", d)
		}
	}
}

// TestWebhookThatCannotBeAppliedReloads: a verified event for org_acme whose
// payload lacks what a patch needs is acknowledged, and the next read
// reloads org_acme from Clerk instead of answering from a snapshot that may
// be wrong.
func TestWebhookThatCannotBeAppliedReloads(t *testing.T) {
	secret, key := newWebhookSecret(t)
	s := newStack(t, Extras{}, "CLERK_WEBHOOK_SIGNING_SECRET", secret)
	s.role(t, clerkemu.UserAcmeMember)
	s.emu.ResetCounters()
	body := bytes.Replace(membershipEvent("organizationMembership.updated", clerkemu.OrgAcme, clerkemu.UserAcmeMember, "org:admin", time.Now().UnixMilli()),
		[]byte(`"user_id":"user_acme_member"`), []byte(`"user_id":7`), 1)
	if status, resp := s.deliver(t, key, delivery{body: body}, nil); status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	if got := s.role(t, clerkemu.UserAcmeMember); got != "org:member" {
		t.Fatalf("role %q", got)
	}
	if r := s.emu.Requests(); r["GET /v1/organizations/{id}/memberships"] == 0 {
		t.Fatalf("org_acme was not reloaded: %v", r)
	}
}
