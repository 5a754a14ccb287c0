package clerkemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/organizationinvitation"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

type roleJSON struct {
	ID                string  `json:"id"`
	Key               string  `json:"key"`
	Name              string  `json:"name"`
	Description       *string `json:"description"`
	IsCreatorEligible bool    `json:"is_creator_eligible"`
	Permissions       []struct {
		Key  string `json:"key"`
		Type string `json:"type"`
	} `json:"permissions"`
	CreatedAt int64 `json:"created_at"`
}

type roleList struct {
	Data       []roleJSON `json:"data"`
	TotalCount int        `json:"total_count"`
}

func roleKeys(l roleList) []string {
	keys := make([]string, len(l.Data))
	for i, r := range l.Data {
		keys[i] = r.Key
	}
	return keys
}

func TestOrganizationRoles(t *testing.T) {
	emu, srv := readOnly(t)
	var all roleList
	getJSON(t, emu, srv, "/v1/organization_roles", &all)
	// Default order -created_at: the custom roles are newer than the standard ones.
	want := []string{clerkemu.RoleViewer, clerkemu.RoleBilling, clerkemu.RoleMember, clerkemu.RoleAdmin}
	if got := roleKeys(all); !slices.Equal(got, want) || all.TotalCount != 4 {
		t.Fatalf("roles %v (total %d), want %v", got, all.TotalCount, want)
	}
	admin := all.Data[3]
	if admin.Name != "Admin" || !admin.IsCreatorEligible || len(admin.Permissions) != len(clerkemu.RolePermissions(clerkemu.RoleAdmin)) ||
		admin.Permissions[0].Type != "system" || !strings.HasPrefix(admin.ID, "role_") || admin.Description == nil {
		t.Errorf("admin role %+v", admin)
	}
	var page roleList
	getJSON(t, emu, srv, "/v1/organization_roles?order_by=key&limit=2&offset=1", &page)
	if got := roleKeys(page); !slices.Equal(got, []string{clerkemu.RoleBilling, clerkemu.RoleMember}) || page.TotalCount != 4 {
		t.Errorf("by key, page 2: %v (total %d)", got, page.TotalCount)
	}
	var q roleList
	getJSON(t, emu, srv, "/v1/organization_roles?query=MEMB", &q)
	if got := roleKeys(q); !slices.Equal(got, []string{clerkemu.RoleMember}) {
		t.Errorf("query MEMB: %v", got)
	}
	getJSON(t, emu, srv, "/v1/organization_roles?query="+admin.ID, &q)
	if got := roleKeys(q); !slices.Equal(got, []string{clerkemu.RoleAdmin}) {
		t.Errorf("query by id: %v", got)
	}
	d := emu.Data()
	if got := d.Roles(); len(got) != 4 || got[0].ID != admin.ID || got[0].Name != "Admin" {
		t.Errorf("Dataset.Roles() %+v", got)
	}
}

// TestCustomRoles: a dataset may list roles; roles its memberships use are
// served too, and memberships take their names and permissions.
func TestCustomRoles(t *testing.T) {
	const raw = `{
		"organizations": [{"id": "org_x", "name": "X", "slug": "x", "created_at": 1, "updated_at": 1}],
		"users": [{"id": "user_a", "created_at": 1, "updated_at": 1}, {"id": "user_b", "created_at": 1, "updated_at": 1}],
		"memberships": [
			{"id": "orgmem_a", "organization_id": "org_x", "user_id": "user_a", "role": "org:support", "created_at": 1, "updated_at": 1},
			{"id": "orgmem_b", "organization_id": "org_x", "user_id": "user_b", "role": "org:legacy", "created_at": 1, "updated_at": 1}
		],
		"invitations": [],
		"roles": [{"key": "org:support", "name": "Support", "description": "Answers tickets.", "permissions": ["org:tickets:read", "org:sys_memberships:read"], "created_at": 1700000000000}]
	}`
	d, err := clerkemu.LoadDataset(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	emu, srv := fresh(t, clerkemu.Options{Data: d})
	var all roleList
	getJSON(t, emu, srv, "/v1/organization_roles?order_by=key", &all)
	if got := roleKeys(all); !slices.Equal(got, []string{"org:admin", "org:legacy", "org:member", "org:support"}) {
		t.Fatalf("roles %v", got)
	}
	support := all.Data[3]
	if support.Name != "Support" || *support.Description != "Answers tickets." || len(support.Permissions) != 2 ||
		support.Permissions[0].Type != "user" || support.Permissions[1].Type != "system" || support.CreatedAt != 1700000000000 {
		t.Errorf("support role %+v", support)
	}
	var ms struct {
		Data []struct {
			Role        string   `json:"role"`
			RoleName    string   `json:"role_name"`
			Permissions []string `json:"permissions"`
		} `json:"data"`
	}
	getJSON(t, emu, srv, "/v1/organizations/org_x/memberships?user_id=user_a", &ms)
	if len(ms.Data) != 1 || ms.Data[0].RoleName != "Support" || !slices.Equal(ms.Data[0].Permissions, []string{"org:tickets:read", "org:sys_memberships:read"}) {
		t.Errorf("membership %+v", ms.Data)
	}
	if status, _, body := call(t, emu, srv, "PATCH", "/v1/organizations/org_x/memberships/user_b", `{"role":"org:support"}`); status != 200 {
		t.Errorf("PATCH to a dataset role: %d %s", status, body)
	}
	// Data() lists every role served, so it loads back as the same roles.
	again, srv2 := fresh(t, clerkemu.Options{Data: emu.Data()})
	var roles2 roleList
	getJSON(t, again, srv2, "/v1/organization_roles?order_by=key", &roles2)
	if !reflect.DeepEqual(roles2, all) {
		t.Errorf("roles after a Data() round trip:\n%+v\nwant %+v", roles2, all)
	}

	for name, bad := range map[string]string{
		"repeated key": `{"roles": [{"key": "org:a"}, {"key": "org:a"}]}`,
		"empty key":    `{"roles": [{"name": "A"}]}`,
	} {
		if _, err := clerkemu.LoadDataset(strings.NewReader(bad)); !errors.Is(err, clerkemu.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestUnknownRoleRefused: HTTP writes naming a role the instance lacks
// change nothing; the Go methods add the role.
func TestUnknownRoleRefused(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	writes := []struct{ method, path, body string }{
		{"PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember, `{"role":"org:owner"}`},
		{"PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember, `{"role":"admin"}`},
		{"POST", "/v1/organizations/org_solo/memberships", `{"user_id":"` + clerkemu.UserSmallMember + `","role":"org:owner"}`},
		{"POST", "/v1/organizations/org_small/invitations", `{"email_address":"x@example.com","role":"org:owner"}`},
		{"POST", "/v1/organizations/org_small/invitations/bulk", `[{"email_address":"x@example.com","role":"org:member"},{"email_address":"y@example.com","role":"org:owner"}]`},
	}
	for _, w := range writes {
		status, _, body := call(t, emu, srv, w.method, w.path, w.body)
		if e := decodeErr(t, body); status != 404 || e.Code != "resource_not_found" || e.Param != "role" {
			t.Errorf("%s %s %s: %d %+v", w.method, w.path, w.body, status, e)
		}
	}
	var m memberList
	getJSON(t, emu, srv, "/v1/organizations/org_small/memberships?user_id="+clerkemu.UserSmallMember, &m)
	if m.Data[0].Role != clerkemu.RoleMember {
		t.Errorf("role changed to %s", m.Data[0].Role)
	}
	if n := len(emu.Data().Invitations); n != 0 {
		t.Errorf("%d invitations created", n)
	}

	if err := emu.SetMemberRole(clerkemu.OrgSmall, clerkemu.UserSmallMember, "org:owner"); err != nil {
		t.Fatal(err)
	}
	var roles roleList
	getJSON(t, emu, srv, "/v1/organization_roles?query=owner", &roles)
	if roles.TotalCount != 1 || roles.Data[0].Name != "Owner" {
		t.Errorf("role added by SetMemberRole: %+v", roles)
	}
	if status, _, body := call(t, emu, srv, "PATCH", "/v1/organizations/org_small/memberships/"+clerkemu.UserSmallAdmin, `{"role":"org:owner"}`); status != 200 {
		t.Errorf("PATCH to the added role: %d %s", status, body)
	}
}

type invitationJSON struct {
	ID                string         `json:"id"`
	EmailAddress      string         `json:"email_address"`
	Role              string         `json:"role"`
	RoleName          string         `json:"role_name"`
	Status            string         `json:"status"`
	InviterID         *string        `json:"inviter_id"`
	PublicInviterData *struct{}      `json:"public_inviter_data"`
	PublicMetadata    map[string]any `json:"public_metadata"`
	PrivateMetadata   map[string]any `json:"private_metadata"`
	URL               *string        `json:"url"`
	ExpiresAt         *int64         `json:"expires_at"`
	CreatedAt         int64          `json:"created_at"`
	UpdatedAt         int64          `json:"updated_at"`
}

type invitationList struct {
	Data       []invitationJSON `json:"data"`
	TotalCount int              `json:"total_count"`
}

func TestInvitationStatusFilterAndPaging(t *testing.T) {
	emu, srv := readOnly(t)
	count := map[string]int{}
	for _, inv := range emu.Data().Invitations {
		if inv.OrganizationID == clerkemu.OrgAcme {
			count[inv.Status]++
		}
	}
	for _, q := range []string{"status=pending", "status=accepted", "status=revoked&status=expired", ""} {
		var l invitationList
		getJSON(t, emu, srv, "/v1/organizations/org_acme/invitations?limit=100&"+q, &l)
		vals, _ := url.ParseQuery(q)
		want := 0
		for s, n := range count {
			if len(vals["status"]) == 0 || slices.Contains(vals["status"], s) {
				want += n
			}
		}
		if l.TotalCount != want || len(l.Data) != want {
			t.Errorf("%q: total %d, %d items, want %d", q, l.TotalCount, len(l.Data), want)
		}
		for _, inv := range l.Data {
			if len(vals["status"]) > 0 && !slices.Contains(vals["status"], inv.Status) {
				t.Errorf("%q: got a %s invitation", q, inv.Status)
			}
		}
	}
	var all invitationList
	getJSON(t, emu, srv, "/v1/organizations/org_acme/invitations?limit=100", &all)
	var paged []invitationJSON
	for off := 0; off < all.TotalCount; off += 4 {
		var p invitationList
		getJSON(t, emu, srv, "/v1/organizations/org_acme/invitations?limit=4&offset="+strconv.Itoa(off), &p)
		paged = append(paged, p.Data...)
	}
	if !reflect.DeepEqual(paged, all.Data) {
		t.Error("pages of 4 differ from one page")
	}
	for i := 1; i < len(all.Data); i++ {
		if all.Data[i-1].CreatedAt < all.Data[i].CreatedAt {
			t.Fatalf("not -created_at at %d", i)
		}
	}
}

func TestCreateInvitation(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	const path = "/v1/organizations/org_small/invitations"
	status, _, body := call(t, emu, srv, "POST", path, `{"email_address":"Jane.Doe@Example.com","role":"org:viewer","inviter_user_id":"`+
		clerkemu.UserSmallAdmin+`","public_metadata":{"team":"blue","gone":null},"private_metadata":{"ref":7},"redirect_url":"https://app.example.com/join?from=mail","expires_in_days":7}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var inv invitationJSON
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatal(err)
	}
	if inv.Status != "pending" || inv.Role != clerkemu.RoleViewer || inv.RoleName != "Viewer" || inv.EmailAddress != "Jane.Doe@Example.com" ||
		inv.InviterID == nil || *inv.InviterID != clerkemu.UserSmallAdmin || inv.PublicInviterData == nil ||
		!reflect.DeepEqual(inv.PublicMetadata, map[string]any{"team": "blue"}) || !reflect.DeepEqual(inv.PrivateMetadata, map[string]any{"ref": 7.0}) ||
		inv.ExpiresAt == nil || *inv.ExpiresAt != inv.CreatedAt+7*24*3600*1000 || inv.CreatedAt != inv.UpdatedAt ||
		inv.URL == nil || !strings.HasPrefix(*inv.URL, "https://app.example.com/join?from=mail&__clerk_ticket=") {
		t.Errorf("invitation %s", body)
	}
	var got invitationJSON
	getJSON(t, emu, srv, path+"/"+inv.ID, &got)
	var pending invitationList
	getJSON(t, emu, srv, path+"?status=pending&email_address=jane.doe@example.com", &pending)
	if !reflect.DeepEqual(got, inv) || pending.TotalCount != 1 || pending.Data[0].ID != inv.ID {
		t.Errorf("GET %+v, listed %+v", got, pending)
	}
	status, _, body = call(t, emu, srv, "POST", path, `{"email_address":"minimal@example.com","role":"org:member"}`)
	if err := json.Unmarshal(body, &got); status != 200 || err != nil || got.InviterID != nil || got.PublicInviterData != nil || got.URL != nil ||
		*got.ExpiresAt != got.CreatedAt+30*24*3600*1000 {
		t.Errorf("minimal invitation: %d %s", status, body)
	}

	member := emu.Data().User(clerkemu.UserAcmeAdmin) // a member of org_small
	refused := []struct {
		name, email      string
		status           int
		code, param, msg string
	}{
		{"pending, other case", "jane.doe@example.COM", 400, "organization_invitation_not_unique", "", ""},
		{"member's primary email", strings.ToUpper(member.PrimaryEmail()), 400, "already_a_member_in_organization", "", "is already a member of the organization"},
		{"no at", "jane.example.com", 422, "form_param_format_invalid", "email_address", ""},
		{"no domain dot", "jane@localhost", 422, "form_param_format_invalid", "email_address", ""},
		{"display name", "Jane <jane@example.com>", 422, "form_param_format_invalid", "email_address", ""},
		{"space", "ja ne@example.com", 422, "form_param_format_invalid", "email_address", ""},
		{"empty", "", 422, "form_param_missing", "email_address", ""},
	}
	for _, tc := range refused {
		status, _, body := call(t, emu, srv, "POST", path, `{"email_address":"`+tc.email+`","role":"org:member"}`)
		e := decodeErr(t, body)
		if status != tc.status || e.Code != tc.code || e.Param != tc.param || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s: %d %s", tc.name, status, body)
		}
	}
	if n := len(emu.Data().Invitations); n != 2 {
		t.Errorf("%d invitations after the refusals, want 2", n)
	}
	// Clerk's components read the address back from the message.
	if _, _, body := call(t, emu, srv, "POST", path, `{"email_address":"`+member.PrimaryEmail()+`","role":"org:member"}`); !strings.Contains(string(body), member.PrimaryEmail()+" is already a member") {
		t.Errorf("already a member: %s", body)
	}
}

func TestBulkInvitations(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	const path = "/v1/organizations/org_small/invitations/bulk"
	items := func(emails ...string) string {
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range emails {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"email_address":%q,"role":"org:member","public_metadata":{"n":%d},"inviter_user_id":%q}`, e, i, clerkemu.UserSmallAdmin)
		}
		b.WriteByte(']')
		return b.String()
	}
	ten := make([]string, 10)
	for i := range ten {
		ten[i] = fmt.Sprintf("bulk%d@example.com", i)
	}
	status, _, body := call(t, emu, srv, "POST", path, items(ten...))
	var created invitationList
	if err := json.Unmarshal(body, &created); status != 200 || err != nil || created.TotalCount != 10 || len(created.Data) != 10 {
		t.Fatalf("bulk of 10: %d %s", status, body)
	}
	for i, inv := range created.Data {
		if inv.EmailAddress != ten[i] || inv.Status != "pending" || inv.PublicMetadata["n"] != float64(i) {
			t.Errorf("item %d: %+v", i, inv)
		}
	}

	eleven := append(slices.Clone(ten), "eleven@example.com")
	for i := range eleven {
		eleven[i] = "x" + eleven[i]
	}
	status, _, body = call(t, emu, srv, "POST", path, items(eleven...))
	if status != 422 || decodeErr(t, body).Code != "form_param_array_size_exceeded" {
		t.Errorf("bulk of 11: %d %s", status, body)
	}
	// One address already invited, one twice in the request: nothing is created.
	status, _, body = call(t, emu, srv, "POST", path, items("fresh@example.com", "BULK3@example.com", "twice@example.com", "twice@example.com"))
	var dup struct {
		Errors []struct {
			Code string `json:"code"`
			Meta struct {
				EmailAddresses []string `json:"email_addresses"`
			} `json:"meta"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &dup); status != 400 || err != nil || dup.Errors[0].Code != "duplicate_record" ||
		!slices.Equal(dup.Errors[0].Meta.EmailAddresses, []string{"BULK3@example.com", "twice@example.com"}) {
		t.Errorf("bulk with duplicates: %d %s", status, body)
	}
	member := emu.Data().User(clerkemu.UserSmallMember).PrimaryEmail()
	status, _, body = call(t, emu, srv, "POST", path, items("fresh@example.com", member))
	if status != 400 || decodeErr(t, body).Code != "already_a_member_in_organization" {
		t.Errorf("bulk with a member: %d %s", status, body)
	}
	var l invitationList
	getJSON(t, emu, srv, "/v1/organizations/org_small/invitations?status=pending&limit=50", &l)
	if l.TotalCount != 10 {
		t.Errorf("%d pending invitations after refused bulks, want 10", l.TotalCount)
	}
}

func TestRevokeInvitation(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	const path = "/v1/organizations/org_small/invitations"
	_, _, body := call(t, emu, srv, "POST", path, `{"email_address":"revoke.me@example.com","role":"org:member"}`)
	var inv invitationJSON
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatal(err)
	}
	status, _, body := call(t, emu, srv, "POST", path+"/"+inv.ID+"/revoke", "")
	var revoked invitationJSON
	if err := json.Unmarshal(body, &revoked); status != 200 || err != nil || revoked.Status != "revoked" || revoked.UpdatedAt <= inv.UpdatedAt {
		t.Fatalf("revoke: %d %s", status, body)
	}
	status, _, body = call(t, emu, srv, "POST", path+"/"+inv.ID+"/revoke", `{}`)
	if e := decodeErr(t, body); status != 404 || e.Code != "organization_invitation_not_pending" {
		t.Errorf("revoke twice: %d %s", status, body)
	}
	if status, _, body := call(t, emu, srv, "POST", "/v1/organizations/org_solo/invitations/"+inv.ID+"/revoke", ""); status != 404 || decodeErr(t, body).Code != "resource_not_found" {
		t.Errorf("revoke through another organization: %d %s", status, body)
	}
	// Revoked, the address may be invited again.
	if status, _, body := call(t, emu, srv, "POST", path, `{"email_address":"revoke.me@example.com","role":"org:member"}`); status != 200 {
		t.Errorf("invite again after revoking: %d %s", status, body)
	}
	if _, err := emu.AcceptInvitation(clerkemu.OrgSmall, inv.ID); !errors.Is(err, clerkemu.ErrConflict) {
		t.Errorf("accept a revoked invitation: %v", err)
	}
}

// TestAcceptInvitation accepts invitations of a new and of an existing
// user: the membership carries the invitation's role and metadata, and the
// webhooks are the expected ones, valid against the webhook spec.
func TestAcceptInvitation(t *testing.T) {
	emu, srv, rc, _ := webhookEmulator(t)
	const path = "/v1/organizations/org_small/invitations"
	invite := func(email string) invitationJSON {
		t.Helper()
		status, _, body := call(t, emu, srv, "POST", path, `{"email_address":"`+email+`","role":"org:billing","inviter_user_id":"`+
			clerkemu.UserSmallAdmin+`","public_metadata":{"team":"red"},"private_metadata":{"cost_center":"CC-9"}}`)
		var inv invitationJSON
		if err := json.Unmarshal(body, &inv); status != 200 || err != nil {
			t.Fatalf("invite %s: %d %s", email, status, body)
		}
		return inv
	}
	events := func(want ...string) []event {
		t.Helper()
		var evs []event
		var types []string
		for _, d := range rc.take() {
			var ev event
			if err := json.Unmarshal(d.body, &ev); err != nil {
				t.Fatal(err)
			}
			if err := validateEvent(t, ev.Type, d.body); err != nil {
				t.Errorf("%s violates the webhook spec: %v\nbody: %.800s", ev.Type, err, d.body)
			}
			evs, types = append(evs, ev), append(types, ev.Type)
		}
		if !slices.Equal(types, want) {
			t.Fatalf("events %v, want %v", types, want)
		}
		return evs
	}

	inv := invite("new.hire@example.com")
	created := events(clerkemu.EventInvitationCreated)
	var served map[string]any
	getJSON(t, emu, srv, path+"/"+inv.ID, &served)
	if !reflect.DeepEqual(created[0].Data, served) {
		t.Errorf("created event data %v\nserved %v", created[0].Data, served)
	}

	userID, err := emu.AcceptInvitation(clerkemu.OrgSmall, inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs := events(clerkemu.EventUserCreated, clerkemu.EventInvitationAccepted, clerkemu.EventMembershipCreated)
	accepted := evs[1].Data
	org, _ := accepted["data"].(map[string]any)["public_organization_data"].(map[string]any)
	if accepted["status"] != "accepted" || accepted["user_id"] != userID || accepted["id"] != inv.ID || org["slug"] != clerkemu.SlugSmall {
		t.Errorf("accepted event data %v", accepted)
	}
	if evs[0].Data["id"] != userID || evs[2].Data["public_user_data"].(map[string]any)["user_id"] != userID {
		t.Errorf("user.created %v, membership.created %v", evs[0].Data["id"], evs[2].Data["public_user_data"])
	}
	var u struct {
		EmailAddresses []struct {
			EmailAddress string `json:"email_address"`
		} `json:"email_addresses"`
	}
	getJSON(t, emu, srv, "/v1/users/"+userID, &u)
	var ms struct {
		Data []struct {
			Role            string         `json:"role"`
			PublicMetadata  map[string]any `json:"public_metadata"`
			PrivateMetadata map[string]any `json:"private_metadata"`
		} `json:"data"`
	}
	getJSON(t, emu, srv, "/v1/organizations/org_small/memberships?user_id="+userID, &ms)
	if len(u.EmailAddresses) != 1 || u.EmailAddresses[0].EmailAddress != "new.hire@example.com" || len(ms.Data) != 1 ||
		ms.Data[0].Role != clerkemu.RoleBilling || ms.Data[0].PublicMetadata["team"] != "red" || ms.Data[0].PrivateMetadata["cost_center"] != "CC-9" {
		t.Errorf("user %+v, membership %+v", u, ms)
	}
	var after invitationJSON
	getJSON(t, emu, srv, path+"/"+inv.ID, &after)
	if after.Status != "accepted" || after.UpdatedAt <= inv.UpdatedAt {
		t.Errorf("invitation after accept: %+v", after)
	}
	if _, err := emu.AcceptInvitation(clerkemu.OrgSmall, inv.ID); !errors.Is(err, clerkemu.ErrConflict) {
		t.Errorf("accept twice: %v", err)
	}
	if status, _, body := call(t, emu, srv, "POST", path+"/"+inv.ID+"/revoke", ""); status != 404 || decodeErr(t, body).Code != "organization_invitation_not_pending" {
		t.Errorf("revoke an accepted invitation: %d %s", status, body)
	}
	events()

	// An existing user, found by a non-primary address: no user.created.
	var other *clerkemu.User
	for _, id := range emu.Data().MemberIDs(clerkemu.OrgMid, "") {
		if u := emu.Data().User(id); len(u.EmailAddresses) > 1 && !slices.Contains(emu.Data().MemberIDs(clerkemu.OrgSmall, ""), id) {
			other = u
			break
		}
	}
	if other == nil {
		t.Fatal("no org_mid user with several addresses")
	}
	old := other.EmailAddresses[0].EmailAddress
	if old == other.PrimaryEmail() {
		t.Fatal("the first address is the primary one")
	}
	inv = invite(strings.ToUpper(old))
	events(clerkemu.EventInvitationCreated)
	if got, err := emu.AcceptInvitation(clerkemu.OrgSmall, inv.ID); err != nil || got != other.ID {
		t.Fatalf("accept by an existing user: %q, %v", got, err)
	}
	events(clerkemu.EventInvitationAccepted, clerkemu.EventMembershipCreated)

	// Once a member, the invitee cannot be invited; an invitation sent
	// before they joined another way cannot be accepted and stays pending.
	if status, _, body := call(t, emu, srv, "POST", path, `{"email_address":"`+other.PrimaryEmail()+`","role":"org:member"}`); status != 400 ||
		decodeErr(t, body).Code != "already_a_member_in_organization" {
		t.Errorf("invite a member: %d %s", status, body)
	}
	inv = invite("late@example.com")
	if err := emu.AddMember(clerkemu.OrgSmall, clerkemu.User{EmailAddresses: []clerkemu.EmailAddress{{EmailAddress: "late@example.com"}}}, clerkemu.RoleMember); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.AcceptInvitation(clerkemu.OrgSmall, inv.ID); !errors.Is(err, clerkemu.ErrConflict) {
		t.Errorf("accept by a member: %v", err)
	}
	getJSON(t, emu, srv, path+"/"+inv.ID, &after)
	if after.Status != "pending" {
		t.Errorf("refused accept left status %s", after.Status)
	}
	for _, ids := range [][2]string{{clerkemu.OrgSmall, "orginv_nope"}, {"org_nope", inv.ID}, {clerkemu.OrgSolo, inv.ID}} {
		if _, err := emu.AcceptInvitation(ids[0], ids[1]); !errors.Is(err, clerkemu.ErrNotFound) {
			t.Errorf("accept %v: %v", ids, err)
		}
	}
	rc.take()

	// Revocation.
	if status, _, body := call(t, emu, srv, "POST", path+"/"+inv.ID+"/revoke", ""); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	revoked := events(clerkemu.EventInvitationRevoked)
	getJSON(t, emu, srv, path+"/"+inv.ID, &served)
	if !reflect.DeepEqual(revoked[0].Data, served) || served["status"] != "revoked" {
		t.Errorf("revoked event data %v\nserved %v", revoked[0].Data, served)
	}

	// A bulk request: one event per invitation, in order.
	status, _, body := call(t, emu, srv, "POST", path+"/bulk", `[{"email_address":"b1@example.com","role":"org:member"},{"email_address":"b2@example.com","role":"org:member"}]`)
	if status != 200 {
		t.Fatalf("bulk: %d %s", status, body)
	}
	bulk := events(clerkemu.EventInvitationCreated, clerkemu.EventInvitationCreated)
	if bulk[0].Data["email_address"] != "b1@example.com" || bulk[1].Data["email_address"] != "b2@example.com" {
		t.Errorf("bulk events %v, %v", bulk[0].Data["email_address"], bulk[1].Data["email_address"])
	}
}

// TestInvitationWebhookValidatorCatchesViolations guards the invitation
// events' spec check, and its correction for .accepted, against being
// vacuous.
func TestInvitationWebhookValidatorCatchesViolations(t *testing.T) {
	emu, srv, rc, _ := webhookEmulator(t)
	_, _, body := call(t, emu, srv, "POST", "/v1/organizations/org_small/invitations", `{"email_address":"v@example.com","role":"org:member"}`)
	var inv invitationJSON
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.AcceptInvitation(clerkemu.OrgSmall, inv.ID); err != nil {
		t.Fatal(err)
	}
	got := rc.take()
	if len(got) != 4 {
		t.Fatalf("%d deliveries", len(got))
	}
	created, accepted := got[0].body, got[2].body
	mutate := func(body []byte, f func(data map[string]any)) []byte {
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		f(ev["data"].(map[string]any))
		b, _ := json.Marshal(ev)
		return b
	}
	cases := []struct {
		name, typ string
		body      []byte
		valid     bool
	}{
		{"created", clerkemu.EventInvitationCreated, created, true},
		{"accepted", clerkemu.EventInvitationAccepted, accepted, true},
		{"created with user_id", clerkemu.EventInvitationCreated, mutate(created, func(d map[string]any) { d["user_id"] = "user_x" }), false},
		{"created without url", clerkemu.EventInvitationCreated, mutate(created, func(d map[string]any) { delete(d, "url") }), false},
		{"accepted without user_id", clerkemu.EventInvitationAccepted, mutate(accepted, func(d map[string]any) { delete(d, "user_id") }), false},
		{"accepted without data", clerkemu.EventInvitationAccepted, mutate(accepted, func(d map[string]any) { delete(d, "data") }), false},
		{"accepted with an unknown field", clerkemu.EventInvitationAccepted, mutate(accepted, func(d map[string]any) { d["token"] = "x" }), false},
		{"accepted with a bad organization", clerkemu.EventInvitationAccepted, mutate(accepted, func(d map[string]any) {
			delete(d["data"].(map[string]any)["public_organization_data"].(map[string]any), "slug")
		}), false},
	}
	for _, tc := range cases {
		if err := validateEvent(t, tc.typ, tc.body); (err == nil) != tc.valid {
			t.Errorf("%s: validation error %v", tc.name, err)
		}
	}
}

// TestPerItemFault: a Clerk 500 for exactly 3 chosen users of 40, the
// others untouched, every time (no Count) or once (Count 1).
func TestPerItemFault(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	users := emu.Data().MemberIDs(clerkemu.OrgMid, clerkemu.RoleMember)[:40]
	chosen := []string{users[3], users[17], users[38]}
	faults := make([]clerkemu.Fault, len(chosen))
	for i, id := range chosen {
		faults[i] = clerkemu.Fault{Endpoint: clerkemu.RouteUpdateMembership, PathContains: "/memberships/" + id, Status: 500}
	}
	emu.SetFaults(faults...)
	patchAll := func(role string) (failed []string) {
		for _, id := range users {
			status, _, body := call(t, emu, srv, "PATCH", "/v1/organizations/org_mid/memberships/"+id, `{"role":"`+role+`"}`)
			switch status {
			case 200:
			case 500:
				if decodeErr(t, body).Code != "internal_clerk_error" {
					t.Errorf("%s: %s", id, body)
				}
				failed = append(failed, id)
			default:
				t.Errorf("%s: %d %s", id, status, body)
			}
		}
		return failed
	}
	for round := range 2 {
		if failed := patchAll(clerkemu.RoleViewer); !slices.Equal(failed, chosen) {
			t.Errorf("round %d: failed %v, want %v", round, failed, chosen)
		}
	}
	d := emu.Data()
	for _, m := range d.Memberships {
		if m.OrganizationID == clerkemu.OrgMid && slices.Contains(users, m.UserID) && (m.Role == clerkemu.RoleViewer) == slices.Contains(chosen, m.UserID) {
			t.Errorf("%s has role %s", m.UserID, m.Role)
		}
	}
	if status, _, _ := call(t, emu, srv, "PATCH", "/v1/organizations/org_mid/memberships/"+chosen[0]+"/metadata", `{"public_metadata":{}}`); status != 200 {
		t.Errorf("another endpoint of a chosen user: %d", status)
	}

	for i := range faults {
		faults[i].Count = 1
	}
	emu.SetFaults(faults...)
	if failed := patchAll(clerkemu.RoleMember); !slices.Equal(failed, chosen) {
		t.Errorf("Count 1, first pass: failed %v", failed)
	}
	if failed := patchAll(clerkemu.RoleMember); len(failed) != 0 {
		t.Errorf("Count 1, second pass: failed %v", failed)
	}

	emu.SetFaults(clerkemu.Fault{Status: 503, Match: func(r *http.Request) bool {
		return r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/"+users[0])
	}})
	if status, _, _ := call(t, emu, srv, "DELETE", "/v1/organizations/org_mid/memberships/"+users[1], ""); status != 200 {
		t.Errorf("Match: other user %d", status)
	}
	if status, _, _ := call(t, emu, srv, "DELETE", "/v1/organizations/org_mid/memberships/"+users[0], ""); status != 503 {
		t.Errorf("Match: chosen user %d", status)
	}
	emu.ClearFaults()
}

// TestNewRouteCounters: the new routes count under their templates.
func TestNewRouteCounters(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	const invs = "/v1/organizations/org_small/invitations"
	_, _, body := call(t, emu, srv, "POST", invs, `{"email_address":"c@example.com","role":"org:member"}`)
	var inv invitationJSON
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatal(err)
	}
	emu.ResetCounters()
	call(t, emu, srv, "GET", "/v1/organization_roles", "")
	call(t, emu, srv, "GET", invs, "")
	call(t, emu, srv, "POST", invs, `{"email_address":"d@example.com","role":"org:member"}`)
	call(t, emu, srv, "POST", invs+"/bulk", `[{"email_address":"e@example.com","role":"org:member"}]`)
	call(t, emu, srv, "GET", invs+"/"+inv.ID, "")
	call(t, emu, srv, "POST", invs+"/"+inv.ID+"/revoke", "")
	call(t, emu, srv, "POST", invs+"/"+inv.ID+"/revoke", "")
	want := map[string]int64{
		clerkemu.RouteListRoles: 1, clerkemu.RouteListInvitations: 1, clerkemu.RouteCreateInvitation: 1,
		clerkemu.RouteBulkInvitations: 1, clerkemu.RouteGetInvitation: 1, clerkemu.RouteRevokeInvitation: 2,
	}
	if got := emu.Requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("Requests %v, want %v", got, want)
	}
}

// TestSDKInvitations drives the invitation routes with clerk-sdk-go, as
// the server does.
func TestSDKInvitations(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	invs := organizationinvitation.NewClient(sdkConfig(emu, srv))
	ctx := context.Background()
	md := json.RawMessage(`{"team":"green"}`)
	inv, err := invs.Create(ctx, &organizationinvitation.CreateParams{
		OrganizationID: clerkemu.OrgSmall, EmailAddress: clerk.String("sdk@example.com"), Role: clerk.String(clerkemu.RoleMember),
		InviterUserID: clerk.String(clerkemu.UserSmallAdmin), PublicMetadata: &md, ExpiresInDays: clerk.Int64(3),
	})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != "pending" || inv.RoleName != "Member" || string(inv.PublicMetadata) != `{"team":"green"}` || *inv.ExpiresAt != inv.CreatedAt+3*24*3600*1000 {
		t.Errorf("created %+v", inv)
	}
	_, err = invs.Create(ctx, &organizationinvitation.CreateParams{OrganizationID: clerkemu.OrgSmall, EmailAddress: clerk.String("sdk@example.com"), Role: clerk.String(clerkemu.RoleMember)})
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 400 || apiErr.Errors[0].Code != "organization_invitation_not_unique" {
		t.Errorf("duplicate: %v", err)
	}
	list, err := invs.List(ctx, &organizationinvitation.ListParams{OrganizationID: clerkemu.OrgSmall, Statuses: &[]string{"pending"}})
	if err != nil || list.TotalCount != 1 || list.OrganizationInvitations[0].ID != inv.ID {
		t.Fatalf("list: %+v, %v", list, err)
	}
	revoked, err := invs.Revoke(ctx, &organizationinvitation.RevokeParams{OrganizationID: clerkemu.OrgSmall, ID: inv.ID, RequestingUserID: clerk.String(clerkemu.UserSmallAdmin)})
	if err != nil || revoked.Status != "revoked" {
		t.Fatalf("revoke: %+v, %v", revoked, err)
	}
	_, err = invs.Revoke(ctx, &organizationinvitation.RevokeParams{OrganizationID: clerkemu.OrgSmall, ID: inv.ID})
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Errors[0].Code != "organization_invitation_not_pending" {
		t.Errorf("revoke twice: %v", err)
	}
	got, err := invs.Get(ctx, &organizationinvitation.GetParams{OrganizationID: clerkemu.OrgSmall, ID: inv.ID})
	if err != nil || got.Status != "revoked" {
		t.Errorf("get: %+v, %v", got, err)
	}
}
