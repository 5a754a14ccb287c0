package directory

import (
	"fmt"
	"slices"
	"strings"
)

// Bounds on a Filter's size, so that a client cannot make one query cost
// arbitrarily much (GraphQL lets clients nest input objects freely).
const (
	// MaxFilterDepth is how many and/or/not levels may nest below the top-level filter.
	MaxFilterDepth = 8
	// MaxFilterConditions bounds the number of Filters (the top-level one and
	// every nested one) plus MetadataConditions in one filter.
	MaxFilterConditions = 200
)

// Validate reports whether f is a well-formed filter; a nil f is valid.
// Transports call it (List and All do too) to reject bad input early.
//
// It checks that every SignInStatus and metadata Source is known, that
// nesting and size stay within MaxFilterDepth and MaxFilterConditions, and
// that every MetadataCondition has a non-empty Path without empty segments
// and exactly one operator, Op, with operands that fit it:
//   - equals and includes: Value is a JSON value (nil means JSON null);
//   - in: Values are JSON values; nil or empty matches no member, like an
//     empty Roles list;
//   - contains: Value is a string;
//   - exists: Exists says whether the path must be present or missing.
//
// Operands of other operators must be left at their zero values.
// Errors: BAD_USER_INPUT whose message names the bad field, e.g.
// "filter.and[1].metadata[0].path: empty path segment".
func (f *Filter) Validate() error {
	_, err := compileFilter(f)
	return err
}

// pred reports whether a member matches; a nil pred matches every member.
type pred func(e *entry) bool

func matchNone(*entry) bool { return false }

// binder is a compiled filter: it resolves metadata paths and values against
// one snapshot's interned metadata and returns the predicate for it. A nil
// binder matches every member.
type binder func(s *Snapshot) pred

func always(p pred) binder { return func(*Snapshot) pred { return p } }

// compileFilter validates f and compiles it, once per query.
func compileFilter(f *Filter) (binder, error) {
	if f == nil {
		return nil, nil
	}
	c := compiler{}
	return c.filter(f, "filter", 0)
}

type compiler struct {
	conditions int
}

func badInput(field, format string, args ...any) *Error {
	return Errorf(CodeBadUserInput, "%s: %s", field, fmt.Sprintf(format, args...))
}

func (c *compiler) count(field string) error {
	c.conditions++
	if c.conditions > MaxFilterConditions {
		return badInput(field, "more than %d conditions in one filter", MaxFilterConditions)
	}
	return nil
}

func (c *compiler) filter(f *Filter, field string, depth int) (binder, error) {
	if depth > MaxFilterDepth {
		return nil, badInput(field, "filters nest deeper than %d levels", MaxFilterDepth)
	}
	if err := c.count(field); err != nil {
		return nil, err
	}
	var bs []binder
	add := func(p pred) { bs = append(bs, always(p)) }

	if f.Roles != nil {
		add(inSet(f.Roles, false, func(e *entry) (string, bool) { return e.m.Role, true }))
	}
	switch f.SignInStatus {
	case "":
	case SignedIn:
		add(func(e *entry) bool { return e.flags&hasLastSignIn != 0 })
	case NeverSignedIn:
		add(func(e *entry) bool { return e.flags&hasLastSignIn == 0 })
	default:
		return nil, badInput(field+".signInStatus", "unknown value %q", string(f.SignInStatus))
	}
	if t := f.LastSignInAfter; t != nil {
		k := timeKey(*t)
		add(func(e *entry) bool { return e.flags&hasLastSignIn != 0 && e.lastSignIn.cmp(k) > 0 })
	}
	if t := f.LastSignInBefore; t != nil {
		k := timeKey(*t)
		add(func(e *entry) bool { return e.flags&hasLastSignIn != 0 && e.lastSignIn.cmp(k) < 0 })
	}
	if t := f.CreatedAfter; t != nil {
		k := timeKey(*t)
		add(func(e *entry) bool { return e.created.cmp(k) > 0 })
	}
	if t := f.CreatedBefore; t != nil {
		k := timeKey(*t)
		add(func(e *entry) bool { return e.created.cmp(k) < 0 })
	}
	if f.Search != nil {
		q := strings.ToLower(*f.Search)
		if strings.IndexByte(q, textSep) < 0 {
			add(func(e *entry) bool { return strings.Contains(e.text, q) })
		} else {
			add(func(e *entry) bool {
				return strings.Contains(e.email(), q) || strings.Contains(e.first(), q) ||
					strings.Contains(e.last(), q) || strings.Contains(e.username(), q)
			})
		}
	}
	if f.UserIDs != nil {
		add(inSet(f.UserIDs, false, func(e *entry) (string, bool) { return e.m.UserID, true }))
	}
	if f.Emails != nil {
		add(inSet(f.Emails, true, func(e *entry) (string, bool) { return e.email(), e.flags&hasEmail != 0 }))
	}
	for i := range f.Metadata {
		name := fmt.Sprintf("%s.metadata[%d]", field, i)
		if err := c.count(name); err != nil {
			return nil, err
		}
		cond, err := compileCondition(&f.Metadata[i], name)
		if err != nil {
			return nil, err
		}
		bs = append(bs, func(s *Snapshot) pred { return cond.bind(s.meta) })
	}
	for i := range f.And {
		b, err := c.filter(&f.And[i], fmt.Sprintf("%s.and[%d]", field, i), depth+1)
		if err != nil {
			return nil, err
		}
		if b != nil {
			bs = append(bs, b)
		}
	}
	if f.Or != nil {
		var alts []binder
		all := false
		for i := range f.Or {
			b, err := c.filter(&f.Or[i], fmt.Sprintf("%s.or[%d]", field, i), depth+1)
			if err != nil {
				return nil, err
			}
			all = all || b == nil
			alts = append(alts, b)
		}
		if !all {
			bs = append(bs, anyOf(alts))
		}
	}
	if f.Not != nil {
		b, err := c.filter(f.Not, field+".not", depth+1)
		if err != nil {
			return nil, err
		}
		bs = append(bs, not(b))
	}
	return allOf(bs), nil
}

// allOf is the conjunction of bs: nil (all) when bs is empty.
func allOf(bs []binder) binder {
	switch len(bs) {
	case 0:
		return nil
	case 1:
		return bs[0]
	}
	return func(s *Snapshot) pred {
		var ps []pred
		for _, b := range bs {
			if p := b(s); p != nil {
				ps = append(ps, p)
			}
		}
		switch len(ps) {
		case 0:
			return nil
		case 1:
			return ps[0]
		case 2:
			a, b := ps[0], ps[1]
			return func(e *entry) bool { return a(e) && b(e) }
		}
		return func(e *entry) bool {
			for _, p := range ps {
				if !p(e) {
					return false
				}
			}
			return true
		}
	}
}

// anyOf is the disjunction of non-nil bs: matchNone when bs is empty.
func anyOf(bs []binder) binder {
	return func(s *Snapshot) pred {
		ps := make([]pred, len(bs))
		for i, b := range bs {
			if ps[i] = b(s); ps[i] == nil {
				return nil
			}
		}
		switch len(ps) {
		case 0:
			return matchNone
		case 1:
			return ps[0]
		}
		return func(e *entry) bool {
			for _, p := range ps {
				if p(e) {
					return true
				}
			}
			return false
		}
	}
}

// not is the negation of b.
func not(b binder) binder {
	if b == nil {
		return always(matchNone)
	}
	return func(s *Snapshot) pred {
		p := b(s)
		if p == nil {
			return matchNone
		}
		return func(e *entry) bool { return !p(e) }
	}
}

// inSet matches members whose value, as returned by get, is one of values
// (lowercased first when fold is set). An empty set matches no member.
func inSet(values []string, fold bool, get func(*entry) (string, bool)) pred {
	if len(values) == 0 {
		return matchNone
	}
	norm := func(v string) string {
		if fold {
			return strings.ToLower(v)
		}
		return v
	}
	if len(values) == 1 {
		want := norm(values[0])
		return func(e *entry) bool {
			v, ok := get(e)
			return ok && v == want
		}
	}
	set := make(map[string]struct{}, len(values))
	for _, v := range values {
		set[norm(v)] = struct{}{}
	}
	return func(e *entry) bool {
		v, ok := get(e)
		if !ok {
			return false
		}
		_, in := set[v]
		return in
	}
}

// condition is a validated MetadataCondition, operands normalized.
type condition struct {
	root     uint32 // rootUser or rootMembership
	path     []string
	op       MetadataOp
	value    any   // OpEquals, OpIncludes
	values   []any // OpIn
	lowerSub string
	exists   bool
}

// compileCondition validates one metadata condition and normalizes its operands.
func compileCondition(mc *MetadataCondition, field string) (*condition, error) {
	c := &condition{op: mc.Op, exists: mc.Exists}
	switch mc.Source {
	case "", MetadataUser:
		c.root = rootUser
	case MetadataMembership:
		c.root = rootMembership
	default:
		return nil, badInput(field+".source", "unknown value %q", string(mc.Source))
	}
	if mc.Path == "" {
		return nil, badInput(field+".path", "empty path")
	}
	c.path = strings.Split(mc.Path, ".")
	if slices.Contains(c.path, "") {
		return nil, badInput(field+".path", "empty path segment")
	}

	// Operands of the operators not chosen must be unset.
	valueUsed := mc.Op == OpEquals || mc.Op == OpIncludes || mc.Op == OpContains
	if (mc.Value != nil && !valueUsed) || (mc.Values != nil && mc.Op != OpIn) || (mc.Exists && mc.Op != OpExists) {
		return nil, badInput(field, "give exactly one operator")
	}

	var err error
	switch mc.Op {
	case OpEquals, OpIncludes:
		if c.value, err = normalizeValue(mc.Value); err != nil {
			return nil, badInput(field+"."+string(mc.Op), "%v", err)
		}
	case OpIn:
		c.values = make([]any, len(mc.Values))
		for i, v := range mc.Values {
			if c.values[i], err = normalizeValue(v); err != nil {
				return nil, badInput(fmt.Sprintf("%s.in[%d]", field, i), "%v", err)
			}
		}
	case OpContains:
		s, ok := mc.Value.(string)
		if !ok {
			return nil, badInput(field+".contains", "must be a string")
		}
		c.lowerSub = strings.ToLower(s)
	case OpExists:
	case "":
		return nil, badInput(field, "give exactly one operator")
	default:
		return nil, badInput(field, "unknown operator %q", string(mc.Op))
	}
	return c, nil
}
