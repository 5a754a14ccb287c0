package graph

import (
	"context"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/directory"
)

// orgInvitations answers a page of the caller's active organization's
// invitations. The answer is never kept by the response cache: it depends
// on no member snapshot. Errors: those of directory.Invitations.List,
// UNAUTHENTICATED, NO_ACTIVE_ORGANIZATION.
func (r *Resolver) orgInvitations(ctx context.Context, status []directory.InvitationStatus, search *string, first *int, after *string) (*model.OrgInvitationConnection, error) {
	noStore(ctx)
	orgID, err := activeOrg(ctx)
	if err != nil {
		return nil, err
	}
	if r.Invitations == nil {
		return nil, directory.Errorf(directory.CodeInternal, "invitations are not configured")
	}
	q := directory.InvitationQuery{Statuses: status, First: 100}
	if search != nil {
		q.Search = *search
	}
	if first != nil {
		q.First = *first
	}
	if after != nil {
		q.After = *after
	}
	page, err := r.Invitations.List(ctx, orgID, q)
	if err != nil {
		return nil, err
	}
	return &model.OrgInvitationConnection{Page: page}, nil
}

// invite invites addresses into the caller's active organization, the
// caller as inviter. Errors: those of directory.Invitations.Invite,
// UNAUTHENTICATED, NO_ACTIVE_ORGANIZATION.
func (r *Resolver) invite(ctx context.Context, input model.InviteOrgMembersInput) (*directory.InvitationResult, error) {
	userID, orgID, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if r.Invitations == nil {
		return nil, directory.Errorf(directory.CodeInternal, "invitations are not configured")
	}
	req := directory.InviteRequest{Invitations: make([]directory.NewInvitation, len(input.Invitations)), DryRun: input.DryRun != nil && *input.DryRun}
	for i, in := range input.Invitations {
		req.Invitations[i] = directory.NewInvitation{EmailAddress: in.EmailAddress, Role: in.Role, PublicMetadata: in.PublicMetadata}
	}
	if input.RedirectURL != nil {
		req.RedirectURL = *input.RedirectURL
	}
	return r.Invitations.Invite(ctx, orgID, userID, req)
}

// revoke revokes invitations of the caller's active organization. Errors:
// those of directory.Invitations.Revoke, UNAUTHENTICATED,
// NO_ACTIVE_ORGANIZATION.
func (r *Resolver) revoke(ctx context.Context, input model.RevokeOrgInvitationsInput) (*directory.InvitationResult, error) {
	userID, orgID, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if r.Invitations == nil {
		return nil, directory.Errorf(directory.CodeInternal, "invitations are not configured")
	}
	return r.Invitations.Revoke(ctx, orgID, userID, input.Ids, input.DryRun != nil && *input.DryRun)
}
