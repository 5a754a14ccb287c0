// Package tracing is the OpenTelemetry edge of the service: it builds the
// tracer provider from the standard OTEL_* environment, and supplies the
// HTTP server middleware, the Clerk client transport and the snapshot-load
// hook that server.go wires in. Nothing below the edges imports it.
//
// Tracing is off unless the environment asks for it (see Enabled); off, none
// of this is wired and nothing is measured. Span names are bounded: route
// and endpoint templates, never raw paths, ids or query text.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/orgusers/orgusers/internal/directory"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME (or
// service.name in OTEL_RESOURCE_ATTRIBUTES) does not say otherwise.
const DefaultServiceName = "orgusers"

// InstrumentationName names the tracers this service creates.
const InstrumentationName = "github.com/orgusers/orgusers"

// Span and attribute names of this package's spans.
const (
	SpanCacheLoad     = "cache.load"
	AttrCacheRefresh  = "orgusers.cache.refresh"
	AttrCacheMembers  = "orgusers.cache.members"
	AttrHTTPRoute     = "http.route"
	AttrErrorCode     = "orgusers.error.code"
	maxErrorCodeBytes = 64
)

// Enabled reports whether the environment turns tracing on: it is on when
// OTEL_TRACES_EXPORTER is "otlp", or when it is unset and
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
// "none" (or OTEL_SDK_DISABLED=true) turns it off whatever else is set.
// Errors name the variable: an exporter other than otlp or none, an OTLP
// protocol other than http/protobuf, an unknown sampler or a bad ratio.
func Enabled(getenv func(string) string) (bool, error) {
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if v := env("OTEL_SDK_DISABLED"); v != "" {
		off, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("OTEL_SDK_DISABLED: %q is not true or false", v)
		}
		if off {
			return false, nil
		}
	}
	on := false
	switch v := strings.ToLower(env("OTEL_TRACES_EXPORTER")); v {
	case "none":
		return false, nil
	case "otlp":
		on = true
	case "":
		on = env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported: otlp (OTLP over HTTP) or none", v)
	}
	if !on {
		return false, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := env(name); v != "" && v != "http/protobuf" {
			return false, fmt.Errorf("%s: %q is not supported: only http/protobuf (OTLP over HTTP) is built in", name, v)
		}
	}
	switch s := env("OTEL_TRACES_SAMPLER"); s {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
	case "traceidratio", "parentbased_traceidratio":
		if a := env("OTEL_TRACES_SAMPLER_ARG"); a != "" {
			if r, err := strconv.ParseFloat(a, 64); err != nil || r < 0 || r > 1 {
				return false, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio in 0..1", a)
			}
		}
	default:
		return false, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio", s)
	}
	return true, nil
}

// NewProvider returns a tracer provider exporting through OTLP/HTTP in
// batches, configured by the process environment as the OpenTelemetry SDK
// and exporter read it (endpoint, headers, timeout, sampler, batch and
// limits variables), with service.name DefaultServiceName unless the
// environment names one. The caller calls shutdown, which flushes what is
// buffered, at exit. Errors: an exporter or resource that cannot be built.
func NewProvider(ctx context.Context) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", DefaultServiceName)),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME win
		resource.WithTelemetrySDK(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME: %w", err)
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return p, p.Shutdown, nil
}

// Propagator returns the propagator of incoming and outgoing requests: W3C
// trace context (traceparent, tracestate) only; baggage is neither accepted
// nor sent.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// noMeters keeps otelhttp from recording metrics: Prometheus does that.
var noMeters = metricnoop.NewMeterProvider()

// Middleware returns HTTP middleware that continues the caller's trace
// (when its traceparent is valid) and wraps each request in a server span
// named "METHOD route", route being route(r), a template such as /graphql,
// never the raw path. A recorded span carries the method, the route and the
// response status, nothing else (no headers, no query string).
//
// It is a few lines rather than otelhttp's server handler, which costs
// about 7 µs and 37 allocations per request even when the request is not
// sampled: here an unsampled request costs the context extraction and a
// non-recording span, whose context still travels to Clerk so the caller's
// trace stays whole. Clerk calls use otelhttp (Transport).
func Middleware(tp trace.TracerProvider, prop propagation.TextMapPropagator, route func(*http.Request) string) func(http.Handler) http.Handler {
	tracer := tp.Tracer(instrumentationName)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			method := Method(r.Method)
			ctx, span := tracer.Start(ctx, method+" "+route(r), trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			if !span.IsRecording() {
				next.ServeHTTP(w, r.WithContext(ctx))
				return
			}
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r.WithContext(ctx))
			span.SetAttributes(
				attribute.String("http.request.method", method),
				attribute.String(AttrHTTPRoute, route(r)),
				attribute.Int("http.response.status_code", rec.status),
			)
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
		})
	}
}

// instrumentationName names the tracer of the server spans.
const instrumentationName = "github.com/orgusers/orgusers/internal/tracing"

// statusRecorder remembers the status a handler wrote. It unwraps, so
// http.ResponseController and the access log's writer still reach the
// connection.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote && code >= 200 {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Transport returns base wrapped so that each request is a client span
// named name(r) (an endpoint template such as
// "GET /organizations/{id}/memberships") and carries the span's
// traceparent to the server.
func Transport(base http.RoundTripper, tp trace.TracerProvider, prop propagation.TextMapPropagator, name func(*http.Request) string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(prop),
		otelhttp.WithMeterProvider(noMeters),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return name(r) }),
	)
}

// LoadSpans returns a snapshot-load hook for the cache: each load is a span
// "cache.load", child of the request that started it, carrying only
// whether it was a background refresh and the member count it loaded. A
// failed load has status Error described by its error code.
func LoadSpans(tp trace.TracerProvider) func(ctx context.Context, refresh bool) (context.Context, func(members int, err error)) {
	tr := tp.Tracer(InstrumentationName)
	return func(ctx context.Context, refresh bool) (context.Context, func(int, error)) {
		ctx, span := tr.Start(ctx, SpanCacheLoad, trace.WithAttributes(attribute.Bool(AttrCacheRefresh, refresh)))
		return ctx, func(members int, err error) {
			if err != nil {
				Fail(span, string(directory.ErrorCode(err)))
			} else {
				span.SetAttributes(attribute.Int(AttrCacheMembers, members))
			}
			span.End()
		}
	}
}

// Fail marks span as failed with code (an error code such as
// UPSTREAM_UNAVAILABLE, cut to 64 bytes) as its description and attribute;
// never an error message, which could hold what the caller sent.
func Fail(span trace.Span, code string) {
	if len(code) > maxErrorCodeBytes {
		code = code[:maxErrorCodeBytes]
	}
	code = strings.ToValidUTF8(code, "?")
	span.SetAttributes(attribute.String(AttrErrorCode, code))
	span.SetStatus(codes.Error, code)
}

// Method returns m when it is a standard HTTP method, else "HTTP" (as the
// semantic conventions name a span of an unknown method): the method is
// caller-chosen text.
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "HTTP"
}

// ShutdownTimeout bounds the final flush of buffered spans at exit.
const ShutdownTimeout = 5 * time.Second
