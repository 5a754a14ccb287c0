// Package auth verifies Clerk session tokens and carries the verified caller,
// the Principal, through request contexts.
//
// A Verifier checks the session token of every request (Middleware: the
// Authorization header, else Clerk's __session cookie) and stores either
// the Principal or the reason there is none in the request context. Transports
// then ask FromContext or RequireOrgRole and answer with the *directory.Error
// they get back. The organization a caller may see comes only from the verified
// token, never from request arguments.
package auth

import (
	"context"
	"errors"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// Principal is the verified caller. Principals handed out by a Verifier may be
// shared between requests: callers must treat them as read-only.
type Principal struct {
	UserID    string // the token's sub, e.g. "user_..."
	SessionID string // the token's sid, e.g. "sess_..."
	// OrgID, OrgSlug and OrgRole describe the session's active organization;
	// all are "" when the session has none. OrgRole is a role key like "org:admin".
	OrgID, OrgSlug, OrgRole string
	// Permissions are the org permissions, like "org:members:read"; never nil.
	Permissions []string
	// ExpiresAt is the token's expiry.
	ExpiresAt time.Time
}

type ctxKey struct{}

// authState is what the context holds: a principal or the reason there is
// none, and whether the credential was the session cookie.
type authState struct {
	p         *Principal
	err       error
	viaCookie bool
}

// errMissingToken is the answer when a request carried no bearer token.
func errMissingToken() error {
	return directory.Errorf(directory.CodeUnauthenticated, "missing bearer token")
}

// WithPrincipal returns a copy of ctx carrying p as the verified caller.
// Middleware calls it; tests and other transports may call it to authenticate a
// context directly.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, authState{p: p}.value())
}

// value is what the context holds for s: the *Principal alone for a
// header-authenticated caller, which an interface holds without
// allocating (every authenticated request makes one), else s itself.
func (s authState) value() any {
	if s.p != nil && s.err == nil && !s.viaCookie {
		return s.p
	}
	return s
}

// stateOf returns the authState ctx holds (the zero state when none).
func stateOf(ctx context.Context) authState {
	switch v := ctx.Value(ctxKey{}).(type) {
	case *Principal:
		return authState{p: v}
	case authState:
		return v
	}
	return authState{}
}

// WithAuthError returns a copy of ctx recording why the caller could not be
// authenticated; FromContext returns err afterwards. An err that is not a
// *directory.Error is stored as UNAUTHENTICATED "invalid session token" with err
// as its cause, so no internal detail can reach a client.
func WithAuthError(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, ctxKey{}, errState(err).value())
}

// errState is the state recording err, made safe for clients.
func errState(err error) authState {
	var de *directory.Error
	if !errors.As(err, &de) {
		err = directory.Wrap(directory.CodeUnauthenticated, err, "invalid session token")
	}
	return authState{err: err}
}

// ViaCookie reports whether the credential of ctx's request came from the
// __session cookie: Middleware found no Authorization header and a non-empty
// __session cookie (or more than one __session cookie). It reports the
// credential's source, not the outcome: it is also true when that cookie
// failed verification (expired, forged, duplicated, or keys unavailable),
// while FromContext returns the error. It is false for a Bearer header (a
// request with both used the header), for a request without credentials, and
// for contexts made by WithPrincipal or WithAuthError.
//
// CSRF defences (internal/browser.CSRF) call it after Middleware: browsers
// attach cookies to cross-site requests on their own, bearer headers never.
// Deciding on the source means every request carrying a cookie is checked
// the same way whether or not its session is valid, so a cross-site page
// cannot learn from 401-versus-403 answers whether the visitor is signed in.
func ViaCookie(ctx context.Context) bool {
	s := stateOf(ctx)
	return s.viaCookie
}

// FromContext returns the verified principal of ctx. Any resolver or handler may
// call it. When there is none it returns the *directory.Error explaining why:
// UNAUTHENTICATED "missing bearer token" when the request had no token (or ctx
// never went through Middleware), UNAUTHENTICATED with the safe verification
// message when the token was rejected, or UPSTREAM_UNAVAILABLE when the signing
// keys could not be fetched from Clerk.
func FromContext(ctx context.Context) (*Principal, error) {
	s := stateOf(ctx)
	switch {
	case s.p != nil:
		return s.p, nil
	case s.err != nil:
		return nil, s.err
	default:
		return nil, errMissingToken()
	}
}

// RequireOrgRole returns the principal of ctx when its active organization role
// is exactly role (e.g. "org:admin"). Errors: those of FromContext
// (UNAUTHENTICATED, UPSTREAM_UNAVAILABLE) when there is no principal,
// NO_ACTIVE_ORGANIZATION when the session has no active organization, and
// FORBIDDEN when the caller holds another role.
func RequireOrgRole(ctx context.Context, role string) (*Principal, error) {
	p, err := FromContext(ctx)
	if err != nil {
		return nil, err
	}
	if p.OrgID == "" {
		return nil, directory.Errorf(directory.CodeNoActiveOrganization, "no active organization in the session")
	}
	if p.OrgRole != role {
		return nil, directory.Errorf(directory.CodeForbidden, "requires organization role %s", role)
	}
	return p, nil
}
