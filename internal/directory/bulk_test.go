package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// fakeWriter records writes; fail decides per user whether Clerk refuses.
type fakeWriter struct {
	mu     sync.Mutex
	writes []string
	fail   func(userID string) error
	delay  time.Duration
	roles  []string
}

var _ directory.MemberWriter = (*fakeWriter)(nil)

func (w *fakeWriter) do(ctx context.Context, what, orgID, userID string, ch directory.Change) (directory.Written, error) {
	if w.delay > 0 {
		select {
		case <-time.After(w.delay):
		case <-ctx.Done():
			return directory.Written{}, ctx.Err()
		}
	}
	w.mu.Lock()
	w.writes = append(w.writes, what+" "+userID)
	w.mu.Unlock()
	if w.fail != nil {
		if err := w.fail(userID); err != nil {
			return directory.Written{}, err
		}
	}
	ch.OrgID, ch.UserID, ch.UpdatedAt = orgID, userID, time.Now()
	return directory.Written{Change: ch, TraceID: "trace_" + userID}, nil
}

func (w *fakeWriter) SetRole(ctx context.Context, orgID, userID, role string) (directory.Written, error) {
	return w.do(ctx, "role="+role, orgID, userID, directory.Change{Kind: directory.ChangeMemberUpserted, Member: directory.Member{Role: role, MembershipMetadata: json.RawMessage(`{}`)}})
}

func (w *fakeWriter) PatchMetadata(ctx context.Context, orgID, userID string, patch map[string]any) (directory.Written, error) {
	return w.do(ctx, "patch", orgID, userID, directory.Change{Kind: directory.ChangeMemberUpserted})
}

func (w *fakeWriter) RemoveMember(ctx context.Context, orgID, userID string) (directory.Written, error) {
	return w.do(ctx, "remove", orgID, userID, directory.Change{Kind: directory.ChangeMemberRemoved})
}

func (w *fakeWriter) OrganizationRoles(context.Context) ([]string, error) {
	if w.roles != nil {
		return w.roles, nil
	}
	return []string{"org:admin", "org:member", "org:billing"}, nil
}

// fixedSource serves one snapshot.
type fixedSource struct{ snap *directory.Snapshot }

func (s fixedSource) Members(context.Context, string) (*directory.Snapshot, error) {
	return s.snap, nil
}

func bulkFor(w *fakeWriter) *directory.Bulk {
	return &directory.Bulk{Source: fixedSource{directory.NewSnapshot("org_1", fixture(), base)}, Writer: w}
}

func statuses(r *directory.BulkResult) string {
	s := ""
	for _, it := range r.Items {
		s += fmt.Sprintf("%s:%s%s ", it.UserID, it.Status, map[bool]string{true: "/" + it.Code, false: ""}[it.Code != ""])
	}
	return s
}

func TestBulkRoleChangeByIDs(t *testing.T) {
	w := &fakeWriter{}
	res, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u2", "u3", "u4", "u_gone", "u2"}},
		directory.Action{Kind: directory.ActionSetRole, Role: "org:member"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// u2 and u3 are members already; u4 is billing; u_gone is not a member; u2 twice counts once.
	if got := statuses(res); got != "u2:UNCHANGED u3:UNCHANGED u4:SUCCEEDED u_gone:FAILED/NOT_A_MEMBER " {
		t.Fatalf("%s", got)
	}
	if res.Matched != 4 || res.Succeeded != 1 || res.Unchanged != 2 || res.Failed != 1 || len(w.writes) != 1 {
		t.Fatalf("%+v, writes %v", res, w.writes)
	}
}

func TestBulkDryRunWritesNothing(t *testing.T) {
	w := &fakeWriter{}
	res, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u2", "u4"}},
		directory.Action{Kind: directory.ActionRemove}, true)
	if err != nil || len(w.writes) != 0 || !res.DryRun || res.Succeeded != 2 {
		t.Fatalf("%+v %v, writes %v", res, err, w.writes)
	}
}

func TestBulkFilterTargetMustMatchTheExpectedCount(t *testing.T) {
	w := &fakeWriter{}
	f := &directory.Filter{Roles: []string{"org:member"}}
	wrong := 5
	_, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{Filter: f, ExpectedCount: &wrong},
		directory.Action{Kind: directory.ActionSetRole, Role: "org:billing"}, false)
	var de *directory.Error
	if !errors.As(err, &de) || de.Code != directory.CodeCountMismatch || de.Details["matched"] != 3 || len(w.writes) != 0 {
		t.Fatalf("%v %+v, writes %v", err, de, w.writes)
	}
	right := 3
	res, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{Filter: f, ExpectedCount: &right},
		directory.Action{Kind: directory.ActionSetRole, Role: "org:billing"}, false)
	if err != nil || res.Succeeded != 3 || len(w.writes) != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	// Neither, both, and no expected count are refused before any write.
	for _, target := range []directory.Target{{}, {UserIDs: []string{"u2"}, Filter: f, ExpectedCount: &right}, {Filter: f}} {
		if _, err := bulkFor(w).Run(context.Background(), "org_1", "u1", target, directory.Action{Kind: directory.ActionRemove}, false); directory.ErrorCode(err) != directory.CodeBadUserInput {
			t.Fatalf("%+v: %v", target, err)
		}
	}
	many := make([]string, directory.MaxBulkTargets+1)
	for i := range many {
		many[i] = fmt.Sprint("u", i)
	}
	if _, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: many}, directory.Action{Kind: directory.ActionRemove}, false); directory.ErrorCode(err) != directory.CodeTooManyTargets {
		t.Fatalf("%v", err)
	}
}

func TestBulkNeverRemovesTheLastAdmin(t *testing.T) {
	w := &fakeWriter{}
	// The fixture's admins are u1 and u5: demoting both fails both, the rest goes on.
	res, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u1", "u5", "u4"}},
		directory.Action{Kind: directory.ActionSetRole, Role: "org:member"}, false)
	if err != nil || statuses(res) != "u1:FAILED/LAST_ADMIN u5:FAILED/LAST_ADMIN u4:SUCCEEDED " {
		t.Fatalf("%s %v", statuses(res), err)
	}
	// Removing one of two is fine.
	res, err = bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u5"}}, directory.Action{Kind: directory.ActionRemove}, false)
	if err != nil || statuses(res) != "u5:SUCCEEDED " {
		t.Fatalf("%s %v", statuses(res), err)
	}
}

func TestBulkUnknownRoleIsRefusedBeforeAnyWrite(t *testing.T) {
	w := &fakeWriter{}
	_, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u2"}}, directory.Action{Kind: directory.ActionSetRole, Role: "org:owner"}, false)
	if directory.ErrorCode(err) != directory.CodeBadUserInput || len(w.writes) != 0 {
		t.Fatalf("%v", err)
	}
}

func TestBulkItemFailuresAndDeadline(t *testing.T) {
	w := &fakeWriter{fail: func(id string) error {
		if id == "u3" {
			return &directory.WriteError{Code: "internal_clerk_error", Message: "Clerk failed", Status: 500}
		}
		return nil
	}}
	res, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u2", "u3", "u6"}}, directory.Action{Kind: directory.ActionRemove}, false)
	if err != nil || statuses(res) != "u2:SUCCEEDED u3:FAILED/internal_clerk_error u6:SUCCEEDED " {
		t.Fatalf("%s %v", statuses(res), err)
	}
	slow := &fakeWriter{delay: 200 * time.Millisecond}
	b := bulkFor(slow)
	b.Concurrency, b.Deadline = 1, 300*time.Millisecond
	res, err = b.Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u2", "u3", "u6"}}, directory.Action{Kind: directory.ActionRemove}, false)
	if err != nil || res.Succeeded != 1 || res.Skipped != 2 {
		t.Fatalf("%s %v", statuses(res), err)
	}
}

func TestBulkMetadataPatchIsIdempotent(t *testing.T) {
	w := &fakeWriter{}
	// u1's membership metadata is {"team":"core"}.
	res, err := bulkFor(w).Run(context.Background(), "org_1", "u1", directory.Target{UserIDs: []string{"u1"}},
		directory.Action{Kind: directory.ActionPatchMetadata, Patch: map[string]any{"team": "core"}}, false)
	if err != nil || statuses(res) != "u1:UNCHANGED " {
		t.Fatalf("%s %v", statuses(res), err)
	}
	merged, _ := directory.MergeMetadata(json.RawMessage(`{"a":{"b":1,"c":2},"d":3}`), map[string]any{"a": map[string]any{"b": nil, "e": 5}, "d": nil, "f": "g"})
	if string(merged) != `{"a":{"c":2,"e":5},"f":"g"}` {
		t.Fatalf("%s", merged)
	}
}
