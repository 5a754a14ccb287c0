package graph

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/respcache"
)

// Response content types, negotiated from Accept as gqlgen does.
const (
	contentTypeJSON         = "application/json"
	contentTypeGraphQLJSON  = "application/graphql-response+json"
	defaultMaxBodyBytes     = 1 << 20
	cacheControlNotCachable = "private, no-store"
)

// httpTransport is the only transport of /graphql: GET and POST in the
// GraphQL-over-HTTP shapes. In this order it refuses a caller without a
// verified session (401, before reading the body), a wrong method (405) or
// content type (415), a body too large (413) or too slow (408), a body that
// is not a GraphQL request (400), then prepares the document (limits and
// validation, 422) and only then lets gqlgen's executor run it. Every answer
// is GraphQL-shaped JSON whose errors carry extensions.code, and none may be
// stored by a shared cache.
type httpTransport struct {
	prep    *preparer
	maxBody int64
	cache   *responseCache    // nil: no response cache
	apq     *persistedQueries // nil: automatic persisted queries refused
	trusted *TrustedDocuments // non-nil: only its operations run
	obs     Observer          // nil: nothing observed
	fast    *fastPath         // nil: every operation runs in gqlgen's executor
}

// Observer hears the outcome of each /graphql request; server.go gives it
// the metrics. Its method is called once per request, after the answer is
// written, and must be quick and safe for concurrent use.
type Observer interface {
	// ObserveOperation reports one request: typ is "query", "mutation" or
	// "subscription", or "unknown" when the request named no valid
	// operation (refused before its document was prepared, or naming an
	// operation the document lacks); name is the operation's name as the
	// document spells it ("" when anonymous or typ is unknown: it is the
	// caller's choice, the observer must bound it); code is "OK" or the
	// extensions.code of the answer's first error that has one.
	ObserveOperation(typ, name, code string)
}

// outcome collects what Do tells its Observer. Its methods do nothing on a
// nil outcome (no Observer).
type outcome struct {
	typ, name, code string
}

func (o *outcome) operation(typ, name string) {
	if o != nil {
		o.typ, o.name = typ, name
	}
}

func (o *outcome) fail(code string) {
	if o != nil && o.code == "" {
		o.code = code
	}
}

var _ graphql.Transport = (*httpTransport)(nil)

// Supports claims every request, so that none reaches gqlgen's own
// transport-not-supported answer, which has no code.
func (t *httpTransport) Supports(*http.Request) bool { return true }

func (t *httpTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if t.obs == nil {
		t.do(w, r, exec, nil)
		return
	}
	o := outcome{typ: "unknown"}
	t.do(w, r, exec, &o)
	if o.code == "" {
		o.code = "OK"
	}
	t.obs.ObserveOperation(o.typ, o.name, o.code)
}

// do answers one request, telling o (when not nil) what it answered.
func (t *httpTransport) do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, o *outcome) {
	h := w.Header()
	h["Cache-Control"] = cacheControlValue // prebuilt: see hitValue
	addVary(h)
	ctx := r.Context()
	p, err := auth.FromContext(ctx)
	if err == nil {
		accesslog.SetCaller(ctx, p.OrgID, p.UserID)
	} else {
		accesslog.AddErrorCodes(ctx, string(directory.ErrorCode(err)))
		o.fail(string(directory.ErrorCode(err)))
		if r.ContentLength < 0 || r.ContentLength > 256<<10 {
			// The body is never read, and net/http would drain only the
			// first 256 KiB of it for keep-alive: close instead.
			h.Set("Connection", "close")
		}
		writeDomainError(w, err)
		return
	}
	// A warm dashboard repeats its requests: the response cache is keyed
	// by the request's bytes as they came, so a hit costs the token lookup
	// done above, one hash and one write, and nothing is decoded.
	raw, rerr := t.readRaw(w, r)
	if buf, ok := raw.pooled(); ok {
		defer bodyBuffers.Put(buf)
	}
	accept := r.Header.Get("Accept")
	contentType := negotiate(accept)
	var key respcache.Key
	cacheable := false
	if rerr == nil {
		key, cacheable = t.cache.key(p, r.Method, accept, raw.bytes)
		if cacheable && t.cache.serve(ctx, w, r, p, key, o) {
			return
		}
	}
	var params *graphql.RawParams
	if rerr == nil {
		params, rerr = t.decode(r.Method, raw.bytes)
	}
	if rerr != nil {
		accesslog.AddErrorCodes(ctx, rerr.code)
		o.fail(rerr.code)
	}
	if rerr != nil && rerr.code == CodeQueryTooLarge {
		// A GraphQL request error like the other limits, answered like them.
		h.Set("Content-Type", contentType)
		t.fail(ctx, w, exec, contentType, nil, gqlerror.List{limitError(CodeQueryTooLarge, "%s", rerr.message)}, o)
		return
	}
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	h.Set("Content-Type", contentType)
	query, share, perr := t.resolveQuery(ctx, params)
	if perr != nil {
		t.fail(ctx, w, exec, contentType, nil, gqlerror.List{perr}, o)
		return
	}
	params.Query = query

	// A document that is refused costs no more than the limits allow, and
	// one that was accepted before is a query cache hit: prepare first.
	doc, errs := t.prep.prepare(params.Query)
	if len(errs) > 0 {
		t.fail(ctx, w, exec, contentType, nil, errs, o)
		return
	}
	t.apq.share(ctx, share, query) // a registered text the fleet may use: valid
	op := doc.Operations.ForName(params.OperationName)
	if op != nil {
		accesslog.SetOperation(ctx, op.Name, string(op.Operation))
		o.operation(string(op.Operation), op.Name)
	}
	if op == nil || op.Operation != ast.Query {
		cacheable = false // only queries' answers are kept: a mutation runs every time
	}
	rec := &usage{}
	ctx = context.WithValue(ctx, usageKey{}, rec)
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if len(errs) > 0 {
		t.fail(ctx, w, exec, contentType, opCtx, errs, o)
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		h.Set("Allow", "POST")
		rerr := badRequest(http.StatusMethodNotAllowed, "a %s must be sent with POST", opCtx.Operation.Operation)
		o.fail(rerr.code)
		writeRequestError(w, rerr)
		return
	}
	if t.fast != nil && opCtx.Operation.Operation == ast.Query {
		ctx = withLoadMemo(ctx) // the executor reuses the fast path's loads
	}
	body, fast := t.fastAnswer(ctx, exec, opCtx)
	if !fast {
		responses, ctx := exec.DispatchOperation(ctx, opCtx)
		resp := responses(ctx)
		o.fail(logCodes(ctx, resp.Errors))
		var merr error
		if body, merr = json.Marshal(resp); merr != nil {
			panic(merr) // gqlgen's handler recovers it into an INTERNAL_SERVER_ERROR answer
		}
	}
	// Compressed once: for this answer when the client takes gzip, and for
	// the cache's later hits. A client that does not take gzip gets its
	// answer first; the cache's copy is compressed after it went out.
	entry := respcache.Entry{Body: body, ContentType: contentType}
	gz := respcache.AcceptsGzip(r.Header)
	if gz {
		entry = respcache.NewEntry(body, contentType, "")
	}
	writeBody(w, r, &entry)
	if cacheable {
		if !gz {
			_ = http.NewResponseController(w).Flush() // the answer's last bytes, before the compression
			entry = respcache.NewEntry(body, contentType, "")
		}
		if op != nil {
			entry.OpName, entry.OpType = op.Name, string(op.Operation) // the log line of a later hit
		}
		t.cache.store(key, rec, entry)
	} else if fast {
		releaseAnswer(body) // written, and kept nowhere
	}
}

// fastAnswer runs the operation on the fast path (fastpath.go) when it is
// on and can answer it: then the body is the complete successful answer,
// byte for byte the executor's, and there are no errors to log. Otherwise
// the executor runs it. A traced executor's execute span covers both.
func (t *httpTransport) fastAnswer(ctx context.Context, exec graphql.GraphExecutor, opCtx *graphql.OperationContext) ([]byte, bool) {
	if t.fast == nil {
		return nil, false
	}
	s, traced := exec.(executeSpanner)
	if traced {
		ctx = s.startExecute(ctx)
	}
	body, ok := t.fast.answer(ctx, opCtx)
	if traced && ok {
		s.endExecute()
	}
	return body, ok
}

// executeSpanner is a traced executor: startExecute opens its execute span
// before the fast path runs; endExecute closes it when the fast path
// answered, and otherwise DispatchOperation goes on in the same span.
type executeSpanner interface {
	startExecute(ctx context.Context) context.Context
	endExecute()
}

// resolveQuery returns the text a request runs: its query, or the text
// its persisted-query hash names (only listed documents, in trusted
// documents mode). share is the hash of a text the request registered,
// for the fleet once the text is found valid ("" when none).
func (t *httpTransport) resolveQuery(ctx context.Context, params *graphql.RawParams) (query, share string, err *gqlerror.Error) {
	if t.trusted != nil {
		query, err = t.trusted.resolve(params.Query, params.Extensions)
		return query, "", err
	}
	return t.apq.resolve(ctx, params.Query, params.Extensions)
}

// fail answers errors found before execution as the GraphQL-over-HTTP
// spec asks: no "data" entry (nothing executed), status 200 for
// application/json (so clients such as Apollo's read the errors rather than
// a network failure) and 400 for application/graphql-response+json.
func (t *httpTransport) fail(ctx context.Context, w http.ResponseWriter, exec graphql.GraphExecutor, contentType string, opCtx *graphql.OperationContext, errs gqlerror.List, o *outcome) {
	status := http.StatusOK
	if contentType == contentTypeGraphQLJSON {
		status = http.StatusBadRequest
	}
	if opCtx != nil {
		ctx = graphql.WithOperationContext(ctx, opCtx)
	}
	resp := exec.DispatchError(ctx, errs)
	o.fail(logCodes(ctx, resp.Errors))
	body, _ := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// logCodes adds the extensions.code of each error to the access log line
// and returns the first one ("" when none has a code).
func logCodes(ctx context.Context, errs gqlerror.List) string {
	first := ""
	for _, e := range errs {
		if c, ok := e.Extensions["code"].(string); ok {
			accesslog.AddErrorCodes(ctx, c)
			if first == "" {
				first = c
			}
		}
	}
	return first
}

// rawRequest is a request's GraphQL parameters as they came: the URL's
// query string (GET) or the body (POST, in a pooled buffer).
type rawRequest struct {
	bytes []byte
	buf   *[]byte // the pooled buffer holding bytes; nil for GET
}

// pooled returns the buffer to give back to bodyBuffers once the request
// is answered.
func (r rawRequest) pooled() (*[]byte, bool) {
	if r.buf == nil {
		return nil, false
	}
	*r.buf = r.bytes[:0]
	return r.buf, true
}

// readRaw reads the GraphQL request's bytes: the URL's query string (GET)
// or the JSON body (POST), refusing a wrong method (405) or content type
// (415), a body too large (413) or too slow (408).
func (t *httpTransport) readRaw(w http.ResponseWriter, r *http.Request) (rawRequest, *requestError) {
	switch r.Method {
	case http.MethodGet:
		return rawRequest{bytes: []byte(r.URL.RawQuery)}, nil
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		return rawRequest{}, badRequest(http.StatusMethodNotAllowed, "method %s is not allowed: send GraphQL requests with GET or POST", truncate(r.Method, 16))
	}
	if ct := r.Header.Get("Content-Type"); ct != contentTypeJSON { // what clients send, checked without parsing
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != contentTypeJSON {
			return rawRequest{}, badRequest(http.StatusUnsupportedMediaType, "the Content-Type must be application/json")
		}
	}
	if r.ContentLength > t.maxBody {
		return rawRequest{}, badRequest(http.StatusRequestEntityTooLarge, "the request body is over %d bytes", t.maxBody)
	}
	// A body whose length is known (and checked above) is read with the
	// limit counted here, which spares the MaxBytesReader allocation per
	// request: net/http ends such a body at its Content-Length, so the
	// limit is never reached and MaxBytesReader never acts (nor tells the
	// server to close the connection); the count only guards a body that
	// is not the server's and says less than it holds. A body of unknown
	// length (chunked) still goes through MaxBytesReader.
	var body io.Reader = r.Body
	if r.ContentLength < 0 {
		body = http.MaxBytesReader(w, r.Body, t.maxBody)
	}
	buf := bodyBuffers.Get().(*[]byte)
	data, err := readAll(body, (*buf)[:0], t.maxBody)
	raw := rawRequest{bytes: data, buf: buf}
	if err != nil {
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooLarge):
			return raw, badRequest(http.StatusRequestEntityTooLarge, "the request body is over %d bytes", t.maxBody)
		case errors.As(err, &netErr) && netErr.Timeout():
			return raw, badRequest(http.StatusRequestTimeout, "the request body did not arrive in time")
		default:
			return raw, badRequest(http.StatusBadRequest, "the request body could not be read")
		}
	}
	return raw, nil
}

// decode parses what readRaw read into the GraphQL request. Nothing it
// returns refers to raw's bytes.
func (t *httpTransport) decode(method string, raw []byte) (*graphql.RawParams, *requestError) {
	if method == http.MethodGet {
		return decodeQueryString(string(raw), t.prep.limits.MaxQueryBytes)
	}
	return decodeBody(raw, t.prep.limits.MaxQueryBytes)
}

// readParams reads the GraphQL request from the URL (GET) or the JSON body
// (POST).
func (t *httpTransport) readParams(w http.ResponseWriter, r *http.Request) (*graphql.RawParams, *requestError) {
	raw, rerr := t.readRaw(w, r)
	if buf, ok := raw.pooled(); ok {
		defer bodyBuffers.Put(buf)
	}
	if rerr != nil {
		return nil, rerr
	}
	return t.decode(r.Method, raw.bytes)
}

// bodyBuffers recycles request body buffers: a megabyte body would
// otherwise cost more in allocating and clearing memory than in reading.
// Nothing decoded from a body refers to its bytes.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// readAll appends r's bytes to buf until EOF, and fails with the error
// http.MaxBytesReader returns when there are more than limit.
func readAll(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, &http.MaxBytesError{Limit: limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// negotiate picks the response content type from Accept as gqlgen's
// transports do: application/json unless the caller prefers
// application/graphql-response+json or names neither.
func negotiate(accept string) string {
	switch accept { // the common cases, without parsing
	case "", "*/*", contentTypeJSON:
		return contentTypeJSON
	case contentTypeGraphQLJSON:
		return contentTypeGraphQLJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "*/*", "application/*", contentTypeJSON:
			return contentTypeJSON
		case contentTypeGraphQLJSON:
			return contentTypeGraphQLJSON
		}
	}
	return contentTypeGraphQLJSON
}

// writeRequestError answers a request that never reached GraphQL.
func writeRequestError(w http.ResponseWriter, e *requestError) {
	writeError(w, e.status, e.code, e.message)
}

// writeDomainError answers an authentication failure with the status of its
// code: 401 UNAUTHENTICATED, 503 UPSTREAM_UNAVAILABLE.
func writeDomainError(w http.ResponseWriter, err error) {
	code := directory.ErrorCode(err)
	status := http.StatusInternalServerError
	switch code {
	case directory.CodeUnauthenticated:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="clerk"`)
	case directory.CodeUpstreamUnavailable:
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	writeError(w, status, string(code), directory.ErrorMessage(err))
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{
		"message": message, "extensions": map[string]any{"code": code},
	}}})
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
