// Package clerksource is the directory.Source backed by Clerk's Backend API:
// it loads an organization's memberships and users page by page,
// concurrently, joins them into directory.Members, and sends every request
// through a Transport that rate-limits, retries and breaks the circuit.
package clerksource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/organizationmembership"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"golang.org/x/sync/errgroup"

	"github.com/orgusers/orgusers/internal/directory"
)

// upstreamMessage is the client-safe message of every upstream failure.
const upstreamMessage = "the identity provider is unavailable"

// orderBy keeps pages stable while paging: oldest first.
const orderBy = "+created_at"

// Repository loads organization members from Clerk. It implements
// directory.Source; build one with New. It is safe for concurrent use and
// holds no cache: every call to Members loads from Clerk.
type Repository struct {
	backend     clerk.Backend
	client      *http.Client // the backend's, for the two lists read without the SDK's decoding
	apiURL      string
	secretKey   string
	memberships *organizationmembership.Client
	users       *user.Client
	transport   *Transport
	pageSize    int
	concurrency int
	log         *slog.Logger
	roles       rolesCache
	ready       readiness
	totals      knownTotals
}

// maxKnownTotals bounds the organizations whose membership count a
// Repository remembers (8 bytes and a key each); past it, it forgets them
// all, and their next loads take two waves again.
const maxKnownTotals = 100_000

// knownTotals remembers how many memberships each organization had at its
// last load, so that its next load (a cache refresh) asks for every page
// of both lists in one wave.
type knownTotals struct {
	mu sync.Mutex
	m  map[string]int
}

func (k *knownTotals) get(orgID string) (int, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n, ok := k.m[orgID]
	return n, ok
}

func (k *knownTotals) put(orgID string, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxKnownTotals {
		k.m = make(map[string]int)
	}
	k.m[orgID] = n
}

var _ directory.Source = (*Repository)(nil)

// New returns a Repository for the Clerk instance at cfg.APIURL, with its
// own SDK backend (never the SDK's package-level one) whose HTTP client
// sends every request through a Transport built from cfg. It fails when
// APIURL is not an absolute http(s) URL or SecretKey is empty; those are
// configuration errors, not directory errors.
func New(cfg Config) (*Repository, error) {
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("clerksource: APIURL %q is not an absolute http(s) URL", cfg.APIURL)
	}
	if cfg.SecretKey == "" {
		return nil, errors.New("clerksource: SecretKey is empty")
	}
	cfg = cfg.withDefaults()

	var client http.Client
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	transport := NewTransport(client.Transport, cfg)
	client.Transport = transport

	backend := clerk.NewBackend(&clerk.BackendConfig{
		URL:        clerk.String(cfg.APIURL),
		Key:        clerk.String(cfg.SecretKey),
		HTTPClient: &client,
	})
	return &Repository{
		backend:     backend,
		client:      &client,
		apiURL:      cfg.APIURL,
		secretKey:   cfg.SecretKey,
		memberships: &organizationmembership.Client{Backend: backend},
		users:       &user.Client{Backend: backend},
		transport:   transport,
		pageSize:    cfg.PageSize,
		concurrency: cfg.Concurrency,
		log:         cfg.Logger,
	}, nil
}

// Members loads every member of the organization orgID from Clerk and
// returns them as a snapshot, in membership creation order.
//
// Any caller may call it; authorization is the caller's job. Errors: the
// context's error when ctx ends first; UPSTREAM_UNAVAILABLE (message "the
// identity provider is unavailable") when Clerk fails or the circuit
// breaker is open, with the Clerk trace id, status and error codes logged;
// INTERNAL_SERVER_ERROR for an orgID that is not a single path segment.
func (r *Repository) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	if orgID == "" || url.PathEscape(orgID) != orgID {
		return nil, directory.Errorf(directory.CodeInternal, "invalid organization id")
	}
	started := time.Now().UTC()
	// The load's requests share Concurrency slots, taken by the Transport.
	ctx = withSlots(ctx, make(chan struct{}, r.concurrency))
	l := &load{r: r, orgID: orgID}
	memberships, users, err := l.lists(ctx)
	if err != nil {
		return nil, r.upstreamError(ctx, orgID, err)
	}
	r.totals.put(orgID, len(memberships))
	members, err := l.join(ctx, memberships, users)
	if err != nil {
		return nil, r.upstreamError(ctx, orgID, err)
	}
	return directory.NewSnapshot(orgID, members, started), nil
}

// Profile fetches one user (GET /users/{id}) and returns their profile
// fields as a Member, for a member a webhook adds without one. It goes
// through the same retries, rate limiter and circuit breaker as loads.
// Errors: UPSTREAM_UNAVAILABLE (a missing user included),
// INTERNAL_SERVER_ERROR for an invalid id.
func (r *Repository) Profile(ctx context.Context, userID string) (directory.Member, error) {
	if userID == "" || url.PathEscape(userID) != userID {
		return directory.Member{}, directory.Errorf(directory.CodeInternal, "invalid user id")
	}
	ctx = withSlots(ctx, make(chan struct{}, 1))
	u, err := r.users.Get(ctx, userID)
	if err != nil {
		return directory.Member{}, r.upstreamError(ctx, "", err)
	}
	m := userMember(u)
	setMembership(&m, membership{})
	return m, nil
}

// upstreamError returns what the client may see, the context's error or
// UPSTREAM_UNAVAILABLE, with Clerk's trace id, status and error codes in
// its cause for the one layer that logs it (the snapshot cache, for a
// load): it logs nothing itself.
func (r *Repository) upstreamError(ctx context.Context, orgID string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	detail := "clerk request failed"
	if orgID != "" {
		detail += " for " + orgID
	}
	var apiErr *clerk.APIErrorResponse
	if errors.As(err, &apiErr) {
		codes := make([]string, 0, len(apiErr.Errors))
		for _, e := range apiErr.Errors {
			codes = append(codes, e.Code)
		}
		detail += fmt.Sprintf(": status=%d clerk_trace_id=%s clerk_error_codes=%v", apiErr.HTTPStatusCode, apiErr.TraceID, codes)
	}
	if errors.Is(err, ErrCircuitOpen) {
		detail += ": circuit open"
	}
	return directory.Wrap(directory.CodeUpstreamUnavailable, fmt.Errorf("%s: %w", detail, err), upstreamMessage)
}

// load is one call of Members.
type load struct {
	r     *Repository
	orgID string
}

// lists fetches every page of the organization's memberships and of its
// users. When the organization's membership count is known from its last
// load (a refresh), every page of both lists goes out at once: one wave.
// Otherwise the first page of each goes out at once, and the membership
// total then says how many more pages both lists need, fetched
// concurrently: two waves. Lists that turn out longer than planned are
// followed while that can still find members or their users.
func (l *load) lists(ctx context.Context) ([]membership, map[string]*directory.Member, error) {
	var (
		memPages  [][]membership
		userPages [][]directory.Member
		firstUser []directory.Member
		totals    []int64 // the total_count each membership page reported
	)
	g, gctx := errgroup.WithContext(ctx)
	// page i of both lists, fetched in g.
	both := func(i int) {
		g.Go(func() error {
			var err error
			memPages[i], totals[i], err = l.membershipPage(gctx, i)
			return err
		})
		g.Go(func() error {
			var err error
			userPages[i], err = l.userPage(gctx, i)
			return err
		})
	}
	if known, ok := l.r.totals.get(l.orgID); ok {
		n := max(ceilDiv(known, l.r.pageSize), 1)
		memPages = make([][]membership, n)
		userPages = make([][]directory.Member, n)
		totals = make([]int64, n)
		for i := range n {
			both(i)
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
		return l.rest(ctx, memPages, userPages, totals)
	}
	// The first page of memberships says how many pages remain: the
	// second wave waits for it to be decoded. The first page of users is
	// decoded after that wave has gone out, during its round trip, so that
	// the two decodings do not share the CPU on the critical path.
	sent := make(chan struct{})
	g.Go(func() error {
		var err error
		firstUser, err = l.userPageAfter(gctx, 0, sent)
		return err
	})
	g.Go(func() error {
		defer close(sent)
		first, total, err := l.membershipPage(gctx, 0)
		if err != nil {
			return err
		}
		n := max(ceilDiv(int(total), l.r.pageSize), 1)
		memPages = make([][]membership, n)
		userPages = make([][]directory.Member, n)
		totals = make([]int64, n)
		memPages[0], totals[0] = first, total
		// Tasks of a running group may add tasks: the group's count is
		// above zero until this one returns.
		for i := 1; i < n; i++ {
			both(i)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	userPages[0] = firstUser
	return l.rest(ctx, memPages, userPages, totals)
}

// rest follows lists that turned out longer than their pages planned and
// returns both lists whole: the memberships flat, the users by id (in
// their pages: a Member is large; the join copies each once, into the
// snapshot).
func (l *load) rest(ctx context.Context, memPages [][]membership, userPages [][]directory.Member, totals []int64) ([]membership, map[string]*directory.Member, error) {
	maxTotal := slices.Max(totals)

	// The lists may have drifted while they were paged. While the
	// memberships' total says more remain, the missing pages of both lists
	// go out in one more wave. Then users are followed while the last page
	// was full and some member still lacks a user: past that, further
	// users could only be non-members, dropped anyway.
	for fetched := countAll(memPages); len(memPages[len(memPages)-1]) == l.r.pageSize && int64(fetched) < maxTotal; fetched = countAll(memPages) {
		from, extra := len(memPages), ceilDiv(int(maxTotal)-fetched, l.r.pageSize)
		memPages = append(memPages, make([][]membership, extra)...)
		userPages = append(userPages, make([][]directory.Member, extra)...)
		more := make([]int64, extra)
		g, gctx := errgroup.WithContext(ctx)
		for i := from; i < from+extra; i++ {
			g.Go(func() error {
				var err error
				memPages[i], more[i-from], err = l.membershipPage(gctx, i)
				return err
			})
			g.Go(func() error {
				var err error
				userPages[i], err = l.userPage(gctx, i)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
		maxTotal = max(maxTotal, slices.Max(more))
	}
	memberships := flatten(memPages)
	users := make(map[string]*directory.Member, len(memberships))
	for _, page := range userPages {
		indexUsers(users, page)
	}
	// However the list shifted, the lacking users fit in this many more
	// pages; any still missing after them are fetched by id.
	lacking := countLacking(memberships, users)
	last := len(userPages) + ceilDiv(lacking, l.r.pageSize)
	for page, next := userPages[len(userPages)-1], len(userPages); len(page) == l.r.pageSize && lacking > 0 && next <= last; next++ {
		var err error
		if page, err = l.userPage(ctx, next); err != nil {
			return nil, nil, err
		}
		indexUsers(users, page)
		lacking = countLacking(memberships, users)
	}
	return memberships, users, nil
}

// indexUsers adds a page of users to the index by user id; a user listed
// twice (the list shifted while it was paged) is the later listing.
func indexUsers(users map[string]*directory.Member, page []directory.Member) {
	for i := range page {
		users[page[i].UserID] = &page[i]
	}
}

// countLacking counts the memberships whose user is not in users (a user
// with two memberships counts twice: an upper bound).
func countLacking(memberships []membership, users map[string]*directory.Member) int {
	n := 0
	for _, m := range memberships {
		if m.userID != "" && users[m.userID] == nil {
			n++
		}
	}
	return n
}

// membershipPage fetches page i of the organization's memberships and the
// total count the page reports.
func (l *load) membershipPage(ctx context.Context, i int) ([]membership, int64, error) {
	params := &organizationmembership.ListParams{OrderBy: clerk.String(orderBy)}
	params.Limit = clerk.Int64(int64(l.r.pageSize))
	params.Offset = clerk.Int64(int64(i * l.r.pageSize))
	var (
		page  []membership
		total int64
	)
	err := l.r.list(ctx, "/organizations/"+l.orgID+"/memberships", params.ToQuery(), func(body *bytes.Buffer) error {
		var err error
		page, total, err = decodeMemberships(body, l.r.pageSize)
		return err
	})
	return page, total, err
}

// userPage fetches page i of the organization's users with a single GET
// /users: the SDK's user.List would add a GET /users/count per page.
func (l *load) userPage(ctx context.Context, i int) ([]directory.Member, error) {
	return l.userPageAfter(ctx, i, nil)
}

// userPageAfter is userPage decoding the page only once after is closed
// (nil: at once).
func (l *load) userPageAfter(ctx context.Context, i int, after <-chan struct{}) ([]directory.Member, error) {
	params := &user.ListParams{OrderBy: clerk.String(orderBy), OrganizationIDs: []string{l.orgID}}
	params.Limit = clerk.Int64(int64(l.r.pageSize))
	params.Offset = clerk.Int64(int64(i * l.r.pageSize))
	var page []directory.Member
	err := l.r.list(ctx, "/users", params.ToQuery(), func(body *bytes.Buffer) error {
		if after != nil {
			<-after
		}
		var err error
		page, err = decodeUsers(body, l.r.pageSize)
		return err
	})
	return page, err
}

// join pairs each membership with its user. Users missing from the lists
// (a join racing the load) are fetched by id; memberships whose user is
// gone are dropped with a warning; users without a membership are dropped.
func (l *load) join(ctx context.Context, memberships []membership, byID map[string]*directory.Member) ([]directory.Member, error) {
	seen := make(map[string]bool, len(memberships))
	kept := make([]membership, 0, len(memberships))
	var missing []string
	for _, m := range memberships {
		if m.userID == "" {
			l.r.log.WarnContext(ctx, "clerk membership without a user id dropped", "org_id", l.orgID)
			continue
		}
		if seen[m.userID] {
			continue
		}
		seen[m.userID] = true
		kept = append(kept, m)
		if byID[m.userID] == nil {
			missing = append(missing, m.userID)
		}
	}

	fetched, err := l.usersByID(ctx, missing)
	if err != nil {
		return nil, err
	}
	for id, u := range fetched {
		byID[id] = u
	}

	members := make([]directory.Member, 0, len(kept))
	for _, m := range kept {
		if u := byID[m.userID]; u != nil {
			members = append(members, *u)
			setMembership(&members[len(members)-1], m)
		}
	}
	return members, nil
}

// usersByID fetches users by id, concurrently within the load's bound.
// Users that no longer exist are left out of the result with a warning.
func (l *load) usersByID(ctx context.Context, ids []string) (map[string]*directory.Member, error) {
	found := make([]*clerk.User, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.r.concurrency)
	for i, id := range ids {
		g.Go(func() error {
			if url.PathEscape(id) != id {
				l.r.log.WarnContext(gctx, "clerk membership with an invalid user id dropped", "org_id", l.orgID, "user_id", id)
				return nil
			}
			u, err := l.r.users.Get(gctx, id)
			var apiErr *clerk.APIErrorResponse
			if errors.As(err, &apiErr) && apiErr.HTTPStatusCode == http.StatusNotFound {
				l.r.log.WarnContext(gctx, "clerk membership whose user is gone dropped",
					"org_id", l.orgID, "user_id", id, "clerk_trace_id", apiErr.TraceID)
				return nil
			}
			if err != nil {
				return err
			}
			found[i] = u
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]*directory.Member, len(ids))
	for i, u := range found {
		if u != nil {
			m := userMember(u)
			out[ids[i]] = &m
		}
	}
	return out, nil
}

// userMember returns a member holding a user's fields (read by the SDK,
// for a user fetched by id). Private and unsafe metadata are never read.
func userMember(u *clerk.User) directory.Member {
	return directory.Member{
		UserID:         u.ID,
		Email:          primaryEmail(u),
		FirstName:      optString(u.FirstName),
		LastName:       optString(u.LastName),
		Username:       optString(u.Username),
		ImageURL:       optString(u.ImageURL),
		LastSignInAt:   optTime(u.LastSignInAt),
		LastActiveAt:   optTime(u.LastActiveAt),
		CreatedAt:      millis(u.CreatedAt),
		Banned:         u.Banned,
		PublicMetadata: metadata(u.PublicMetadata),
		UserUpdatedAt:  millis(u.UpdatedAt),
	}
}

// setMembership completes a member holding a user's fields with their
// membership's.
func setMembership(m *directory.Member, ms membership) {
	m.Role = ms.role
	m.RoleName = ms.roleName
	m.MembershipMetadata = metadata(ms.metadata)
	m.JoinedAt = millis(ms.created)
	m.MembershipUpdatedAt = millis(ms.updated)
}

// primaryEmail returns the address whose id is the user's primary email
// address id, which need not be the first one listed.
func primaryEmail(u *clerk.User) *string {
	if u.PrimaryEmailAddressID == nil {
		return nil
	}
	for _, e := range u.EmailAddresses {
		if e != nil && e.ID == *u.PrimaryEmailAddressID {
			return optString(&e.EmailAddress)
		}
	}
	return nil
}

// optString copies *p, mapping nil and "" to nil.
func optString(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	s := *p
	return &s
}

func optTime(ms *int64) *time.Time {
	if ms == nil {
		return nil
	}
	t := millis(*ms)
	return &t
}

// millis converts Clerk's Unix milliseconds to a UTC time.
func millis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// metadata returns a metadata object as JSON, "{}" when absent or null.
func metadata(raw json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return json.RawMessage("{}")
	}
	return trimmed
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func countAll[T any](pages [][]T) int {
	n := 0
	for _, p := range pages {
		n += len(p)
	}
	return n
}

func flatten[T any](pages [][]T) []T {
	out := make([]T, 0, countAll(pages))
	for _, p := range pages {
		out = append(out, p...)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
