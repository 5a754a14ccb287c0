package directory_test

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/directory"
)

func meta(path string, op directory.MetadataOp, v any) directory.MetadataCondition {
	c := directory.MetadataCondition{Path: path, Op: op}
	switch op {
	case directory.OpIn:
		c.Values = v.([]any)
	case directory.OpExists:
		c.Exists = v.(bool)
	default:
		c.Value = v
	}
	return c
}

func metaFilter(cs ...directory.MetadataCondition) *directory.Filter {
	return &directory.Filter{Metadata: cs}
}

func TestFilter(t *testing.T) {
	everyone := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	membership := func(c directory.MetadataCondition) directory.MetadataCondition {
		c.Source = directory.MetadataMembership
		return c
	}
	user := func(c directory.MetadataCondition) directory.MetadataCondition {
		c.Source = directory.MetadataUser
		return c
	}
	tests := []struct {
		name   string
		filter *directory.Filter
		want   []string
	}{
		{"nil filter", nil, everyone},
		{"empty filter", &directory.Filter{}, everyone},

		{"roles one", &directory.Filter{Roles: []string{"org:admin"}}, []string{"u1", "u5"}},
		{"roles any of", &directory.Filter{Roles: []string{"org:admin", "org:billing"}}, []string{"u1", "u4", "u5"}},
		{"roles unknown", &directory.Filter{Roles: []string{"org:owner"}}, nil},
		{"roles empty matches none", &directory.Filter{Roles: []string{}}, nil},

		{"signed in", &directory.Filter{SignInStatus: directory.SignedIn}, []string{"u1", "u3", "u4", "u6"}},
		{"never signed in", &directory.Filter{SignInStatus: directory.NeverSignedIn}, []string{"u2", "u5"}},

		{"last sign-in after is strict", &directory.Filter{LastSignInAfter: ptr(at(3))}, []string{"u1", "u4"}},
		{"last sign-in before is strict", &directory.Filter{LastSignInBefore: ptr(at(3))}, []string{"u6"}},
		{"last sign-in before excludes never", &directory.Filter{LastSignInBefore: ptr(at(100))}, []string{"u1", "u3", "u4", "u6"}},
		{"last sign-in after excludes never", &directory.Filter{LastSignInAfter: ptr(at(-100))}, []string{"u1", "u3", "u4", "u6"}},
		{"last sign-in window", &directory.Filter{LastSignInAfter: ptr(at(1)), LastSignInBefore: ptr(at(5))}, []string{"u3"}},
		{"created after is strict", &directory.Filter{CreatedAfter: ptr(at(2))}, []string{"u3", "u5", "u6"}},
		{"created before is strict", &directory.Filter{CreatedBefore: ptr(at(2))}, []string{"u1"}},
		{"created empty window", &directory.Filter{CreatedAfter: ptr(at(4)), CreatedBefore: ptr(at(2))}, nil},

		{"search email and first name, any case", &directory.Filter{Search: ptr("ALI")}, []string{"u1", "u5"}},
		{"search email domain", &directory.Filter{Search: ptr("EXAMPLE.com")}, []string{"u1", "u2", "u4", "u5", "u6"}},
		{"search username", &directory.Filter{Search: ptr("frankie")}, []string{"u6"}},
		{"search last name", &directory.Filter{Search: ptr("youn")}, []string{"u3", "u6"}},
		{"search no match", &directory.Filter{Search: ptr("zzz")}, nil},
		{"search empty matches all", &directory.Filter{Search: ptr("")}, everyone},

		{"user ids", &directory.Filter{UserIDs: []string{"u2", "u3", "nobody"}}, []string{"u2", "u3"}},
		{"user ids one", &directory.Filter{UserIDs: []string{"u6"}}, []string{"u6"}},
		{"user ids empty matches none", &directory.Filter{UserIDs: []string{}}, nil},

		{"emails case-insensitive", &directory.Filter{Emails: []string{"ALICE@example.COM"}}, []string{"u1"}},
		{"emails stored with capitals", &directory.Filter{Emails: []string{"frank@example.com", "bob@example.com"}}, []string{"u2", "u6"}},
		{"emails exact, not substring", &directory.Filter{Emails: []string{"example.com"}}, nil},
		{"emails empty matches none", &directory.Filter{Emails: []string{}}, nil},

		{"equals string is case-sensitive", metaFilter(meta("department", directory.OpEquals, "Engineering")), []string{"u1"}},
		{"equals int matches 7 and 7.0", metaFilter(meta("vnum", directory.OpEquals, 7)), []string{"u1", "u2"}},
		{"equals float64", metaFilter(meta("vnum", directory.OpEquals, 7.0)), []string{"u1", "u2"}},
		{"equals int64", metaFilter(meta("vnum", directory.OpEquals, int64(7))), []string{"u1", "u2"}},
		{"equals json.Number", metaFilter(meta("vnum", directory.OpEquals, json.Number("700e-2"))), []string{"u1", "u2"}},
		{"equals string 7 is not number 7", metaFilter(meta("vnum", directory.OpEquals, "7")), []string{"u3"}},
		{"equals big integer exactly", metaFilter(meta("big", directory.OpEquals, json.Number("12345678901234567890"))), []string{"u1"}},
		{"equals big uint64", metaFilter(meta("big", directory.OpEquals, uint64(12345678901234567890))), []string{"u1"}},
		{"equals big integer off by one", metaFilter(meta("big", directory.OpEquals, json.Number("12345678901234567891"))), nil},
		{"equals null matches present null", metaFilter(meta("nul", directory.OpEquals, nil)), []string{"u1"}},
		{"equals null not missing path", metaFilter(meta("nope", directory.OpEquals, nil)), nil},
		{"equals bool", metaFilter(meta("flag", directory.OpEquals, true)), []string{"u1"}},
		{"equals bool is not string", metaFilter(meta("flag", directory.OpEquals, "true")), nil},
		{"equals nested path", metaFilter(meta("location.country", directory.OpEquals, "DE")), []string{"u1", "u6"}},
		{"equals object", metaFilter(meta("location", directory.OpEquals, map[string]any{"city": "Berlin", "country": "DE"})), []string{"u1"}},
		{"equals object needs same keys", metaFilter(meta("location", directory.OpEquals, map[string]any{"country": "DE"})), []string{"u6"}},
		{"equals array", metaFilter(meta("skills", directory.OpEquals, []any{"go", "sql"})), []string{"u1"}},
		{"equals array order matters", metaFilter(meta("skills", directory.OpEquals, []any{"sql", "go"})), nil},
		{"equals explicit USER source", metaFilter(user(meta("department", directory.OpEquals, "Sales"))), []string{"u2"}},

		{"in", metaFilter(meta("department", directory.OpIn, []any{"Sales", "Engineering"})), []string{"u1", "u2"}},
		{"in mixed types", metaFilter(meta("vnum", directory.OpIn, []any{8, "7"})), []string{"u3", "u6"}},
		{"in many scalars", metaFilter(meta("vnum", directory.OpIn, []any{1, 2, 3, 4, 5, 6, 7.0, 8, 9, "x"})), []string{"u1", "u2", "u6"}},
		{"in many scalars, string 7", metaFilter(meta("vnum", directory.OpIn, []any{1, 2, 3, 4, 5, 6, "7", 9, 10})), []string{"u3"}},
		{"in object value", metaFilter(meta("location", directory.OpIn, []any{"remote", map[string]any{"country": "US"}})), []string{"u2", "u3"}},
		{"in empty matches none", metaFilter(meta("vnum", directory.OpIn, []any{})), nil},
		{"in nil matches none", metaFilter(directory.MetadataCondition{Path: "vnum", Op: directory.OpIn}), nil},

		{"includes", metaFilter(meta("skills", directory.OpIncludes, "go")), []string{"u1"}},
		{"includes other", metaFilter(meta("skills", directory.OpIncludes, "excel")), []string{"u2"}},
		{"includes no match", metaFilter(meta("skills", directory.OpIncludes, 7)), nil},

		{"contains case-insensitive", metaFilter(meta("department", directory.OpContains, "ENG")), []string{"u1", "u3"}},
		{"contains non-string never matches", metaFilter(meta("vnum", directory.OpContains, "7")), []string{"u3"}},
		{"contains empty matches any string", metaFilter(meta("department", directory.OpContains, "")), []string{"u1", "u2", "u3"}},
		{"contains nested path", metaFilter(meta("location.city", directory.OpContains, "BERL")), []string{"u1"}},
		{"contains non-ASCII", metaFilter(membership(meta("office", directory.OpContains, "münch"))), []string{"u4"}},

		{"exists", metaFilter(meta("department", directory.OpExists, true)), []string{"u1", "u2", "u3"}},
		{"exists false (invalid JSON counts as empty)", metaFilter(meta("department", directory.OpExists, false)), []string{"u4", "u5", "u6"}},
		{"exists nested", metaFilter(meta("location.country", directory.OpExists, true)), []string{"u1", "u3", "u6"}},
		{"exists false through non-object", metaFilter(meta("location.country", directory.OpExists, false)), []string{"u2", "u4", "u5"}},
		{"exists null value is present", metaFilter(meta("nul", directory.OpExists, true)), []string{"u1"}},
		{"exists through array is missing", metaFilter(meta("skills.0", directory.OpExists, true)), nil},

		{"membership equals", metaFilter(membership(meta("team", directory.OpEquals, "core"))), []string{"u1"}},
		{"membership number", metaFilter(membership(meta("level", directory.OpEquals, 2))), []string{"u3"}},
		{"membership exists false", metaFilter(membership(meta("team", directory.OpExists, false))), []string{"u2", "u4", "u5", "u6"}},
		{"user source does not see membership", metaFilter(meta("team", directory.OpExists, true)), nil},

		{"metadata all must hold", metaFilter(
			meta("department", directory.OpContains, "eng"),
			meta("location.country", directory.OpEquals, "US"),
		), []string{"u3"}},

		{"fields combine with and", &directory.Filter{Roles: []string{"org:member"}, SignInStatus: directory.SignedIn}, []string{"u3", "u6"}},
		{"and empty matches all", &directory.Filter{And: []directory.Filter{}}, everyone},
		{"or empty matches none", &directory.Filter{Or: []directory.Filter{}}, nil},
		{"and", &directory.Filter{And: []directory.Filter{
			{Roles: []string{"org:admin"}}, {SignInStatus: directory.SignedIn},
		}}, []string{"u1"}},
		{"or", &directory.Filter{Or: []directory.Filter{
			{Roles: []string{"org:billing"}}, {Search: ptr("frank")},
		}}, []string{"u4", "u6"}},
		{"or with an empty filter matches all", &directory.Filter{Or: []directory.Filter{{Roles: []string{}}, {}}}, everyone},
		{"not", &directory.Filter{Not: &directory.Filter{Roles: []string{"org:admin"}}}, []string{"u2", "u3", "u4", "u6"}},
		{"not empty matches none", &directory.Filter{Not: &directory.Filter{}}, nil},
		{"not of nothing matches all", &directory.Filter{Not: &directory.Filter{UserIDs: []string{}}}, everyone},
		{"not or", &directory.Filter{Not: &directory.Filter{Or: []directory.Filter{
			{Roles: []string{"org:admin"}}, {Roles: []string{"org:billing"}},
		}}}, []string{"u2", "u3", "u6"}},
		{"fields and or together", &directory.Filter{Roles: []string{"org:member"}, Or: []directory.Filter{
			{Search: ptr("carol")}, {Search: ptr("frank")}, {Search: ptr("alice")},
		}}, []string{"u3", "u6"}},
		{"not metadata", &directory.Filter{Not: metaFilter(meta("location.country", directory.OpEquals, "DE"))}, []string{"u2", "u3", "u4", "u5"}},
	}
	snap := fixtureSnapshot(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.filter.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			p := all(t, snap, tt.filter, directory.Order{})
			got := sorted(ids(p))
			if !slices.Equal(got, sorted(tt.want)) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if p.TotalCount != len(tt.want) {
				t.Errorf("TotalCount %d, want %d", p.TotalCount, len(tt.want))
			}
		})
	}
}

// nestNot returns a filter with depth levels of Not below the top.
func nestNot(depth int) *directory.Filter {
	f := &directory.Filter{Roles: []string{"org:admin"}}
	for range depth {
		f = &directory.Filter{Not: f}
	}
	return f
}

func TestFilterLimits(t *testing.T) {
	snap := fixtureSnapshot(t)
	ok := nestNot(directory.MaxFilterDepth)
	if err := ok.Validate(); err != nil {
		t.Fatalf("depth %d: %v", directory.MaxFilterDepth, err)
	}
	// An even number of nots is the identity.
	if got := sorted(ids(all(t, snap, ok, directory.Order{}))); !slices.Equal(got, []string{"u1", "u5"}) {
		t.Errorf("8 nots: got %v", got)
	}
	err := nestNot(directory.MaxFilterDepth + 1).Validate()
	wantCode(t, err, directory.CodeBadUserInput, "")
	if !strings.Contains(directory.ErrorMessage(err), "filter"+strings.Repeat(".not", directory.MaxFilterDepth+1)+":") {
		t.Errorf("message %q does not name the deepest filter", directory.ErrorMessage(err))
	}

	conds := func(n int) *directory.Filter {
		f := &directory.Filter{}
		for range n {
			f.Metadata = append(f.Metadata, meta("vnum", directory.OpExists, true))
		}
		return f
	}
	if err := conds(directory.MaxFilterConditions - 1).Validate(); err != nil {
		t.Errorf("%d conditions: %v", directory.MaxFilterConditions, err)
	}
	wantCode(t, conds(directory.MaxFilterConditions).Validate(), directory.CodeBadUserInput,
		"filter.metadata[199]: more than 200 conditions in one filter")

	wide := &directory.Filter{Or: make([]directory.Filter, directory.MaxFilterConditions)}
	wantCode(t, wide.Validate(), directory.CodeBadUserInput, "filter.or[199]: more than 200 conditions in one filter")
}

func TestFilterValidate(t *testing.T) {
	cond := func(c directory.MetadataCondition) *directory.Filter { return metaFilter(c) }
	tests := []struct {
		name   string
		filter *directory.Filter
		msg    string
	}{
		{"unknown sign-in status", &directory.Filter{SignInStatus: "SOMETIMES"}, `filter.signInStatus: unknown value "SOMETIMES"`},
		{"empty path", cond(directory.MetadataCondition{Op: directory.OpExists, Exists: true}), "filter.metadata[0].path: empty path"},
		{"empty middle segment", cond(directory.MetadataCondition{Path: "a..b", Op: directory.OpExists}), "filter.metadata[0].path: empty path segment"},
		{"empty first segment", cond(directory.MetadataCondition{Path: ".a", Op: directory.OpExists}), "filter.metadata[0].path: empty path segment"},
		{"empty last segment", cond(directory.MetadataCondition{Path: "a.", Op: directory.OpExists}), "filter.metadata[0].path: empty path segment"},
		{"unknown source", cond(directory.MetadataCondition{Path: "a", Source: "ORG", Op: directory.OpExists}), `filter.metadata[0].source: unknown value "ORG"`},
		{"no operator", cond(directory.MetadataCondition{Path: "a"}), "filter.metadata[0]: give exactly one operator"},
		{"unknown operator", cond(directory.MetadataCondition{Path: "a", Op: "matches"}), `filter.metadata[0]: unknown operator "matches"`},
		{"equals with in operands", cond(directory.MetadataCondition{Path: "a", Op: directory.OpEquals, Value: 1, Values: []any{1}}), "filter.metadata[0]: give exactly one operator"},
		{"equals with exists", cond(directory.MetadataCondition{Path: "a", Op: directory.OpEquals, Value: 1, Exists: true}), "filter.metadata[0]: give exactly one operator"},
		{"exists with a value", cond(directory.MetadataCondition{Path: "a", Op: directory.OpExists, Value: 1}), "filter.metadata[0]: give exactly one operator"},
		{"in with a value", cond(directory.MetadataCondition{Path: "a", Op: directory.OpIn, Value: 1, Values: []any{1}}), "filter.metadata[0]: give exactly one operator"},
		{"contains a number", cond(meta("a", directory.OpContains, 5)), "filter.metadata[0].contains: must be a string"},
		{"contains null", cond(meta("a", directory.OpContains, nil)), "filter.metadata[0].contains: must be a string"},
		{"equals a struct", cond(meta("a", directory.OpEquals, struct{}{})), "filter.metadata[0].equals: unsupported value of type struct {}"},
		{"equals a bad json.Number", cond(meta("a", directory.OpEquals, json.Number("1.2.3"))), `filter.metadata[0].equals: "1.2.3" is not a JSON number`},
		{"equals NaN", cond(meta("a", directory.OpEquals, math.NaN())), "filter.metadata[0].equals: NaN is not a JSON number"},
		{"includes infinity", cond(meta("a", directory.OpIncludes, math.Inf(1))), "filter.metadata[0].includes: +Inf is not a JSON number"},
		{"in bad element", cond(meta("a", directory.OpIn, []any{"ok", []any{func() {}}})), "filter.metadata[0].in[1]: unsupported value of type func()"},
		{"nested names its path", &directory.Filter{And: []directory.Filter{{}, {Not: metaFilter(meta("", directory.OpExists, true))}}},
			"filter.and[1].not.metadata[0].path: empty path"},
		{"or names its index", &directory.Filter{Or: []directory.Filter{{}, {}, {SignInStatus: "x"}}}, `filter.or[2].signInStatus: unknown value "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.filter.Validate(), directory.CodeBadUserInput, tt.msg)
			_, err := fixtureSnapshot(t).All(tt.filter, directory.Order{})
			wantCode(t, err, directory.CodeBadUserInput, tt.msg)
		})
	}
	var nilFilter *directory.Filter
	if err := nilFilter.Validate(); err != nil {
		t.Errorf("nil filter: %v", err)
	}
}
