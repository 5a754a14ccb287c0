// Package directory is the domain of the service: who is in an organization.
//
// It defines Member, the Source interface that backends (Clerk, caches)
// implement, the query language (Filter, Order, cursors) and the Service that
// answers queries from a Snapshot in memory. It imports only the standard
// library.
package directory

import (
	"context"
	"encoding/json"
	"time"
)

// Member is one member of an organization: a Clerk user joined with their
// membership. Optional values are nil when absent. Members are shared between
// concurrent readers once placed in a Snapshot and must not be modified.
type Member struct {
	UserID    string
	Email     *string // the primary email address
	FirstName *string
	LastName  *string
	Username  *string
	ImageURL  *string
	// LastSignInAt is nil for a user who never signed in.
	LastSignInAt *time.Time
	LastActiveAt *time.Time
	CreatedAt    time.Time // user account creation
	Banned       bool

	// PublicMetadata is the user's public metadata object, as JSON ("{}" when empty).
	PublicMetadata json.RawMessage

	Role     string // org role key, e.g. "org:admin"
	RoleName string
	// MembershipMetadata is the membership's public metadata object, as JSON ("{}" when empty).
	MembershipMetadata json.RawMessage
	JoinedAt           time.Time // membership creation

	// UserUpdatedAt and MembershipUpdatedAt are when Clerk last changed the
	// user and the membership: a Change older than these is not applied.
	// Zero when unknown.
	UserUpdatedAt, MembershipUpdatedAt time.Time
}

// Source loads the members of one organization. Implementations: the Clerk
// repository, and the cache that decorates any Source.
type Source interface {
	// Members returns a snapshot of every member of the organization orgID.
	// Errors: UPSTREAM_UNAVAILABLE when the backend fails, INTERNAL_SERVER_ERROR otherwise.
	Members(ctx context.Context, orgID string) (*Snapshot, error)
}
