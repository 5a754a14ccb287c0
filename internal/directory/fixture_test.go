package directory_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// base is the epoch of the fixture's times; at(n) is n hours after it.
var base = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func at(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

func ptr[T any](v T) *T { return &v }

// fixture returns six hand-built members, in a load order that differs from
// every sort order, with nulls and ties (case-insensitive) in every field:
//
//	id  email              first  last    lastSignIn created joined role
//	u1  Alice@Example.com  Alice  Zephyr  5          1       10     org:admin
//	u2  bob@example.com    bob    -       -          2       11     org:member
//	u3  -                  Carol  Young   3          3       12     org:member
//	u4  dave@example.com   -      Xu      5          2       13     org:billing
//	u5  eve@example.com    ALICE  zephyr  -          4       14     org:admin
//	u6  frank@Example.com  Frank  Young   1          5       10     org:member
func fixture() []directory.Member {
	m := map[string]directory.Member{
		"u1": {
			UserID: "u1", Email: ptr("Alice@Example.com"), FirstName: ptr("Alice"), LastName: ptr("Zephyr"),
			Username: ptr("alice"), LastSignInAt: ptr(at(5)), CreatedAt: at(1), JoinedAt: at(10), Role: "org:admin",
			PublicMetadata: json.RawMessage(`{"department":"Engineering","vnum":7,"big":12345678901234567890,
				"skills":["go","sql"],"location":{"country":"DE","city":"Berlin"},"nul":null,"flag":true}`),
			MembershipMetadata: json.RawMessage(`{"team":"core"}`),
		},
		"u2": {
			UserID: "u2", Email: ptr("bob@example.com"), FirstName: ptr("bob"),
			CreatedAt: at(2), JoinedAt: at(11), Role: "org:member",
			PublicMetadata:     json.RawMessage(`{"department":"Sales","vnum":7.0,"skills":["excel"],"location":"remote"}`),
			MembershipMetadata: json.RawMessage(`{}`),
		},
		"u3": {
			UserID: "u3", FirstName: ptr("Carol"), LastName: ptr("Young"),
			LastSignInAt: ptr(at(3)), CreatedAt: at(3), JoinedAt: at(12), Role: "org:member",
			PublicMetadata:     json.RawMessage(`{"department":"engineering","vnum":"7","location":{"country":"US"}}`),
			MembershipMetadata: json.RawMessage(`{"team":"growth","level":2}`),
		},
		"u4": {
			UserID: "u4", Email: ptr("dave@example.com"), LastName: ptr("Xu"),
			LastSignInAt: ptr(at(5)), CreatedAt: at(2), JoinedAt: at(13), Role: "org:billing",
			PublicMetadata:     json.RawMessage(`{}`),
			MembershipMetadata: json.RawMessage(`{"office":"MÜNCHEN"}`),
		},
		"u5": {
			UserID: "u5", Email: ptr("eve@example.com"), FirstName: ptr("ALICE"), LastName: ptr("zephyr"),
			CreatedAt: at(4), JoinedAt: at(14), Role: "org:admin",
			PublicMetadata:     json.RawMessage(`{"department": oops`), // invalid: treated as {}
			MembershipMetadata: json.RawMessage(`null`),
		},
		"u6": {
			UserID: "u6", Email: ptr("frank@Example.com"), FirstName: ptr("Frank"), LastName: ptr("Young"),
			Username: ptr("FRANKIE"), LastSignInAt: ptr(at(1)), CreatedAt: at(5), JoinedAt: at(10), Role: "org:member",
			PublicMetadata: json.RawMessage(`{"skills":"go","vnum":8,"location":{"country":"DE"}}`),
		},
	}
	var out []directory.Member
	for _, id := range []string{"u4", "u1", "u6", "u3", "u5", "u2"} {
		out = append(out, m[id])
	}
	return out
}

func fixtureSnapshot(t testing.TB) *directory.Snapshot {
	t.Helper()
	return directory.NewSnapshot("org_1", fixture(), base)
}

// ids returns the user ids of a page's members, in order.
func ids(p *directory.Page) []string {
	out := make([]string, len(p.Members))
	for i, m := range p.Members {
		out[i] = m.UserID
	}
	return out
}

// all runs Snapshot.All and fails the test on error.
func all(t *testing.T, s *directory.Snapshot, f *directory.Filter, o directory.Order) *directory.Page {
	t.Helper()
	p, err := s.All(f, o)
	if err != nil {
		t.Fatalf("All(%+v, %+v): %v", f, o, err)
	}
	return p
}

// allOrders lists the 12 orderings.
func allOrders() []directory.Order {
	var out []directory.Order
	for _, f := range []directory.OrderField{
		directory.OrderEmail, directory.OrderFirstName, directory.OrderLastName,
		directory.OrderCreatedAt, directory.OrderLastSignInAt, directory.OrderJoinedAt,
	} {
		for _, d := range []directory.Direction{directory.Asc, directory.Desc} {
			out = append(out, directory.Order{Field: f, Direction: d})
		}
	}
	return out
}

// wantCode fails the test unless err is an *Error with code and, when msg
// is not empty, exactly that message.
func wantCode(t *testing.T, err error, code directory.Code, msg string) {
	t.Helper()
	if got := directory.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if msg != "" && directory.ErrorMessage(err) != msg {
		t.Fatalf("error message %q, want %q", directory.ErrorMessage(err), msg)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
