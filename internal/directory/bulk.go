package directory

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
)

// MaxBulkTargets bounds the members one bulk operation may target.
const MaxBulkTargets = 1000

// AdminRole is the organization role that may administer members: a bulk
// operation never leaves an organization without one.
const AdminRole = "org:admin"

// Codes of bulk operations: of the whole call (COUNT_MISMATCH,
// TOO_MANY_TARGETS) and of one item (LAST_ADMIN, NOT_A_MEMBER).
const (
	CodeCountMismatch  Code = "COUNT_MISMATCH"
	CodeTooManyTargets Code = "TOO_MANY_TARGETS"
	CodeLastAdmin      Code = "LAST_ADMIN"
	CodeNotAMember     Code = "NOT_A_MEMBER"
	// CodeDeadline is the code of an item a call's deadline left undone.
	CodeDeadline Code = "DEADLINE_EXCEEDED"
)

// Target selects the members of a bulk operation: exactly one of UserIDs
// and Filter. A Filter must come with ExpectedCount, the number of members
// the caller saw it match when previewing.
type Target struct {
	UserIDs       []string
	Filter        *Filter
	ExpectedCount *int
}

// ActionKind says what a bulk operation does to each member.
type ActionKind uint8

// The bulk actions.
const (
	ActionSetRole       ActionKind = iota + 1 // give each member Action.Role
	ActionPatchMetadata                       // merge Action.Patch into each membership's public metadata
	ActionRemove                              // remove each member from the organization
)

func (k ActionKind) String() string {
	switch k {
	case ActionSetRole:
		return "set_role"
	case ActionPatchMetadata:
		return "patch_membership_metadata"
	case ActionRemove:
		return "remove_member"
	}
	return "unknown"
}

// Action is what a bulk operation does to each targeted member.
type Action struct {
	Kind ActionKind
	Role string // ActionSetRole
	// Patch is merged into the membership's public metadata as a JSON merge
	// patch: objects merge key by key, a null value deletes its key, any
	// other value replaces (ActionPatchMetadata), as Clerk merges it.
	Patch map[string]any
}

// ItemStatus is the outcome of a bulk operation for one member.
type ItemStatus string

// The item outcomes.
const (
	ItemSucceeded ItemStatus = "SUCCEEDED" // written (or, in a dry run, would be)
	ItemUnchanged ItemStatus = "UNCHANGED" // already as asked: no write
	ItemFailed    ItemStatus = "FAILED"    // refused (Code says why) or Clerk refused it
	ItemSkipped   ItemStatus = "SKIPPED"   // not reached before the call's deadline
)

// BulkItem is one member's outcome.
type BulkItem struct {
	UserID  string
	Email   *string
	Status  ItemStatus
	Code    string // why it failed or was skipped: LAST_ADMIN, NOT_A_MEMBER, Clerk's error code, ...
	Message string
}

// BulkResult is the outcome of a bulk operation: counts and one item per
// target, in target order (user ids as given, or the filter's matches by
// user id).
type BulkResult struct {
	DryRun                                bool
	Matched, Succeeded, Unchanged, Failed int
	Skipped                               int
	Items                                 []BulkItem
}

// planned is one target checked against the snapshot: the write to make,
// or its outcome already known.
type planned struct {
	userID string
	member *Member // nil when userID is not a member
	write  bool
	item   BulkItem
}

// planBulk checks a bulk operation against snap and decides, for each
// target, whether it needs a write. Errors, for the whole call and before
// any write: BAD_USER_INPUT (both or neither target, a filter without
// expectedCount, a bad filter, an empty role or patch), TOO_MANY_TARGETS,
// COUNT_MISMATCH (with Details["matched"], the count the filter matches
// now). Outcomes of single members are items: UNCHANGED when the member is
// already as asked, FAILED NOT_A_MEMBER, FAILED LAST_ADMIN when the
// operation would leave the organization without an org:admin (every
// admin item it would demote or remove fails; the others go on).
func planBulk(snap *Snapshot, t Target, a Action) ([]planned, error) {
	switch a.Kind {
	case ActionSetRole:
		if a.Role == "" {
			return nil, badInput("role", "must not be empty")
		}
	case ActionPatchMetadata:
		if len(a.Patch) == 0 {
			return nil, badInput("patch", "must be a non-empty JSON object")
		}
	case ActionRemove:
	default:
		return nil, Errorf(CodeInternal, "unknown bulk action")
	}
	var targets []*Member
	var ids []string
	switch {
	case t.Filter != nil && t.UserIDs != nil, t.Filter == nil && t.UserIDs == nil:
		return nil, badInput("target", "give exactly one of userIds and filter")
	case t.UserIDs != nil:
		if len(t.UserIDs) > MaxBulkTargets {
			return nil, Errorf(CodeTooManyTargets, "target.userIds: %d members; at most %d per call", len(t.UserIDs), MaxBulkTargets)
		}
		seen := make(map[string]bool, len(t.UserIDs))
		for _, id := range t.UserIDs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
				targets = append(targets, snap.Member(id))
			}
		}
	default:
		if t.ExpectedCount == nil {
			return nil, badInput("target.expectedCount", "is required with a filter: preview the filter first and pass the count you saw")
		}
		page, err := snap.All(t.Filter, Order{})
		if err != nil {
			return nil, err
		}
		if page.TotalCount != *t.ExpectedCount {
			e := Errorf(CodeCountMismatch, "the filter now matches %d members, not the %d expected: nothing was changed; preview again", page.TotalCount, *t.ExpectedCount)
			e.Details = map[string]any{"matched": page.TotalCount}
			return nil, e
		}
		if page.TotalCount > MaxBulkTargets {
			return nil, Errorf(CodeTooManyTargets, "the filter matches %d members; at most %d per call", page.TotalCount, MaxBulkTargets)
		}
		targets = page.Members
		slices.SortFunc(targets, func(x, y *Member) int { return cmp.Compare(x.UserID, y.UserID) })
		for _, m := range targets {
			ids = append(ids, m.UserID)
		}
	}

	plan := make([]planned, len(ids))
	admins, demoted := 0, 0
	for _, m := range snap.Members() {
		if m.Role == AdminRole {
			admins++
		}
	}
	for i, id := range ids {
		p := planned{userID: id, member: targets[i], item: BulkItem{UserID: id}}
		m := targets[i]
		if m != nil {
			p.item.Email = m.Email
		}
		switch {
		case m == nil && a.Kind == ActionRemove:
			p.item.Status, p.item.Message = ItemUnchanged, "not a member"
		case m == nil:
			p.item.Status, p.item.Code, p.item.Message = ItemFailed, string(CodeNotAMember), "not a member of the organization"
		case unchanged(m, a):
			p.item.Status = ItemUnchanged
		default:
			p.write = true
			if m.Role == AdminRole && (a.Kind == ActionRemove || a.Kind == ActionSetRole && a.Role != AdminRole) {
				demoted++
			}
		}
		plan[i] = p
	}
	if admins > 0 && demoted >= admins {
		for i := range plan {
			p := &plan[i]
			if p.write && p.member.Role == AdminRole {
				p.write = false
				p.item.Status, p.item.Code = ItemFailed, string(CodeLastAdmin)
				p.item.Message = "the organization would be left without an org:admin"
			}
		}
	}
	return plan, nil
}

// unchanged reports whether m is already as a asks.
func unchanged(m *Member, a Action) bool {
	switch a.Kind {
	case ActionSetRole:
		return m.Role == a.Role
	case ActionPatchMetadata:
		merged, err := MergeMetadata(m.MembershipMetadata, a.Patch)
		return err == nil && jsonEqual(merged, m.MembershipMetadata)
	}
	return false
}

// MergeMetadata applies patch to the metadata object current as a JSON
// merge patch (RFC 7396, as Clerk merges metadata): nested objects merge
// key by key, a null deletes its key, anything else replaces. Errors:
// INTERNAL_SERVER_ERROR when current is not an object.
func MergeMetadata(current json.RawMessage, patch map[string]any) (json.RawMessage, error) {
	var cur map[string]any
	if len(bytes.TrimSpace(current)) > 0 {
		if err := json.Unmarshal(current, &cur); err != nil {
			return nil, Wrap(CodeInternal, err, "metadata is not a JSON object")
		}
	}
	out, err := json.Marshal(mergeObject(cur, patch))
	if err != nil {
		return nil, Wrap(CodeInternal, err, "metadata cannot be encoded")
	}
	return out, nil
}

func mergeObject(cur, patch map[string]any) map[string]any {
	out := make(map[string]any, len(cur)+len(patch))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			sub, _ := out[k].(map[string]any)
			out[k] = mergeObject(sub, pv)
		default:
			out[k] = v
		}
	}
	return out
}

// jsonEqual reports whether two JSON texts hold equal values.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
