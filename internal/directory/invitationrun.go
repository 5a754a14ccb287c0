package directory

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Codes of invitation items.
const (
	CodeAlreadyAMember Code = "ALREADY_A_MEMBER" // the address belongs to a member: nothing written
	CodeAlreadyInvited Code = "ALREADY_INVITED"  // the address has a pending invitation: nothing written
	CodeInvalidEmail   Code = "INVALID_EMAIL"    // not a bare email address: nothing written
	CodeNotPending     Code = "NOT_PENDING"      // revoking an invitation no longer pending: nothing written
	CodeInvalidID      Code = "INVALID_ID"       // not an invitation id: nothing written
)

// Clerk's error codes that the invitation operations read as outcomes
// rather than failures.
const (
	clerkNotUnique     = "organization_invitation_not_unique"
	clerkAlreadyMember = "already_a_member_in_organization"
	clerkNotPending    = "organization_invitation_not_pending"
	clerkNotFound      = "resource_not_found"
)

// InviteBatchSize is the most invitations one backend bulk call creates
// (Clerk's maxItems for POST /organizations/{id}/invitations/bulk).
const InviteBatchSize = 10

// DefaultInvitationsTTL is how long a loaded invitation list is served.
const DefaultInvitationsTTL = 10 * time.Second

// NewInvitation is one invitation to create.
type NewInvitation struct {
	EmailAddress, Role string
	// PublicMetadata is a JSON object, or nil for none.
	PublicMetadata json.RawMessage
}

// InviteRequest asks to invite addresses into an organization.
type InviteRequest struct {
	Invitations []NewInvitation
	// RedirectURL, when not "", is where the invitation link leads: an absolute http(s) URL.
	RedirectURL string
	DryRun      bool
}

// InvitationItem is the outcome of one address (invite) or one invitation id (revoke).
type InvitationItem struct {
	EmailAddress string // "" when unknown (revoking an id Clerk does not know)
	InvitationID string // the created, existing or revoked invitation; "" when none
	Status       ItemStatus
	Code         string // why: ALREADY_A_MEMBER, ALREADY_INVITED, INVALID_EMAIL, NOT_PENDING, Clerk's error code, ...
	Message      string
}

// InvitationResult is the outcome of an invite or revoke call: counts and
// one item per distinct address or id, in the order first given.
type InvitationResult struct {
	DryRun                                           bool
	Requested, Succeeded, Unchanged, Failed, Skipped int
	Items                                            []InvitationItem
}

// InvitationStore loads and writes an organization's invitations in the
// backend. The Clerk repository implements it. Writes report refusals as
// *WriteError and return the backend's trace id for the audit log.
type InvitationStore interface {
	// Invitations returns every invitation of orgID, any status.
	Invitations(ctx context.Context, orgID string) ([]Invitation, error)
	// CreateInvitations creates all of invs in one call, or none.
	CreateInvitations(ctx context.Context, orgID, inviterUserID, redirectURL string, invs []NewInvitation) ([]Invitation, string, error)
	// CreateInvitation creates one invitation.
	CreateInvitation(ctx context.Context, orgID, inviterUserID, redirectURL string, inv NewInvitation) (Invitation, string, error)
	// RevokeInvitation revokes the pending invitation invitationID.
	RevokeInvitation(ctx context.Context, orgID, requesterUserID, invitationID string) (Invitation, string, error)
	// OrganizationRoles returns the role keys of the instance.
	OrganizationRoles(ctx context.Context) ([]string, error)
}

// Invitations lists, creates and revokes organization invitations. It
// keeps each organization's invitation list for TTL and drops it on its
// own writes. Set Store and Members (the cached member snapshots); the
// other fields' zero values are defaults. Safe for concurrent use.
// Callers authorize first: the GraphQL resolvers run behind
// @hasOrgRole(org:admin) with orgID from the session.
type Invitations struct {
	Store   InvitationStore
	Members Source
	// TTL is how long a loaded list is served; default DefaultInvitationsTTL.
	TTL time.Duration
	// MaxOrgs bounds the organizations whose lists are kept; default 1000.
	MaxOrgs int
	// Concurrency bounds the backend writes in flight; default 4.
	Concurrency int
	// Deadline bounds one write call; what it does not reach is SKIPPED. Default 50s.
	Deadline time.Duration
	Now      func() time.Time
	Logger   *slog.Logger

	mu sync.Mutex
	// seq counts invalidations; a load that began before one is not kept.
	seq, floor uint64
	entries    map[string]*invitationEntry
}

type invitationEntry struct {
	list []Invitation // nil: invalidated
	at   time.Time
	gen  uint64
}

func (s *Invitations) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// List returns one page of orgID's invitations matching q, newest first,
// from a list at most TTL old. Errors: BAD_USER_INPUT naming `first` or
// `after` (checked before loading), the store's UPSTREAM_UNAVAILABLE.
func (s *Invitations) List(ctx context.Context, orgID string, q InvitationQuery) (*InvitationPage, error) {
	if err := CheckInvitationQuery(q); err != nil {
		return nil, err
	}
	list, err := s.load(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return PageInvitations(list, q)
}

// Apply drops the cached lists of the organizations whose invitations
// changes say changed (ChangeInvitationChanged, ChangeOrgDropped); other
// changes do not concern invitations. It implements the webhook's sink
// next to the member cache, and never fails.
func (s *Invitations) Apply(_ context.Context, changes []Change) error {
	for _, c := range changes {
		if c.Kind == ChangeInvitationChanged || c.Kind == ChangeOrgDropped {
			s.Invalidate(c.OrgID)
		}
	}
	return nil
}

// Invalidate drops orgID's cached list, so the next read loads it.
func (s *Invitations) Invalidate(orgID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if s.entries == nil {
		s.entries = map[string]*invitationEntry{}
	}
	s.entries[orgID] = &invitationEntry{gen: s.seq}
}

func (s *Invitations) load(ctx context.Context, orgID string) ([]Invitation, error) {
	if orgID == "" {
		return nil, Errorf(CodeNoActiveOrganization, "no active organization")
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultInvitationsTTL
	}
	s.mu.Lock()
	if e := s.entries[orgID]; e != nil && e.list != nil && s.now().Sub(e.at) < ttl {
		s.mu.Unlock()
		return e.list, nil
	}
	start := s.seq
	s.mu.Unlock()

	list, err := s.Store.Invitations(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []Invitation{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = map[string]*invitationEntry{}
	}
	e := s.entries[orgID]
	if start < s.floor || e != nil && e.gen > start {
		return list, nil // invalidated while loading: answer it, keep nothing
	}
	maxOrgs := s.MaxOrgs
	if maxOrgs <= 0 {
		maxOrgs = 1000
	}
	if e == nil && len(s.entries) >= maxOrgs {
		now := s.now()
		for k, old := range s.entries {
			if old.list == nil || now.Sub(old.at) >= ttl {
				delete(s.entries, k)
			}
		}
		s.floor = s.seq // the markers dropped no longer guard loads in flight
		if len(s.entries) >= maxOrgs {
			return list, nil
		}
	}
	s.entries[orgID] = &invitationEntry{list: list, at: s.now(), gen: start}
	return list, nil
}

// plannedInvite is one distinct address checked before any write.
type plannedInvite struct {
	inv   NewInvitation
	write bool
}

// PlanInvites checks an invite request against the organization's
// members and invitations and decides, for each distinct address (compared
// case-insensitively; the first occurrence wins), whether it needs a
// write. roles are the instance's role keys. It is pure. Errors, for the
// whole call: TOO_MANY_TARGETS (over MaxBulkTargets), BAD_USER_INPUT
// naming `role`, `publicMetadata` or `redirectUrl`. Outcomes of single
// addresses are items: FAILED INVALID_EMAIL, UNCHANGED ALREADY_A_MEMBER,
// UNCHANGED ALREADY_INVITED (with the pending invitation's id).
func PlanInvites(req InviteRequest, roles []string, members []Member, invs []Invitation) ([]InvitationItem, []bool, error) {
	if len(req.Invitations) > MaxBulkTargets {
		return nil, nil, Errorf(CodeTooManyTargets, "input.invitations: %d invitations; at most %d per call", len(req.Invitations), MaxBulkTargets)
	}
	if req.RedirectURL != "" {
		if u, err := url.Parse(req.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, nil, badInput("redirectUrl", "must be an absolute http(s) URL")
		}
	}
	known := make(map[string]bool, len(roles))
	for _, r := range roles {
		known[r] = true
	}
	for _, in := range req.Invitations {
		if !known[in.Role] {
			return nil, nil, badInput("role", "%q is not one of this instance's organization roles %v", in.Role, roles)
		}
		if len(in.PublicMetadata) > 0 && string(in.PublicMetadata) != "null" {
			var obj map[string]any
			if json.Unmarshal(in.PublicMetadata, &obj) != nil || obj == nil {
				return nil, nil, badInput("publicMetadata", "must be a JSON object")
			}
		}
	}
	memberEmails := make(map[string]bool, len(members))
	for i := range members {
		if e := members[i].Email; e != nil {
			memberEmails[strings.ToLower(*e)] = true
		}
	}
	pending := map[string]string{}
	for _, inv := range invs {
		if inv.Status == InvitationPending {
			pending[strings.ToLower(inv.EmailAddress)] = inv.ID
		}
	}
	seen := make(map[string]bool, len(req.Invitations))
	var items []InvitationItem
	var writes []bool
	for _, in := range req.Invitations {
		key := strings.ToLower(in.EmailAddress)
		if seen[key] {
			continue
		}
		seen[key] = true
		it := InvitationItem{EmailAddress: in.EmailAddress}
		write := false
		switch {
		case !ValidEmail(in.EmailAddress):
			it.Status, it.Code, it.Message = ItemFailed, string(CodeInvalidEmail), "not a valid email address"
		case memberEmails[key]:
			it.Status, it.Code, it.Message = ItemUnchanged, string(CodeAlreadyAMember), "already a member of the organization"
		case pending[key] != "":
			it.Status, it.Code, it.Message = ItemUnchanged, string(CodeAlreadyInvited), "already has a pending invitation"
			it.InvitationID = pending[key]
		default:
			write = true
		}
		items = append(items, it)
		writes = append(writes, write)
	}
	return items, writes, nil
}

// Invite invites the addresses of req into orgID as actorUserID (Clerk's
// inviter), or only answers what it would do when req.DryRun. Addresses
// that need a write go to the store in batches of InviteBatchSize; a batch
// the backend refuses as a whole (a 4xx) is retried one invitation at a
// time, so each gets its own outcome. Clerk's answers that an address is
// a member or already invited are UNCHANGED items, like the checks made
// before writing. Errors of the whole call, before any write: those of
// PlanInvites, the store's and Members' UPSTREAM_UNAVAILABLE.
func (s *Invitations) Invite(ctx context.Context, orgID, actorUserID string, req InviteRequest) (*InvitationResult, error) {
	if len(req.Invitations) > MaxBulkTargets {
		return nil, Errorf(CodeTooManyTargets, "input.invitations: %d invitations; at most %d per call", len(req.Invitations), MaxBulkTargets)
	}
	roles, err := s.Store.OrganizationRoles(ctx)
	if err != nil {
		return nil, err
	}
	// Inputs are checked before anything about the organization is loaded.
	if _, _, err := PlanInvites(req, roles, nil, nil); err != nil {
		return nil, err
	}
	snap, err := s.Members.Members(ctx, orgID)
	if err != nil {
		return nil, err
	}
	invs, err := s.load(ctx, orgID)
	if err != nil {
		return nil, err
	}
	items, writes, err := PlanInvites(req, roles, snap.Members(), invs)
	if err != nil {
		return nil, err
	}
	var todo []int
	for i, w := range writes {
		if w {
			todo = append(todo, i)
			if req.DryRun {
				items[i].Status = ItemSucceeded
			}
		}
	}
	if !req.DryRun && len(todo) > 0 {
		byEmail := map[string]NewInvitation{}
		for _, in := range req.Invitations {
			if k := strings.ToLower(in.EmailAddress); byEmail[k].EmailAddress == "" {
				byEmail[k] = in
			}
		}
		var batches [][]int
		for len(todo) > 0 {
			n := min(InviteBatchSize, len(todo))
			batches = append(batches, todo[:n])
			todo = todo[n:]
		}
		s.writeAll(ctx, orgID, len(batches), func(ctx context.Context, log *slog.Logger, b int) {
			s.inviteBatch(ctx, log, orgID, actorUserID, req.RedirectURL, batches[b], byEmail, items)
		}, func(b int) {
			for _, i := range batches[b] {
				skip(&items[i])
			}
		})
	}
	return tally(req.DryRun, items), nil
}

// inviteBatch creates the invitations of items[batch] in one bulk call,
// or one by one when the backend refuses the batch as a whole.
func (s *Invitations) inviteBatch(ctx context.Context, log *slog.Logger, orgID, actor, redirect string, batch []int, byEmail map[string]NewInvitation, items []InvitationItem) {
	invs := make([]NewInvitation, len(batch))
	for j, i := range batch {
		invs[j] = byEmail[strings.ToLower(items[i].EmailAddress)]
	}
	created, trace, err := s.Store.CreateInvitations(ctx, orgID, actor, redirect, invs)
	var we *WriteError
	switch {
	case err == nil:
		ids := make(map[string]string, len(created))
		for _, c := range created {
			ids[strings.ToLower(c.EmailAddress)] = c.ID
		}
		for _, i := range batch {
			it := &items[i]
			it.Status, it.InvitationID = ItemSucceeded, ids[strings.ToLower(it.EmailAddress)]
			audit(ctx, log, "invite_member", orgID, actor, it, trace)
		}
	case errors.As(err, &we) && we.Status >= 400 && we.Status < 500 && we.Status != 429:
		for j, i := range batch {
			if ctx.Err() != nil {
				skip(&items[i])
				continue
			}
			inv, trace, err := s.Store.CreateInvitation(ctx, orgID, actor, redirect, invs[j])
			it := &items[i]
			if err == nil {
				it.Status, it.InvitationID = ItemSucceeded, inv.ID
			} else {
				trace = itemError(ctx, it, err)
			}
			audit(ctx, log, "invite_member", orgID, actor, it, trace)
		}
	default:
		for _, i := range batch {
			it := &items[i]
			trace := itemError(ctx, it, err)
			audit(ctx, log, "invite_member", orgID, actor, it, trace)
		}
	}
}

// Revoke revokes the invitations ids of orgID as actorUserID, or only
// answers what it would do when dryRun. An invitation no longer pending is
// UNCHANGED NOT_PENDING; an id the organization's list does not hold is
// still sent to the backend, whose refusal (Clerk: resource_not_found) is
// its FAILED item (a dry run reports that code without asking). Errors of
// the whole call, before any write: TOO_MANY_TARGETS (over
// MaxBulkTargets), the store's UPSTREAM_UNAVAILABLE.
func (s *Invitations) Revoke(ctx context.Context, orgID, actorUserID string, ids []string, dryRun bool) (*InvitationResult, error) {
	if len(ids) > MaxBulkTargets {
		return nil, Errorf(CodeTooManyTargets, "input.ids: %d invitations; at most %d per call", len(ids), MaxBulkTargets)
	}
	invs, err := s.load(ctx, orgID)
	if err != nil {
		return nil, err
	}
	items, writes := PlanRevokes(ids, invs, dryRun)
	var todo []int
	for i, w := range writes {
		if w {
			todo = append(todo, i)
			if dryRun {
				items[i].Status = ItemSucceeded
			}
		}
	}
	if !dryRun && len(todo) > 0 {
		s.writeAll(ctx, orgID, len(todo), func(ctx context.Context, log *slog.Logger, j int) {
			it := &items[todo[j]]
			inv, trace, err := s.Store.RevokeInvitation(ctx, orgID, actorUserID, it.InvitationID)
			if err == nil {
				it.Status = ItemSucceeded
				if inv.EmailAddress != "" {
					it.EmailAddress = inv.EmailAddress
				}
			} else {
				trace = itemError(ctx, it, err)
			}
			audit(ctx, log, "revoke_invitation", orgID, actorUserID, it, trace)
		}, func(j int) { skip(&items[todo[j]]) })
	}
	return tally(dryRun, items), nil
}

// PlanRevokes decides, for each distinct id, whether revoking it needs a
// write, from the organization's invitations. It is pure.
func PlanRevokes(ids []string, invs []Invitation, dryRun bool) ([]InvitationItem, []bool) {
	byID := make(map[string]*Invitation, len(invs))
	for i := range invs {
		byID[invs[i].ID] = &invs[i]
	}
	seen := make(map[string]bool, len(ids))
	var items []InvitationItem
	var writes []bool
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		it := InvitationItem{InvitationID: id}
		write := false
		inv := byID[id]
		switch {
		case id == "" || url.PathEscape(id) != id:
			it.Status, it.Code, it.Message = ItemFailed, string(CodeInvalidID), "not an invitation id"
		case inv != nil && inv.Status != InvitationPending:
			it.EmailAddress = inv.EmailAddress
			it.Status, it.Code, it.Message = ItemUnchanged, string(CodeNotPending), "the invitation is "+strings.ToLower(string(inv.Status))
		case inv == nil && dryRun:
			it.Status, it.Code, it.Message = ItemFailed, clerkNotFound, "no such invitation in the organization"
		default:
			if inv != nil {
				it.EmailAddress = inv.EmailAddress
			}
			write = true
		}
		items = append(items, it)
		writes = append(writes, write)
	}
	return items, writes
}

// writeAll runs do(0..n-1), at most Concurrency at a time, until the
// deadline; the jobs not started are skipped. It drops orgID's cached list
// afterwards, whatever happened.
func (s *Invitations) writeAll(ctx context.Context, orgID string, n int, do func(context.Context, *slog.Logger, int), skipped func(int)) {
	defer s.Invalidate(orgID)
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	deadline := s.Deadline
	if deadline <= 0 {
		deadline = 50 * time.Second
	}
	conc := s.Concurrency
	if conc <= 0 {
		conc = 4
	}
	runBounded(ctx, deadline, conc, n, func(ctx context.Context, j int) { do(ctx, log, j) }, skipped)
}

// itemError sets it from a failed write and returns the backend's trace id.
func itemError(ctx context.Context, it *InvitationItem, err error) string {
	var we *WriteError
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		skip(it)
	case errors.As(err, &we):
		switch we.Code {
		case clerkNotUnique:
			it.Status, it.Code, it.Message = ItemUnchanged, string(CodeAlreadyInvited), "already has a pending invitation"
		case clerkAlreadyMember:
			it.Status, it.Code, it.Message = ItemUnchanged, string(CodeAlreadyAMember), "already a member of the organization"
		case clerkNotPending:
			it.Status, it.Code, it.Message = ItemUnchanged, string(CodeNotPending), "the invitation is not pending"
		default:
			it.Status, it.Code, it.Message = ItemFailed, we.Code, we.Message
		}
		return we.TraceID
	default:
		it.Status, it.Code, it.Message = ItemFailed, string(ErrorCode(err)), ErrorMessage(err)
	}
	return ""
}

func skip(it *InvitationItem) {
	it.Status, it.Code, it.Message = ItemSkipped, string(CodeDeadline), "not reached before the call's deadline"
}

func audit(ctx context.Context, log *slog.Logger, action, orgID, actor string, it *InvitationItem, trace string) {
	log.InfoContext(ctx, "audit: invitation write", "action", action, "org_id", orgID, "actor_user_id", actor,
		"target_email", it.EmailAddress, "target_invitation_id", it.InvitationID, "result", string(it.Status), "code", it.Code, "clerk_trace_id", trace)
}

func tally(dryRun bool, items []InvitationItem) *InvitationResult {
	res := &InvitationResult{DryRun: dryRun, Requested: len(items), Items: items}
	if res.Items == nil {
		res.Items = []InvitationItem{}
	}
	for _, it := range items {
		switch it.Status {
		case ItemSucceeded:
			res.Succeeded++
		case ItemUnchanged:
			res.Unchanged++
		case ItemFailed:
			res.Failed++
		case ItemSkipped:
			res.Skipped++
		}
	}
	return res
}
