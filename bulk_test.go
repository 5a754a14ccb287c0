package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

const routePatchMembership = "PATCH /v1/organizations/{id}/memberships/{user_id}"

type bulkAnswer struct {
	DryRun                                         bool
	Matched, Succeeded, Unchanged, Failed, Skipped int
	Items                                          []struct {
		UserID       string `json:"userId"`
		Status, Code string
		Email        *string
	}
}

// mutate runs a bulk mutation and returns its result, or the error codes.
func (s *stack) mutate(t testing.TB, token, field, input string) (bulkAnswer, gqlResponse) {
	t.Helper()
	return aliasR[bulkAnswer](t, s, token, fmt.Sprintf(`mutation { r: %s(input: %s) { dryRun matched succeeded unchanged failed skipped items { userId email status code } } }`, field, input))
}

// aliasR runs query, whose one field is aliased r, and decodes that field
// into T (the zero T when it is null), with the response for its errors.
func aliasR[T any](t testing.TB, s *stack, token, query string) (T, gqlResponse) {
	t.Helper()
	resp, raw := s.graphql(t, token, query, nil)
	var out struct{ R *T }
	if err := json.Unmarshal(resp.Data, &out); err != nil && resp.Data != nil {
		t.Fatalf("%s", raw)
	}
	if out.R == nil {
		var zero T
		return zero, resp
	}
	return *out.R, resp
}

// reads counts the Clerk read requests the server made.
func reads(e *clerkemu.Emulator) int64 {
	r := e.Requests()
	return r["GET /v1/users"] + r["GET /v1/organizations/{id}/memberships"] + r["GET /v1/users/{id}"]
}

// pilotCohort tags 40 plain members of org_acme with cohort "pilot" (the
// webhooks carry it to the server) and returns their ids.
func pilotCohort(t *testing.T, s *stack) []string {
	t.Helper()
	var ids []string
	for _, m := range s.emu.Data().Memberships {
		if m.OrganizationID == clerkemu.OrgAcme && m.Role == clerkemu.RoleMember && m.UserID != clerkemu.UserAcmeMember && len(ids) < 40 {
			ids = append(ids, m.UserID)
		}
	}
	for _, id := range ids {
		if err := s.emu.UpdateUser(id, func(u *clerkemu.User) {
			if u.PublicMetadata == nil {
				u.PublicMetadata = map[string]any{}
			}
			u.PublicMetadata["cohort"] = "pilot"
		}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(ids)
	return ids
}

const pilotFilter = `{metadata: [{path: "cohort", equals: "pilot"}]}`

func TestBulkRoleChangeByFilter(t *testing.T) {
	s := newWebhookStack(t)
	s.role(t, clerkemu.UserAcmeMember) // cache org_acme
	ids := pilotCohort(t, s)
	resp, raw := s.graphql(t, s.tokens.Admin, `{ orgUsers(filter: `+pilotFilter+`) { totalCount } }`, nil)
	if !strings.Contains(string(resp.Data), `"totalCount":40`) {
		t.Fatalf("preview: %s", raw)
	}
	s.emu.ResetCounters()

	// A dry run answers what would happen and writes nothing.
	dry, _ := s.mutate(t, s.tokens.Admin, "updateOrgMemberRoles", `{target: {filter: `+pilotFilter+`, expectedCount: 40}, role: "org:billing", dryRun: true}`)
	if !dry.DryRun || dry.Matched != 40 || dry.Succeeded != 40 || s.emu.Requests()[routePatchMembership] != 0 {
		t.Fatalf("dry run %+v, requests %v", dry, s.emu.Requests())
	}

	// The real one: 40 writes, and the next query shows all 40 without reading Clerk.
	res, _ := s.mutate(t, s.tokens.Admin, "updateOrgMemberRoles", `{target: {filter: `+pilotFilter+`, expectedCount: 40}, role: "org:billing"}`)
	if res.Succeeded != 40 || res.Failed != 0 || s.emu.Requests()[routePatchMembership] != 40 {
		t.Fatalf("%+v, requests %v", res, s.emu.Requests())
	}
	for i, it := range res.Items {
		if it.UserID != ids[i] || it.Status != "SUCCEEDED" || it.Email == nil {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	resp, raw = s.graphql(t, s.tokens.Admin, `{ orgUsers(filter: {and: [`+pilotFilter+`, {roles: ["org:billing"]}]}) { totalCount } }`, nil)
	if !strings.Contains(string(resp.Data), `"totalCount":40`) || reads(s.emu) != 0 {
		t.Fatalf("after: %s, reads %v", raw, s.emu.Requests())
	}

	// The same mutation again: all UNCHANGED, no write.
	again, _ := s.mutate(t, s.tokens.Admin, "updateOrgMemberRoles", `{target: {filter: `+pilotFilter+`, expectedCount: 40}, role: "org:billing"}`)
	if again.Unchanged != 40 || s.emu.Requests()[routePatchMembership] != 40 {
		t.Fatalf("repeat %+v, requests %v", again, s.emu.Requests())
	}

	// A member joins the cohort between preview and apply: nothing is done.
	newcomer := clerkemu.User{ID: "user_pilot_newcomer", CreatedAt: 1700000000000, UpdatedAt: 1700000000000, PublicMetadata: map[string]any{"cohort": "pilot"},
		EmailAddresses: []clerkemu.EmailAddress{{ID: "idn_pilot_newcomer", EmailAddress: "newcomer@pilot.example.com", Verified: true}}, PrimaryEmailAddressID: "idn_pilot_newcomer"}
	if err := s.emu.AddMember(clerkemu.OrgAcme, newcomer, clerkemu.RoleMember); err != nil {
		t.Fatal(err)
	}
	_, resp = s.mutate(t, s.tokens.Admin, "removeOrgMembers", `{target: {filter: `+pilotFilter+`, expectedCount: 40}}`)
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "COUNT_MISMATCH" || resp.Errors[0].Extensions["matched"] != float64(41) {
		t.Fatalf("%+v", resp.Errors)
	}
	if n := s.emu.Requests()["DELETE /v1/organizations/{id}/memberships/{user_id}"]; n != 0 {
		t.Fatalf("%d removals after a count mismatch", n)
	}
}

func TestBulkSafetyAndPermissions(t *testing.T) {
	s := newWebhookStack(t)
	s.role(t, clerkemu.UserAcmeMember)
	var admins []string
	for _, m := range s.emu.Data().Memberships {
		if m.OrganizationID == clerkemu.OrgAcme && m.Role == clerkemu.RoleAdmin {
			admins = append(admins, `"`+m.UserID+`"`)
		}
	}
	s.emu.ResetCounters()
	// Demoting every admin fails each with LAST_ADMIN; the plain member is still changed.
	res, _ := s.mutate(t, s.tokens.Admin, "updateOrgMemberRoles", `{target: {userIds: [`+strings.Join(admins, ",")+`, "user_acme_member"]}, role: "org:viewer"}`)
	if res.Failed != len(admins) || res.Succeeded != 1 {
		t.Fatalf("%+v", res)
	}
	for _, it := range res.Items[:len(admins)] {
		if it.Code != "LAST_ADMIN" {
			t.Fatalf("%+v", res.Items)
		}
	}
	// An unknown role is refused before any write.
	_, resp := s.mutate(t, s.tokens.Admin, "updateOrgMemberRoles", `{target: {userIds: ["user_acme_member"]}, role: "org:owner"}`)
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(resp.Errors[0].Message, "role") {
		t.Fatalf("%+v", resp.Errors)
	}
	// Both targets, or neither, and too many.
	for _, target := range []string{`{}`, `{userIds: ["a"], filter: {}, expectedCount: 1}`} {
		if _, resp := s.mutate(t, s.tokens.Admin, "removeOrgMembers", `{target: `+target+`}`); len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Fatalf("%s: %+v", target, resp.Errors)
		}
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf(`"user_%d"`, i)
	}
	if _, resp := s.mutate(t, s.tokens.Admin, "removeOrgMembers", `{target: {userIds: [`+strings.Join(many, ",")+`]}}`); len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "TOO_MANY_TARGETS" {
		t.Fatalf("%+v", resp.Errors)
	}
	// A member may run none of them.
	for _, m := range []string{
		`updateOrgMemberRoles(input: {target: {userIds: ["user_acme_viewer"]}, role: "org:member"})`,
		`updateOrgMemberMetadata(input: {target: {userIds: ["user_acme_viewer"]}, patch: {desk: 1}})`,
		`removeOrgMembers(input: {target: {userIds: ["user_acme_viewer"]}})`,
	} {
		resp, raw := s.graphql(t, s.tokens.Member, `mutation { `+m+` { succeeded } }`, nil)
		if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Fatalf("%s: %s", m, raw)
		}
	}
	if w := s.emu.Requests()[routePatchMembership]; w != 1 {
		t.Fatalf("%d role writes, want the one", w)
	}
	// Metadata: merged, then UNCHANGED.
	for i, want := range []string{"SUCCEEDED", "UNCHANGED"} {
		res, _ := s.mutate(t, s.tokens.Admin, "updateOrgMemberMetadata", `{target: {userIds: ["user_acme_billing"]}, patch: {desk: "B7", floor: null}}`)
		if len(res.Items) != 1 || res.Items[0].Status != want {
			t.Fatalf("#%d: %+v", i, res)
		}
	}
	if m := s.member(t, clerkemu.UserAcmeBilling); !strings.Contains(fmt.Sprint(m["membershipMetadata"]), "B7") {
		t.Fatalf("%v", m)
	}
	// Removal, then UNCHANGED for a user no longer a member.
	for i, want := range []string{"SUCCEEDED", "UNCHANGED"} {
		res, _ := s.mutate(t, s.tokens.Admin, "removeOrgMembers", `{target: {userIds: ["user_acme_viewer"]}}`)
		if len(res.Items) != 1 || res.Items[0].Status != want {
			t.Fatalf("#%d: %+v", i, res)
		}
	}
	if m := s.member(t, clerkemu.UserAcmeViewer); m != nil {
		t.Fatalf("removed member still listed: %v", m)
	}
}

func TestBulkUpstreamFailuresPerItem(t *testing.T) {
	s := newWebhookStack(t)
	s.role(t, clerkemu.UserAcmeMember)
	ids := pilotCohort(t, s)
	failing := map[string]bool{ids[3]: true, ids[17]: true, ids[31]: true}
	s.emu.SetFaults(clerkemu.Fault{Endpoint: routePatchMembership, Status: 500, Match: func(r *http.Request) bool {
		return failing[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]
	}})
	res, _ := s.mutate(t, s.tokens.Admin, "updateOrgMemberRoles", `{target: {filter: `+pilotFilter+`, expectedCount: 40}, role: "org:billing"}`)
	if res.Succeeded != 37 || res.Failed != 3 {
		t.Fatalf("%+v", res)
	}
	for _, it := range res.Items {
		if failing[it.UserID] != (it.Status == "FAILED") || failing[it.UserID] && it.Code == "" {
			t.Fatalf("%+v", it)
		}
	}
	// A 429 is waited out: its Retry-After, then the write goes through.
	s.emu.SetFaults(clerkemu.Fault{Endpoint: routePatchMembership, Status: 429, RetryAfter: time.Second, Count: 1})
	s.emu.ResetCounters()
	res, _ = s.mutate(t, s.tokens.Admin, "updateOrgMemberRoles", `{target: {userIds: ["`+ids[3]+`"]}, role: "org:billing"}`)
	if res.Succeeded != 1 || s.emu.Requests()[routePatchMembership] != 2 {
		t.Fatalf("%+v, requests %v", res, s.emu.Requests())
	}
}
