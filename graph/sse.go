package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

// sseKeepAlive is how often an idle event stream gets a comment line, so
// that proxies and load balancers do not close it.
const sseKeepAlive = 15 * time.Second

// sseTransport is GraphQL over Server-Sent Events in graphql-sse's
// "distinct connections" mode: a request (POST with a JSON body, or GET
// with the query in the URL) with Accept: text/event-stream gets a stream
// of "next" events, one per result, then "complete". It shares the HTTP
// transport's checks: a request without a verified session is 401, and a
// malformed request, a document refused by the limits or validation, or an
// operation that cannot start is answered as plain GraphQL JSON before any
// stream begins. A stream ends when its operation does, when the client
// goes, or when the session token that opened it expires: then with an
// UNAUTHENTICATED error event before "complete". A subscription ended by
// the server (SLOW_CONSUMER) gets its error event too.
type sseTransport struct{ t *httpTransport }

var _ graphql.Transport = sseTransport{}

func (sseTransport) Supports(r *http.Request) bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodGet) &&
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func (s sseTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	t := s.t
	h := w.Header()
	h.Set("Cache-Control", cacheControlNotCachable)
	h.Add("Vary", "Authorization")
	h.Add("Vary", "Accept")
	ctx := r.Context()
	p, err := auth.FromContext(ctx)
	if err != nil {
		accesslog.AddErrorCodes(ctx, string(directory.ErrorCode(err)))
		writeDomainError(w, err)
		return
	}
	accesslog.SetCaller(ctx, p.OrgID, p.UserID)
	params, rerr := t.readParams(w, r)
	if rerr != nil {
		accesslog.AddErrorCodes(ctx, rerr.code)
		writeRequestError(w, rerr)
		return
	}
	h.Set("Content-Type", contentTypeJSON) // until the stream starts
	query, share, perr := t.resolveQuery(ctx, params)
	if perr != nil {
		t.fail(ctx, w, exec, contentTypeJSON, nil, gqlerror.List{perr}, nil)
		return
	}
	params.Query = query
	if _, errs := t.prep.prepare(params.Query); len(errs) > 0 {
		t.fail(ctx, w, exec, contentTypeJSON, nil, errs, nil)
		return
	}
	t.apq.share(ctx, share, query)
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if len(errs) > 0 {
		t.fail(ctx, w, exec, contentTypeJSON, opCtx, errs, nil)
		return
	}
	op := opCtx.Operation
	accesslog.SetOperation(ctx, op.Name, string(op.Operation))
	if r.Method == http.MethodGet && op.Operation == ast.Mutation {
		h.Set("Allow", "POST")
		writeRequestError(w, badRequest(http.StatusMethodNotAllowed, "a mutation must be sent with POST"))
		return
	}

	ctx, cancel := untilExpiry(ctx, p)
	defer cancel()
	end := &streamEnd{}
	ctx = context.WithValue(ctx, streamEndKey{}, end)
	rc := http.NewResponseController(w)
	// The server's WriteTimeout is for answers, not streams: this one
	// lasts until the token expires.
	_ = rc.SetWriteDeadline(p.ExpiresAt.Add(10 * time.Second))
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex // the keep-alive writes too
	write := func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(b)
		_ = rc.Flush()
	}
	write([]byte(":\n\n"))
	stopKeepAlive := make(chan struct{})
	defer close(stopKeepAlive)
	streamCtx := ctx
	go func() {
		tick := time.NewTicker(sseKeepAlive)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				write([]byte(":\n\n"))
			case <-stopKeepAlive:
				return
			case <-streamCtx.Done():
				return
			}
		}
	}()

	responses, execCtx := exec.DispatchOperation(streamCtx, opCtx)
	for {
		resp := responses(execCtx)
		if resp == nil {
			break
		}
		logCodes(execCtx, resp.Errors)
		write(nextEvent(resp))
	}
	if r.Context().Err() != nil {
		return // the client left: nothing to tell it
	}
	final := end.ended()
	if context.Cause(ctx) == errSessionExpired {
		final = sessionExpired()
	}
	if final != nil {
		accesslog.AddErrorCodes(ctx, string(directory.ErrorCode(final)))
		write(nextEvent(&graphql.Response{Errors: gqlerror.List{clientError(final)}}))
	}
	write([]byte("event: complete\ndata:\n\n"))
}

// nextEvent is one "next" event carrying resp.
func nextEvent(resp *graphql.Response) []byte {
	body, err := json.Marshal(resp)
	if err != nil {
		panic(err) // gqlgen's handler recovers it
	}
	b := make([]byte, 0, len(body)+20)
	b = append(b, "event: next\ndata: "...)
	b = append(b, body...)
	return append(b, "\n\n"...)
}
