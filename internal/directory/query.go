package directory

import "time"

// Query asks for one page of an organization's members.
type Query struct {
	// Filter selects members; nil selects all.
	Filter *Filter
	// Order sorts the members; the zero value is EMAIL ASC.
	Order Order
	// First is the page size, 0..MaxFirst.
	First int
	// After is an opaque cursor from a previous page with the same Order; "" starts at the beginning.
	After string
	// Last, when set (0..MaxFirst), pages backwards: the last members of
	// the range instead of the first; First is then ignored.
	Last *int
	// Before is an opaque cursor: only members ordered before it.
	Before string
}

// MaxFirst is the largest page a Query may ask for.
const MaxFirst = 1000

// OrderField is the key members are sorted by.
type OrderField string

// The sort keys. Text keys compare case-insensitively.
const (
	OrderEmail        OrderField = "EMAIL"
	OrderFirstName    OrderField = "FIRST_NAME"
	OrderLastName     OrderField = "LAST_NAME"
	OrderCreatedAt    OrderField = "CREATED_AT"
	OrderLastSignInAt OrderField = "LAST_SIGN_IN_AT"
	OrderJoinedAt     OrderField = "JOINED_AT"
)

// Direction is ascending or descending.
type Direction string

// The directions.
const (
	Asc  Direction = "ASC"
	Desc Direction = "DESC"
)

// Order is a sort order. Members whose key is null sort last in both
// directions; ties break by user id ascending. The zero value means EMAIL ASC.
type Order struct {
	Field     OrderField
	Direction Direction
}

// SignInStatus selects members by whether they ever signed in.
type SignInStatus string

// The sign-in statuses; "" means either.
const (
	SignedIn      SignInStatus = "SIGNED_IN"
	NeverSignedIn SignInStatus = "NEVER_SIGNED_IN"
)

// Filter selects members. Every set field must hold. A nil slice is "no
// condition"; an empty non-nil slice in Roles, UserIDs or Emails ("any of
// nothing") matches no member; an empty And matches every member and an empty
// Or matches none.
type Filter struct {
	Roles            []string // any of these org role keys
	SignInStatus     SignInStatus
	LastSignInAfter  *time.Time // strictly after; members who never signed in do not match
	LastSignInBefore *time.Time // strictly before; members who never signed in do not match
	CreatedAfter     *time.Time // strictly after
	CreatedBefore    *time.Time // strictly before
	// Search is a case-insensitive substring of email, first name, last name or username.
	Search   *string
	UserIDs  []string            // any of these user ids
	Emails   []string            // any of these primary emails, case-insensitive exact
	Metadata []MetadataCondition // all must hold

	And []Filter
	Or  []Filter
	Not *Filter
}

// MetadataSource names the metadata object a condition looks into.
type MetadataSource string

// The metadata sources; "" means USER.
const (
	MetadataUser       MetadataSource = "USER"       // the user's public metadata
	MetadataMembership MetadataSource = "MEMBERSHIP" // the membership's public metadata
)

// MetadataOp is the test a MetadataCondition applies.
type MetadataOp string

// The metadata operators.
const (
	OpEquals   MetadataOp = "equals"   // the value at Path is JSON-equal to Value
	OpIn       MetadataOp = "in"       // the value at Path is JSON-equal to one of Values; empty Values matches no member
	OpExists   MetadataOp = "exists"   // Path is present (Exists) or missing (!Exists)
	OpIncludes MetadataOp = "includes" // the value at Path is an array holding an element JSON-equal to Value
	OpContains MetadataOp = "contains" // the value at Path is a string holding Value (a string) case-insensitively
)

// MetadataCondition tests one value inside a member's metadata.
//
// Values are JSON values as decoded by encoding/json or handed over by a
// GraphQL JSON scalar: nil, bool, string, float64, json.Number, int, int64,
// []any and map[string]any. Equality is JSON equality: types must agree
// (the string "7" is not the number 7), numbers compare by value, objects by
// keys and values.
type MetadataCondition struct {
	// Path is dot-separated into the metadata object: "department", "location.country".
	Path   string
	Source MetadataSource
	Op     MetadataOp
	Value  any   // for OpEquals, OpIncludes, OpContains (a string)
	Values []any // for OpIn
	Exists bool  // for OpExists
}

// Page is one page of a query's answer.
type Page struct {
	// Members are the members on this page, in order.
	Members []*Member
	// Cursors[i] is the cursor of Members[i]; pass it as Query.After to continue after it.
	Cursors []string
	// TotalCount counts every member matching the filter, on all pages.
	TotalCount      int
	HasNextPage     bool
	HasPreviousPage bool
	// Snapshot is the snapshot the page was computed from.
	Snapshot *Snapshot

	// The members matching the filter on all pages, for Facets: bit i of
	// matched is member i of Snapshot; matchAll when every member matches.
	matched  []uint64
	matchAll bool
}
