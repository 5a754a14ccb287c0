package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func sha(q string) string {
	s := sha256.Sum256([]byte(q))
	return hex.EncodeToString(s[:])
}

// TestPersistedQueriesAsApolloSendsThem follows Apollo Client's persisted
// query link: the hash alone first (not found), then hash and query
// (registered), then the hash alone again (found), over POST and GET.
func TestPersistedQueriesAsApolloSendsThem(t *testing.T) {
	u := serve(t, Options{}, admin)
	const q = `query Two { orgUsers(first: 2) { nodes { id } } }`
	ext := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%s"}}`, sha(q))

	a := post(t, u, `{"operationName":"Two","variables":{},"extensions":`+ext+`}`)
	if a.status != 200 || a.codes() != CodePersistedQueryNotFound || a.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("hash alone, first time: %d %s", a.status, a.raw)
	}
	a = post(t, u, `{"operationName":"Two","query":`+quote(q)+`,"extensions":`+ext+`}`)
	if a.status != 200 || len(a.Errors) != 0 || !strings.Contains(string(a.Data), "user_2") {
		t.Fatalf("registering: %d %s", a.status, a.raw)
	}
	a = post(t, u, `{"operationName":"Two","extensions":`+ext+`}`)
	if a.status != 200 || len(a.Errors) != 0 || !strings.Contains(string(a.Data), "user_2") {
		t.Fatalf("hash alone, registered: %d %s", a.status, a.raw)
	}
	a = do(t, mustRequest(t, http.MethodGet, u+"?operationName=Two&extensions="+url.QueryEscape(ext), ""))
	if a.status != 200 || len(a.Errors) != 0 || !strings.Contains(string(a.Data), "user_2") {
		t.Fatalf("GET, hash alone: %d %s", a.status, a.raw)
	}
}

func TestPersistedQueryRefusals(t *testing.T) {
	u := serve(t, Options{}, admin)
	q := `{ viewer { userId } }`
	cases := []struct{ name, body, code string }{
		{"hash mismatch", `{"query":` + quote(q) + `,"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + sha("other") + `"}}}`, CodePersistedQueryHashMismatch},
		{"version 2", `{"query":` + quote(q) + `,"extensions":{"persistedQuery":{"version":2,"sha256Hash":"` + sha(q) + `"}}}`, CodePersistedQueryNotSupported},
		{"no hash", `{"extensions":{"persistedQuery":{"version":1}}}`, "BAD_USER_INPUT"},
	}
	for _, tc := range cases {
		if a := post(t, u, tc.body); a.codes() != tc.code {
			t.Errorf("%s: %d %s", tc.name, a.status, a.raw)
		}
	}
	// A mismatched hash registers nothing.
	if a := post(t, u, `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"`+sha("other")+`"}}}`); a.codes() != CodePersistedQueryNotFound {
		t.Fatalf("%s", a.raw)
	}
	// Turned off.
	off := serve(t, Options{PersistedQueryBytes: -1}, admin)
	if a := post(t, off, `{"query":`+quote(q)+`,"extensions":{"persistedQuery":{"version":1,"sha256Hash":"`+sha(q)+`"}}}`); a.codes() != CodePersistedQueryNotSupported {
		t.Fatalf("%s", a.raw)
	}
}

// TestPersistedMutationOverGETIsRefused: a persisted mutation found by its
// hash still may not run over GET.
func TestPersistedMutationOverGETIsRefused(t *testing.T) {
	u := serve(t, Options{}, admin)
	m := `mutation { removeOrgMembers(input: {target: {userIds: ["user_2"]}, dryRun: true}) { matched } }`
	ext := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%s"}}`, sha(m))
	post(t, u, `{"query":`+quote(m)+`,"extensions":`+ext+`}`) // registers it (and answers: no Bulk configured)
	a := do(t, mustRequest(t, http.MethodGet, u+"?extensions="+url.QueryEscape(ext), ""))
	if a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Fatalf("%d %s", a.status, a.raw)
	}
}
