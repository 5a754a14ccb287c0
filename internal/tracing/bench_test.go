package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// dropSpans is an exporter that drops every span.
type dropSpans struct{}

func (dropSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (dropSpans) Shutdown(context.Context) error                             { return nil }

// BenchmarkMiddleware measures the server span's cost per request around
// an empty handler: off, 1% sampled, every request sampled.
func BenchmarkMiddleware(b *testing.B) {
	empty := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	route := func(*http.Request) string { return "/graphql" }
	for _, c := range []struct {
		name  string
		ratio float64
	}{{"off", -1}, {"sampled_1pct", 0.01}, {"sampled_100pct", 1}} {
		h := http.Handler(empty)
		if c.ratio >= 0 {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(dropSpans{}), sdktrace.WithSampler(sdktrace.TraceIDRatioBased(c.ratio)))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			h = Middleware(tp, Propagator(), route)(empty)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
