package graph

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgusers/orgusers/internal/directory"
)

// argumentRanges are the integer arguments whose range is checked before any
// cost is computed, so a caller asking for orgUsers(first: 5000) hears about
// first, not about complexity. Keyed by "Type.field", then argument name.
var argumentRanges = map[string]map[string][2]int64{
	"Query.orgUsers":       {"first": {0, directory.MaxFirst}, "last": {0, directory.MaxFirst}},
	"Query.orgInvitations": {"first": {0, directory.MaxInvitationsFirst}},
}

// coster computes an operation's cost exactly as gqlgen's complexity package
// does (every field 1 plus its children, or the schema's complexity
// function, such as orgUsers' `first` times its selection), but in linear
// time: a fragment's cost is computed once and reused at every spread, where
// gqlgen walks each spread again. It runs on a validated document with
// coerced variables, and checks argumentRanges on the way.
type coster struct {
	ctx    context.Context
	es     graphql.ExecutableSchema
	schema *ast.Schema
	vars   map[string]any
	memo   map[string]int
	err    *gqlerror.Error
}

// operationCost returns the cost of op, or BAD_USER_INPUT naming an argument
// outside its range.
func operationCost(ctx context.Context, es graphql.ExecutableSchema, op *ast.OperationDefinition, vars map[string]any) (int, *gqlerror.Error) {
	c := &coster{ctx: ctx, es: es, schema: es.Schema(), vars: vars, memo: map[string]int{}}
	cost := c.selectionSet(op.SelectionSet)
	return cost, c.err
}

func (c *coster) selectionSet(set ast.SelectionSet) int {
	total := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			total = satAdd(total, c.field(sel))
		case *ast.InlineFragment:
			total = satAdd(total, c.selectionSet(sel.SelectionSet))
		case *ast.FragmentSpread:
			cost, ok := c.memo[sel.Name]
			if !ok {
				cost = c.selectionSet(sel.Definition.SelectionSet)
				c.memo[sel.Name] = cost
			}
			total = satAdd(total, cost)
		}
	}
	return total
}

func (c *coster) field(f *ast.Field) int {
	def := c.schema.Types[f.Definition.Type.Name()]
	if def.Name == "__Schema" {
		return 0 // as gqlgen: introspection is free
	}
	child := 0
	switch def.Kind {
	case ast.Object, ast.Interface, ast.Union:
		child = c.selectionSet(f.SelectionSet)
	}
	args := f.ArgumentMap(c.vars)
	if ranges := argumentRanges[f.ObjectDefinition.Name+"."+f.Name]; ranges != nil && c.err == nil {
		for name, r := range ranges {
			if n, ok := asInt(args[name]); ok && (n < r[0] || n > r[1]) {
				c.err = gqlerror.ErrorPosf(f.Position, "argument %s of %s is %d; it must be in %d..%d", name, f.Name, n, r[0], r[1])
				c.err.Extensions = map[string]any{"code": string(directory.CodeBadUserInput)}
			}
		}
	}
	if f.ObjectDefinition.Kind == ast.Interface {
		// Interfaces have no costs of their own: assume the dearest implementor.
		worst := 0
		for _, t := range c.schema.GetPossibleTypes(f.ObjectDefinition) {
			worst = max(worst, c.fieldCost(t, def.Kind, f.Name, child, args))
		}
		return worst
	}
	return c.fieldCost(f.ObjectDefinition, def.Kind, f.Name, child, args)
}

func (c *coster) fieldCost(obj *ast.Definition, kind ast.DefinitionKind, field string, child int, args map[string]any) int {
	if cost, ok := c.es.Complexity(c.ctx, obj.Name, field, child, args); ok && cost >= 1 {
		return cost
	}
	return satAdd(1, child)
}

// asInt reads an integer argument as gqlparser and the variable coercion
// hand it over.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), n == float64(int64(n))
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	}
	return 0, false
}
