// Package accesslog writes one structured access log line per HTTP request
// with log/slog, and carries the request id and a per-request record that
// handlers fill in (GraphQL operation, error codes, caller).
//
// server.go builds the logger with NewLogger and wraps its mux with
// Middleware; transports annotate the request's record through SetOperation,
// AddErrorCodes, SetCaller or Annotate. The line never holds credentials,
// cookies, query strings, bodies, GraphQL variables or metadata values: only
// the fields Middleware documents.
package accesslog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// HeaderRequestID is the request and response header that carries the
// request id.
const HeaderRequestID = "X-Request-Id"

// Bounds on what a log line may hold, whatever the handlers put in a record.
const (
	// MaxRequestIDLen is the longest incoming request id that is kept.
	MaxRequestIDLen = 128
	// MaxOperationLen is the longest GraphQL operation name logged, in
	// characters; longer names are cut.
	MaxOperationLen = 100
	// MaxErrorCodes is the most distinct error codes logged per request.
	MaxErrorCodes = 16
	// maxCodeLen and maxIDLen cut error codes and caller ids.
	maxCodeLen = 64
	maxIDLen   = 128
)

// OtherRoute is the route logged for a request no route template matched.
const OtherRoute = "other"

// NewLogger returns a logger writing to w in format "json" or "text" at
// level "debug", "info", "warn" or "error" (both case-insensitive). main
// calls it with LOG_FORMAT and LOG_LEVEL after applying their defaults; the
// error names the variable and its accepted values.
func NewLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "json":
		return slog.New(newJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("LOG_FORMAT: %q is not one of json, text", format)
	}
}

// Entry is what handlers tell the access log about their request. Annotate
// hands it out under the record's lock; values are bounded when the line is
// written (operation names cut to MaxOperationLen, codes deduplicated,
// sorted and capped at MaxErrorCodes, an OperationType other than query,
// mutation or subscription dropped). Empty fields are not logged.
type Entry struct {
	// Operation is the GraphQL operation name.
	Operation string
	// OperationType is "query", "mutation" or "subscription".
	OperationType string
	// ErrorCodes are the extensions.code values of the answer's errors.
	ErrorCodes []string
	// OrgID and UserID identify the verified caller.
	OrgID, UserID string
}

// record is the per-request Entry shared by the handlers of one request,
// with the request's id.
type record struct {
	id string // set before the record is shared, then only read
	mu sync.Mutex
	e  Entry
}

type recordKey struct{}

// RequestID returns the id Middleware gave the request of ctx, or "" when ctx
// did not come through Middleware. Handlers and loggers may call it to tie
// their own lines to the access log line.
func RequestID(ctx context.Context) string {
	if rec, _ := ctx.Value(recordKey{}).(*record); rec != nil {
		return rec.id
	}
	return ""
}

// request is what Middleware keeps for one request, in one allocation
// rather than four: every request, a response-cache hit included, pays
// for them. The record is in the request's context (one context value
// for the record and the id), rw is the writer handed to next, and
// idHeader backs the X-Request-Id header value (a full slice: a later
// Header.Add copies it).
type request struct {
	rec      record
	rw       responseWriter
	idHeader [1]string
}

// Annotate calls f with the request's Entry, under a lock: any handler or
// resolver of the request may call it, concurrently. f must not keep the
// pointer. It does nothing when ctx did not come through Middleware.
func Annotate(ctx context.Context, f func(*Entry)) {
	rec, _ := ctx.Value(recordKey{}).(*record)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f(&rec.e)
}

// SetOperation records the GraphQL operation name and type ("query",
// "mutation" or "subscription") of the request. The GraphQL transport calls
// it once it knows the operation; a no-op without Middleware.
func SetOperation(ctx context.Context, name, typ string) {
	Annotate(ctx, func(e *Entry) { e.Operation, e.OperationType = name, typ })
}

// AddErrorCodes adds extensions.code values of the request's answer (empty
// ones are skipped, duplicates logged once). Transports call it with the codes
// of the errors they answer with; a no-op without Middleware.
func AddErrorCodes(ctx context.Context, codes ...string) {
	Annotate(ctx, func(e *Entry) {
		for _, c := range codes {
			if c != "" && !slices.Contains(e.ErrorCodes, c) && len(e.ErrorCodes) < 4*MaxErrorCodes {
				e.ErrorCodes = append(e.ErrorCodes, c)
			}
		}
	})
}

// SetCaller records the verified caller's organization and user ids. The
// transports call it after authentication succeeded; a no-op without
// Middleware.
func SetCaller(ctx context.Context, orgID, userID string) {
	Annotate(ctx, func(e *Entry) { e.OrgID, e.UserID = orgID, userID })
}

// Middleware returns middleware that gives each request an id and logs one
// line at Info, message "request", after the handler returns. server.go wraps
// its whole mux with it.
//
// The id is the incoming X-Request-Id when there is exactly one and it is
// 1..128 characters of [A-Za-z0-9._:-]; otherwise a fresh random one. It is
// set on the response's X-Request-Id header before next runs and is in the
// request context (RequestID).
//
// route maps a request to its bounded route template (e.g. "/graphql"); it
// is called after next returns, with the request next received, so it may
// read r.Pattern set by a ServeMux. nil or "" means OtherRoute. See
// PathRoutes.
//
// The line holds request_id, method, route, status, duration_ms, bytes and,
// when handlers filled them in, graphql_operation, graphql_type, error_codes,
// org_id and user_id. A method other than the standard ones is logged as
// "OTHER". When next panics, the line says status 500 and panic=true, and
// the panic is re-raised so that net/http's recovery still applies.
func Middleware(logger *slog.Logger, route func(*http.Request) string) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := incomingID(r.Header)
			if id == "" {
				id = newID()
			}
			req := &request{rec: record{id: id}, rw: responseWriter{ResponseWriter: w}, idHeader: [1]string{id}}
			rec, rw := &req.rec, &req.rw
			w.Header()[HeaderRequestID] = req.idHeader[:] // as Header.Set, without its slice
			ctx := context.WithValue(r.Context(), recordKey{}, rec)
			r = r.WithContext(ctx)
			panicked := true
			defer func() {
				var p any
				if panicked {
					p = recover()
				}
				status := rw.status
				switch {
				case panicked:
					status = http.StatusInternalServerError
				case status == 0:
					status = http.StatusOK // net/http's answer to a handler that writes nothing
				}
				name := OtherRoute
				if route != nil {
					if s := route(r); s != "" {
						name = s
					}
				}
				// One clock reading ends the duration and dates the line
				// (the direct JSON encoder's; slog's handler reads its own).
				end := time.Now()
				attrs := make([]slog.Attr, 0, 12)
				attrs = append(attrs,
					slog.String("request_id", id),
					slog.String("method", method(r.Method)),
					slog.String("route", name),
					slog.Int("status", status),
					slog.Float64("duration_ms", math.Round(float64(end.Sub(start))/1e3)/1e3),
					slog.Int64("bytes", rw.bytes),
				)
				attrs = rec.attrs(attrs)
				if panicked {
					attrs = append(attrs, slog.Bool("panic", true))
				}
				logRequest(ctx, logger, end, attrs)
				if panicked {
					panic(p)
				}
			}()
			next.ServeHTTP(rw, r)
			panicked = false
		})
	}
}

// attrs appends the record's non-empty fields, bounded.
func (rec *record) attrs(attrs []slog.Attr) []slog.Attr {
	rec.mu.Lock()
	e := rec.e
	e.ErrorCodes = slices.Clone(e.ErrorCodes)
	rec.mu.Unlock()
	if e.Operation != "" {
		attrs = append(attrs, slog.String("graphql_operation", truncate(e.Operation, MaxOperationLen)))
	}
	switch e.OperationType {
	case "query", "mutation", "subscription":
		attrs = append(attrs, slog.String("graphql_type", e.OperationType))
	}
	var codes []string
	for _, c := range e.ErrorCodes {
		if c = truncate(c, maxCodeLen); c != "" && !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	if len(codes) > 0 {
		slices.Sort(codes)
		if len(codes) > MaxErrorCodes {
			codes = codes[:MaxErrorCodes]
		}
		attrs = append(attrs, slog.Any("error_codes", codes))
	}
	if e.OrgID != "" {
		attrs = append(attrs, slog.String("org_id", truncate(e.OrgID, maxIDLen)))
	}
	if e.UserID != "" {
		attrs = append(attrs, slog.String("user_id", truncate(e.UserID, maxIDLen)))
	}
	return attrs
}

// PathRoutes returns a route function for Middleware that names a request by
// the first template its URL path matches: a template matches that path
// exactly, and a template ending in "/" other than "/" itself also matches
// every path below it (as ServeMux does). Anything else is OtherRoute.
// server.go calls it with the paths it mounts, e.g.
// PathRoutes("/graphql", rest.Path, WebhookPath, "/healthz").
func PathRoutes(templates ...string) func(*http.Request) string {
	templates = slices.Clone(templates)
	return func(r *http.Request) string {
		path := r.URL.Path
		for _, t := range templates {
			if path == t || (t != "/" && strings.HasSuffix(t, "/") && strings.HasPrefix(path, t)) {
				return t
			}
		}
		return OtherRoute
	}
}

// incomingID returns the request's X-Request-Id when it is the only one and
// sane, else "".
func incomingID(h http.Header) string {
	values := h.Values(HeaderRequestID)
	if len(values) != 1 || !saneID(values[0]) {
		return ""
	}
	return values[0]
}

// saneID reports whether id is 1..MaxRequestIDLen characters of
// [A-Za-z0-9._:-].
func saneID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// newID returns 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b[:])
}

// method returns m when it is a standard method, else "OTHER": the method is
// caller-chosen text.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// truncate cuts s to at most n characters, on a character boundary, and
// replaces invalid UTF-8.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n {
			break
		}
		count++
	}
	return s[:i]
}
