package graph

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBackwardPaging: last/before pages from the end, as Relay's connection
// spec has them; first and last together, or last out of range, are
// refused naming the argument.
func TestBackwardPaging(t *testing.T) {
	url := serve(t, Options{}, admin)
	type page struct {
		OrgUsers struct {
			Nodes    []struct{ ID string }
			PageInfo struct {
				HasNextPage, HasPreviousPage bool
				StartCursor, EndCursor       *string
			}
		}
	}
	run := func(args string) (page, answer) {
		t.Helper()
		a := postQuery(t, url, `{ orgUsers(`+args+`) { nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`)
		var p page
		_ = json.Unmarshal(a.Data, &p)
		return p, a
	}
	ids := func(p page) string {
		var out []string
		for _, n := range p.OrgUsers.Nodes {
			out = append(out, n.ID)
		}
		return strings.Join(out, ",")
	}
	// The test members, by email: user_1, user_2, user_3.
	last, _ := run(`last: 2`)
	if ids(last) != "user_2,user_3" || !last.OrgUsers.PageInfo.HasPreviousPage || last.OrgUsers.PageInfo.HasNextPage {
		t.Fatalf("last 2: %+v", last)
	}
	prev, _ := run(`last: 2, before: "` + *last.OrgUsers.PageInfo.StartCursor + `"`)
	if ids(prev) != "user_1" || prev.OrgUsers.PageInfo.HasPreviousPage || !prev.OrgUsers.PageInfo.HasNextPage {
		t.Fatalf("before user_2: %+v", prev)
	}
	for args, says := range map[string]string{
		`first: 2, last: 2`: "not both",
		`last: 1001`:        "last",
		`last: -1`:          "last",
	} {
		if _, a := run(args); a.codes() != "BAD_USER_INPUT" || !strings.Contains(a.Errors[0].Message, says) {
			t.Errorf("%s: %s", args, a.raw)
		}
	}
	// first given through a variable counts as given.
	a := post(t, url, `{"query":"query($f: Int) { orgUsers(first: $f, last: 1) { totalCount } }","variables":{"f":1}}`)
	if a.codes() != "BAD_USER_INPUT" {
		t.Fatalf("%s", a.raw)
	}
	// One text for both directions, as Relay's bidirectional pagination
	// sends: a $first that is absent or null is not given.
	both := `query($f: Int, $l: Int) { orgUsers(first: $f, last: $l) { nodes { id } } }`
	for _, vars := range []string{`{"l":1}`, `{"f":null,"l":1}`} {
		a = post(t, url, `{"query":"`+both+`","variables":`+vars+`}`)
		var p page
		if err := json.Unmarshal(a.Data, &p); err != nil || a.codes() != "" || ids(p) != "user_3" {
			t.Fatalf("%s: %s", vars, a.raw)
		}
	}
}
