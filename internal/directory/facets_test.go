package directory_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

func allFacets(meta ...directory.MetadataFacetRequest) directory.FacetRequest {
	return directory.FacetRequest{Roles: true, SignInStatus: true, LastSignIn: true, Metadata: meta}
}

func facets(t *testing.T, s *directory.Snapshot, f *directory.Filter, req directory.FacetRequest, now time.Time) *directory.Facets {
	t.Helper()
	got, err := s.Facets(f, req, now)
	if err != nil {
		t.Fatalf("Facets(%+v, %+v): %v", f, req, err)
	}
	return got
}

// metaJSON renders a metadata facet as compact text for comparisons.
func metaJSON(f directory.MetadataFacet) string {
	var vs []string
	for _, v := range f.Values {
		vs = append(vs, fmt.Sprintf("%s:%d", v.Value, v.Count))
	}
	return fmt.Sprintf("%s [%s] other=%d missing=%d", f.Path, strings.Join(vs, " "), f.OtherCount, f.MissingCount)
}

func TestFacetsFixture(t *testing.T) {
	snap := fixtureSnapshot(t)
	now := at(5).Add(24 * time.Hour) // u1 and u4 signed in exactly one day before
	req := allFacets(
		directory.MetadataFacetRequest{Path: "vnum", Limit: 20},
		directory.MetadataFacetRequest{Path: "skills", Limit: 20},
		directory.MetadataFacetRequest{Path: "location", Limit: 20},
		directory.MetadataFacetRequest{Path: "location.country", Limit: 1},
		directory.MetadataFacetRequest{Path: "team", Source: directory.MetadataMembership, Limit: 20},
		directory.MetadataFacetRequest{Path: "nope.deeper", Limit: 20},
		directory.MetadataFacetRequest{Path: "nul", Limit: 20},
	)
	req.BucketsDays = []int{1, 2}
	got := facets(t, snap, nil, req, now)

	wantRoles := []directory.FacetCount{{"org:member", 3}, {"org:admin", 2}, {"org:billing", 1}}
	if !reflect.DeepEqual(got.Roles, wantRoles) {
		t.Errorf("roles = %v, want %v", got.Roles, wantRoles)
	}
	wantStatus := []directory.FacetCount{{"SIGNED_IN", 4}, {"NEVER_SIGNED_IN", 2}}
	if !reflect.DeepEqual(got.SignInStatus, wantStatus) {
		t.Errorf("signInStatus = %v, want %v", got.SignInStatus, wantStatus)
	}
	// u1, u4: 24h ago (the bound is inclusive); u3: 26h; u6: 28h; u2, u5: never.
	wantBuckets := []directory.FacetCount{{"<=1", 2}, {"<=2", 2}, {">2", 0}, {"never", 2}}
	if !reflect.DeepEqual(got.LastSignIn, wantBuckets) {
		t.Errorf("lastSignIn = %v, want %v", got.LastSignIn, wantBuckets)
	}
	wantMeta := []string{
		`vnum [7:2 "7":1 8:1] other=0 missing=2`, // 7 and 7.0 are one value; u5's metadata is invalid
		`skills ["go":2 "excel":1 "sql":1] other=0 missing=3`,
		`location ["remote":1] other=3 missing=2`,
		`location.country ["DE":2] other=1 missing=3`, // "US" is beyond the limit
		`team ["core":1 "growth":1] other=0 missing=4`,
		`nope.deeper [] other=0 missing=6`,
		`nul [null:1] other=0 missing=5`,
	}
	for i, w := range wantMeta {
		if g := metaJSON(got.Metadata[i]); g != w {
			t.Errorf("metadata[%d] = %s, want %s", i, g, w)
		}
	}

	// A filter: only what totalCount counts.
	f := &directory.Filter{SignInStatus: directory.SignedIn}
	got = facets(t, snap, f, allFacets(directory.MetadataFacetRequest{Path: "vnum", Limit: 20}), now)
	if w := []directory.FacetCount{{"org:member", 2}, {"org:admin", 1}, {"org:billing", 1}}; !reflect.DeepEqual(got.Roles, w) {
		t.Errorf("filtered roles = %v, want %v", got.Roles, w)
	}
	if w := []directory.FacetCount{{"SIGNED_IN", 4}, {"NEVER_SIGNED_IN", 0}}; !reflect.DeepEqual(got.SignInStatus, w) {
		t.Errorf("filtered signInStatus = %v, want %v", got.SignInStatus, w)
	}
	if w := []directory.FacetCount{{"<=7", 4}, {"<=30", 0}, {"<=90", 0}, {">90", 0}, {"never", 0}}; !reflect.DeepEqual(got.LastSignIn, w) {
		t.Errorf("filtered lastSignIn = %v, want %v", got.LastSignIn, w)
	}
	if g, w := metaJSON(got.Metadata[0]), `vnum ["7":1 7:1 8:1] other=0 missing=1`; g != w {
		t.Errorf("filtered vnum = %s, want %s", g, w)
	}

	// Nothing matches: empty roles, zero counts, everything else present.
	got = facets(t, snap, &directory.Filter{Emails: []string{}}, allFacets(directory.MetadataFacetRequest{Path: "vnum", Limit: 5}), now)
	if len(got.Roles) != 0 || got.Roles == nil || got.SignInStatus[0].Count+got.SignInStatus[1].Count != 0 ||
		metaJSON(got.Metadata[0]) != `vnum [] other=0 missing=0` {
		t.Errorf("empty match: %+v", got)
	}

	// Unrequested facets are not computed.
	got = facets(t, snap, nil, directory.FacetRequest{Roles: true}, now)
	if got.SignInStatus != nil || got.LastSignIn != nil || got.Metadata != nil {
		t.Errorf("unrequested facets computed: %+v", got)
	}
}

func TestFacetsOfAPageCountEveryPage(t *testing.T) {
	snap := directory.NewSnapshot("org_gen", genMembers(500, 3), base)
	f := &directory.Filter{Roles: []string{"org:member"}, Metadata: []directory.MetadataCondition{{Path: "department", Op: directory.OpIn, Values: []any{"Sales", "Support"}}}}
	page, err := snap.Query(directory.Query{Filter: f, First: 3})
	if err != nil {
		t.Fatal(err)
	}
	req := allFacets(directory.MetadataFacetRequest{Path: "department", Limit: 20})
	fromPage, err := page.Facets(req, base)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromPage, facets(t, snap, f, req, base)) {
		t.Errorf("page facets differ from snapshot facets")
	}
	if fromPage.Roles[0].Count != page.TotalCount || page.TotalCount <= 3 {
		t.Errorf("roles %v, totalCount %d", fromPage.Roles, page.TotalCount)
	}
	if _, err := (&directory.Page{}).Facets(req, base); directory.ErrorCode(err) != directory.CodeInternal {
		t.Errorf("hand-built page: %v", err)
	}
}

func TestFacetsErrors(t *testing.T) {
	snap := fixtureSnapshot(t)
	cases := []struct {
		req  directory.FacetRequest
		says string
	}{
		{directory.FacetRequest{LastSignIn: true, BucketsDays: []int{}}, "bucketsDays"},
		{directory.FacetRequest{LastSignIn: true, BucketsDays: []int{0}}, "bucketsDays"},
		{directory.FacetRequest{LastSignIn: true, BucketsDays: []int{3651}}, "bucketsDays"},
		{directory.FacetRequest{LastSignIn: true, BucketsDays: []int{30, 7}}, "bucketsDays"},
		{directory.FacetRequest{LastSignIn: true, BucketsDays: []int{7, 7}}, "bucketsDays"},
		{directory.FacetRequest{LastSignIn: true, BucketsDays: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}, "bucketsDays"},
		{directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{{Path: "", Limit: 1}}}, "path"},
		{directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{{Path: "a..b", Limit: 1}}}, "path"},
		{directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{{Path: "a.", Limit: 1}}}, "path"},
		{directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{{Path: "a", Limit: 0}}}, "limit"},
		{directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{{Path: "a", Limit: 101}}}, "limit"},
		{directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{{Path: "a", Limit: 1, Source: "X"}}}, "source"},
	}
	for _, c := range cases {
		_, err := snap.Facets(nil, c.req, base)
		wantCode(t, err, directory.CodeBadUserInput, "")
		if msg := directory.ErrorMessage(err); !strings.HasPrefix(msg, c.says+":") {
			t.Errorf("%+v: message %q does not name %s", c.req, msg, c.says)
		}
	}
	// Ten buckets at the bounds are fine.
	if _, err := snap.Facets(nil, directory.FacetRequest{LastSignIn: true, BucketsDays: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 3650}}, base); err != nil {
		t.Error(err)
	}
	_, err := snap.Facets(&directory.Filter{SignInStatus: "maybe"}, directory.FacetRequest{Roles: true}, base)
	wantCode(t, err, directory.CodeBadUserInput, "")
}

// refDecode decodes metadata as the reference sees it: invalid JSON is empty.
func refDecode(raw []byte) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if len(raw) == 0 || dec.Decode(&v) != nil {
		return nil
	}
	return v
}

// refValueAt returns the value at a dotted path, walking objects only.
func refValueAt(root any, path string) (any, bool) {
	v := root
	for _, seg := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[seg]; !ok {
			return nil, false
		}
	}
	return v, true
}

type refGroup struct {
	value any
	count int
}

// refMetaFacet counts a metadata facet the plain way, without a limit.
func refMetaFacet(ms []*directory.Member, r directory.MetadataFacetRequest) (groups []refGroup, other, missing int) {
	add := func(v any) {
		for i := range groups {
			if refEqual(groups[i].value, v) {
				groups[i].count++
				return
			}
		}
		groups = append(groups, refGroup{v, 1})
	}
	isScalar := func(v any) bool {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
		return true
	}
	for _, m := range ms {
		raw := m.PublicMetadata
		if r.Source == directory.MetadataMembership {
			raw = m.MembershipMetadata
		}
		v, ok := refValueAt(refDecode(raw), r.Path)
		switch arr, isArr := v.([]any); {
		case !ok:
			missing++
		case isArr:
			var seen []any
			for _, e := range arr {
				if slices.ContainsFunc(seen, func(s any) bool { return refEqual(s, e) }) {
					continue
				}
				seen = append(seen, e)
				if isScalar(e) {
					add(e)
				} else {
					other++
				}
			}
		case isScalar(v):
			add(v)
		default:
			other++
		}
	}
	return groups, other, missing
}

// checkMetaFacet compares a metadata facet with the reference count.
func checkMetaFacet(t *testing.T, got directory.MetadataFacet, ms []*directory.Member, r directory.MetadataFacetRequest) {
	t.Helper()
	groups, other, missing := refMetaFacet(ms, r)
	if got.MissingCount != missing {
		t.Errorf("%s: missing %d, reference %d", r.Path, got.MissingCount, missing)
	}
	if want := min(len(groups), r.Limit); len(got.Values) != want {
		t.Errorf("%s: %d values, want %d", r.Path, len(got.Values), want)
	}
	listed := make([]bool, len(groups))
	for i, v := range got.Values {
		if i > 0 {
			prev := got.Values[i-1]
			if c := cmp.Compare(v.Count, prev.Count); c > 0 || (c == 0 && bytes.Compare(prev.Value, v.Value) >= 0) {
				t.Errorf("%s: values out of order at %d: %s", r.Path, i, metaJSON(got))
			}
		}
		val := refDecode(v.Value)
		k := slices.IndexFunc(groups, func(g refGroup) bool { return refEqual(g.value, val) })
		if k < 0 || listed[k] {
			t.Errorf("%s: value %s not in the reference (or twice)", r.Path, v.Value)
			continue
		}
		listed[k] = true
		if groups[k].count != v.Count {
			t.Errorf("%s: value %s counted %d, reference %d", r.Path, v.Value, v.Count, groups[k].count)
		}
	}
	for k, g := range groups {
		if listed[k] {
			continue
		}
		other += g.count
		if n := len(got.Values); n > 0 && g.count > got.Values[n-1].Count {
			t.Errorf("%s: value %v (count %d) left out for a smaller one", r.Path, g.value, g.count)
		}
	}
	if got.OtherCount != other {
		t.Errorf("%s: other %d, reference %d", r.Path, got.OtherCount, other)
	}
}

// TestFacetsMatchReference checks every facet over generated members
// against plain counting over the members the reference evaluator (refMatch)
// selects, and against the filters themselves: each role's count is the
// totalCount of filter AND roles:[role], and so on.
func TestFacetsMatchReference(t *testing.T) {
	members := genMembers(3000, 11)
	members[0].PublicMetadata = json.RawMessage(`{"department":"Sales","skills":["go","go",{"k":1},["x"],"GO",7,7.0],"vnum":7.0,"location":null}`)
	members[1].PublicMetadata = json.RawMessage(`{"department":{"name":"Sales"},"skills":[],"vnum":"7"}`)
	members[2].PublicMetadata = json.RawMessage(`[1,2]`)
	snap := directory.NewSnapshot("org_ref", members, base)
	now := time.Date(2022, 9, 1, 12, 0, 0, 0, time.UTC)
	metaReqs := []directory.MetadataFacetRequest{
		{Path: "department", Limit: 20},
		{Path: "department", Limit: 3},
		{Path: "skills", Limit: 100},
		{Path: "skills", Limit: 2},
		{Path: "vnum", Limit: 100},
		{Path: "vnum", Limit: 1},
		{Path: "location", Limit: 20},
		{Path: "location.country", Limit: 20},
		{Path: "team", Source: directory.MetadataMembership, Limit: 20},
		{Path: "level", Source: directory.MetadataMembership, Limit: 20},
		{Path: "department", Source: directory.MetadataMembership, Limit: 20},
	}
	type conds = []directory.MetadataCondition
	filters := []struct {
		name   string
		roles  []string
		signed directory.SignInStatus
		meta   conds
	}{
		{name: "all"},
		{name: "members signed in in two departments", roles: []string{"org:member", "org:admin"}, signed: directory.SignedIn,
			meta: conds{{Path: "department", Op: directory.OpIn, Values: []any{"Engineering", "Sales"}}}},
		{name: "DE with go", meta: conds{{Path: "location.country", Op: directory.OpEquals, Value: "DE"}, {Path: "skills", Op: directory.OpIncludes, Value: "go"}}},
		{name: "never signed in, team core", signed: directory.NeverSignedIn, meta: conds{{Path: "team", Source: directory.MetadataMembership, Op: directory.OpEquals, Value: "core"}}},
		{name: "billing", roles: []string{"org:billing"}},
	}
	days := []int{7, 30, 90, 365}

	for _, fc := range filters {
		t.Run(fc.name, func(t *testing.T) {
			f := &directory.Filter{Roles: fc.roles, SignInStatus: fc.signed, Metadata: fc.meta}
			// The reference selection.
			var sel []*directory.Member
			for i := range members {
				m := &members[i]
				ok := (fc.roles == nil || slices.Contains(fc.roles, m.Role)) &&
					(fc.signed == "" || (fc.signed == directory.SignedIn) == (m.LastSignInAt != nil))
				for _, c := range fc.meta {
					ok = ok && refMatch(t, m, c)
				}
				if ok {
					sel = append(sel, m)
				}
			}
			count := func(g *directory.Filter) int {
				t.Helper()
				return all(t, snap, &directory.Filter{And: []directory.Filter{*f, *g}}, directory.Order{}).TotalCount
			}
			total := all(t, snap, f, directory.Order{}).TotalCount
			if total != len(sel) {
				t.Fatalf("totalCount %d, reference %d", total, len(sel))
			}

			req := allFacets(metaReqs...)
			req.BucketsDays = days
			got := facets(t, snap, f, req, now)

			// Roles: plain counts, the role filter, and the order.
			refRoles := map[string]int{}
			for _, m := range sel {
				refRoles[m.Role]++
			}
			if len(got.Roles) != len(refRoles) {
				t.Errorf("roles %v, reference %v", got.Roles, refRoles)
			}
			sum := 0
			for i, r := range got.Roles {
				sum += r.Count
				if r.Count != refRoles[r.Value] || r.Count != count(&directory.Filter{Roles: []string{r.Value}}) {
					t.Errorf("role %s: %d, reference %d", r.Value, r.Count, refRoles[r.Value])
				}
				if i > 0 && (r.Count > got.Roles[i-1].Count || r.Count == got.Roles[i-1].Count && r.Value < got.Roles[i-1].Value) {
					t.Errorf("roles out of order: %v", got.Roles)
				}
			}
			if sum != total {
				t.Errorf("roles sum to %d, totalCount %d", sum, total)
			}

			// Sign-in status and buckets.
			signed := count(&directory.Filter{SignInStatus: directory.SignedIn})
			if w := []directory.FacetCount{{"SIGNED_IN", signed}, {"NEVER_SIGNED_IN", total - signed}}; !reflect.DeepEqual(got.SignInStatus, w) {
				t.Errorf("signInStatus %v, want %v", got.SignInStatus, w)
			}
			refBuckets := make([]int, len(days)+2)
			for _, m := range sel {
				k := 0
				if m.LastSignInAt == nil {
					k = len(days) + 1
				} else {
					for k < len(days) && now.Sub(*m.LastSignInAt) > time.Duration(days[k])*24*time.Hour {
						k++
					}
				}
				refBuckets[k]++
			}
			within := func(d int) int { // signed in at or after now - d days, by the filter
				after := now.Add(-time.Duration(d)*24*time.Hour - time.Nanosecond)
				return count(&directory.Filter{LastSignInAfter: &after})
			}
			prev := 0
			for i, d := range days {
				w := within(d)
				if got.LastSignIn[i] != (directory.FacetCount{Value: fmt.Sprintf("<=%d", d), Count: refBuckets[i]}) || refBuckets[i] != w-prev {
					t.Errorf("bucket %d: %v, reference %d, by filter %d", d, got.LastSignIn[i], refBuckets[i], w-prev)
				}
				prev = w
			}
			n := len(days)
			if got.LastSignIn[n] != (directory.FacetCount{Value: ">365", Count: refBuckets[n]}) || refBuckets[n] != signed-prev ||
				got.LastSignIn[n+1] != (directory.FacetCount{Value: "never", Count: total - signed}) || refBuckets[n+1] != total-signed {
				t.Errorf("buckets %v, reference %v", got.LastSignIn, refBuckets)
			}

			// Metadata: plain counts, and each value's count is the
			// totalCount of filter AND (equals v OR includes v).
			for i, r := range metaReqs {
				checkMetaFacet(t, got.Metadata[i], sel, r)
				for _, v := range got.Metadata[i].Values {
					val := refDecode(v.Value)
					by := count(&directory.Filter{Or: []directory.Filter{
						{Metadata: conds{{Path: r.Path, Source: r.Source, Op: directory.OpEquals, Value: val}}},
						{Metadata: conds{{Path: r.Path, Source: r.Source, Op: directory.OpIncludes, Value: val}}},
					}})
					if by != v.Count {
						t.Errorf("%s = %s: %d, by filter %d", r.Path, v.Value, v.Count, by)
					}
				}
				missing := count(&directory.Filter{Metadata: conds{{Path: r.Path, Source: r.Source, Op: directory.OpExists}}})
				if got.Metadata[i].MissingCount != missing {
					t.Errorf("%s: missing %d, by filter %d", r.Path, got.Metadata[i].MissingCount, missing)
				}
			}
		})
	}
}

// TestFacetsNumberText checks the JSON text of numbers: the shortest exact
// form, equal for equal values.
func TestFacetsNumberText(t *testing.T) {
	nums := []string{"7", "7.0", "-0", "0.5", "1e3", "1.25e-2", "12345678901234567890", "1e400", "-3.5e-9", "1e30", "100"}
	want := []string{"7", "7", "0", "0.5", "1000", "0.0125", "12345678901234567890", "1e400", "-3.5e-9", "1e30", "100"}
	var ms []directory.Member
	for i, n := range nums {
		ms = append(ms, directory.Member{UserID: fmt.Sprint("u", i), Role: "r", PublicMetadata: json.RawMessage(`{"n":` + n + `}`)})
	}
	got := facets(t, directory.NewSnapshot("o", ms, base), nil,
		directory.FacetRequest{Metadata: []directory.MetadataFacetRequest{{Path: "n", Limit: 100}}}, base)
	var texts []string
	for _, v := range got.Metadata[0].Values {
		texts = append(texts, string(v.Value))
		if !json.Valid(v.Value) {
			t.Errorf("%s is not JSON", v.Value)
		}
	}
	wantSet := slices.Compact(sorted(want))
	if !slices.Equal(sorted(texts), wantSet) {
		t.Errorf("numbers %v, want %v", texts, wantSet)
	}
}
