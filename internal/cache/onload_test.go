package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

type loadKey struct{}

// TestOnLoadHearsEachLoad: the hook sees each load start with the caller's
// context values and whether it is a refresh, the load runs with the
// context the hook returns, and the end hears the member count or error.
func TestOnLoadHearsEachLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type heard struct {
			refresh bool
			caller  any
			members int
			err     error
		}
		var mu sync.Mutex
		var got []heard
		fail := false
		src := &fakeSource{MembersFunc: func(ctx context.Context, orgID string) (*directory.Snapshot, error) {
			if ctx.Value(loadKey{}) != "hooked" {
				t.Error("the load does not run with the hook's context")
			}
			if fail {
				return nil, directory.Errorf(directory.CodeUpstreamUnavailable, "down")
			}
			return directory.NewSnapshot(orgID, []directory.Member{{UserID: "user_1"}, {UserID: "user_2"}}, time.Time{}), nil
		}}
		clock := newFakeClock()
		c := newTestCache(t, src, clock, Config{TTL: 30 * time.Second, MaxStale: 10 * time.Minute,
			OnLoad: func(ctx context.Context, refresh bool) (context.Context, func(int, error)) {
				h := heard{refresh: refresh, caller: ctx.Value(callerKey{})}
				return context.WithValue(ctx, loadKey{}, "hooked"), func(n int, err error) {
					h.members, h.err = n, err
					mu.Lock()
					got = append(got, h)
					mu.Unlock()
				}
			}})
		ctx := context.WithValue(t.Context(), callerKey{}, "request 1")
		if _, err := c.Members(ctx, "org_1"); err != nil {
			t.Fatal(err)
		}
		mustMembers(t, c, "org_1") // fresh: no load
		clock.Advance(31 * time.Second)
		fail = true
		mustMembers(t, c, "org_1") // stale: a background refresh, which fails
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 2 {
			t.Fatalf("hook heard %d loads, want 2: %+v", len(got), got)
		}
		if g := got[0]; g.refresh || g.caller != "request 1" || g.members != 2 || g.err != nil {
			t.Errorf("first load heard %+v, want a load for request 1 of 2 members", g)
		}
		if g := got[1]; !g.refresh || g.members != 0 || directory.ErrorCode(g.err) != directory.CodeUpstreamUnavailable || errors.Is(g.err, context.Canceled) {
			t.Errorf("refresh heard %+v, want a failed refresh", g)
		}
	})
}

type callerKey struct{}
