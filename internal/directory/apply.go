package directory

import (
	"maps"
	"slices"
	"time"
)

// ApplyResult says what Snapshot.Apply did with a list of changes.
type ApplyResult struct {
	// Applied counts the changes that changed a member.
	Applied int
	// Stale counts the changes older than what the snapshot holds, skipped.
	Stale int
	// NeedProfile lists users new to the organization whose change carried
	// no profile: the caller fetches the profiles and applies the changes
	// again with them.
	NeedProfile []string
	// Dropped reports a ChangeOrgDropped for this organization.
	Dropped bool
	// Reload reports a ChangeReload for this organization (or a user it
	// holds): the snapshot can no longer be trusted to match Clerk.
	Reload bool
}

// forever marks a user who was deleted: no later change brings them back.
var forever = time.Unix(1<<40, 0)

// Apply returns the snapshot with changes applied in order, and what it did.
// It is pure: s is not modified, and readers of s keep their view. The new
// snapshot has its own Version, so response caches and ETags built on s no
// longer match. Membership changes for another organization are ignored;
// user changes apply when s holds the user. A change older than the member
// it would change (its UpdatedAt before the member's MembershipUpdatedAt or
// UserUpdatedAt), or than the removal of that member, is skipped. When
// nothing changed, Apply returns s itself. It costs O(members + changes).
func (s *Snapshot) Apply(changes []Change) (*Snapshot, ApplyResult) {
	var res ApplyResult
	members := slices.Clone(s.members)
	pos := maps.Clone(s.byID)
	removed := maps.Clone(s.removed)
	if removed == nil {
		removed = map[string]time.Time{}
	}
	gone := make([]bool, len(members))
	changed := false
	var touched []string
	for i := range changes {
		c := &changes[i]
		if c.OrgID != "" && c.OrgID != s.orgID {
			continue
		}
		cm := c.Member // stamped below: the caller's change stays as it was
		at, has := pos[c.UserID]
		var m *Member
		if has {
			m = &members[at]
		}
		switch c.Kind {
		case ChangeOrgDropped:
			res.Dropped = true
		case ChangeReload:
			if c.OrgID != "" || has {
				res.Reload = true
			}
		case ChangeMemberUpserted:
			switch {
			case m != nil && older(c.UpdatedAt, m.MembershipUpdatedAt):
				res.Stale++
			case m != nil:
				before := hashMember(m)
				membershipFields(m, withStamp(&cm, c.UpdatedAt, false))
				if c.HasProfile && !older(cm.UserUpdatedAt, m.UserUpdatedAt) {
					profileFields(m, &cm)
				}
				if hashMember(m) != before {
					res.Applied++
					changed = true
					touched = append(touched, c.UserID)
				}
			case !c.UpdatedAt.IsZero() && !c.UpdatedAt.After(removed[c.UserID]):
				res.Stale++ // created before it was removed: a late delivery
			case !c.HasProfile:
				res.NeedProfile = append(res.NeedProfile, c.UserID)
			default:
				withStamp(&cm, c.UpdatedAt, false)
				cm.UserID = c.UserID
				members = append(members, cm)
				gone = append(gone, false)
				pos[c.UserID] = len(members) - 1
				delete(removed, c.UserID)
				res.Applied++
				changed = true
				touched = append(touched, c.UserID)
			}
		case ChangeUserUpdated:
			switch {
			case m == nil:
			case older(c.UpdatedAt, m.UserUpdatedAt):
				res.Stale++
			default:
				before := hashMember(m)
				profileFields(m, withStamp(&cm, c.UpdatedAt, true))
				if hashMember(m) != before {
					res.Applied++
					changed = true
					touched = append(touched, c.UserID)
				}
			}
		case ChangeMemberRemoved, ChangeUserDeleted:
			stamp := c.UpdatedAt
			if c.Kind == ChangeUserDeleted {
				stamp = forever
			}
			switch {
			case m != nil && older(c.UpdatedAt, m.MembershipUpdatedAt):
				res.Stale++
				continue
			case m != nil:
				gone[at] = true
				delete(pos, c.UserID)
				res.Applied++
				changed = true
				touched = append(touched, c.UserID)
			}
			if !stamp.IsZero() && stamp.After(removed[c.UserID]) {
				removed[c.UserID] = stamp
			}
		}
	}
	if !changed {
		return s, res
	}
	kept := members[:0]
	for i := range members {
		if !gone[i] {
			kept = append(kept, members[i])
		}
	}
	next := NewSnapshot(s.orgID, kept, s.loadedAt)
	next.removed = removed
	slices.Sort(touched)
	next.baseVersion, next.touched = s.version, slices.Compact(touched)
	return next, res
}

// older reports whether a change stamped at is older than what is held.
// An unknown stamp (zero) is never older.
func older(at, held time.Time) bool {
	return !at.IsZero() && at.Before(held)
}

// withStamp sets m's user (profile) or membership stamp to at when m has none.
func withStamp(m *Member, at time.Time, profile bool) *Member {
	switch {
	case profile && m.UserUpdatedAt.IsZero():
		m.UserUpdatedAt = at
	case !profile && m.MembershipUpdatedAt.IsZero():
		m.MembershipUpdatedAt = at
	}
	return m
}
