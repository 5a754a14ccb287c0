package graph

import (
	"strconv"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// shape is what a selection set costs once every fragment in it is expanded.
// Counts saturate instead of overflowing: fragments spread four times over
// forty levels expand to 4^40 fields.
type shape struct {
	fields, aliases, directives int
	depth                       int // field levels below the selection set
}

func (s *shape) add(o shape) {
	s.fields = satAdd(s.fields, o.fields)
	s.aliases = satAdd(s.aliases, o.aliases)
	s.directives = satAdd(s.directives, o.directives)
	s.depth = max(s.depth, o.depth)
}

const satMax = 1 << 62

// satAdd adds counts of at most satMax, saturating there.
func satAdd(a, b int) int {
	if a > satMax-b {
		return satMax
	}
	return a + b
}

// analyzer computes the expanded shape of a parsed, not yet validated,
// document in time linear in its size: each fragment's shape is computed once
// and reused at every spread. It also finds what would make validation
// itself expensive or ill-defined: fragment cycles, unused fragments and
// argument values nested too deeply.
type analyzer struct {
	work      *work
	limits    Limits
	fragments map[string]*ast.FragmentDefinition
	memo      map[string]*fragmentShape
	err       *gqlerror.Error
	path      []string // fragments being expanded, for cycle errors
}

type fragmentShape struct {
	shape
	done bool // false while the fragment is being expanded: a spread then is a cycle
}

// checkDocument applies the limits to a parsed document before validation:
// per document, fragments expanded, the fields, aliases and directives of
// every operation together, and the deepest field nesting; then how often
// one response field repeats. Errors: TOO_MANY_FIELDS, TOO_MANY_ALIASES,
// TOO_MANY_DIRECTIVES, QUERY_TOO_DEEP, and GRAPHQL_VALIDATION_FAILED for a
// fragment cycle or an unused fragment (validation would report those too,
// but its own walk of them is not bounded).
func (l Limits) checkDocument(doc *ast.QueryDocument, w *work) *gqlerror.Error {
	a := &analyzer{work: w, limits: l, fragments: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)), memo: map[string]*fragmentShape{}}
	for _, f := range doc.Fragments {
		if _, dup := a.fragments[f.Name]; !dup {
			a.fragments[f.Name] = f // validation reports the duplicate
		}
	}
	var total shape
	for _, op := range doc.Operations {
		s := shape{directives: len(op.Directives)}
		a.directiveValues(op.Directives)
		for _, v := range op.VariableDefinitions {
			s.directives = satAdd(s.directives, len(v.Directives))
			a.directiveValues(v.Directives)
			a.value(v.DefaultValue, "the default value of $"+v.Variable, 1)
		}
		s.add(a.selectionSet(op.SelectionSet))
		total.add(s)
	}
	if a.err != nil {
		return a.err
	}
	for _, f := range doc.Fragments {
		if _, used := a.memo[f.Name]; !used {
			return validationError(f.Position, "Fragment %q is never used.", f.Name)
		}
	}
	switch l := a.limits; {
	case total.fields > l.MaxFields:
		return limitError(CodeTooManyFields, "the query selects %s fields once its fragments are expanded; at most %d are allowed", satString(total.fields), l.MaxFields)
	case total.aliases > l.MaxAliases:
		return limitError(CodeTooManyAliases, "the query has %s aliases once its fragments are expanded; at most %d are allowed", satString(total.aliases), l.MaxAliases)
	case total.directives > l.MaxDirectives:
		return limitError(CodeTooManyDirectives, "the query has %s directives once its fragments are expanded; at most %d are allowed", satString(total.directives), l.MaxDirectives)
	case total.depth > l.MaxDepth:
		return limitError(CodeQueryTooDeep, "the query nests fields %d levels deep; at most %d are allowed", total.depth, l.MaxDepth)
	}
	// The fields are now few enough to expand for real and count repeats.
	if total.fields > l.MaxFieldRepeats {
		m := &merger{work: w, fragments: a.fragments, max: l.MaxFieldRepeats, fields: make(map[mergeKey]int, total.fields)}
		for _, op := range doc.Operations {
			if err := m.merge(0, "", op.SelectionSet); err != nil {
				return err
			}
		}
	}
	w.validated = total.fields
	return nil
}

// satString renders a saturated count honestly.
func satString(n int) string {
	if n >= satMax {
		return "more than " + strconv.Itoa(satMax)
	}
	return strconv.Itoa(n)
}

func (a *analyzer) selectionSet(set ast.SelectionSet) shape {
	var s shape
	for _, sel := range set {
		if a.err != nil {
			return s
		}
		a.work.analyzed++
		switch sel := sel.(type) {
		case *ast.Field:
			s.fields = satAdd(s.fields, 1)
			if sel.Alias != "" && sel.Alias != sel.Name {
				s.aliases = satAdd(s.aliases, 1)
			}
			s.directives = satAdd(s.directives, len(sel.Directives))
			a.directiveValues(sel.Directives)
			for _, arg := range sel.Arguments {
				a.value(arg.Value, "argument "+arg.Name, 1)
			}
			child := a.selectionSet(sel.SelectionSet)
			if sel.Name == "__schema" || sel.Name == "__type" {
				child.depth = 0 // introspection's own nesting does not count
			}
			child.depth++
			s.add(child)
		case *ast.InlineFragment:
			s.directives = satAdd(s.directives, len(sel.Directives))
			a.directiveValues(sel.Directives)
			s.add(a.selectionSet(sel.SelectionSet))
		case *ast.FragmentSpread:
			s.directives = satAdd(s.directives, len(sel.Directives))
			a.directiveValues(sel.Directives)
			s.add(a.fragment(sel))
		}
	}
	return s
}

// fragment returns the expanded shape of the spread fragment, computing it
// the first time only.
func (a *analyzer) fragment(spread *ast.FragmentSpread) shape {
	if m, ok := a.memo[spread.Name]; ok {
		if !m.done {
			a.err = validationError(spread.Position, "Cannot spread fragment %q within itself.", spread.Name)
		}
		return m.shape
	}
	def := a.fragments[spread.Name]
	if def == nil {
		return shape{} // validation reports the unknown fragment
	}
	m := &fragmentShape{}
	a.memo[spread.Name] = m
	m.directives = len(def.Directives)
	a.directiveValues(def.Directives)
	m.add(a.selectionSet(def.SelectionSet))
	m.done = true
	return m.shape
}

func (a *analyzer) directiveValues(dirs ast.DirectiveList) {
	for _, d := range dirs {
		for _, arg := range d.Arguments {
			a.value(arg.Value, "argument "+arg.Name+" of @"+d.Name, 1)
		}
	}
}

// value refuses a literal whose lists and objects nest deeper than
// MaxValueDepth, such as a filter of ten thousand nested `not`s.
func (a *analyzer) value(v *ast.Value, what string, depth int) {
	if v == nil || a.err != nil {
		return
	}
	if depth > a.limits.MaxValueDepth {
		a.err = limitError(CodeQueryTooDeep, "the value of %s nests more than %d levels deep", what, a.limits.MaxValueDepth)
		return
	}
	for _, c := range v.Children {
		a.value(c.Value, what, depth+1)
	}
}

func validationError(pos *ast.Position, format string, args ...any) *gqlerror.Error {
	err := gqlerror.ErrorPosf(pos, format, args...)
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// merger expands an operation's fragments and merges its fields as execution
// does, refusing a response field that merges more than max selections.
// Validation compares the selections of each response field pairwise, so
// this bounds its work by max times the number of fields. Callers run it
// only after the expanded field count is known to be small; its work is
// that count.
type merger struct {
	work      *work
	fragments map[string]*ast.FragmentDefinition
	max       int
	// fields numbers the merged response fields: a field is its parent's
	// number and its response key; counts are the selections merged into each.
	fields map[mergeKey]int
	counts []int
}

type mergeKey struct {
	parent int
	key    string
}

// merge merges set into the response field numbered parent (0: the root).
func (m *merger) merge(parent int, path string, set ast.SelectionSet) *gqlerror.Error {
	for _, sel := range set {
		var err *gqlerror.Error
		switch sel := sel.(type) {
		case *ast.Field:
			key := sel.Alias
			if key == "" {
				key = sel.Name
			}
			id, ok := m.fields[mergeKey{parent, key}]
			if !ok {
				m.counts = append(m.counts, 0)
				id = len(m.counts) // numbers start at 1: 0 is the root
				m.fields[mergeKey{parent, key}] = id
			}
			m.counts[id-1]++
			n := m.counts[id-1]
			m.work.merged++
			m.work.maxRepeats = max(m.work.maxRepeats, n)
			if n > m.max {
				p := key
				if path != "" {
					p = path + "." + key
				}
				return limitError(CodeTooManyFields, "the response field %s is selected %d times once fragments are expanded; at most %d are allowed", p, n, m.max)
			}
			err = m.merge(id, pathOf(path, key, sel.SelectionSet), sel.SelectionSet)
		case *ast.InlineFragment:
			err = m.merge(parent, path, sel.SelectionSet)
		case *ast.FragmentSpread:
			if def := m.fragments[sel.Name]; def != nil {
				err = m.merge(parent, path, def.SelectionSet)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pathOf is the response path below key, built only where there is one.
func pathOf(path, key string, below ast.SelectionSet) string {
	if len(below) == 0 {
		return ""
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
