package directory

import "time"

// Snapshot is an immutable view of every member of one organization at one
// moment, with what filtering and sorting need computed once. It is safe for
// concurrent use. Build one with NewSnapshot.
type Snapshot struct {
	orgID    string
	members  []Member
	byID     map[string]int
	loadedAt time.Time
}

// NewSnapshot builds the snapshot of orgID's members as loaded at loadedAt.
// It takes ownership of members; callers must not modify them afterwards.
func NewSnapshot(orgID string, members []Member, loadedAt time.Time) *Snapshot {
	s := &Snapshot{orgID: orgID, members: members, loadedAt: loadedAt, byID: make(map[string]int, len(members))}
	for i := range members {
		s.byID[members[i].UserID] = i
	}
	return s
}

// OrgID returns the organization the snapshot belongs to.
func (s *Snapshot) OrgID() string { return s.orgID }

// LoadedAt returns when the snapshot was loaded from the backend.
func (s *Snapshot) LoadedAt() time.Time { return s.loadedAt }

// Len returns the number of members.
func (s *Snapshot) Len() int { return len(s.members) }

// Members returns the members in load order. The slice is shared: read only.
func (s *Snapshot) Members() []Member { return s.members }

// Member returns the member with the given user id, or nil.
func (s *Snapshot) Member(userID string) *Member {
	i, ok := s.byID[userID]
	if !ok {
		return nil
	}
	return &s.members[i]
}
