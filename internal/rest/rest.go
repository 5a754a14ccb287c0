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
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/respcache"
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
	// version, query and format); 0 means 64 MiB, negative disables it.
	CacheBytes int

	once  sync.Once
	cache *respcache.Cache
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
	if caller, err := auth.FromContext(r.Context()); err == nil {
		accesslog.SetCaller(r.Context(), caller.OrgID, caller.UserID)
	}
	p, err := auth.RequireOrgRole(r.Context(), AdminRole)
	if err != nil {
		h.fail(w, r, err) // maps NO_ACTIVE_ORGANIZATION and FORBIDDEN to the contract's messages
		return
	}
	q, err := parseQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	format := negotiate(r, q.format)
	contentType := "application/json"
	if format == formatCSV {
		contentType = "text/csv; charset=utf-8"
	}
	// A warm, unchanged answer is served from the body cache without
	// filtering or encoding again; the key holds the snapshot version.
	snap, err := h.Directory.Source.Members(r.Context(), p.OrgID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	key := respcache.NewKey(p.OrgID, snap.Version(), q.canonical, string(format))
	entry, ok := h.cache.Get(key)
	if !ok {
		page, err := h.Directory.All(r.Context(), p.OrgID, q.filter, directory.Order{Field: directory.OrderEmail, Direction: directory.Asc})
		if err != nil {
			h.fail(w, r, err)
			return
		}
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
		// Keyed by the snapshot the page was computed from, which may be newer
		// than the one looked up above.
		key = respcache.NewKey(p.OrgID, page.Snapshot.Version(), q.canonical, string(format))
		entry = respcache.NewEntry(buf.Bytes(), contentType, "") // compressed once, here
		h.cache.Put(key, entry)
	}
	// The gzip form has its own ETag: the bytes differ.
	body, etag := entry.Body, `"`+hex.EncodeToString(key[:12])+`"`
	hdr := w.Header()
	if entry.Gzip != nil && respcache.AcceptsGzip(r.Header) {
		body, etag = entry.Gzip, `"`+hex.EncodeToString(key[:12])+`-gzip"`
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "private, no-cache")
	hdr.Add("Vary", "Authorization, Accept, Accept-Encoding") // added to, never replacing, Vary: Origin and Vary: Cookie
	hdr.Set("Content-Type", entry.ContentType)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
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
	h.cache = respcache.New(size)
}

// fail answers err with the status of its code.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		return // the caller went away; nobody reads the answer and Clerk did not fail
	}
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
		if !directory.WasLogged(err) { // a failed load is logged by the cache, once
			h.Logger.ErrorContext(r.Context(), "rest: upstream unavailable", "err", err.Error())
		}
	default:
		code, msg = directory.CodeInternal, "internal error"
		h.Logger.ErrorContext(r.Context(), "rest: internal error", "err", err.Error())
	}
	accesslog.AddErrorCodes(r.Context(), string(code))
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

// sortedKeys returns the keys of v in order, for canonical query strings.
func sortedKeys[V any](v map[string]V) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
