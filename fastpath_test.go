package main

import (
	"bytes"
	"testing"
)

// TestFastPathOverEmulatorData answers the same operations over the Clerk
// emulator's default dataset (1,200 members of org_acme through the real
// clerk-sdk-go client) from a stack with the fast path and one without:
// the bodies must be byte-identical. graph's TestFastPathMatchesExecutor
// covers the random shapes; this covers real data end to end.
func TestFastPathOverEmulatorData(t *testing.T) {
	fast := newStack(t, Extras{DisableResponseCache: true}, "GRAPHQL_FAST_PATH", "on")
	slow := newStack(t, Extras{DisableResponseCache: true}, "GRAPHQL_FAST_PATH", "off")
	const member = `__typename id email firstName lastName username imageUrl lastSignInAt publicMetadata createdAt role roleName membershipMetadata joinedAt lastActiveAt banned`
	queries := []struct {
		query string
		vars  map[string]any
	}{
		{`{ orgUsers(first: 1000) { totalCount pageInfo { hasNextPage endCursor hasPreviousPage startCursor } nodes { ` + member + ` } } }`, nil},
		{`{ orgUsers(first: 50, orderBy: {field: LAST_SIGN_IN_AT, direction: DESC}) { edges { cursor node { ` + member + ` } } } }`, nil},
		{`query($o: OrgUserOrder, $n: Int) { orgUsers(orderBy: $o, last: $n) { pageInfo { startCursor hasPreviousPage } nodes { id e: email } } }`,
			map[string]any{"o": map[string]any{"field": "FIRST_NAME", "direction": "ASC"}, "n": 30}},
		{`{ orgUsers(first: 3, filter: {roles: ["org:admin"]}) { totalCount facets { roles { value count } signInStatus { value count }
			lastSignIn { value count } l2: lastSignIn(bucketsDays: [1, 365]) { value count }
			metadata(path: "department") { path values { value count } otherCount missingCount }
			m2: metadata(path: "team", source: MEMBERSHIP, limit: 2) { values { value count } otherCount } } } }`, nil},
		{`{ orgUsers(filter: {search: "a", metadata: [{path: "department", exists: true}]}) { totalCount nodes { ...M } } a: orgUser(id: "user_acme_admin") { ...M } b: orgUser(id: "nobody") { id } }
			fragment M on OrgUser { ` + member + ` }`, nil},
		{`{ orgUsers(first: 5, after: "bad") { totalCount } }`, nil},
	}
	for i, q := range queries {
		resp, want := slow.graphql(t, slow.tokens.Admin, q.query, q.vars)
		if wantErrors := i == len(queries)-1; (len(resp.Errors) > 0) != wantErrors {
			t.Fatalf("%s: errors %v", q.query, resp.codes())
		}
		_, got := fast.graphql(t, fast.tokens.Admin, q.query, q.vars)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s\nfast path: %.2000s\nexecutor:  %.2000s", q.query, got, want)
		}
	}
}
