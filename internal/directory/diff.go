package directory

import "slices"

// Selector tells, one member at a time, whether a filter selects them: what
// a subscriber to the changes of a filtered set of members needs. Build one
// with NewSelector; it is safe for concurrent use.
type Selector struct{ b binder }

// NewSelector validates and compiles f (nil selects every member).
// Errors: BAD_USER_INPUT naming the bad field, as Filter.Validate.
func NewSelector(f *Filter) (*Selector, error) {
	b, err := compileFilter(f)
	if err != nil {
		return nil, err
	}
	return &Selector{b: b}, nil
}

// Bind returns the selector's test over s: whether userID is a member of s
// that the filter matches. Binding resolves the filter's metadata paths
// against s once; the test is then O(filter size).
func (sel *Selector) Bind(s *Snapshot) func(userID string) bool {
	var p pred
	if sel != nil && sel.b != nil {
		p = sel.b(s)
	}
	return func(userID string) bool {
		i, ok := s.byID[userID]
		return ok && (p == nil || p(&s.entries[i]))
	}
}

// Diff returns, sorted, the users whose member differs between old and
// next: added, removed, or changed in any field. A nil old counts as empty.
// When next is old patched by Apply (old's content, by version), it costs
// O(changes); otherwise (a reload) O(members).
func Diff(old, next *Snapshot) []string {
	switch {
	case old == next:
		return nil
	case old == nil:
		ids := make([]string, 0, len(next.members))
		for i := range next.members {
			ids = append(ids, next.members[i].UserID)
		}
		slices.Sort(ids)
		return ids
	case next.baseVersion != "" && next.baseVersion == old.version:
		return slices.Clone(next.touched)
	}
	var ids []string
	for i := range next.entries {
		e := &next.entries[i]
		j, ok := old.byID[e.m.UserID]
		if !ok || old.entries[j].hash != e.hash {
			ids = append(ids, e.m.UserID)
		}
	}
	for i := range old.members {
		if _, ok := next.byID[old.members[i].UserID]; !ok {
			ids = append(ids, old.members[i].UserID)
		}
	}
	slices.Sort(ids)
	return ids
}
