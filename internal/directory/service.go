package directory

import (
	"context"
	"errors"
	"slices"
	"sort"
)

// Service answers queries about an organization's members from the
// snapshots a Source provides. Both transports (GraphQL resolvers and the
// REST shim) call it, so they always agree. The zero value is not usable:
// set Source. It is safe for concurrent use.
type Service struct {
	Source Source
}

// List returns one page of orgID's members: those matching q.Filter, sorted
// by q.Order, the first q.First after the cursor q.After. Input is validated
// before the Source is asked. Callers pass the org id of the verified session.
// Errors: NO_ACTIVE_ORGANIZATION when orgID is empty; BAD_USER_INPUT for First
// outside 0..MaxFirst, an invalid Order or Filter, a malformed cursor
// ("invalid cursor") or one from another ordering ("cursor does not match
// orderBy"); the Source's errors unchanged.
func (s *Service) List(ctx context.Context, orgID string, q Query) (*Page, error) {
	p, err := prepare(q)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return snap.run(p, true), nil
}

// All returns every member of orgID matching f, sorted by o, in one page
// without cursors (for the REST shim). A nil f selects every member.
// Errors: NO_ACTIVE_ORGANIZATION when orgID is empty; BAD_USER_INPUT for an
// invalid Order or Filter; the Source's errors unchanged.
func (s *Service) All(ctx context.Context, orgID string, f *Filter, o Order) (*Page, error) {
	p, err := prepareAll(f, o)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return snap.run(p, false), nil
}

// Get returns the member userID of orgID, or nil when that user is not a member.
// Errors: NO_ACTIVE_ORGANIZATION when orgID is empty; those of the Source.
func (s *Service) Get(ctx context.Context, orgID, userID string) (*Member, *Snapshot, error) {
	snap, err := s.snapshot(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	return snap.Member(userID), snap, nil
}

func (s *Service) snapshot(ctx context.Context, orgID string) (*Snapshot, error) {
	if orgID == "" {
		return nil, Errorf(CodeNoActiveOrganization, "no active organization")
	}
	snap, err := s.Source.Members(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		return nil, Wrap(CodeInternal, errors.New("source returned neither snapshot nor error"), "internal error")
	}
	return snap, nil
}

// Query answers q from this snapshot alone: the pure core of Service.List,
// for callers that already hold a snapshot.
// Errors: BAD_USER_INPUT as for Service.List.
func (s *Snapshot) Query(q Query) (*Page, error) {
	p, err := prepare(q)
	if err != nil {
		return nil, err
	}
	return s.run(p, true), nil
}

// All returns every member matching f, sorted by o, without cursors: the
// pure core of Service.All. Errors: BAD_USER_INPUT as for Service.All.
func (s *Snapshot) All(f *Filter, o Order) (*Page, error) {
	p, err := prepareAll(f, o)
	if err != nil {
		return nil, err
	}
	return s.run(p, false), nil
}

// plan is a validated query, ready to run against any snapshot.
type plan struct {
	order  order
	match  binder // nil matches every member
	first  int    // -1: no limit
	last   int    // -1: page forwards (first); else the last this many of the range
	after  *sortKey
	before *sortKey
}

func prepare(q Query) (plan, error) {
	if q.First < 0 || q.First > MaxFirst {
		return plan{}, Errorf(CodeBadUserInput, "first must be between 0 and %d", MaxFirst)
	}
	p, err := prepareAll(q.Filter, q.Order)
	if err != nil {
		return plan{}, err
	}
	p.first = q.First
	if q.Last != nil {
		if *q.Last < 0 || *q.Last > MaxFirst {
			return plan{}, Errorf(CodeBadUserInput, "last must be between 0 and %d", MaxFirst)
		}
		p.last = *q.Last
	}
	for _, c := range []struct {
		cursor string
		into   **sortKey
	}{{q.After, &p.after}, {q.Before, &p.before}} {
		if c.cursor == "" {
			continue
		}
		o, k, err := decodeCursor(c.cursor)
		if err != nil {
			return plan{}, err
		}
		if o != p.order {
			return plan{}, Errorf(CodeBadUserInput, msgCursorMismatch)
		}
		*c.into = &k
	}
	return p, nil
}

func prepareAll(f *Filter, o Order) (plan, error) {
	ord, err := o.resolve()
	if err != nil {
		return plan{}, err
	}
	match, err := compileFilter(f)
	if err != nil {
		return plan{}, err
	}
	return plan{order: ord, match: match, first: -1, last: -1}, nil
}

// run executes p: one walk over the sorted index, testing the filter on
// each member once.
func (s *Snapshot) run(p plan, cursors bool) *Page {
	idx := s.index(p.order)
	// The range is idx[start:end]: strictly after the after cursor's key
	// and strictly before the before cursor's, whether or not the cursors'
	// own members are still here.
	start, end := 0, len(idx)
	if p.after != nil {
		start = sort.Search(len(idx), func(k int) bool {
			key := p.order.key(&s.entries[idx[k]])
			return p.order.compare(&key, p.after) > 0
		})
	}
	if p.before != nil {
		end = sort.Search(len(idx), func(k int) bool {
			key := p.order.key(&s.entries[idx[k]])
			return p.order.compare(&key, p.before) >= 0
		})
		end = max(end, start)
	}
	first := p.first
	if first < 0 {
		first = len(idx)
	}

	var match pred
	if p.match != nil {
		match = p.match(s)
	}
	page := &Page{Snapshot: s}
	isMatch := func(int32) bool { return true }
	if match == nil {
		page.TotalCount = len(idx)
		page.matchAll = true
	} else {
		// Test every member in load order, which reads entries and their
		// metadata sequentially, then walk the index only as far as needed.
		matched := make([]uint64, (len(s.entries)+63)/64)
		for i := range s.entries {
			if match(&s.entries[i]) {
				matched[i/64] |= 1 << (i % 64)
				page.TotalCount++
			}
		}
		page.matched = matched
		isMatch = func(i int32) bool { return matched[i/64]&(1<<(i%64)) != 0 }
	}
	// anyMatch reports whether idx[lo:hi] holds a match.
	anyMatch := func(lo, hi int) bool {
		if match == nil {
			return lo < hi
		}
		for k := lo; k < hi; k++ {
			if isMatch(idx[k]) {
				return true
			}
		}
		return false
	}

	var picked []int32
	if p.last >= 0 {
		// Backwards: the last p.last matches of the range, in order.
		k := end - 1
		for ; k >= start && len(picked) < p.last; k-- {
			if isMatch(idx[k]) {
				picked = append(picked, idx[k])
			}
		}
		slices.Reverse(picked)
		page.HasPreviousPage = anyMatch(0, k+1)
		page.HasNextPage = anyMatch(end, len(idx))
	} else {
		k := start
		for ; k < end && len(picked) < first; k++ {
			if isMatch(idx[k]) {
				picked = append(picked, idx[k])
			}
		}
		page.HasPreviousPage = anyMatch(0, start)
		page.HasNextPage = anyMatch(k, len(idx))
	}

	page.Members = make([]*Member, len(picked))
	if cursors {
		page.Cursors = make([]string, len(picked))
	}
	for j, i := range picked {
		e := &s.entries[i]
		page.Members[j] = e.m
		if cursors {
			k := p.order.key(e)
			page.Cursors[j] = encodeCursor(p.order, &k)
		}
	}
	return page
}
