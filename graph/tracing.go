package graph

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orgusers/orgusers/internal/accesslog"
)

// Span and attribute names of the GraphQL spans.
const (
	// SpanOperationUnknown names the operation span of a request that named
	// no valid operation (refused before its document was prepared).
	SpanOperationUnknown = "GraphQL Operation"
	// SpanParseValidate covers the request's preparation, from the
	// transport's start to the operation context gqlgen built: reading the
	// body, parsing, the limits, validation (a query cache hit for a text
	// seen before), variable coercion and the cost check.
	SpanParseValidate = "graphql.parse_validate"
	// SpanExecute covers gqlgen's execution of the operation, resolvers
	// (and the snapshot loads they wait for) included, up to the response.
	SpanExecute = "graphql.execute"

	AttrOperationType = "graphql.operation.type"
	AttrOperationName = "graphql.operation.name"
	// AttrResponseCached is true on an operation answered by the response
	// cache, which runs neither preparation's second half nor execution.
	AttrResponseCached = "orgusers.graphql.response_cached"
	// AttrFastPath, on an execute span when the fast path is on, is true
	// when the fast path answered and false when it declined and gqlgen's
	// executor ran the operation.
	AttrFastPath  = "orgusers.graphql.fast_path"
	attrErrorCode = "orgusers.error.code"

	// maxSpanOperationName bounds the caller-chosen operation name kept in
	// a span's name and attributes.
	maxSpanOperationName = 100
)

// tracedTransport wraps the /graphql transport in an operation span (named
// "query Name" once the operation is known, as the semantic conventions
// ask) with child spans for preparation and execution, around gqlgen's
// executor, so that the transport itself knows nothing of tracing. Neither
// the query text nor variable values ever reach a span.
type tracedTransport struct {
	inner  graphql.Transport
	tracer trace.Tracer
}

var _ graphql.Transport = (*tracedTransport)(nil)

func (t *tracedTransport) Supports(r *http.Request) bool { return t.inner.Supports(r) }

func (t *tracedTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	if parent := trace.SpanContextFromContext(ctx); parent.IsValid() && !trace.SpanFromContext(ctx).IsRecording() {
		// An unsampled trace stays unsampled below (the SDK's samplers
		// decide by trace id or parent): keep the context, record nothing.
		t.inner.Do(w, r, exec)
		return
	}
	ctx, span := t.tracer.Start(ctx, SpanOperationUnknown)
	defer span.End()
	if !span.IsRecording() {
		t.inner.Do(w, r.WithContext(ctx), exec)
		return
	}
	op := &tracedOperation{tracer: t.tracer, span: span, start: time.Now()}
	t.inner.Do(w, r.WithContext(ctx), &tracedExecutor{inner: exec, op: op})
	if !op.named {
		// The response cache answered, or the request was refused before
		// gqlgen: the transport told the access log what it knew.
		var typ, name string
		accesslog.Annotate(ctx, func(e *accesslog.Entry) { typ, name = e.OperationType, e.Operation })
		if typ != "" {
			op.name(typ, name)
			if !op.prepared && !op.failed {
				span.SetAttributes(attribute.Bool(AttrResponseCached, true))
			}
		}
	}
}

// tracedOperation is what one request's executor calls know of its span.
type tracedOperation struct {
	tracer   trace.Tracer
	span     trace.Span
	start    time.Time
	named    bool
	prepared bool // the parse_validate span was ended
	failed   bool
}

// name names the operation span "typ name" (typ alone when anonymous).
func (o *tracedOperation) name(typ, name string) {
	o.named = true
	name = boundedName(name)
	attrs := []attribute.KeyValue{attribute.String(AttrOperationType, typ)}
	spanName := typ
	if name != "" {
		attrs = append(attrs, attribute.String(AttrOperationName, name))
		spanName += " " + name
	}
	o.span.SetName(spanName)
	o.span.SetAttributes(attrs...)
}

// prepare records the parse_validate span, from the request's start to
// now, failed with errs' first code when there are errors.
func (o *tracedOperation) prepare(ctx context.Context, errs gqlerror.List) {
	if o.prepared {
		return
	}
	o.prepared = true
	_, s := o.tracer.Start(ctx, SpanParseValidate, trace.WithTimestamp(o.start))
	if code := firstCode(errs); code != "" {
		o.fail(s, code)
	}
	s.End()
}

func (o *tracedOperation) fail(s trace.Span, code string) {
	o.failed = true
	s.SetAttributes(attribute.String(attrErrorCode, code))
	s.SetStatus(codes.Error, code)
	o.span.SetAttributes(attribute.String(attrErrorCode, code))
	o.span.SetStatus(codes.Error, code)
}

// tracedExecutor is gqlgen's executor as the traced transport hands it to
// the real one.
type tracedExecutor struct {
	inner graphql.GraphExecutor
	op    *tracedOperation
	span  trace.Span // the execute span the fast path opened, until it ends or is handed on
}

var _ graphql.GraphExecutor = (*tracedExecutor)(nil)

func (e *tracedExecutor) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	opCtx, errs := e.inner.CreateOperationContext(ctx, params)
	if opCtx != nil && opCtx.Operation != nil {
		e.op.name(string(opCtx.Operation.Operation), opCtx.Operation.Name)
	}
	e.op.prepare(ctx, errs)
	return opCtx, errs
}

// startExecute opens the execute span for the fast path (see
// executeSpanner); DispatchOperation reuses it when the fast path declined.
func (e *tracedExecutor) startExecute(ctx context.Context) context.Context {
	ctx, e.span = e.op.tracer.Start(ctx, SpanExecute, trace.WithAttributes(attribute.Bool(AttrFastPath, true)))
	return ctx
}

// endExecute ends the span when the fast path answered.
func (e *tracedExecutor) endExecute() {
	e.span.End()
	e.span = nil
}

func (e *tracedExecutor) DispatchOperation(ctx context.Context, opCtx *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	span := e.span
	if span != nil {
		// The fast path declined: the executor's run is the same execute step.
		span.SetAttributes(attribute.Bool(AttrFastPath, false))
		ctx = trace.ContextWithSpan(ctx, span)
		e.span = nil
	} else {
		ctx, span = e.op.tracer.Start(ctx, SpanExecute)
	}
	responses, ctx := e.inner.DispatchOperation(ctx, opCtx)
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp != nil {
			if code := firstCode(resp.Errors); code != "" {
				e.op.fail(span, code)
			}
		}
		span.End()
		return resp
	}, ctx
}

func (e *tracedExecutor) DispatchError(ctx context.Context, errs gqlerror.List) *graphql.Response {
	e.op.prepare(ctx, errs)
	resp := e.inner.DispatchError(ctx, errs)
	if code := firstCode(resp.Errors); code != "" {
		e.op.fail(e.op.span, code)
	}
	return resp
}

// firstCode returns the extensions.code of the first error that has one,
// bounded; codes are this service's or gqlgen's constants, never caller text.
func firstCode(errs gqlerror.List) string {
	for _, e := range errs {
		if c, ok := e.Extensions["code"].(string); ok && c != "" {
			if len(c) > 64 {
				c = c[:64]
			}
			return strings.ToValidUTF8(c, "?")
		}
	}
	return ""
}

// boundedName cuts a caller-chosen operation name to maxSpanOperationName
// bytes of valid UTF-8.
func boundedName(s string) string {
	if len(s) > maxSpanOperationName {
		s = s[:maxSpanOperationName]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.ToValidUTF8(s, "?")
}
