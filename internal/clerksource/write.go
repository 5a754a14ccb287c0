package clerksource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/organizationmembership"

	"github.com/orgusers/orgusers/internal/directory"
)

var _ directory.MemberWriter = (*Repository)(nil)

// rolesTTL is how long the instance's organization roles are cached.
const rolesTTL = time.Minute

// SetRole changes userID's role in orgID (PATCH
// /organizations/{id}/memberships/{user_id}) and returns the change as
// Clerk stamped it. Writes share the reads' rate limiter and circuit
// breaker; a 429 is retried after its Retry-After, nothing else is.
// Errors: *directory.WriteError with Clerk's error code when Clerk refuses
// or fails; INTERNAL_SERVER_ERROR for an invalid id.
func (r *Repository) SetRole(ctx context.Context, orgID, userID, role string) (directory.Written, error) {
	if err := validIDs(orgID, userID); err != nil {
		return directory.Written{}, err
	}
	m, err := r.memberships.Update(ctx, &organizationmembership.UpdateParams{OrganizationID: orgID, UserID: userID, Role: clerk.String(role)})
	if err != nil {
		return directory.Written{}, writeError(err)
	}
	return membershipWritten(orgID, userID, m, directory.ChangeMemberUpserted), nil
}

// metadataParams is the body of PATCH .../memberships/{user_id}/metadata,
// which clerk-sdk-go v2.4.2 has no client method for.
type metadataParams struct {
	clerk.APIParams
	PublicMetadata map[string]any `json:"public_metadata"`
}

// PatchMetadata merges patch into the membership's public metadata (PATCH
// /organizations/{id}/memberships/{user_id}/metadata: Clerk merges deeply
// and deletes keys set to null). Errors as SetRole's.
func (r *Repository) PatchMetadata(ctx context.Context, orgID, userID string, patch map[string]any) (directory.Written, error) {
	if err := validIDs(orgID, userID); err != nil {
		return directory.Written{}, err
	}
	path, err := clerk.JoinPath("/organizations", orgID, "memberships", userID, "metadata")
	if err != nil {
		return directory.Written{}, directory.Wrap(directory.CodeInternal, err, "invalid id")
	}
	req := clerk.NewAPIRequest(http.MethodPatch, path)
	req.SetParams(&metadataParams{PublicMetadata: patch})
	m := &clerk.OrganizationMembership{}
	if err := r.backend.Call(ctx, req, m); err != nil {
		return directory.Written{}, writeError(err)
	}
	return membershipWritten(orgID, userID, m, directory.ChangeMemberUpserted), nil
}

// RemoveMember removes userID from orgID (DELETE
// /organizations/{id}/memberships/{user_id}). Errors as SetRole's.
func (r *Repository) RemoveMember(ctx context.Context, orgID, userID string) (directory.Written, error) {
	if err := validIDs(orgID, userID); err != nil {
		return directory.Written{}, err
	}
	m, err := r.memberships.Delete(ctx, &organizationmembership.DeleteParams{OrganizationID: orgID, UserID: userID})
	if err != nil {
		return directory.Written{}, writeError(err)
	}
	return membershipWritten(orgID, userID, m, directory.ChangeMemberRemoved), nil
}

// roleList is Clerk's list of organization roles.
type roleList struct {
	clerk.APIResource
	Roles []struct {
		Key string `json:"key"`
	} `json:"data"`
	TotalCount int64 `json:"total_count"`
}

// rolesCache holds the instance's organization role keys for rolesTTL.
type rolesCache struct {
	mu      sync.Mutex
	keys    []string
	fetched time.Time
}

// OrganizationRoles returns the role keys of the instance (GET
// /organization_roles, every page), cached for a minute.
// Errors: UPSTREAM_UNAVAILABLE.
func (r *Repository) OrganizationRoles(ctx context.Context) ([]string, error) {
	r.roles.mu.Lock()
	defer r.roles.mu.Unlock()
	if r.roles.keys != nil && time.Since(r.roles.fetched) < rolesTTL {
		return r.roles.keys, nil
	}
	var keys []string
	for offset := 0; ; {
		req := clerk.NewAPIRequest(http.MethodGet, "/organization_roles")
		req.SetParams(&listParams{Limit: 100, Offset: offset})
		list := &roleList{}
		if err := r.backend.Call(ctx, req, list); err != nil {
			return nil, r.upstreamError(ctx, "", err)
		}
		for _, role := range list.Roles {
			keys = append(keys, role.Key)
		}
		offset += len(list.Roles)
		if len(list.Roles) == 0 || int64(offset) >= list.TotalCount {
			break
		}
	}
	r.roles.keys, r.roles.fetched = keys, time.Now()
	return keys, nil
}

// listParams are limit and offset query parameters.
type listParams struct {
	clerk.APIParams
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

func (p *listParams) ToQuery() url.Values {
	return url.Values{"limit": {strconv.Itoa(p.Limit)}, "offset": {strconv.Itoa(p.Offset)}}
}

// membershipWritten is the change a membership write made.
func membershipWritten(orgID, userID string, m *clerk.OrganizationMembership, kind directory.ChangeKind) directory.Written {
	updated := millis(m.UpdatedAt)
	c := directory.Change{Kind: kind, OrgID: orgID, UserID: userID, UpdatedAt: updated}
	if kind == directory.ChangeMemberUpserted {
		c.Member = directory.Member{UserID: userID, Role: m.Role, RoleName: m.RoleName, MembershipMetadata: metadata(m.PublicMetadata),
			JoinedAt: millis(m.CreatedAt), MembershipUpdatedAt: updated}
	}
	var trace string
	if m.Response != nil {
		trace = m.Response.TraceID
	}
	return directory.Written{Change: c, TraceID: trace}
}

// writeError turns a failed write into a *directory.WriteError carrying
// Clerk's error code, message and trace id.
func writeError(err error) error {
	var apiErr *clerk.APIErrorResponse
	if errors.As(err, &apiErr) {
		we := &directory.WriteError{Code: "clerk_error", Message: "Clerk refused the change", TraceID: apiErr.TraceID, Status: apiErr.HTTPStatusCode, Err: err}
		if len(apiErr.Errors) > 0 {
			we.Code = apiErr.Errors[0].Code
			if msg := apiErr.Errors[0].LongMessage; msg != "" {
				we.Message = msg
			} else if msg := apiErr.Errors[0].Message; msg != "" {
				we.Message = msg
			}
		}
		return we
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code := "upstream_unavailable"
	if errors.Is(err, ErrCircuitOpen) {
		code = "circuit_open"
	}
	return &directory.WriteError{Code: code, Message: upstreamMessage, Err: err}
}

func validIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" || url.PathEscape(id) != id {
			return directory.Errorf(directory.CodeInternal, "invalid id")
		}
	}
	return nil
}

// readyTTL is how long a readiness verdict stands before Check asks again.
const readyTTL = 10 * time.Second

// readiness caches Check's last verdict.
type readiness struct {
	mu      sync.Mutex
	err     error
	checked time.Time
}

// Check reports whether Clerk accepts this repository's secret key, by
// fetching the instance's signing keys (GET /jwks), at most every 10 s.
// /readyz calls it. The error says why not, client-safe: the key rejected
// (naming CLERK_SECRET_KEY), or Clerk unreachable.
func (r *Repository) Check(ctx context.Context) error {
	r.ready.mu.Lock()
	defer r.ready.mu.Unlock()
	if !r.ready.checked.IsZero() && time.Since(r.ready.checked) < readyTTL {
		return r.ready.err
	}
	req := clerk.NewAPIRequest(http.MethodGet, "/jwks")
	set := &clerk.JSONWebKeySet{}
	err := r.backend.Call(ctx, req, set)
	var apiErr *clerk.APIErrorResponse
	switch {
	case err == nil:
		r.ready.err = nil
	case errors.As(err, &apiErr) && (apiErr.HTTPStatusCode == http.StatusUnauthorized || apiErr.HTTPStatusCode == http.StatusForbidden):
		r.ready.err = fmt.Errorf("Clerk rejects CLERK_SECRET_KEY (%d %s)", apiErr.HTTPStatusCode, firstCode(apiErr))
	default:
		r.ready.err = errors.New("Clerk's Backend API is unreachable or failing")
	}
	r.ready.checked = time.Now()
	return r.ready.err
}

func firstCode(e *clerk.APIErrorResponse) string {
	if len(e.Errors) > 0 {
		return e.Errors[0].Code
	}
	return "no error code"
}
