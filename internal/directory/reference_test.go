package directory_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/directory"
)

// refNumber returns the exact value of a JSON number as the reference
// model sees it, or nil for anything else.
func refNumber(v any) *big.Rat {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil
	}
	return r
}

// refEqual is JSON equality written out plainly.
func refEqual(a, b any) bool {
	if na, nb := refNumber(a), refNumber(b); na != nil || nb != nil {
		return na != nil && nb != nil && na.Cmp(nb) == 0
	}
	switch x := a.(type) {
	case nil, bool, string:
		return a == b
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && refEqualSlices(x, y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !refEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func refEqualSlices(x, y []any) bool {
	for i := range x {
		if !refEqual(x[i], y[i]) {
			return false
		}
	}
	return true
}

// refMatch evaluates one metadata condition on one member the slow, obvious way.
func refMatch(t *testing.T, m *directory.Member, c directory.MetadataCondition) bool {
	t.Helper()
	raw := m.PublicMetadata
	if c.Source == directory.MetadataMembership {
		raw = m.MembershipMetadata
	}
	var v any
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	found := true
	for _, seg := range strings.Split(c.Path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			found = false
			break
		}
		if v, ok = obj[seg]; !ok {
			found = false
			break
		}
	}
	switch c.Op {
	case directory.OpExists:
		return found == c.Exists
	case directory.OpEquals:
		return found && refEqual(v, c.Value)
	case directory.OpIn:
		return found && slices.ContainsFunc(c.Values, func(w any) bool { return refEqual(v, w) })
	case directory.OpIncludes:
		arr, ok := v.([]any)
		return found && ok && slices.ContainsFunc(arr, func(e any) bool { return refEqual(e, c.Value) })
	case directory.OpContains:
		s, ok := v.(string)
		return found && ok && strings.Contains(strings.ToLower(s), strings.ToLower(c.Value.(string)))
	}
	t.Fatalf("unknown op %q", c.Op)
	return false
}

// TestMetadataMatchesReference checks random metadata conditions on
// generated members against refMatch.
func TestMetadataMatchesReference(t *testing.T) {
	members := genMembers(400, 5)
	members[0].PublicMetadata = json.RawMessage(`{"vnum":7.0,"big":9007199254740993,"location":{"country":"DE","city":"Berlin"},"skills":["go",["nested"],{"k":1}]}`)
	members[1].PublicMetadata = json.RawMessage(`{"vnum":"7","big":9007199254740992,"location":"DE","skills":"go"}`)
	snap := directory.NewSnapshot("org_ref", members, base)

	r := rand.New(rand.NewPCG(5, 5))
	paths := []string{"department", "role", "vnum", "big", "location", "location.country", "location.city",
		"skills", "nope", "location.country.x", "team", "level"}
	values := []any{"Engineering", "engineering", "DE", "Berlin", "go", "GO", "7", 7, 7.0, int64(42),
		json.Number("4.2e1"), json.Number("9007199254740993"), 9007199254740992.0, true, nil,
		[]any{"go", "sql"}, []any{"nested"}, map[string]any{"k": 1}, "core", 3, json.Number("3.000"),
		map[string]any{"country": "DE", "city": "Berlin"}}
	ops := []directory.MetadataOp{directory.OpEquals, directory.OpIn, directory.OpExists, directory.OpIncludes, directory.OpContains}

	for n := range 300 {
		c := directory.MetadataCondition{Path: paths[r.IntN(len(paths))], Op: ops[r.IntN(len(ops))]}
		if c.Path == "team" || c.Path == "level" || r.IntN(4) == 0 {
			c.Source = directory.MetadataMembership
		}
		switch c.Op {
		case directory.OpExists:
			c.Exists = r.IntN(2) == 0
		case directory.OpIn:
			c.Values = []any{}
			for range r.IntN(4) {
				c.Values = append(c.Values, values[r.IntN(len(values))])
			}
		case directory.OpContains:
			c.Value = []string{"eng", "E", "", "berl", "ö", "go"}[r.IntN(6)]
		default:
			c.Value = values[r.IntN(len(values))]
		}
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p, err := snap.All(&directory.Filter{Metadata: []directory.MetadataCondition{c}}, directory.Order{})
			if err != nil {
				t.Fatalf("%+v: %v", c, err)
			}
			var want []string
			for i := range members {
				if refMatch(t, &members[i], c) {
					want = append(want, members[i].UserID)
				}
			}
			if got := sorted(ids(p)); !slices.Equal(got, sorted(want)) {
				t.Errorf("%+v: %d matches, reference %d", c, len(got), len(want))
			}
		})
	}
}
