package cache

import (
	"context"

	"github.com/orgusers/orgusers/internal/directory"
)

// Profiles fetches users' profiles, for a member that a change adds without
// one (Clerk's membership events carry only part of the user).
type Profiles interface {
	// Profile returns the profile fields of userID as a Member.
	// Errors: UPSTREAM_UNAVAILABLE, INTERNAL_SERVER_ERROR.
	Profile(ctx context.Context, userID string) (directory.Member, error)
}

// batch is the changes waiting for one organization, and the channel
// closed once they are applied.
type batch struct {
	changes []directory.Change
	done    chan struct{}
}

// Apply applies changes to the cached organizations they concern and
// returns once a Members call sees them (or ctx ends). A membership change
// concerns its organization; a user change, every cached organization that
// holds the user. An organization that is not cached costs nothing: the
// change is dropped, since its next load will include it. A load in flight
// that a change concerns answers the requests waiting for it, but is not
// cached, since it may predate the change.
//
// Changes for one organization are coalesced: while a patch runs, the
// changes that arrive wait for it and are applied together by the next, so
// a burst rebuilds the snapshot a few times rather than once per change. A
// change that cannot be applied exactly (a profile fetch failing, no
// Profiles configured) drops the organization from the cache, so that the
// next read reloads it, and is logged. Any caller may call it; the webhook
// endpoint does. It returns only ctx's error, as UPSTREAM_UNAVAILABLE.
func (c *Cache) Apply(ctx context.Context, changes []directory.Change) error {
	byOrg := map[string][]directory.Change{}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil // shutting down: nothing is served from here any more
	}
	for _, ch := range changes {
		if ch.Kind == directory.ChangeInvitationChanged {
			continue // no member changed
		}
		if ch.OrgID != "" {
			c.dropInflightLocked(ch.OrgID)
			if _, ok := c.entries[ch.OrgID]; ok {
				byOrg[ch.OrgID] = append(byOrg[ch.OrgID], ch)
			}
			continue
		}
		for orgID := range c.inflight { // any of them may hold the user
			c.dropInflightLocked(orgID)
		}
		for orgID, el := range c.entries {
			if el.Value.(*entry).snap.Member(ch.UserID) != nil {
				byOrg[orgID] = append(byOrg[orgID], ch)
			}
		}
	}
	var waits []*batch
	for orgID, chs := range byOrg {
		b := c.pending[orgID]
		if b == nil {
			b = &batch{done: make(chan struct{})}
			c.pending[orgID] = b
			if !c.patching[orgID] {
				c.patching[orgID] = true
				c.wg.Add(1)
				go c.patch(orgID)
			}
		}
		b.changes = append(b.changes, chs...)
		waits = append(waits, b)
	}
	c.mu.Unlock()
	for _, b := range waits {
		select {
		case <-b.done:
		case <-ctx.Done():
			return directory.Wrap(directory.CodeUpstreamUnavailable, ctx.Err(), "the change was not applied in time")
		}
	}
	return nil
}

// dropInflightLocked keeps a load in flight for orgID from being cached.
// c.mu must be held.
func (c *Cache) dropInflightLocked(orgID string) {
	if cl := c.inflight[orgID]; cl != nil {
		cl.dropped = true
		delete(c.inflight, orgID)
	}
}

// patch applies orgID's pending batches one after another until none is
// left: the batch that gathers while one is applied goes in one patch.
func (c *Cache) patch(orgID string) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		b := c.pending[orgID]
		delete(c.pending, orgID)
		if b == nil {
			delete(c.patching, orgID)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.applyBatch(orgID, b.changes)
		close(b.done)
	}
}

// applyBatch patches orgID's cached snapshot with changes, fetching the
// profiles of new members first, and retries on top of a load that landed
// meanwhile.
func (c *Cache) applyBatch(orgID string, changes []directory.Change) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.LoadTimeout)
	defer cancel()
	fetched := map[string]directory.Member{}
	for {
		snap := c.cached(orgID)
		if snap == nil {
			return // evicted or invalidated meanwhile: the next load has it all
		}
		next, res := snap.Apply(directory.WithProfiles(changes, fetched))
		if len(res.NeedProfile) > 0 {
			if !c.fetchProfiles(ctx, orgID, res.NeedProfile, fetched) {
				return
			}
			continue
		}
		if res.Dropped || res.Reload {
			if res.Reload {
				c.log.WarnContext(ctx, "cache: a change could not be applied exactly; reloading", "org_id", orgID)
			}
			c.Invalidate(orgID)
			return
		}
		c.mu.Lock()
		el, ok := c.entries[orgID]
		if ok && el.Value.(*entry).snap == snap {
			if next != snap {
				c.replaceLocked(el.Value.(*entry), next)
				c.stats.Patches++
			}
			c.stats.ChangesApplied += uint64(res.Applied)
			c.stats.ChangesStale += uint64(res.Stale)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock() // a load landed while we patched: patch it too
	}
}

// cached returns orgID's cached snapshot, or nil.
func (c *Cache) cached(orgID string) *directory.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[orgID]; ok {
		return el.Value.(*entry).snap
	}
	return nil
}

// fetchProfiles fetches the profiles of ids into fetched. When it cannot,
// it drops orgID from the cache (the next read reloads it), logs why and
// returns false.
func (c *Cache) fetchProfiles(ctx context.Context, orgID string, ids []string, fetched map[string]directory.Member) bool {
	for _, id := range ids {
		if _, done := fetched[id]; done {
			c.log.WarnContext(ctx, "cache: a new member's change cannot be applied even with the profile; reloading", "org_id", orgID, "user_id", id)
			c.Invalidate(orgID)
			return false
		}
		if c.cfg.Profiles == nil {
			c.log.WarnContext(ctx, "cache: a new member's change has no profile and none can be fetched; reloading", "org_id", orgID, "user_id", id)
			c.Invalidate(orgID)
			return false
		}
		p, err := c.cfg.Profiles.Profile(ctx, id)
		if err != nil {
			c.log.WarnContext(ctx, "cache: fetching a new member's profile failed; reloading", "org_id", orgID, "user_id", id, "err", err)
			c.Invalidate(orgID)
			return false
		}
		fetched[id] = p
	}
	return true
}

// Holding returns the cached organizations whose snapshot holds userID:
// where a change to that user applies. The fleet tier patches those
// organizations' shared snapshots. Any caller may call it.
func (c *Cache) Holding(userID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var orgs []string
	for orgID, el := range c.entries {
		if el.Value.(*entry).snap.Member(userID) != nil {
			orgs = append(orgs, orgID)
		}
	}
	return orgs
}
