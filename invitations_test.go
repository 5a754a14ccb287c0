package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

type invitationNode struct {
	ID             string          `json:"id"`
	EmailAddress   string          `json:"emailAddress"`
	Role           string          `json:"role"`
	RoleName       *string         `json:"roleName"`
	Status         string          `json:"status"`
	PublicMetadata json.RawMessage `json:"publicMetadata"`
	CreatedAt      string          `json:"createdAt"`
	UpdatedAt      string          `json:"updatedAt"`
	ExpiresAt      *string         `json:"expiresAt"`
}

type invitationPage struct {
	Nodes    []invitationNode
	PageInfo struct {
		HasNextPage bool
		EndCursor   *string
	}
	TotalCount int
}

// invitations runs orgInvitations with args (GraphQL argument text, "" for none).
func (s *stack) invitations(t testing.TB, token, args string) (invitationPage, gqlResponse) {
	t.Helper()
	if args != "" {
		args = "(" + args + ")"
	}
	return aliasR[invitationPage](t, s, token, `{ r: orgInvitations`+args+` { nodes { id emailAddress role roleName status publicMetadata createdAt updatedAt expiresAt } pageInfo { hasNextPage endCursor } totalCount } }`)
}

type invitationAnswer struct {
	DryRun                                           bool
	Requested, Succeeded, Unchanged, Failed, Skipped int
	Items                                            []struct {
		EmailAddress *string `json:"emailAddress"`
		InvitationID *string `json:"invitationId"`
		Status       string
		Code         *string
	}
}

// invitationMutation runs inviteOrgMembers or revokeOrgInvitations.
func (s *stack) invitationMutation(t testing.TB, token, field, input string) (invitationAnswer, gqlResponse) {
	t.Helper()
	return aliasR[invitationAnswer](t, s, token, fmt.Sprintf(`mutation { r: %s(input: %s) { dryRun requested succeeded unchanged failed skipped items { emailAddress invitationId status code } } }`, field, input))
}

// clerkInvite creates a pending invitation in "Clerk" directly, behind the
// server's back, and returns its id.
func (s *stack) clerkInvite(t testing.TB, orgID, email string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"email_address": email, "role": clerkemu.RoleMember})
	req, _ := http.NewRequest(http.MethodPost, s.emuURL+"/v1/organizations/"+orgID+"/invitations", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.emu.SecretKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var inv struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&inv); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	return inv.ID
}

// acmeInvitations returns org_acme's invitations in the emulator by status.
func acmeInvitations(s *stack) map[string][]clerkemu.Invitation {
	out := map[string][]clerkemu.Invitation{}
	for _, inv := range s.emu.Data().Invitations {
		if inv.OrganizationID == clerkemu.OrgAcme {
			out[inv.Status] = append(out[inv.Status], inv)
		}
	}
	return out
}

func codeOf(resp gqlResponse) string {
	if len(resp.Errors) != 1 {
		return fmt.Sprintf("%d errors", len(resp.Errors))
	}
	c, _ := resp.Errors[0].Extensions["code"].(string)
	return c
}

func TestOrgInvitationsListing(t *testing.T) {
	s := newStack(t, Extras{})
	// Before the server reads anything: one invitation made in Clerk
	// directly, one pending invitation accepted by its invitee.
	extra := s.clerkInvite(t, clerkemu.OrgAcme, "Late.Comer@Example.org")
	byStatus := acmeInvitations(s)
	accepted := byStatus["pending"][0]
	if _, err := s.emu.AcceptInvitation(clerkemu.OrgAcme, accepted.ID); err != nil {
		t.Fatal(err)
	}
	byStatus = acmeInvitations(s)
	total := 0
	for _, l := range byStatus {
		total += len(l)
	}
	s.emu.ResetCounters()

	all, resp := s.invitations(t, s.tokens.Admin, "")
	if len(resp.Errors) > 0 || all.TotalCount != total || len(all.Nodes) != total || all.PageInfo.HasNextPage {
		t.Fatalf("all: %+v %+v", all, resp.Errors)
	}
	if all.Nodes[0].ID != extra || all.Nodes[0].Status != "PENDING" || all.Nodes[0].EmailAddress != "Late.Comer@Example.org" {
		t.Fatalf("newest first: %+v", all.Nodes[0])
	}
	for i := 1; i < len(all.Nodes); i++ {
		if a, b := all.Nodes[i-1], all.Nodes[i]; a.CreatedAt < b.CreatedAt || a.CreatedAt == b.CreatedAt && a.ID > b.ID {
			t.Fatalf("order at %d: %+v then %+v", i, a, b)
		}
	}
	for _, n := range all.Nodes {
		if n.ID == accepted.ID && n.Status != "ACCEPTED" {
			t.Fatalf("accepted invitation: %+v", n)
		}
		if n.Role == "" || n.RoleName == nil || len(n.PublicMetadata) == 0 || n.UpdatedAt == "" || n.ExpiresAt == nil {
			t.Fatalf("fields: %+v", n)
		}
	}

	for _, c := range []struct {
		args string
		want int
	}{
		{`status: [PENDING]`, len(byStatus["pending"])},
		{`status: [ACCEPTED]`, len(byStatus["accepted"])},
		{`status: [REVOKED, EXPIRED]`, len(byStatus["revoked"]) + len(byStatus["expired"])},
		{`status: []`, 0},
		{`search: "LATE.comer"`, 1},
		{`search: "invitee1", status: [PENDING, ACCEPTED, REVOKED, EXPIRED]`, 9}, // invitee1 and invitee10..17
		{`search: "nobody"`, 0},
	} {
		page, resp := s.invitations(t, s.tokens.Admin, c.args)
		if len(resp.Errors) > 0 || page.TotalCount != c.want || len(page.Nodes) != c.want {
			t.Fatalf("%s: total %d, %d nodes, want %d; %+v", c.args, page.TotalCount, len(page.Nodes), c.want, resp.Errors)
		}
		for _, n := range page.Nodes {
			if strings.HasPrefix(c.args, "status: [PENDING]") && n.Status != "PENDING" {
				t.Fatalf("%s: %+v", c.args, n)
			}
		}
	}
	// One load from Clerk served all of those: the list is cached.
	if n := s.emu.Requests()[clerkemu.RouteListInvitations]; n != 1 {
		t.Fatalf("%d list requests, want 1", n)
	}

	// The response cache never keeps an invitation answer: no member
	// snapshot version tracks it.
	for range 2 {
		if resp, raw := s.post(t, s.tokens.Admin, `{ orgInvitations { totalCount } }`); resp.Header.Get("X-Response-Cache") != "" || !strings.Contains(string(raw), fmt.Sprint(total)) {
			t.Fatalf("%v %s", resp.Header, raw)
		}
	}

	// Paging with cursors walks the same order, each invitation once.
	var ids []string
	after := ""
	for pages := 0; ; pages++ {
		args := `first: 5`
		if after != "" {
			args += `, after: "` + after + `"`
		}
		page, resp := s.invitations(t, s.tokens.Admin, args)
		if len(resp.Errors) > 0 || page.TotalCount != total || len(page.Nodes) > 5 || pages > total {
			t.Fatalf("%s: %+v %+v", args, page, resp.Errors)
		}
		for _, n := range page.Nodes {
			ids = append(ids, n.ID)
		}
		if !page.PageInfo.HasNextPage {
			break
		}
		after = *page.PageInfo.EndCursor
	}
	want := make([]string, len(all.Nodes))
	for i, n := range all.Nodes {
		want[i] = n.ID
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("paged %v\nwant  %v", ids, want)
	}

	// Bad input names its argument.
	for args, name := range map[string]string{`first: 101`: "first", `first: -1`: "first", `after: "bogus"`: "after"} {
		_, resp := s.invitations(t, s.tokens.Admin, args)
		if codeOf(resp) != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, name) {
			t.Fatalf("%s: %+v", args, resp.Errors)
		}
	}
}

func TestInviteOrgMembers(t *testing.T) {
	s := newStack(t, Extras{})
	memberEmail := fmt.Sprint(s.member(t, clerkemu.UserAcmeMember)["email"])
	pending := acmeInvitations(s)["pending"][0]
	var invs []string
	for i := range 25 {
		invs = append(invs, fmt.Sprintf(`{emailAddress: "new%02d@invite.example.com", role: "org:member", publicMetadata: {team: "t%d"}}`, i, i))
	}
	invs = append(invs,
		`{emailAddress: "NEW00@invite.example.com", role: "org:viewer"}`, // a duplicate: counts once
		`{emailAddress: "`+strings.ToUpper(memberEmail)+`", role: "org:member"}`,
		`{emailAddress: "`+pending.EmailAddress+`", role: "org:member"}`,
		`{emailAddress: "not-an-email", role: "org:member"}`,
	)
	input := `{invitations: [` + strings.Join(invs, ",") + `], redirectUrl: "https://app.example.com/join"`
	writes := func() int64 {
		r := s.emu.Requests()
		return r[clerkemu.RouteBulkInvitations] + r[clerkemu.RouteCreateInvitation] + r[clerkemu.RouteRevokeInvitation]
	}
	check := func(name string, res invitationAnswer, succeeded, unchanged, failed int) {
		t.Helper()
		if res.Requested != 28 || res.Succeeded != succeeded || res.Unchanged != unchanged || res.Failed != failed || len(res.Items) != 28 {
			t.Fatalf("%s: %+v", name, res)
		}
		for i, it := range res.Items[25:] {
			want := []string{"UNCHANGED ALREADY_A_MEMBER", "UNCHANGED ALREADY_INVITED", "FAILED INVALID_EMAIL"}[i]
			if it.Code == nil || it.Status+" "+*it.Code != want {
				t.Fatalf("%s: item %d: %+v, want %s", name, 25+i, it, want)
			}
		}
		if id := res.Items[26].InvitationID; id == nil || *id != pending.ID {
			t.Fatalf("%s: already invited: %+v", name, res.Items[26])
		}
	}
	s.emu.ResetCounters()

	// A dry run answers what would happen and writes nothing.
	dry, resp := s.invitationMutation(t, s.tokens.Admin, "inviteOrgMembers", input+`, dryRun: true}`)
	if len(resp.Errors) > 0 || !dry.DryRun {
		t.Fatalf("%+v %+v", dry, resp.Errors)
	}
	check("dry run", dry, 25, 2, 1)
	if w := writes(); w != 0 {
		t.Fatalf("dry run wrote %d times", w)
	}

	// The real one: 25 invitations in exactly 3 bulk calls, none one by one.
	res, resp := s.invitationMutation(t, s.tokens.Admin, "inviteOrgMembers", input+`}`)
	if len(resp.Errors) > 0 || res.DryRun {
		t.Fatalf("%+v %+v", res, resp.Errors)
	}
	check("invite", res, 25, 2, 1)
	if r := s.emu.Requests(); r[clerkemu.RouteBulkInvitations] != 3 || r[clerkemu.RouteCreateInvitation] != 0 {
		t.Fatalf("requests %v", r)
	}
	for i, it := range res.Items[:25] {
		if it.Status != "SUCCEEDED" || it.InvitationID == nil || *it.EmailAddress != fmt.Sprintf("new%02d@invite.example.com", i) {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	// The next query shows them at once; Clerk holds them with their metadata, role and link.
	page, _ := s.invitations(t, s.tokens.Admin, `status: [PENDING], search: "@invite.example.com"`)
	if page.TotalCount != 25 {
		t.Fatalf("listed %d", page.TotalCount)
	}
	for _, inv := range s.emu.Data().Invitations {
		if inv.EmailAddress == "new00@invite.example.com" {
			if inv.Role != clerkemu.RoleMember || inv.PublicMetadata["team"] != "t0" || inv.InviterID == nil || *inv.InviterID != clerkemu.UserAcmeAdmin || inv.URL == nil {
				t.Fatalf("%+v", inv)
			}
		}
	}

	// The same call again: everyone is already invited, nothing is written.
	again, _ := s.invitationMutation(t, s.tokens.Admin, "inviteOrgMembers", input+`}`)
	check("again", again, 0, 27, 1)
	if r := s.emu.Requests(); r[clerkemu.RouteBulkInvitations] != 3 || r[clerkemu.RouteCreateInvitation] != 0 {
		t.Fatalf("requests %v", r)
	}

	// Refused before any write: an unknown role, too many invitations, a bad redirect.
	before := writes()
	_, resp = s.invitationMutation(t, s.tokens.Admin, "inviteOrgMembers", `{invitations: [{emailAddress: "a@b.example.com", role: "org:member"}, {emailAddress: "c@d.example.com", role: "org:owner"}]}`)
	if codeOf(resp) != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "role") {
		t.Fatalf("%+v", resp.Errors)
	}
	_, resp = s.invitationMutation(t, s.tokens.Admin, "inviteOrgMembers", `{invitations: [{emailAddress: "a@b.example.com", role: "org:member"}], redirectUrl: "/relative"}`)
	if codeOf(resp) != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "redirectUrl") {
		t.Fatalf("%+v", resp.Errors)
	}
	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = map[string]any{"emailAddress": fmt.Sprintf("m%d@many.example.com", i), "role": "org:member"}
	}
	resp, _ = s.graphql(t, s.tokens.Admin, `mutation($in: InviteOrgMembersInput!) { inviteOrgMembers(input: $in) { succeeded } }`, map[string]any{"in": map[string]any{"invitations": many}})
	if codeOf(resp) != "TOO_MANY_TARGETS" {
		t.Fatalf("%+v", resp.Errors)
	}
	if w := writes(); w != before {
		t.Fatalf("%d writes after refusals", w-before)
	}
}

func TestInviteBatchRefusedIsRetriedOneByOne(t *testing.T) {
	s := newStack(t, Extras{})
	s.invitations(t, s.tokens.Admin, "") // the server now holds org_acme's list
	// Invited in Clerk behind the server's back: the cached list does not know.
	s.clerkInvite(t, clerkemu.OrgAcme, "late@retry.example.com")
	s.emu.ResetCounters()
	res, resp := s.invitationMutation(t, s.tokens.Admin, "inviteOrgMembers",
		`{invitations: [{emailAddress: "fresh1@retry.example.com", role: "org:member"}, {emailAddress: "late@retry.example.com", role: "org:member"}, {emailAddress: "fresh2@retry.example.com", role: "org:member"}]}`)
	if len(resp.Errors) > 0 || res.Succeeded != 2 || res.Unchanged != 1 {
		t.Fatalf("%+v %+v", res, resp.Errors)
	}
	if it := res.Items[1]; it.Status != "UNCHANGED" || *it.Code != "ALREADY_INVITED" {
		t.Fatalf("%+v", it)
	}
	if r := s.emu.Requests(); r[clerkemu.RouteBulkInvitations] != 1 || r[clerkemu.RouteCreateInvitation] != 3 {
		t.Fatalf("requests %v", r)
	}
	// A batch refused for every item (a fault): each one fails with Clerk's code.
	s.emu.SetFaults(clerkemu.Fault{Endpoint: clerkemu.RouteBulkInvitations, Status: 500})
	res, _ = s.invitationMutation(t, s.tokens.Admin, "inviteOrgMembers", `{invitations: [{emailAddress: "x1@retry.example.com", role: "org:member"}, {emailAddress: "x2@retry.example.com", role: "org:member"}]}`)
	if res.Failed != 2 || res.Items[0].Code == nil || *res.Items[0].Code == "" {
		t.Fatalf("%+v", res)
	}
}

func TestRevokeOrgInvitations(t *testing.T) {
	s := newStack(t, Extras{})
	byStatus := acmeInvitations(s)
	target, other := byStatus["pending"][0], byStatus["pending"][1]
	s.emu.ResetCounters()

	dry, _ := s.invitationMutation(t, s.tokens.Admin, "revokeOrgInvitations", `{ids: ["`+other.ID+`", "orginv_nope"], dryRun: true}`)
	if !dry.DryRun || dry.Succeeded != 1 || dry.Failed != 1 || *dry.Items[1].Code != "resource_not_found" || s.emu.Requests()[clerkemu.RouteRevokeInvitation] != 0 {
		t.Fatalf("%+v, requests %v", dry, s.emu.Requests())
	}

	for i, want := range []string{"SUCCEEDED", "UNCHANGED"} {
		res, resp := s.invitationMutation(t, s.tokens.Admin, "revokeOrgInvitations", `{ids: ["`+target.ID+`", "`+target.ID+`"]}`)
		if len(resp.Errors) > 0 || res.Requested != 1 || len(res.Items) != 1 || res.Items[0].Status != want || *res.Items[0].EmailAddress != target.EmailAddress {
			t.Fatalf("#%d: %+v %+v", i, res, resp.Errors)
		}
	}
	if n := s.emu.Requests()[clerkemu.RouteRevokeInvitation]; n != 1 {
		t.Fatalf("%d revoke requests, want 1", n)
	}
	page, _ := s.invitations(t, s.tokens.Admin, `status: [REVOKED]`)
	if !slices.ContainsFunc(page.Nodes, func(n invitationNode) bool { return n.ID == target.ID }) {
		t.Fatalf("revoked invitation not listed as REVOKED: %+v", page.Nodes)
	}

	// An id the organization does not have fails with Clerk's code; an accepted one is UNCHANGED.
	res, _ := s.invitationMutation(t, s.tokens.Admin, "revokeOrgInvitations", `{ids: ["orginv_nope", "`+byStatus["accepted"][0].ID+`"]}`)
	if res.Failed != 1 || *res.Items[0].Code != "resource_not_found" || res.Items[1].Status != "UNCHANGED" || *res.Items[1].Code != "NOT_PENDING" {
		t.Fatalf("%+v", res)
	}
}

func TestInvitationsRequireOrgAdmin(t *testing.T) {
	s := newStack(t, Extras{})
	s.emu.ResetCounters()
	for _, q := range []string{
		`{ orgInvitations { totalCount } }`,
		`mutation { inviteOrgMembers(input: {invitations: [{emailAddress: "a@b.example.com", role: "org:member"}]}) { succeeded } }`,
		`mutation { revokeOrgInvitations(input: {ids: ["orginv_x"]}) { succeeded } }`,
	} {
		resp, raw := s.graphql(t, s.tokens.Member, q, nil)
		if codeOf(resp) != "FORBIDDEN" {
			t.Fatalf("%s: %s", q, raw)
		}
	}
	if n := s.emu.TotalRequests() - s.emu.Requests()[clerkemu.RouteJWKS]; n != 0 {
		t.Fatalf("%d Clerk requests for refused callers: %v", n, s.emu.Requests())
	}
}

// TestInvitationWebhooksReloadTheList: an invitation created in Clerk
// behind the server's back reaches the next orgInvitations at once through
// its webhook, not after the list's 10 s cache; an acceptance reaches the
// member list too.
func TestInvitationWebhooksReloadTheList(t *testing.T) {
	s := newWebhookStack(t)
	before, _ := s.invitations(t, s.tokens.Admin, `status: [PENDING]`)
	id := s.clerkInvite(t, clerkemu.OrgAcme, "hooked@example.com")
	after, resp := s.invitations(t, s.tokens.Admin, `status: [PENDING]`)
	if after.TotalCount != before.TotalCount+1 {
		t.Fatalf("pending %d then %d: %+v", before.TotalCount, after.TotalCount, resp.Errors)
	}
	userID, err := s.emu.AcceptInvitation(clerkemu.OrgAcme, id)
	if err != nil {
		t.Fatal(err)
	}
	accepted, _ := s.invitations(t, s.tokens.Admin, `status: [ACCEPTED], search: "hooked@"`)
	if accepted.TotalCount != 1 || s.member(t, userID) == nil {
		t.Fatalf("accepted %+v; member %v", accepted, s.member(t, userID))
	}
}
