package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

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
// without errors are kept.
type responseCache struct {
	next   http.Handler
	source directory.Source
	cache  *respcache.Cache
}

// request is a GraphQL request as sent over POST or GET.
type request struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
}

func (c *responseCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := auth.FromContext(r.Context())
	if err != nil || p.OrgRole != cachedRole || p.OrgID == "" {
		c.next.ServeHTTP(w, r)
		return
	}
	req, ok := readRequest(r)
	if !ok {
		c.next.ServeHTTP(w, r)
		return
	}
	// gqlgen picks the response content type from Accept, so it is part of the key.
	key := respcache.NewKey(p.OrgID, p.UserID, p.OrgRole, p.OrgSlug, strings.Join(p.Permissions, ","),
		r.Header.Get("Accept"), req.OperationName, req.Query, string(req.Variables), string(req.Extensions))
	if e, ok := c.cache.Get(key); ok && c.current(r.Context(), p.OrgID, e.Tag) {
		w.Header().Set("Content-Type", e.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(e.Body)))
		w.Header().Set("X-Response-Cache", "hit")
		_, _ = w.Write(e.Body)
		return
	}
	rec := &usage{}
	capture := &captureWriter{header: w.Header(), status: http.StatusOK}
	c.next.ServeHTTP(capture, r.WithContext(context.WithValue(r.Context(), usageKey{}, rec)))
	w.WriteHeader(capture.status)
	_, _ = w.Write(capture.body.Bytes())
	if version, ok := rec.cacheable(); ok && capture.status == http.StatusOK {
		c.cache.Put(key, respcache.Entry{Body: capture.body.Bytes(), ContentType: w.Header().Get("Content-Type"), Tag: version})
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

// readRequest reads the GraphQL request and restores the body for gqlgen.
// Requests it does not understand are passed through uncached.
func readRequest(r *http.Request) (request, bool) {
	var req request
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		req.Variables, req.Extensions = json.RawMessage(q.Get("variables")), json.RawMessage(q.Get("extensions"))
	case http.MethodPost:
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" {
			return req, false
		}
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || json.Unmarshal(body, &req) != nil {
			return req, false
		}
	default:
		return req, false
	}
	return req, req.Query != ""
}

// captureWriter buffers a response so it can be stored after it is complete.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) WriteHeader(status int)      { c.status = status }
func (c *captureWriter) Write(b []byte) (int, error) { return c.body.Write(b) }

// usage records, for one request, the snapshot versions resolvers answered
// from and whether the response carried errors.
type usage struct {
	mu       sync.Mutex
	versions map[string]bool
	errors   bool
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
	if u.errors || len(u.versions) > 1 {
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
