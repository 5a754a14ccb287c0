package graph

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// FuzzAnalyze feeds query texts to the pre-execution analysis. Whatever the
// text: nothing panics; where the parser accepts it, the raw-text counts
// equal the syntax tree's; where the whole preparation accepts it, the
// memoized cost equals gqlgen's own complexity walk and the expanded
// document is within the limits.
func FuzzAnalyze(f *testing.F) {
	for _, seed := range []string{
		`{ viewer { userId } }`,
		`{ orgUsers(first: 2, filter: {metadata: [{path: "department", equals: "Sales"}]}) { totalCount nodes { id email } pageInfo { endCursor } } }`,
		`query Q($n: Int = 3 @deprecated) { a: orgUsers(first: $n) @include(if: true) { ...C } } fragment C on OrgUserConnection { nodes { ... on OrgUser { id } } }`,
		`{ ...F0 } fragment F0 on Query { ...F1 ...F1 } fragment F1 on Query { __typename }`,
		fanOut(3, 4), aliases(4), directives(3), repeats(3), nested(3), notFilter(3),
		`{ ...A } fragment A on Query { ...A }`,
		`{ __schema { types { name } } }`,
		"# comment\n{ a(s: \"\"\"x\\\"\"\"y\"\"\") }",
	} {
		f.Add(seed)
	}
	es := NewExecutableSchema(New(&Resolver{}))
	f.Fuzz(func(t *testing.T, q string) {
		scan, _ := scanText(q, nil)
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err == nil {
			tree := literalCounts(doc)
			if scan.fields != tree.fields || scan.directives != tree.directives || scan.aliases < tree.aliases {
				t.Fatalf("scan %+v, tree %+v", scan, tree)
			}
		}
		p := newTestPreparer(0)
		prepared, errs := p.prepare(q)
		if errs != nil {
			for _, e := range errs {
				if e.Extensions["code"] == nil {
					t.Fatalf("an error without a code: %v", e)
				}
			}
			return
		}
		for _, op := range prepared.Operations {
			vars := map[string]any{}
			want := complexity.Calculate(context.Background(), es, op, vars)
			got, cerr := operationCost(context.Background(), es, op, vars)
			if cerr == nil && got != want {
				t.Fatalf("cost %d, gqlgen's %d", got, want)
			}
		}
	})
}
