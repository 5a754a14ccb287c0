package directory_test

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

func TestOrder(t *testing.T) {
	want := map[directory.Order][]string{
		{directory.OrderEmail, directory.Asc}:         {"u1", "u2", "u4", "u5", "u6", "u3"},
		{directory.OrderEmail, directory.Desc}:        {"u6", "u5", "u4", "u2", "u1", "u3"},
		{directory.OrderFirstName, directory.Asc}:     {"u1", "u5", "u2", "u3", "u6", "u4"},
		{directory.OrderFirstName, directory.Desc}:    {"u6", "u3", "u2", "u1", "u5", "u4"},
		{directory.OrderLastName, directory.Asc}:      {"u4", "u3", "u6", "u1", "u5", "u2"},
		{directory.OrderLastName, directory.Desc}:     {"u1", "u5", "u3", "u6", "u4", "u2"},
		{directory.OrderCreatedAt, directory.Asc}:     {"u1", "u2", "u4", "u3", "u5", "u6"},
		{directory.OrderCreatedAt, directory.Desc}:    {"u6", "u5", "u3", "u2", "u4", "u1"},
		{directory.OrderLastSignInAt, directory.Asc}:  {"u6", "u3", "u1", "u4", "u2", "u5"},
		{directory.OrderLastSignInAt, directory.Desc}: {"u1", "u4", "u3", "u6", "u2", "u5"},
		{directory.OrderJoinedAt, directory.Asc}:      {"u1", "u6", "u2", "u3", "u4", "u5"},
		{directory.OrderJoinedAt, directory.Desc}:     {"u5", "u4", "u3", "u2", "u1", "u6"},
		// Empty parts default to EMAIL and ASC.
		{}:                                   {"u1", "u2", "u4", "u5", "u6", "u3"},
		{Direction: directory.Desc}:          {"u6", "u5", "u4", "u2", "u1", "u3"},
		{Field: directory.OrderLastSignInAt}: {"u6", "u3", "u1", "u4", "u2", "u5"},
	}
	snap := fixtureSnapshot(t)
	for o, w := range want {
		t.Run(fmt.Sprintf("%s_%s", o.Field, o.Direction), func(t *testing.T) {
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := ids(all(t, snap, nil, o)); !slices.Equal(got, w) {
				t.Errorf("got %v, want %v", got, w)
			}
		})
	}
}

func TestOrderValidate(t *testing.T) {
	wantCode(t, directory.Order{Field: "AGE"}.Validate(), directory.CodeBadUserInput, `orderBy.field: unknown value "AGE"`)
	wantCode(t, directory.Order{Direction: "UP"}.Validate(), directory.CodeBadUserInput, `orderBy.direction: unknown value "UP"`)
	for _, o := range allOrders() {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// refCompare is the ordering contract written out plainly, to check the
// snapshot's indexes against on generated data.
func refCompare(o directory.Order, a, b *directory.Member) int {
	text := func(m *directory.Member) *string {
		var p *string
		switch o.Field {
		case directory.OrderEmail, "":
			p = m.Email
		case directory.OrderFirstName:
			p = m.FirstName
		case directory.OrderLastName:
			p = m.LastName
		default:
			return nil
		}
		if p == nil {
			return nil
		}
		return ptr(strings.ToLower(*p))
	}
	when := func(m *directory.Member) *time.Time {
		switch o.Field {
		case directory.OrderCreatedAt:
			return &m.CreatedAt
		case directory.OrderJoinedAt:
			return &m.JoinedAt
		case directory.OrderLastSignInAt:
			return m.LastSignInAt
		}
		return nil
	}
	var aNull, bNull bool
	c := 0
	switch o.Field {
	case directory.OrderCreatedAt, directory.OrderJoinedAt, directory.OrderLastSignInAt:
		ta, tb := when(a), when(b)
		aNull, bNull = ta == nil, tb == nil
		if !aNull && !bNull {
			c = ta.Compare(*tb)
		}
	default:
		sa, sb := text(a), text(b)
		aNull, bNull = sa == nil, sb == nil
		if !aNull && !bNull {
			c = strings.Compare(*sa, *sb)
		}
	}
	switch {
	case aNull && !bNull:
		return 1
	case bNull && !aNull:
		return -1
	}
	if o.Direction == directory.Desc {
		c = -c
	}
	if c != 0 {
		return c
	}
	return cmp.Compare(a.UserID, b.UserID)
}

func TestOrderMatchesReference(t *testing.T) {
	members := genMembers(500, 1)
	snap := directory.NewSnapshot("org_gen", members, base)
	for _, o := range allOrders() {
		ref := slices.Clone(members)
		slices.SortFunc(ref, func(a, b directory.Member) int { return refCompare(o, &a, &b) })
		want := make([]string, len(ref))
		for i := range ref {
			want[i] = ref[i].UserID
		}
		if got := ids(all(t, snap, nil, o)); !slices.Equal(got, want) {
			t.Errorf("%+v: snapshot order differs from the reference order", o)
		}
	}
}

// walk pages through every match of f in order o, size members at a time,
// checks each page's flags and counts, and returns the members in order.
func walk(t *testing.T, snap *directory.Snapshot, f *directory.Filter, o directory.Order, size int) []string {
	t.Helper()
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > snap.Len()+1 {
			t.Fatalf("%+v size %d: paging does not end", o, size)
		}
		p, err := snap.Query(directory.Query{Filter: f, Order: o, First: size, After: after})
		if err != nil {
			t.Fatalf("%+v size %d page %d: %v", o, size, pages, err)
		}
		if len(p.Members) > size || len(p.Cursors) != len(p.Members) {
			t.Fatalf("page %d: %d members, %d cursors for first=%d", pages, len(p.Members), len(p.Cursors), size)
		}
		if p.HasPreviousPage != (len(got) > 0) {
			t.Fatalf("%+v size %d page %d: HasPreviousPage %v after %d members", o, size, pages, p.HasPreviousPage, len(got))
		}
		got = append(got, ids(p)...)
		if p.HasNextPage != (len(got) < p.TotalCount) {
			t.Fatalf("%+v size %d page %d: HasNextPage %v with %d of %d seen", o, size, pages, p.HasNextPage, len(got), p.TotalCount)
		}
		if !p.HasNextPage {
			return got
		}
		after = p.Cursors[len(p.Cursors)-1]
	}
}

func TestCursorWalk(t *testing.T) {
	filters := map[string]*directory.Filter{
		"all":   nil,
		"some":  {Or: []directory.Filter{{SignInStatus: directory.NeverSignedIn}, {Metadata: []directory.MetadataCondition{meta("department", directory.OpEquals, "Sales")}}}},
		"none":  {Roles: []string{}},
		"admin": {Roles: []string{"org:admin"}},
	}
	snaps := map[string]*directory.Snapshot{
		"fixture":   fixtureSnapshot(t),
		"generated": directory.NewSnapshot("org_gen", genMembers(120, 2), base),
	}
	for sname, snap := range snaps {
		for fname, f := range filters {
			for _, o := range allOrders() {
				want := ids(all(t, snap, f, o))
				for _, size := range []int{1, 2, 3, 7, 50, directory.MaxFirst} {
					t.Run(fmt.Sprintf("%s/%s/%s_%s/%d", sname, fname, o.Field, o.Direction, size), func(t *testing.T) {
						if got := walk(t, snap, f, o, size); !slices.Equal(got, want) {
							t.Errorf("pages concatenate to %v, want %v", got, want)
						}
					})
				}
			}
		}
	}
}

func TestFirst(t *testing.T) {
	snap := fixtureSnapshot(t)
	for _, first := range []int{-1, directory.MaxFirst + 1} {
		_, err := snap.Query(directory.Query{First: first})
		wantCode(t, err, directory.CodeBadUserInput, "first must be between 0 and 1000")
	}
	p, err := snap.Query(directory.Query{First: directory.MaxFirst})
	if err != nil || len(p.Members) != 6 || p.HasNextPage || p.HasPreviousPage {
		t.Fatalf("first=MaxFirst: %d members, next %v, prev %v, err %v", len(p.Members), p.HasNextPage, p.HasPreviousPage, err)
	}

	tests := []struct {
		name      string
		filter    *directory.Filter
		afterIdx  int // cursor of the member at this position of the unfiltered first page; -1 for none
		total     int
		next      bool
		prev      bool
		firstPage []string
	}{
		{"first=0 counts all", nil, -1, 6, true, false, nil},
		{"first=0 filtered", &directory.Filter{Roles: []string{"org:admin"}}, -1, 2, true, false, nil},
		{"first=0 no matches", &directory.Filter{Roles: []string{}}, -1, 0, false, false, nil},
		{"first=0 after the last member", nil, 5, 6, false, true, nil},
		{"first=0 mid-way", nil, 2, 6, true, true, nil},
	}
	full, _ := snap.Query(directory.Query{First: 6})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := directory.Query{Filter: tt.filter, First: 0}
			if tt.afterIdx >= 0 {
				q.After = full.Cursors[tt.afterIdx]
			}
			p, err := snap.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Members) != 0 || len(p.Cursors) != 0 || p.TotalCount != tt.total || p.HasNextPage != tt.next || p.HasPreviousPage != tt.prev {
				t.Errorf("got %d members, total %d, next %v, prev %v; want 0, %d, %v, %v",
					len(p.Members), p.TotalCount, p.HasNextPage, p.HasPreviousPage, tt.total, tt.next, tt.prev)
			}
		})
	}
}

func TestHasPreviousPageCountsOnlyMatches(t *testing.T) {
	snap := fixtureSnapshot(t)
	full, _ := snap.Query(directory.Query{First: 6}) // EMAIL ASC: u1 u2 u4 u5 u6 u3
	billing := &directory.Filter{Roles: []string{"org:billing"}}
	// After u1 (not billing) nothing matching precedes.
	p, err := snap.Query(directory.Query{Filter: billing, First: 10, After: full.Cursors[0]})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []string{"u4"}) || p.HasPreviousPage || p.HasNextPage || p.TotalCount != 1 {
		t.Errorf("after u1: %v prev %v next %v total %d; want [u4] false false 1", got, p.HasPreviousPage, p.HasNextPage, p.TotalCount)
	}
	// After u5, u4 matches and precedes.
	p, _ = snap.Query(directory.Query{Filter: billing, First: 10, After: full.Cursors[3]})
	if len(p.Members) != 0 || !p.HasPreviousPage || p.TotalCount != 1 {
		t.Errorf("after u5: %v prev %v total %d; want [] true 1", ids(p), p.HasPreviousPage, p.TotalCount)
	}
}

func TestCursorFromNullKey(t *testing.T) {
	snap := fixtureSnapshot(t)
	o := directory.Order{Field: directory.OrderLastSignInAt, Direction: directory.Desc} // u1 u4 u3 u6 u2 u5
	p, _ := snap.Query(directory.Query{Order: o, First: 5})
	if last := p.Members[4].UserID; last != "u2" {
		t.Fatalf("fifth member %s, want u2", last)
	}
	next, err := snap.Query(directory.Query{Order: o, First: 5, After: p.Cursors[4]})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(next); !slices.Equal(got, []string{"u5"}) {
		t.Errorf("after null-keyed u2: %v, want [u5]", got)
	}
}

func TestCursorSurvivesDeletion(t *testing.T) {
	members := fixture()
	snap := directory.NewSnapshot("org_1", members, base)
	o := directory.Order{Field: directory.OrderLastName, Direction: directory.Asc} // u4 u3 u6 u1 u5 u2
	p, _ := snap.Query(directory.Query{Order: o, First: 3})
	cursor := p.Cursors[2] // u6, last name "Young"

	// u6 leaves; u7 joins sorting before the cursor and u8 after it.
	var next []directory.Member
	for _, m := range members {
		if m.UserID != "u6" {
			next = append(next, m)
		}
	}
	next = append(next,
		directory.Member{UserID: "u7", LastName: ptr("Adams"), CreatedAt: at(6), JoinedAt: at(15)},
		directory.Member{UserID: "u8", LastName: ptr("Yz"), CreatedAt: at(6), JoinedAt: at(15)},
		directory.Member{UserID: "u0", LastName: ptr("YOUNG"), CreatedAt: at(6), JoinedAt: at(15)}, // ties "young" with a smaller id
		directory.Member{UserID: "u9", LastName: ptr("young"), CreatedAt: at(6), JoinedAt: at(15)}, // ties with a larger id
	)
	snap2 := directory.NewSnapshot("org_1", next, base.Add(time.Minute))
	got, err := snap2.Query(directory.Query{Order: o, First: 10, After: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"u9", "u8", "u1", "u5", "u2"}; !slices.Equal(ids(got), want) {
		t.Errorf("after departed u6: %v, want %v", ids(got), want)
	}
	if !got.HasPreviousPage || got.HasNextPage || got.TotalCount != 9 {
		t.Errorf("prev %v next %v total %d; want true false 9", got.HasPreviousPage, got.HasNextPage, got.TotalCount)
	}
}

func TestCursorRejected(t *testing.T) {
	snap := fixtureSnapshot(t)
	o := directory.Order{Field: directory.OrderCreatedAt, Direction: directory.Desc}
	p, _ := snap.Query(directory.Query{Order: o, First: 6})
	valid := p.Cursors[2]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

	var bad []string
	for i := range valid { // every single-character change
		c := alphabet[(strings.IndexByte(alphabet, valid[i])+17)%len(alphabet)]
		bad = append(bad, valid[:i]+string(c)+valid[i+1:])
	}
	for n := 1; n < len(valid); n++ { // every truncation
		bad = append(bad, valid[:n])
	}
	bad = append(bad, valid+"A", valid+"AAAA", "!!!", "not a cursor", "null", "=",
		base64.RawURLEncoding.EncodeToString([]byte("hello, world")),
		base64.StdEncoding.EncodeToString([]byte{1, 9, 0, 0, 0, 0, 0, 0}))
	for _, c := range bad {
		_, err := snap.Query(directory.Query{Order: o, First: 1, After: c})
		if directory.ErrorCode(err) != directory.CodeBadUserInput || directory.ErrorMessage(err) != "invalid cursor" {
			t.Errorf("cursor %q (valid %q): err %v, want BAD_USER_INPUT invalid cursor", c, valid, err)
		}
	}

	for _, other := range allOrders() {
		if other == o {
			continue
		}
		_, err := snap.Query(directory.Query{Order: other, First: 1, After: valid})
		wantCode(t, err, directory.CodeBadUserInput, "cursor does not match orderBy")
	}
	if _, err := snap.Query(directory.Query{Order: o, First: 1, After: valid}); err != nil {
		t.Errorf("valid cursor: %v", err)
	}
}

func TestConcurrentQueries(t *testing.T) {
	snap := directory.NewSnapshot("org_gen", genMembers(300, 3), base)
	want := map[directory.Order][]string{}
	for _, o := range allOrders() {
		want[o] = ids(all(t, snap, nil, o))
	}
	snap = directory.NewSnapshot("org_gen", slices.Clone(snap.Members()), base) // indexes not built yet
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range allOrders() {
				o := allOrders()[(i+g*3)%len(allOrders())]
				p, err := snap.Query(directory.Query{Order: o, First: 300})
				if err != nil {
					t.Error(err)
					return
				}
				if !slices.Equal(ids(p), want[o]) {
					t.Errorf("%+v: concurrent query order differs", o)
				}
			}
		})
	}
	wg.Wait()
}

// walkBack pages backwards from the end with last=size and before
// cursors, and returns the ids in order.
func walkBack(t *testing.T, snap *directory.Snapshot, f *directory.Filter, o directory.Order, size int) []string {
	t.Helper()
	var pages [][]string
	before := ""
	for guard := 0; guard < 10_000; guard++ {
		p, err := snap.Query(directory.Query{Filter: f, Order: o, Last: &size, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Members) > size {
			t.Fatalf("last=%d gave %d members", size, len(p.Members))
		}
		if before == "" && p.HasNextPage {
			t.Fatal("the last page has a next page")
		}
		pages = append(pages, ids(p))
		if !p.HasPreviousPage {
			break
		}
		if len(p.Cursors) == 0 {
			t.Fatal("a previous page but no cursor")
		}
		before = p.Cursors[0]
	}
	var got []string
	for i := len(pages) - 1; i >= 0; i-- {
		got = append(got, pages[i]...)
	}
	return got
}

// TestCursorWalkBackwards: last/before pages, walked from the end, give
// the same members in the same order as first/after pages.
func TestCursorWalkBackwards(t *testing.T) {
	filters := map[string]*directory.Filter{
		"all":   nil,
		"some":  {Or: []directory.Filter{{SignInStatus: directory.NeverSignedIn}, {Metadata: []directory.MetadataCondition{meta("department", directory.OpEquals, "Sales")}}}},
		"none":  {Roles: []string{}},
		"admin": {Roles: []string{"org:admin"}},
	}
	snap := directory.NewSnapshot("org_gen", genMembers(120, 2), base)
	for fname, f := range filters {
		for _, o := range allOrders() {
			want := ids(all(t, snap, f, o))
			for _, size := range []int{1, 3, 7, 50} {
				t.Run(fmt.Sprintf("%s/%s_%s/%d", fname, o.Field, o.Direction, size), func(t *testing.T) {
					if got := walkBack(t, snap, f, o, size); !slices.Equal(got, want) {
						t.Errorf("pages concatenate to %v, want %v", got, want)
					}
				})
			}
		}
	}
	// A range between two cursors, from either end.
	o := directory.Order{Field: directory.OrderEmail, Direction: directory.Asc}
	p, _ := snap.Query(directory.Query{Order: o, First: 100})
	after, before := p.Cursors[9], p.Cursors[30]
	fwd, _ := snap.Query(directory.Query{Order: o, First: 100, After: after, Before: before})
	five := 5
	back, _ := snap.Query(directory.Query{Order: o, Last: &five, Before: before, After: after})
	want := ids(p)
	if got := ids(fwd); !slices.Equal(got, want[10:30]) || !fwd.HasNextPage || !fwd.HasPreviousPage {
		t.Fatalf("forward range %v", got)
	}
	if got := ids(back); !slices.Equal(got, want[25:30]) || !back.HasNextPage || !back.HasPreviousPage {
		t.Fatalf("backward range %v", got)
	}
	bad := directory.MaxFirst + 1
	_, err := snap.Query(directory.Query{Last: &bad})
	wantCode(t, err, directory.CodeBadUserInput, "last must be between 0 and 1000")
}
