package directory

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// MemberWriter makes membership writes in the backend. The Clerk
// repository implements it.
type MemberWriter interface {
	// SetRole gives userID the role in orgID.
	SetRole(ctx context.Context, orgID, userID, role string) (Written, error)
	// PatchMetadata merges patch into the membership's public metadata.
	PatchMetadata(ctx context.Context, orgID, userID string, patch map[string]any) (Written, error)
	// RemoveMember removes userID from orgID.
	RemoveMember(ctx context.Context, orgID, userID string) (Written, error)
	// OrganizationRoles returns the role keys an organization member may
	// hold in this instance.
	OrganizationRoles(ctx context.Context) ([]string, error)
}

// Written is what one successful write returns: the change it made, as the
// backend stamped it, and the backend's trace id for the audit log.
type Written struct {
	Change  Change
	TraceID string
}

// WriteError is how a MemberWriter reports a write the backend refused or
// failed: the backend's error code (Clerk's, such as
// "resource_not_found"), a client-safe message and the trace id. The item
// fails with that code; the call goes on.
type WriteError struct {
	Code, Message, TraceID string
	Status                 int // the backend's HTTP status, when it answered
	Err                    error
}

func (e *WriteError) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *WriteError) Unwrap() error { return e.Err }

// ChangeSink applies changes to what is cached (the snapshot cache's
// Apply), so the next read shows a write without reloading.
type ChangeSink interface {
	Apply(ctx context.Context, changes []Change) error
}

// Bulk runs bulk operations on an organization's members: it checks them
// against the current snapshot (planBulk's safety rules), writes through
// Writer with bounded concurrency until a deadline, applies every write to
// the cache through Sink, and logs one audit line per write. Build it with
// its fields; the zero values of Concurrency, Deadline and Logger are
// defaults.
type Bulk struct {
	Source Source
	Writer MemberWriter
	Sink   ChangeSink
	// Concurrency bounds the writes in flight; default 8. The writer's own
	// rate limiter still paces them.
	Concurrency int
	// Deadline bounds one call; the items not reached are SKIPPED. Default 60s.
	Deadline time.Duration
	Logger   *slog.Logger
}

// Run performs a on orgID's members selected by t, as actorUserID, or
// only answers what it would do when dryRun. Callers authorize first: the
// GraphQL resolvers run behind @hasOrgRole(org:admin), with orgID from the
// session. Errors of the whole call, before any write: BAD_USER_INPUT (the
// target, an empty patch, a role the instance does not have),
// TOO_MANY_TARGETS, COUNT_MISMATCH, and the Source's and the role list's
// UPSTREAM_UNAVAILABLE. Everything about one member is its item: a partial
// failure is a normal result.
func (b *Bulk) Run(ctx context.Context, orgID, actorUserID string, t Target, a Action, dryRun bool) (*BulkResult, error) {
	if a.Kind == ActionSetRole {
		if err := b.checkRole(ctx, a.Role); err != nil {
			return nil, err
		}
	}
	snap, err := b.Source.Members(ctx, orgID)
	if err != nil {
		return nil, err
	}
	plan, err := planBulk(snap, t, a)
	if err != nil {
		return nil, err
	}
	res := &BulkResult{DryRun: dryRun, Matched: len(plan), Items: make([]BulkItem, len(plan))}
	var writes []int
	for i, p := range plan {
		res.Items[i] = p.item
		if p.write {
			writes = append(writes, i)
			if dryRun {
				res.Items[i].Status = ItemSucceeded
			}
		}
	}
	if !dryRun {
		b.write(ctx, orgID, actorUserID, a, plan, writes, res.Items)
	}
	for _, it := range res.Items {
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
	return res, nil
}

// checkRole refuses a role the instance does not define, before any write.
func (b *Bulk) checkRole(ctx context.Context, role string) error {
	roles, err := b.Writer.OrganizationRoles(ctx)
	if err != nil {
		return err
	}
	for _, r := range roles {
		if r == role {
			return nil
		}
	}
	return badInput("role", "%q is not one of this instance's organization roles %v", role, roles)
}

// write makes the planned writes, at most Concurrency at a time, until the
// deadline, filling items; each write's change goes to the cache as soon
// as it is made.
func (b *Bulk) write(ctx context.Context, orgID, actor string, a Action, plan []planned, writes []int, items []BulkItem) {
	log := b.Logger
	if log == nil {
		log = slog.Default()
	}
	deadline := b.Deadline
	if deadline <= 0 {
		deadline = 60 * time.Second
	}
	n := b.Concurrency
	if n <= 0 {
		n = 8
	}
	runBounded(ctx, deadline, n, len(writes), func(ctx context.Context, j int) {
		i := writes[j]
		items[i] = b.writeOne(ctx, log, orgID, actor, a, plan[i], items[i])
	}, func(j int) {
		i := writes[j]
		items[i].Status, items[i].Code, items[i].Message = ItemSkipped, string(CodeDeadline), "not reached before the call's deadline"
	})
}

func (b *Bulk) writeOne(ctx context.Context, log *slog.Logger, orgID, actor string, a Action, p planned, item BulkItem) BulkItem {
	var w Written
	var err error
	switch a.Kind {
	case ActionSetRole:
		w, err = b.Writer.SetRole(ctx, orgID, p.userID, a.Role)
	case ActionPatchMetadata:
		w, err = b.Writer.PatchMetadata(ctx, orgID, p.userID, a.Patch)
	case ActionRemove:
		w, err = b.Writer.RemoveMember(ctx, orgID, p.userID)
	}
	var we *WriteError
	switch {
	case err == nil:
		item.Status = ItemSucceeded
		if b.Sink != nil {
			// Best effort: a cache that cannot apply it reloads instead.
			_ = b.Sink.Apply(context.WithoutCancel(ctx), []Change{w.Change})
		}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		// Not sent, or not answered, before the call's deadline (a rate
		// limiter that could not admit it in time says so too).
		item.Status, item.Code, item.Message = ItemSkipped, string(CodeDeadline), "not finished before the call's deadline"
	case errors.As(err, &we):
		item.Status, item.Code, item.Message = ItemFailed, we.Code, we.Message
		w.TraceID = we.TraceID
	default:
		item.Status, item.Code, item.Message = ItemFailed, string(ErrorCode(err)), ErrorMessage(err)
	}
	log.InfoContext(ctx, "audit: bulk member write", "action", a.Kind.String(), "org_id", orgID, "actor_user_id", actor,
		"target_user_id", p.userID, "result", string(item.Status), "code", item.Code, "clerk_trace_id", w.TraceID)
	return item
}
