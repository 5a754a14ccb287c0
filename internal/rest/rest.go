// Package rest serves the plain REST contract kept for older callers:
//
//	GET /api/organization/users
//
// It is a thin adapter: it parses and validates the query string, asks the
// same directory.Service the GraphQL resolvers use, and encodes the rows as a
// JSON array or CSV. Authentication comes from auth.Middleware in front of it.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

// Path is where the handler is mounted.
const Path = "/api/organization/users"

// AdminRole is the org role the endpoint requires.
const AdminRole = "org:admin"

// Handler serves GET /api/organization/users. Set Directory; the other fields
// have defaults.
type Handler struct {
	// Directory answers the query. Required.
	Directory *directory.Service
	// Logger receives internal errors; nil means slog.Default().
	Logger *slog.Logger
	// RetryAfter is sent with 503 answers; 0 means 5s.
	RetryAfter time.Duration
	// CacheBytes bounds the cache of encoded responses (keyed by org, snapshot
	// version and query); 0 means 64 MiB, negative disables it.
	CacheBytes int

	once  sync.Once
	cache *bodyCache
}

// ServeHTTP answers the request. Status codes: 200, 304 (If-None-Match),
// 400 (bad parameter, or no active organization), 401, 403, 405, 500, 503.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Only GET requests are accepted")
		return
	}
	p, err := auth.FromContext(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if p.OrgID == "" {
		writeError(w, http.StatusBadRequest, string(directory.CodeNoActiveOrganization), "User is not part of any organization")
		return
	}
	if p.OrgRole != AdminRole {
		writeError(w, http.StatusForbidden, string(directory.CodeForbidden), "User is not an admin in the organization")
		return
	}
	q, err := parseQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	format := negotiate(r, q.format)
	page, err := h.Directory.All(r.Context(), p.OrgID, q.filter, directory.Order{Field: directory.OrderEmail, Direction: directory.Asc})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	key := cacheKey(p.OrgID, page.Snapshot.Version(), q.canonical, format)
	etag := fmt.Sprintf(`"%016x"`, fnvString(key))
	hdr := w.Header()
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "private, no-cache")
	hdr.Set("Vary", "Authorization, Accept")
	if format == formatCSV {
		hdr.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		hdr.Set("Content-Type", "application/json")
	}
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := h.cache.get(key)
	if body == nil {
		var buf bytes.Buffer
		if format == formatCSV {
			err = encodeCSV(&buf, page.Members)
		} else {
			err = encodeJSON(&buf, page.Members)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		body = buf.Bytes()
		h.cache.put(key, body)
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func (h *Handler) init() {
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	if h.RetryAfter <= 0 {
		h.RetryAfter = 5 * time.Second
	}
	size := h.CacheBytes
	if size == 0 {
		size = 64 << 20
	}
	h.cache = newBodyCache(size)
}

// fail answers err with the status of its code.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := directory.ErrorCode(err)
	msg := directory.ErrorMessage(err)
	status := http.StatusInternalServerError
	switch code {
	case directory.CodeUnauthenticated:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="clerk"`)
	case directory.CodeNoActiveOrganization:
		status, msg = http.StatusBadRequest, "User is not part of any organization"
	case directory.CodeForbidden:
		status, msg = http.StatusForbidden, "User is not an admin in the organization"
	case directory.CodeBadUserInput:
		status = http.StatusBadRequest
	case directory.CodeUpstreamUnavailable:
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", strconv.Itoa(int((h.RetryAfter+time.Second-1)/time.Second)))
		h.Logger.ErrorContext(r.Context(), "rest: upstream unavailable", "err", err.Error())
	default:
		if errors.Is(err, context.Canceled) {
			return // the caller went away; nobody reads the answer
		}
		code, msg = directory.CodeInternal, "internal error"
		h.Logger.ErrorContext(r.Context(), "rest: internal error", "err", err.Error())
	}
	writeError(w, status, string(code), msg)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
}

// etagMatches implements If-None-Match with weak comparison.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func cacheKey(orgID, version, query string, f format) string {
	return orgID + "\x00" + version + "\x00" + query + "\x00" + string(f)
}

func fnvString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// bodyCache holds encoded responses, bounded by total bytes.
type bodyCache struct {
	mu    sync.Mutex
	max   int
	size  int
	items *lru.Cache[string, []byte]
}

func newBodyCache(max int) *bodyCache {
	c := &bodyCache{max: max}
	if max > 0 {
		c.items, _ = lru.NewWithEvict[string, []byte](1<<16, func(_ string, v []byte) { c.size -= len(v) })
	}
	return c
}

func (c *bodyCache) get(key string) []byte {
	if c.items == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, _ := c.items.Get(key)
	return v
}

func (c *bodyCache) put(key string, body []byte) {
	if c.items == nil || len(body) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items.Contains(key) {
		return
	}
	c.items.Add(key, body)
	c.size += len(body)
	for c.size > c.max {
		c.items.RemoveOldest()
	}
}

// sortedKeys returns the keys of v in order, for canonical query strings.
func sortedKeys[V any](v map[string]V) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
