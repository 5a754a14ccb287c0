package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orgusers/orgusers/internal/directory"
)

// message is what replicas publish on prefix+"events": a load that landed
// (waiters read it from Redis) or changes to apply to near caches.
type message struct {
	From   string       `json:"from"`
	Loaded string       `json:"loaded,omitempty"`
	Change []wireChange `json:"changes,omitempty"`
	// Members holds each change's Member, in order, in the snapshot
	// encoding (codec.go), which round-trips every field exactly.
	Members []byte `json:"members,omitempty"`
}

type wireChange struct {
	Kind       directory.ChangeKind `json:"k"`
	OrgID      string               `json:"o,omitempty"`
	UserID     string               `json:"u,omitempty"`
	HasProfile bool                 `json:"p,omitempty"`
	UpdatedAt  time.Time            `json:"t,omitzero"`
}

func encodeChanges(from string, changes []directory.Change) ([]byte, error) {
	msg := message{From: from, Change: make([]wireChange, len(changes))}
	members := make([]directory.Member, len(changes))
	for i, c := range changes {
		msg.Change[i] = wireChange{Kind: c.Kind, OrgID: c.OrgID, UserID: c.UserID, HasProfile: c.HasProfile, UpdatedAt: c.UpdatedAt}
		members[i] = c.Member
	}
	msg.Members = encodeMembers("", members, time.Time{}, nil, true)
	return json.Marshal(msg)
}

func decodeMessage(b []byte) (message, []directory.Change, error) {
	var msg message
	if err := json.Unmarshal(b, &msg); err != nil {
		return msg, nil, err
	}
	if len(msg.Change) == 0 {
		return msg, nil, nil
	}
	_, members, _, _, err := decodeMembers(msg.Members)
	if err != nil {
		return msg, nil, err
	}
	if len(members) != len(msg.Change) {
		return msg, nil, errors.New("fleet: a change message's members do not match its changes")
	}
	changes := make([]directory.Change, len(msg.Change))
	for i, w := range msg.Change {
		changes[i] = directory.Change{Kind: w.Kind, OrgID: w.OrgID, UserID: w.UserID, HasProfile: w.HasProfile, UpdatedAt: w.UpdatedAt, Member: members[i]}
	}
	return msg, changes, nil
}

// notifyLoaded wakes this replica's and the fleet's waiters for orgID.
func (s *Source) notifyLoaded(ctx context.Context, orgID string) {
	s.wake(orgID)
	b, _ := json.Marshal(message{From: s.cfg.ReplicaID, Loaded: orgID})
	_ = s.st.publish(ctx, b)
}

// Start subscribes to the fleet's messages: load notifications wake this
// replica's waiters, and changes published by other replicas go to apply
// (the near cache and the invitation lists: what the webhook endpoint
// feeds). holders, when set, names the organizations that hold a user,
// for Apply's user changes (the near cache's Holding). The subscription
// reconnects by itself after Redis returns. Call it once, before Apply;
// Close stops it.
func (s *Source) Start(apply func(ctx context.Context, changes []directory.Change) error, holders func(userID string) []string) {
	s.holders = holders
	ps := s.cfg.Client.Subscribe(s.ctx, s.st.channel())
	ch := ps.Channel(redis.WithChannelSize(1000))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer ps.Close()
		for {
			select {
			case <-s.ctx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				s.receive(m.Payload, apply)
			}
		}
	}()
}

func (s *Source) receive(payload string, apply func(context.Context, []directory.Change) error) {
	msg, changes, err := decodeMessage([]byte(payload))
	if err != nil {
		s.log.Warn("fleet: an unreadable message on the fleet channel was skipped", "err", err)
		return
	}
	if msg.Loaded != "" {
		s.wake(msg.Loaded)
	}
	if msg.From == s.cfg.ReplicaID || len(changes) == 0 || apply == nil {
		return
	}
	// A peer's user changes (no organization) patched the Redis snapshots
	// of the organizations it holds the user in; this replica patches those
	// it holds, found before its near cache applies a deletion.
	var users []directory.Change
	for _, c := range changes {
		if c.OrgID == "" && c.Kind != directory.ChangeInvitationChanged {
			users = append(users, c)
		}
	}
	byOrg, orgs := s.held(users)
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if err := apply(ctx, changes); err != nil {
		s.log.Warn("fleet: applying a peer's changes failed", "err", err, "changes", len(changes))
	}
	if len(orgs) > 0 && s.st.healthy() {
		s.wg.Add(1)
		go func() { // off the subscriber: decoding and encoding snapshots takes a while
			defer s.wg.Done()
			_, _ = s.patchAll(s.ctx, orgs, byOrg)
		}()
	}
}

// held groups user changes by the organizations holders names for each
// user, in first-seen order.
func (s *Source) held(changes []directory.Change) (map[string][]directory.Change, []string) {
	if s.holders == nil || len(changes) == 0 {
		return nil, nil
	}
	byOrg := map[string][]directory.Change{}
	var orgs []string
	for _, c := range changes {
		for _, orgID := range s.holders(c.UserID) {
			if _, ok := byOrg[orgID]; !ok {
				orgs = append(orgs, orgID)
			}
			byOrg[orgID] = append(byOrg[orgID], c)
		}
	}
	return byOrg, orgs
}

// Apply takes changes this replica received (a webhook, an admin write):
// it patches the snapshots in Redis they concern and publishes them, so
// that every replica applies them to its near cache. Membership changes
// concern their organization; user changes, the organizations that
// holders (given to Start: the near cache's Holding) names, here and on
// each peer for the organizations it holds. Call it before the near cache
// applies the changes, while holders still sees a deleted user. When
// Redis cannot be reached the changes stay local (logged by the breaker);
// Apply returns only ctx's error.
func (s *Source) Apply(ctx context.Context, changes []directory.Change) error {
	if len(changes) == 0 || !s.st.healthy() {
		return nil
	}
	byOrg := map[string][]directory.Change{}
	var orgs []string
	add := func(orgID string, c directory.Change) {
		if _, ok := byOrg[orgID]; !ok {
			orgs = append(orgs, orgID)
		}
		byOrg[orgID] = append(byOrg[orgID], c)
	}
	for _, c := range changes { // in order: a patch applies them as they came
		switch {
		case c.Kind == directory.ChangeInvitationChanged:
		case c.OrgID != "":
			add(c.OrgID, c)
		case s.holders != nil:
			for _, orgID := range s.holders(c.UserID) {
				add(orgID, c)
			}
		}
	}
	fetched, err := s.patchAll(ctx, orgs, byOrg)
	if err != nil {
		return err
	}
	// Peers get the profiles the patch fetched, so that they do not each
	// fetch the same new member from Clerk.
	changes = directory.WithProfiles(changes, fetched)
	b, err := encodeChanges(s.cfg.ReplicaID, changes)
	if err == nil {
		err = s.st.publish(ctx, b)
	}
	if err != nil {
		s.log.WarnContext(ctx, "fleet: publishing changes failed; other replicas see them after their TTL", "err", err)
	}
	return nil
}

// patchBatch is the changes waiting to be patched into one organization's
// snapshot, and the channel closed once they are.
type patchBatch struct {
	changes []directory.Change
	done    chan struct{}
	fetched map[string]directory.Member // profiles the patch fetched; read after done
}

// patchAll patches each organization's snapshot in Redis and returns once
// they are all done, or ctx's error. Changes for one organization are
// coalesced as in the near cache: while a patch runs, those that arrive
// wait and go in the next one, so a burst costs this replica a few
// read-apply-write rounds, not one per change (and fewer lost races).
func (s *Source) patchAll(ctx context.Context, orgs []string, byOrg map[string][]directory.Change) (map[string]directory.Member, error) {
	var waits []*patchBatch
	s.mu.Lock()
	for _, orgID := range orgs {
		b := s.pending[orgID]
		if b == nil {
			b = &patchBatch{done: make(chan struct{})}
			s.pending[orgID] = b
			if !s.patching[orgID] {
				s.patching[orgID] = true
				s.wg.Add(1)
				go s.patchLoop(context.WithoutCancel(ctx), orgID)
			}
		}
		b.changes = append(b.changes, byOrg[orgID]...)
		waits = append(waits, b)
	}
	s.mu.Unlock()
	fetched := map[string]directory.Member{}
	for _, b := range waits {
		select {
		case <-b.done:
			maps.Copy(fetched, b.fetched)
		case <-ctx.Done():
			return nil, directory.Wrap(directory.CodeUpstreamUnavailable, ctx.Err(), "the change was not applied in time")
		}
	}
	return fetched, nil
}

// patchLoop patches orgID's pending batches one after another until none is left.
func (s *Source) patchLoop(ctx context.Context, orgID string) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		b := s.pending[orgID]
		delete(s.pending, orgID)
		if b == nil {
			delete(s.patching, orgID)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, patchTimeout)
		b.fetched = map[string]directory.Member{}
		if err := s.patch(pctx, orgID, b.changes, b.fetched); err != nil {
			s.log.WarnContext(ctx, "fleet: patching the snapshot in Redis failed; it stays as it is until its TTL",
				"org_id", orgID, "err", err)
		}
		cancel()
		close(b.done)
	}
}

// patchTimeout bounds one organization's patch, retries included.
const patchTimeout = 10 * time.Second

// patch applies changes to orgID's snapshot in Redis with compare-and-set,
// re-reading and re-applying after losing a race (after a short jittered
// pause, so that racing replicas spread out), until ctx ends. A change
// that cannot be applied exactly drops the snapshot (the next read
// reloads it). A missing snapshot is only stamped, so that a load in
// flight from before the change is not stored.
func (s *Source) patch(ctx context.Context, orgID string, changes []directory.Change, fetched map[string]directory.Member) error {
	for attempt := 1; ; attempt++ {
		st, err := s.st.get(ctx, orgID)
		if err != nil {
			return err
		}
		var data []byte // nil: drop (or only stamp)
		if st.data != nil {
			snap, err := Decode(st.data)
			if err == nil {
				data = s.patched(ctx, snap, changes, fetched)
			}
		}
		if data != nil && len(data) == 0 {
			return nil // nothing changed
		}
		_, err = s.st.cas(ctx, orgID, st.gen, data)
		if !errors.Is(err, errConflict) {
			if err == nil {
				s.stats.patches.Add(1)
			}
			return err
		}
		s.stats.conflicts.Add(1)
		pause := time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(5*time.Millisecond)))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("%w after %d attempts: %w", errConflict, attempt, ctx.Err())
		}
	}
}

// patched returns the encoding of snap with changes applied; empty (not
// nil) when nothing changed; nil when the snapshot must be dropped.
func (s *Source) patched(ctx context.Context, snap *directory.Snapshot, changes []directory.Change, fetched map[string]directory.Member) []byte {
	for {
		next, res := snap.Apply(directory.WithProfiles(changes, fetched))
		if res.Dropped || res.Reload {
			return nil
		}
		if len(res.NeedProfile) == 0 {
			if next == snap {
				return []byte{}
			}
			return Encode(next)
		}
		for _, id := range res.NeedProfile {
			if _, again := fetched[id]; again || s.cfg.Profiles == nil {
				return nil
			}
			p, err := s.cfg.Profiles.Profile(ctx, id)
			if err != nil {
				return nil
			}
			fetched[id] = p
		}
	}
}
