package graph

import (
	"context"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/directory"
)

// listOrgUsers answers orgUsers from its converted arguments: the resolver
// and the fast path (fastpath.go) both call it, so both ask the directory
// the same question. firstGiven says whether the operation spelled out the
// first argument (its default alone does not conflict with last). The
// caller records page.Snapshot. Errors: NO_ACTIVE_ORGANIZATION,
// UNAUTHENTICATED, BAD_USER_INPUT, and the directory's.
func (r *Resolver) listOrgUsers(ctx context.Context, filter *model.OrgUserFilter, orderBy *model.OrgUserOrder, first *int, after *string, last *int, before *string, firstGiven bool) (*directory.Page, error) {
	orgID, err := activeOrg(ctx)
	if err != nil {
		return nil, err
	}
	q := directory.Query{Order: toOrder(orderBy), First: 100}
	if q.Filter, err = toFilter(filter, "filter"); err != nil {
		return nil, err
	}
	if first != nil {
		q.First = *first
	}
	if after != nil {
		q.After = *after
	}
	if last != nil {
		if firstGiven {
			return nil, directory.Errorf(directory.CodeBadUserInput, "give first (with after) or last (with before), not both")
		}
		q.Last = last
	}
	if before != nil {
		q.Before = *before
	}
	return r.Directory.List(ctx, orgID, q)
}

// getOrgUser answers orgUser: the member (nil when not one) and the
// snapshot it was read from, which the caller records.
func (r *Resolver) getOrgUser(ctx context.Context, id string) (*directory.Member, *directory.Snapshot, error) {
	orgID, err := activeOrg(ctx)
	if err != nil {
		return nil, nil, err
	}
	return r.Directory.Get(ctx, orgID, id)
}
