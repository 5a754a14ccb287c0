package graph

import (
	"context"
	"net/http"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/respcache"
)

// cachedRole is the role whose answers the response cache keeps: only org
// admins see organization data, and their warm dashboards repeat requests.
const cachedRole = "org:admin"

// responseCache serves identical warm GraphQL requests from stored bytes,
// skipping gqlgen's per-field execution. The key holds everything an answer
// depends on from the request: the caller's organization, identity, role and
// permissions, and the operation text, name and variables; each entry also
// records the snapshot version it was built from and is served only while the
// organization's snapshot still has that version. Only complete answers
// without errors are kept. A nil *responseCache caches nothing.
type responseCache struct {
	source directory.Source
	cache  *respcache.Cache
}

// key returns the cache key of a request, and whether its answer may be
// cached at all: only org admins' answers are. The key holds the caller's
// organization, identity, role and permissions, the method and Accept (the
// response's content type comes from it), and the request's GraphQL
// parameters exactly as they came (the URL's query string or the body):
// two requests that differ only in how their JSON is spelled are two
// entries, never one answer for two questions.
func (c *responseCache) key(p *auth.Principal, method, accept string, raw []byte) (respcache.Key, bool) {
	if !c.caches(p) {
		return respcache.Key{}, false
	}
	// The permissions are hashed joined by commas, without joining them
	// into a new string per request.
	return respcache.NewKeyWithList(raw, p.Permissions, p.OrgID, p.UserID, p.OrgRole, p.OrgSlug, method, accept), true
}

// caches reports whether p's answers are cached: only org admins' are.
func (c *responseCache) caches(p *auth.Principal) bool {
	return c != nil && p.OrgRole == cachedRole && p.OrgID != ""
}

// serve writes the stored answer for key when there is one still current,
// and tells the access log and o which operation it answered.
func (c *responseCache) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, p *auth.Principal, key respcache.Key, o *outcome) bool {
	e, ok := c.lookup(ctx, p, key)
	if ok {
		c.write(ctx, w, r, &e, o)
	}
	return ok
}

// lookup returns the stored answer for key when there is one still current.
func (c *responseCache) lookup(ctx context.Context, p *auth.Principal, key respcache.Key) (respcache.Entry, bool) {
	e, ok := c.cache.Get(key)
	if !ok || !c.current(ctx, p.OrgID, e.Tag) {
		return respcache.Entry{}, false
	}
	return e, true
}

// write writes the stored answer e, and tells the access log and o which
// operation it answered.
func (c *responseCache) write(ctx context.Context, w http.ResponseWriter, r *http.Request, e *respcache.Entry, o *outcome) {
	accesslog.SetOperation(ctx, e.OpName, e.OpType)
	o.operation(e.OpType, e.OpName)
	h := w.Header()
	h["Content-Type"] = contentTypeValue(e.ContentType)
	h["X-Response-Cache"] = hitValue
	writeBody(w, r, e)
}

// Prebuilt header values: Header.Set allocates a one-element slice per
// call, and on a response-cache hit those allocations were a large part of
// the work. Each slice has its length as its capacity, so a later
// Header.Add appends to a copy and never writes into the shared array, and
// nothing in the server modifies a header value in place. The keys are
// written in canonical form, as Header.Set would store them.
var (
	hitValue             = []string{"hit"}
	gzipValue            = []string{"gzip"}
	cacheControlValue    = []string{cacheControlNotCachable}
	varyValues           = []string{"Authorization", "Accept", "Accept-Encoding"}
	contentTypeJSONValue = []string{contentTypeJSON}
	contentTypeGQLValue  = []string{contentTypeGraphQLJSON}
)

// contentTypeValue returns the header value of a content type: a prebuilt
// one for the two that negotiate returns.
func contentTypeValue(ct string) []string {
	switch ct {
	case contentTypeJSON:
		return contentTypeJSONValue
	case contentTypeGraphQLJSON:
		return contentTypeGQLValue
	}
	return []string{ct}
}

// addVary adds Vary: Authorization, Accept, Accept-Encoding after any Vary
// values already set (Origin from CORS, Cookie from the session
// middleware), as three Header.Add calls would, without allocating when
// there are none.
func addVary(h http.Header) {
	if v := h["Vary"]; len(v) > 0 {
		h["Vary"] = append(v, varyValues...)
		return
	}
	h["Vary"] = varyValues
}

// writeBody writes an answer: its gzip form (compressed once, when it was
// stored) to a client that accepts gzip, else the plain bytes.
func writeBody(w http.ResponseWriter, r *http.Request, e *respcache.Entry) {
	body, gz := e.Body, e.Gzip != nil && respcache.AcceptsGzip(r.Header)
	h := w.Header()
	if gz {
		h["Content-Encoding"] = gzipValue
		body = e.Gzip
	}
	h["Content-Length"] = e.ContentLength(gz)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// store keeps an answer when the request's usage shows it is complete and
// built from one snapshot version.
func (c *responseCache) store(key respcache.Key, rec *usage, e respcache.Entry) {
	if version, ok := rec.cacheable(); ok {
		e.Tag = version
		c.cache.Put(key, e)
	}
}

// current reports whether an answer built from snapshot version is still
// valid: always when it used no snapshot (""), else when the organization's
// snapshot still has that version. Looking the snapshot up is a cache hit for
// an organization whose answers are cached.
func (c *responseCache) current(ctx context.Context, orgID, version string) bool {
	if version == "" {
		return true
	}
	snap, err := c.source.Members(ctx, orgID)
	return err == nil && snap.Version() == version
}

// usage records, for one request, the snapshot versions resolvers answered
// from and whether the response carried errors.
type usage struct {
	mu       sync.Mutex
	versions map[string]bool
	errors   bool
	volatile bool // the answer depends on more than member snapshots
}

type usageKey struct{}

// recordSnapshot notes that the request's answer depends on snap.
func recordSnapshot(ctx context.Context, snap *directory.Snapshot) {
	u, _ := ctx.Value(usageKey{}).(*usage)
	if u == nil || snap == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.versions == nil {
		u.versions = map[string]bool{}
	}
	u.versions[snap.Version()] = true
}

// noStore notes that the request's answer depends on data no snapshot
// version tracks (invitations), so it is never stored.
func noStore(ctx context.Context) {
	if u, _ := ctx.Value(usageKey{}).(*usage); u != nil {
		u.mu.Lock()
		u.volatile = true
		u.mu.Unlock()
	}
}

// markErrors notes that the response carries errors, so it is not stored.
func markErrors(ctx context.Context) {
	if u, _ := ctx.Value(usageKey{}).(*usage); u != nil {
		u.mu.Lock()
		u.errors = true
		u.mu.Unlock()
	}
}

// cacheable returns the snapshot version the answer was built from ("" when
// it used none). An answer with errors, or built from two versions, is not
// stored.
func (u *usage) cacheable() (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.errors || u.volatile || len(u.versions) > 1 {
		return "", false
	}
	for v := range u.versions {
		return v, true
	}
	return "", true
}

// errorsMarker is the response interceptor that feeds markErrors.
func errorsMarker(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || len(resp.Errors) > 0 {
		markErrors(ctx)
	}
	return resp
}
