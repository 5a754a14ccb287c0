package directory

import "time"

// ChangeKind says what a Change does to the members of organizations.
type ChangeKind uint8

// The kinds of change.
const (
	// ChangeMemberUpserted: a membership of OrgID was created or updated.
	// Member holds the membership (Role, RoleName, MembershipMetadata,
	// JoinedAt, MembershipUpdatedAt) and, when HasProfile, the user's
	// profile too. A member new to the organization needs the profile.
	ChangeMemberUpserted ChangeKind = iota + 1
	// ChangeMemberRemoved: UserID left OrgID.
	ChangeMemberRemoved
	// ChangeUserUpdated: UserID's profile is now Member's profile fields
	// (email, names, image, sign-in and activity times, created, banned,
	// public metadata, UserUpdatedAt), in every organization that holds them.
	ChangeUserUpdated
	// ChangeUserDeleted: UserID is gone, from every organization.
	ChangeUserDeleted
	// ChangeOrgDropped: OrgID is gone.
	ChangeOrgDropped
	// ChangeReload: a change to OrgID (or, without one, to every
	// organization holding UserID) that cannot be applied exactly, such as
	// an event whose payload lacks what a patch needs: the snapshot is
	// dropped so that the next read reloads it.
	ChangeReload
	// ChangeInvitationChanged: an invitation of OrgID was created,
	// accepted or revoked. Members are not affected (an acceptance comes
	// with its own membership change); cached invitation lists reload.
	ChangeInvitationChanged
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeMemberUpserted:
		return "member upserted"
	case ChangeMemberRemoved:
		return "member removed"
	case ChangeUserUpdated:
		return "user updated"
	case ChangeUserDeleted:
		return "user deleted"
	case ChangeOrgDropped:
		return "organization dropped"
	case ChangeReload:
		return "reload"
	case ChangeInvitationChanged:
		return "invitation changed"
	}
	return "unknown change"
}

// Change is one change to the members of organizations, as a webhook, an
// admin write or a peer replica reports it. Changes are applied to cached
// snapshots (Snapshot.Apply) instead of reloading them.
type Change struct {
	Kind ChangeKind
	// OrgID is the organization of a membership change or ChangeOrgDropped;
	// "" for user changes, which apply to every organization holding UserID.
	OrgID  string
	UserID string
	// Member carries the new data: see the kinds.
	Member Member
	// HasProfile says Member's profile fields are set (ChangeMemberUpserted).
	HasProfile bool
	// UpdatedAt is when the membership (membership changes) or the user
	// (user changes) last changed, as Clerk stamped it: a change older than
	// what a snapshot already holds is not applied. Zero means unknown:
	// applied as the newest.
	UpdatedAt time.Time
}

// profileFields copies the user's profile from src into dst, leaving dst's
// membership alone.
func profileFields(dst *Member, src *Member) {
	dst.Email, dst.FirstName, dst.LastName, dst.Username, dst.ImageURL = src.Email, src.FirstName, src.LastName, src.Username, src.ImageURL
	dst.LastSignInAt, dst.LastActiveAt, dst.CreatedAt, dst.Banned = src.LastSignInAt, src.LastActiveAt, src.CreatedAt, src.Banned
	dst.PublicMetadata, dst.UserUpdatedAt = src.PublicMetadata, src.UserUpdatedAt
}

// membershipFields copies the membership from src into dst, leaving dst's
// profile alone.
func membershipFields(dst *Member, src *Member) {
	dst.Role, dst.RoleName, dst.MembershipMetadata, dst.JoinedAt, dst.MembershipUpdatedAt = src.Role, src.RoleName, src.MembershipMetadata, src.JoinedAt, src.MembershipUpdatedAt
}

// WithProfile returns c carrying p's profile fields (the user's email,
// names, image, times, banned, public metadata and UserUpdatedAt) next to
// its membership: what a cache does for a new member once it has fetched
// the user.
func (c Change) WithProfile(p Member) Change {
	profileFields(&c.Member, &p)
	c.HasProfile = true
	return c
}

// WithProfiles returns changes with the fetched profiles (by user id) added
// to the member upserts that lacked one; changes itself when there are
// none. Both the near cache and the fleet tier fetch missing profiles and
// apply again with them.
func WithProfiles(changes []Change, fetched map[string]Member) []Change {
	if len(fetched) == 0 {
		return changes
	}
	out := make([]Change, len(changes))
	for i, c := range changes {
		if p, ok := fetched[c.UserID]; ok && c.Kind == ChangeMemberUpserted && !c.HasProfile {
			c = c.WithProfile(p)
		}
		out[i] = c
	}
	return out
}
