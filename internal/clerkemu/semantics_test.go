package clerkemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

type userJSON struct {
	ID           string  `json:"id"`
	CreatedAt    int64   `json:"created_at"`
	UpdatedAt    int64   `json:"updated_at"`
	Username     *string `json:"username"`
	FirstName    *string `json:"first_name"`
	LastName     *string `json:"last_name"`
	LastSignInAt *int64  `json:"last_sign_in_at"`
	Banned       bool    `json:"banned"`
}

// TestPagingNeverSkipsOrRepeats pages through lists in every supported
// order with a page size that does not divide the total: the concatenated
// pages equal the single large page, with no id twice.
func TestPagingNeverSkipsOrRepeats(t *testing.T) {
	emu, srv := readOnly(t)
	orders := []string{"", "created_at", "-created_at", "+updated_at", "email_address", "-first_name", "last_name", "username", "-phone_number"}
	for _, ob := range orders {
		t.Run("memberships "+ob, func(t *testing.T) {
			base := "/v1/organizations/org_acme/memberships?order_by=" + strings.Replace(ob, "+", "%2B", 1)
			var all memberList
			getJSON(t, emu, srv, base+"&limit=500&offset=700", &all) // last 500
			var paged []string
			for off := 700; off < clerkemu.AcmeMembers; off += 77 {
				var page memberList
				getJSON(t, emu, srv, base+"&limit=77&offset="+strconv.Itoa(off), &page)
				for _, m := range page.Data {
					paged = append(paged, m.ID)
				}
			}
			ids := make([]string, len(all.Data))
			seen := map[string]bool{}
			for i, m := range all.Data {
				ids[i] = m.ID
				if seen[m.ID] {
					t.Fatalf("%s twice", m.ID)
				}
				seen[m.ID] = true
			}
			if len(ids) != 500 || !reflect.DeepEqual(ids, paged) {
				t.Fatalf("pages (%d ids) differ from one page (%d ids)", len(paged), len(ids))
			}
		})
	}
	for _, ob := range []string{"", "username", "-last_sign_in_at", "last_active_at", "web3wallet"} {
		t.Run("users "+ob, func(t *testing.T) {
			var a, b []idOnly
			getJSON(t, emu, srv, "/v1/users?limit=200&offset=50&order_by="+ob, &a)
			for off := 50; off < 250; off += 30 {
				var page []idOnly
				getJSON(t, emu, srv, "/v1/users?limit=30&order_by="+ob+"&offset="+strconv.Itoa(off), &page)
				b = append(b, page...)
			}
			if !reflect.DeepEqual(a, b[:200]) {
				t.Fatal("paged users differ from one page")
			}
		})
	}
}

// TestOrderSemantics checks direction, null placement and id tie-breaks on
// fields with ties (a bulk import shares one created_at) and nulls.
func TestOrderSemantics(t *testing.T) {
	emu, srv := readOnly(t)
	var users []userJSON
	getJSON(t, emu, srv, "/v1/users?limit=500&order_by=%2Bcreated_at", &users)
	ties := 0
	for i := 1; i < len(users); i++ {
		a, b := users[i-1], users[i]
		if a.CreatedAt > b.CreatedAt || (a.CreatedAt == b.CreatedAt && a.ID >= b.ID) {
			t.Fatalf("+created_at: %s(%d) before %s(%d)", a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
		if a.CreatedAt == b.CreatedAt {
			ties++
		}
	}
	if ties == 0 {
		t.Error("the dataset has no created_at ties in the first 500 users; tie-breaking is untested")
	}

	var signIn []userJSON
	getJSON(t, emu, srv, "/v1/users?limit=500&offset=800&order_by=last_sign_in_at", &signIn)
	sawNull := false
	for i, u := range signIn {
		if u.LastSignInAt == nil {
			sawNull = true
		} else if sawNull {
			t.Fatalf("ascending: non-null %s after a null at %d", u.ID, i)
		}
	}
	if !sawNull {
		t.Error("no never-signed-in user at the end of ascending last_sign_in_at")
	}
	var desc []userJSON
	getJSON(t, emu, srv, "/v1/users?limit=5&order_by=-last_sign_in_at", &desc)
	if desc[0].LastSignInAt != nil {
		t.Error("descending: nulls must come first (PostgreSQL order)")
	}

	var byEmail memberList
	getJSON(t, emu, srv, "/v1/organizations/org_small/memberships?order_by=-email_address&limit=20", &byEmail)
	for i := 1; i < len(byEmail.Data); i++ {
		if *byEmail.Data[i-1].PublicUserData.Identifier < *byEmail.Data[i].PublicUserData.Identifier {
			t.Fatalf("-email_address out of order at %d", i)
		}
	}
	var def memberList
	getJSON(t, emu, srv, "/v1/organizations/org_acme/memberships?limit=50", &def)
	for i := 1; i < len(def.Data); i++ {
		if def.Data[i-1].CreatedAt < def.Data[i].CreatedAt {
			t.Fatalf("default order is not -created_at at %d", i)
		}
	}
}

func TestFilters(t *testing.T) {
	emu, srv := readOnly(t)
	data := emu.Data()
	admins := len(data.MemberIDs(clerkemu.OrgAcme, clerkemu.RoleAdmin))
	billing := len(data.MemberIDs(clerkemu.OrgAcme, clerkemu.RoleBilling))
	member := data.User(clerkemu.UserAcmeMember)
	oldEmail := member.EmailAddresses[0].EmailAddress // not the primary

	cases := []struct {
		name, path string
		want       int
	}{
		{"role", "/v1/organizations/org_acme/memberships?role=org:admin", admins},
		{"two roles", "/v1/organizations/org_acme/memberships?role=org:admin&role=org:billing", admins + billing},
		{"unknown role", "/v1/organizations/org_acme/memberships?role=org:nope", 0},
		{"user_id", "/v1/organizations/org_acme/memberships?user_id=" + clerkemu.UserAcmeAdmin + "&user_id=" + clerkemu.UserNoOrg, 1},
		{"user_id exclude", "/v1/organizations/org_acme/memberships?user_id=-" + clerkemu.UserAcmeAdmin, clerkemu.AcmeMembers - 1},
		{"email non-primary", "/v1/organizations/org_acme/memberships?email_address=" + strings.ToUpper(oldEmail), 1},
		{"query id", "/v1/organizations/org_acme/memberships?query=ACME_MEMBER", 1},
		{"query no match", "/v1/organizations/org_acme/memberships?query=zzzqqq", 0},
		{"users organization", "/v1/users/count?organization_id=org_mid", clerkemu.MidMembers},
		{"users org include and exclude", "/v1/users/count?organization_id=org_mid&organization_id=-org_acme", clerkemu.MidMembers - 10},
		{"users in no org", "/v1/users/count?organization_id=-org_acme&organization_id=-org_small&organization_id=-org_solo&organization_id=-org_mid", clerkemu.NoOrgUsers},
		{"users email", "/v1/users/count?email_address=" + member.PrimaryEmail(), 1},
		{"users banned", "/v1/users/count?banned=true", countUsers(data, func(u clerkemu.User) bool { return u.Banned })},
		{"users never signed in", "/v1/users/count?last_sign_in_at_after=0", countUsers(data, func(u clerkemu.User) bool { return u.LastSignInAt != nil })},
		{"users phone", "/v1/users/count?phone_number=%2B15555550100", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got int
			if strings.HasPrefix(tc.path, "/v1/users/count") {
				var c struct {
					Object     string `json:"object"`
					TotalCount int    `json:"total_count"`
				}
				getJSON(t, emu, srv, tc.path, &c)
				if c.Object != "total_count" {
					t.Errorf("object %q", c.Object)
				}
				got = c.TotalCount
			} else {
				var l memberList
				getJSON(t, emu, srv, tc.path+"&limit=500", &l)
				got = l.TotalCount
				if len(l.Data) != min(got, 500) {
					t.Errorf("%d items for total %d", len(l.Data), got)
				}
			}
			if got != tc.want {
				t.Errorf("total %d, want %d", got, tc.want)
			}
		})
	}
	status, _, body := call(t, emu, srv, "GET", "/v1/users?user_id="+strings.Repeat("user_x&user_id=", 100)+"user_y", "")
	if status != 422 || decodeErr(t, body).Param != "user_id" {
		t.Errorf("101 user ids: %d %s", status, body)
	}
}

func countUsers(d *clerkemu.Dataset, pred func(clerkemu.User) bool) int {
	n := 0
	for _, u := range d.Users {
		if pred(u) {
			n++
		}
	}
	return n
}

func TestHideFromUserList(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{})
	emu.HideFromUserList(clerkemu.UserSmallMember)
	var c struct {
		TotalCount int `json:"total_count"`
	}
	getJSON(t, emu, srv, "/v1/users/count?organization_id=org_small", &c)
	var l []idOnly
	getJSON(t, emu, srv, "/v1/users?organization_id=org_small&limit=50", &l)
	if c.TotalCount != clerkemu.SmallMembers-1 || len(l) != clerkemu.SmallMembers-1 {
		t.Errorf("hidden user still listed: count %d, list %d", c.TotalCount, len(l))
	}
	var u idOnly
	getJSON(t, emu, srv, "/v1/users/"+clerkemu.UserSmallMember, &u)
	var m memberList
	getJSON(t, emu, srv, "/v1/organizations/org_small/memberships?limit=50", &m)
	if u.ID != clerkemu.UserSmallMember || m.TotalCount != clerkemu.SmallMembers {
		t.Errorf("hidden user must stay reachable by id and in memberships: %q, %d", u.ID, m.TotalCount)
	}
}

func TestGoMutations(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{})
	email := "new.hire@example.com"
	err := emu.AddMember(clerkemu.OrgSolo, clerkemu.User{
		ID: "user_new", EmailAddresses: []clerkemu.EmailAddress{{EmailAddress: email, Verified: true}},
		PublicMetadata: map[string]any{"department": "Sales"},
	}, clerkemu.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	var m memberList
	getJSON(t, emu, srv, "/v1/organizations/org_solo/memberships?order_by=-created_at", &m)
	if m.TotalCount != 2 || m.Data[0].PublicUserData.UserID != "user_new" || *m.Data[0].PublicUserData.Identifier != email || m.Data[0].Role != clerkemu.RoleViewer {
		t.Errorf("after AddMember: %+v", m)
	}
	if err := emu.AddMember(clerkemu.OrgSolo, clerkemu.User{ID: "user_new"}, clerkemu.RoleMember); !errors.Is(err, clerkemu.ErrConflict) {
		t.Errorf("second AddMember: %v", err)
	}
	if err := emu.AddMember("org_nope", clerkemu.User{}, clerkemu.RoleMember); !errors.Is(err, clerkemu.ErrNotFound) {
		t.Errorf("AddMember to unknown org: %v", err)
	}
	if err := emu.AddMember(clerkemu.OrgSolo, clerkemu.User{PublicMetadata: map[string]any{"f": func() {}}}, clerkemu.RoleMember); !errors.Is(err, clerkemu.ErrInvalid) {
		t.Errorf("AddMember with unencodable metadata: %v", err)
	}
	if err := emu.SetUserPublicMetadata("user_new", map[string]any{"vnum": "0042"}); err != nil {
		t.Fatal(err)
	}
	var u struct {
		PublicMetadata map[string]any `json:"public_metadata"`
	}
	getJSON(t, emu, srv, "/v1/users/user_new", &u)
	if !reflect.DeepEqual(u.PublicMetadata, map[string]any{"vnum": "0042"}) {
		t.Errorf("metadata %v", u.PublicMetadata)
	}
	if err := emu.RemoveMember(clerkemu.OrgSolo, "user_new"); err != nil {
		t.Fatal(err)
	}
	if err := emu.RemoveMember(clerkemu.OrgSolo, "user_new"); !errors.Is(err, clerkemu.ErrNotFound) {
		t.Errorf("second RemoveMember: %v", err)
	}
	if err := emu.SetUserPublicMetadata("user_nope", nil); !errors.Is(err, clerkemu.ErrNotFound) {
		t.Errorf("SetUserPublicMetadata unknown: %v", err)
	}
	getJSON(t, emu, srv, "/v1/organizations/org_solo/memberships", &m)
	if m.TotalCount != 1 {
		t.Errorf("after RemoveMember total %d", m.TotalCount)
	}
}

func TestFaults(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	const members = "/v1/organizations/org_small/memberships"

	t.Run("count and endpoint", func(t *testing.T) {
		emu.SetFaults(clerkemu.Fault{Endpoint: clerkemu.RouteListMemberships, Status: 503, Count: 2})
		var got []int
		for range 3 {
			s, _, _ := call(t, emu, srv, "GET", members, "")
			got = append(got, s)
		}
		s, _, _ := call(t, emu, srv, "GET", "/v1/users/"+clerkemu.UserSmallAdmin, "")
		if !reflect.DeepEqual(got, []int{503, 503, 200}) || s != 200 {
			t.Errorf("statuses %v, other endpoint %d", got, s)
		}
	})
	t.Run("retry-after rounds up, at least 1", func(t *testing.T) {
		for _, tc := range []struct {
			d    time.Duration
			want string
		}{{time.Millisecond, "1"}, {2 * time.Second, "2"}, {2001 * time.Millisecond, "3"}, {0, ""}} {
			emu.SetFaults(clerkemu.Fault{Status: 429, RetryAfter: tc.d})
			s, h, body := call(t, emu, srv, "GET", members, "")
			if s != 429 || h.Get("Retry-After") != tc.want || decodeErr(t, body).Code != "too_many_requests" {
				t.Errorf("RetryAfter %v: %d %q", tc.d, s, h.Get("Retry-After"))
			}
		}
		emu.SetFaults(clerkemu.Fault{Status: 500, RetryAfter: time.Second})
		if s, h, _ := call(t, emu, srv, "GET", members, ""); s != 500 || h.Get("Retry-After") != "" {
			t.Errorf("500 with Retry-After: %d %q", s, h.Get("Retry-After"))
		}
	})
	t.Run("rate", func(t *testing.T) {
		emu.SetFaults(clerkemu.Fault{Status: 502, Rate: 0.3})
		failed := 0
		for range 200 {
			if s, _, _ := call(t, emu, srv, "GET", "/v1/jwks", ""); s == 502 {
				failed++
			}
		}
		if failed < 30 || failed > 90 {
			t.Errorf("%d of 200 failed at rate 0.3", failed)
		}
	})
	t.Run("faults precede auth", func(t *testing.T) {
		emu.SetFaults(clerkemu.Fault{Status: 429})
		if s, _, _ := callKey(t, srv, "Bearer wrong", "GET", members, ""); s != 429 {
			t.Errorf("status %d, want 429", s)
		}
	})
	t.Run("latency ends with the client", func(t *testing.T) {
		emu.SetFaults(clerkemu.Fault{Latency: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+members, nil)
		req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
		done := make(chan error, 1)
		go func() {
			res, err := srv.Client().Do(req)
			if err == nil {
				res.Body.Close()
			}
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	})
	// A read under latency is answered from what it computed on arrival:
	// the same status, headers and body as without latency.
	t.Run("latency keeps the answer", func(t *testing.T) {
		paths := []string{members, "/v1/users?organization_id=org_small&limit=2", "/v1/users/user_nope", "/v1/users/" + clerkemu.UserSmallAdmin}
		type answer struct {
			status int
			ctype  string
			body   string
		}
		get := func(p string) answer {
			s, h, b := call(t, emu, srv, "GET", p, "")
			// Each answer has its own trace id, which error bodies repeat.
			return answer{s, h.Get("Content-Type"), strings.ReplaceAll(string(b), h.Get("Clerk-Trace-Id"), "TRACE")}
		}
		emu.ClearFaults()
		want := make([]answer, len(paths))
		for i, p := range paths {
			want[i] = get(p)
		}
		emu.SetFaults(clerkemu.Fault{Latency: time.Millisecond})
		for i, p := range paths {
			if got := get(p); got != want[i] {
				t.Errorf("GET %s under latency: %+v, without: %+v", p, got, want[i])
			}
		}
		if want[2].status != 404 || want[0].status != 200 || !strings.Contains(want[2].body, `"clerk_trace_id":"TRACE"`) {
			t.Errorf("statuses %d, %d: want 200 and 404", want[0].status, want[2].status)
		}
		if s, _, _ := callKey(t, srv, "Bearer wrong", "GET", members, ""); s != 401 {
			t.Errorf("a read with a wrong key under latency: %d, want 401", s)
		}
	})
	t.Run("clear", func(t *testing.T) {
		emu.ClearFaults()
		if s, _, _ := call(t, emu, srv, "GET", members, ""); s != 200 {
			t.Errorf("status %d after ClearFaults", s)
		}
	})
}

func TestCounters(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	call(t, emu, srv, "GET", "/v1/users", "")
	call(t, emu, srv, "GET", "/v1/users/"+clerkemu.UserSmallAdmin, "")
	call(t, emu, srv, "GET", "/v1/users/user_nope", "")
	callKey(t, srv, "", "GET", "/v1/organizations/org_small/memberships", "")
	call(t, emu, srv, "GET", "/v1/nothing-here", "")
	want := map[string]int64{
		"GET /v1/users": 1, "GET /v1/users/{id}": 2,
		"GET /v1/organizations/{id}/memberships": 1, "GET (unmatched)": 1,
	}
	if got := emu.Requests(); !reflect.DeepEqual(got, want) || emu.TotalRequests() != 5 {
		t.Errorf("Requests %v total %d, want %v", got, emu.TotalRequests(), want)
	}
	emu.ResetCounters()
	if len(emu.Requests()) != 0 || emu.TotalRequests() != 0 {
		t.Error("ResetCounters left counts")
	}
}

// smallDataset is the default dataset without OrgAcme, for tests that make
// many requests or mutate.
func smallDataset(t *testing.T) *clerkemu.Dataset {
	t.Helper()
	d := clerkemu.DefaultDataset()
	keep := map[string]bool{}
	var ms []clerkemu.Membership
	for _, m := range d.Memberships {
		if m.OrganizationID != clerkemu.OrgAcme {
			ms = append(ms, m)
			keep[m.UserID] = true
		}
	}
	var us []clerkemu.User
	for _, u := range d.Users {
		if keep[u.ID] {
			us = append(us, u)
		}
	}
	d.Organizations, d.Users, d.Memberships, d.Invitations = d.Organizations[1:], us, ms, nil
	return d
}

func TestDefaultDataset(t *testing.T) {
	a, b := clerkemu.DefaultDataset(), clerkemu.DefaultDataset()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("DefaultDataset is not deterministic")
	}
	sizes := map[string]int{clerkemu.OrgAcme: clerkemu.AcmeMembers, clerkemu.OrgSmall: clerkemu.SmallMembers, clerkemu.OrgSolo: 1, clerkemu.OrgMid: clerkemu.MidMembers}
	for org, n := range sizes {
		if got := len(a.MemberIDs(org, "")); got != n {
			t.Errorf("%s has %d members, want %d", org, got, n)
		}
	}
	if ids := a.MemberIDs(clerkemu.OrgSolo, clerkemu.RoleAdmin); len(ids) != 1 || ids[0] != clerkemu.UserSoloAdmin {
		t.Errorf("solo admins %v", ids)
	}
	for role, id := range map[string]string{clerkemu.RoleAdmin: clerkemu.UserAcmeAdmin, clerkemu.RoleMember: clerkemu.UserAcmeMember, clerkemu.RoleBilling: clerkemu.UserAcmeBilling, clerkemu.RoleViewer: clerkemu.UserAcmeViewer} {
		if ids := a.MemberIDs(clerkemu.OrgAcme, role); len(ids) < 2 || ids[0] != id {
			t.Errorf("acme %s: %d members, first %v", role, len(ids), ids)
		}
	}
	var never, multi, noUsername, noNames, banned, numVnum, strVnum int
	for _, u := range a.Users {
		if u.LastSignInAt == nil {
			never++
		}
		if len(u.EmailAddresses) > 1 && u.PrimaryEmailAddressID != u.EmailAddresses[0].ID {
			multi++
		}
		if u.Username == nil {
			noUsername++
		}
		if u.FirstName == nil && u.LastName == nil {
			noNames++
		}
		if u.Banned {
			banned++
		}
		switch u.PublicMetadata["vnum"].(type) {
		case int:
			numVnum++
		case string:
			strVnum++
		}
		if u.PrivateMetadata["ssn_last4"] == nil || u.UnsafeMetadata == nil {
			t.Fatalf("user %s lacks private or unsafe metadata", u.ID)
		}
	}
	for name, n := range map[string]int{"never signed in": never, "primary not first": multi, "no username": noUsername, "no names": noNames, "banned": banned, "numeric vnum": numVnum, "string vnum": strVnum} {
		if n == 0 {
			t.Errorf("no user is %s", name)
		}
	}
	pending := 0
	for _, inv := range a.Invitations {
		if inv.Status == "pending" {
			pending++
		}
	}
	if pending == 0 {
		t.Error("no pending invitations")
	}
}

func TestLoadDataset(t *testing.T) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(clerkemu.DefaultDataset()); err != nil {
		t.Fatal(err)
	}
	d, err := clerkemu.LoadDataset(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Users) != len(clerkemu.DefaultDataset().Users) || d.User(clerkemu.UserAcmeAdmin).PublicMetadata["vnum"] != json.Number("1000") {
		t.Errorf("round trip lost data: %d users, vnum %v", len(d.Users), d.User(clerkemu.UserAcmeAdmin).PublicMetadata["vnum"])
	}
	bad := []struct{ name, json string }{
		{"not json", `{`},
		{"unknown field", `{"orgs":[]}`},
		{"duplicate user", `{"users":[{"id":"u"},{"id":"u"}]}`},
		{"dangling membership", `{"memberships":[{"id":"m","organization_id":"o","user_id":"u","role":"org:member"}]}`},
		{"primary not an address", `{"users":[{"id":"u","primary_email_address_id":"idn_x"}]}`},
	}
	for _, tc := range bad {
		if _, err := clerkemu.LoadDataset(strings.NewReader(tc.json)); !errors.Is(err, clerkemu.ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", tc.name, err)
		}
	}
}

// TestConcurrentReadsAndWrites runs readers and writers together; run with
// -race. Every read must succeed with a consistent total.
func TestConcurrentReadsAndWrites(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				req, _ := http.NewRequest("GET", srv.URL+"/v1/organizations/org_mid/memberships?limit=100&order_by=email_address", nil)
				req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
				res, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				var l memberList
				err = json.NewDecoder(res.Body).Decode(&l)
				res.Body.Close()
				if err != nil || l.TotalCount < clerkemu.MidMembers || len(l.Data) != l.TotalCount {
					errs <- fmt.Errorf("reader %d/%d: total %d, %d items, %v", w, i, l.TotalCount, len(l.Data), err)
				}
			}
		}()
	}
	for i := range 10 {
		id := "user_c" + strconv.Itoa(i)
		if err := emu.AddMember(clerkemu.OrgMid, clerkemu.User{ID: id}, clerkemu.RoleMember); err != nil {
			t.Fatal(err)
		}
		if err := emu.SetUserPublicMetadata(id, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
		_ = emu.Data()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(emu.Data().MemberIDs(clerkemu.OrgMid, "")); n != clerkemu.MidMembers+10 {
		t.Errorf("%d members after adding 10", n)
	}
}

func BenchmarkListMembershipsPage500(b *testing.B) {
	emu, err := clerkemu.New(clerkemu.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := emu.Handler()
	req := httptest.NewRequest("GET", "/v1/organizations/org_acme/memberships?limit=500&offset=500", nil)
	req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

func BenchmarkListUsersFiltered(b *testing.B) {
	emu, err := clerkemu.New(clerkemu.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := emu.Handler()
	req := httptest.NewRequest("GET", "/v1/users?organization_id=org_acme&limit=100&offset=300&order_by=username", nil)
	req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkGetUser(b *testing.B) {
	emu, err := clerkemu.New(clerkemu.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h := emu.Handler()
	req := httptest.NewRequest("GET", "/v1/users/"+clerkemu.UserAcmeAdmin, nil)
	req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
	}
}
