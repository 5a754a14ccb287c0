package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/directory"
)

// bulk runs a bulk mutation on the caller's active organization (never
// one from arguments), as the caller. Errors: those of directory.Bulk.Run,
// UNAUTHENTICATED and NO_ACTIVE_ORGANIZATION.
func (r *Resolver) bulk(ctx context.Context, target *model.BulkTarget, a directory.Action, dryRun *bool) (*directory.BulkResult, error) {
	userID, orgID, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if r.Bulk == nil {
		return nil, directory.Errorf(directory.CodeInternal, "bulk operations are not configured")
	}
	t := directory.Target{UserIDs: target.UserIds, ExpectedCount: target.ExpectedCount}
	if target.Filter != nil {
		if t.Filter, err = toFilter(target.Filter, "input.target.filter"); err != nil {
			return nil, err
		}
	}
	return r.Bulk.Run(ctx, orgID, userID, t, a, dryRun != nil && *dryRun)
}

// optional maps "" to null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// firstGiven reports whether the field being resolved was given a
// non-null `first` in the query itself (a literal, or a variable the
// request sets), not by its default: `orgUsers(first: $first, last:
// $last)` pages backward when only $last is set, as Relay's
// bidirectional connections ask.
func firstGiven(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil {
		return false
	}
	var vars map[string]any
	if oc := graphql.GetOperationContext(ctx); oc != nil {
		vars = oc.Variables
	}
	return firstGivenIn(fc.Field.Field, vars)
}

// firstGivenIn is firstGiven for a field and the operation's variables
// (the fast path's question too).
func firstGivenIn(f *ast.Field, vars map[string]any) bool {
	arg := f.Arguments.ForName("first")
	if arg == nil {
		return false
	}
	v, err := arg.Value.Value(vars)
	return err == nil && v != nil
}
