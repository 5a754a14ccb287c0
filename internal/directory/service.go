package directory

import "context"

// Service answers queries about an organization's members from the
// snapshots a Source provides. The zero value is not usable: set Source.
type Service struct {
	Source Source
}

// Get returns the member userID of orgID, or nil when that user is not a member.
// Errors: those of the Source.
func (s *Service) Get(ctx context.Context, orgID, userID string) (*Member, *Snapshot, error) {
	snap, err := s.Source.Members(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	return snap.Member(userID), snap, nil
}
