package main

import (
	"encoding/json"
	"testing"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

// TestRelayNode: node(id) refetches a member of the caller's organization
// and nothing else, and OrgUser implements Node (what relay-compiler needs
// for @refetchable).
func TestRelayNode(t *testing.T) {
	s := newStack(t, Extras{}, "GRAPHQL_INTROSPECTION", "true")
	const q = `query($id: ID!) { node(id: $id) { __typename id ... on OrgUser { email role } } }`
	node := func(token, id string) (map[string]any, []string) {
		t.Helper()
		resp, raw := s.graphql(t, token, q, map[string]any{"id": id})
		var out struct{ Node map[string]any }
		if resp.Data != nil {
			if err := json.Unmarshal(resp.Data, &out); err != nil {
				t.Fatalf("%s", raw)
			}
		}
		return out.Node, resp.codes()
	}
	want := s.member(t, clerkemu.UserAcmeMember)
	got, codes := node(s.tokens.Admin, clerkemu.UserAcmeMember)
	if len(codes) > 0 || got["__typename"] != "OrgUser" || got["id"] != clerkemu.UserAcmeMember || got["email"] != want["email"] || got["role"] != want["role"] {
		t.Fatalf("node = %v %v, want the member %v", got, codes, want)
	}

	// A member of another organization only: null for this caller.
	midAdmin, err := s.emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgMid, OrgSlug: "initech", OrgRole: "org:admin"})
	if err != nil {
		t.Fatal(err)
	}
	resp, raw := s.graphql(t, midAdmin, `{ orgUsers(first: 1000) { nodes { id } } }`, nil)
	var mid connection
	if err := json.Unmarshal(resp.Data, &mid); err != nil || len(mid.OrgUsers.Nodes) == 0 {
		t.Fatalf("%s", raw)
	}
	outsider := ""
	for _, n := range mid.OrgUsers.Nodes {
		if s.member(t, n.ID) == nil {
			outsider = n.ID
			break
		}
	}
	if outsider == "" {
		t.Fatal("every member of org_mid is in org_acme too")
	}
	if got, codes := node(s.tokens.Admin, outsider); got != nil || len(codes) > 0 {
		t.Fatalf("another organization's member: %v %v, want null", got, codes)
	}
	if got, codes := node(s.tokens.Admin, "user_nobody"); got != nil || len(codes) > 0 {
		t.Fatalf("an unknown id: %v %v, want null", got, codes)
	}
	if _, codes := node(s.tokens.Member, clerkemu.UserAcmeMember); len(codes) != 1 || codes[0] != "FORBIDDEN" {
		t.Fatalf("a member's token: %v, want FORBIDDEN", codes)
	}

	resp, raw = s.graphql(t, s.tokens.Admin, `{ __type(name: "OrgUser") { interfaces { name } } }`, nil)
	var intro struct {
		Type struct{ Interfaces []struct{ Name string } } `json:"__type"`
	}
	if err := json.Unmarshal(resp.Data, &intro); err != nil || len(intro.Type.Interfaces) != 1 || intro.Type.Interfaces[0].Name != "Node" {
		t.Fatalf("OrgUser's interfaces: %s", raw)
	}
}
