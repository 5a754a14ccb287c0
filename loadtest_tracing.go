package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/orgusers/orgusers/internal/loadtest"
)

// discardSpans is a span exporter that drops what it is given: the load
// test measures what tracing costs the server, not a collector.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// tracingCost measures the cached query of off (the tracing-off server) on
// servers built from cfg with tracing at 1% and 100% sampling (spans batched
// into an exporter that drops them), each interleaved with off, and prints
// the ratios.
func tracingCost(ctx context.Context, out io.Writer, client *http.Client, cfg Config, logger *slog.Logger, off loadtest.Target, token, query string, phase func(loadtest.Target) loadtest.Result) error {
	fmt.Fprintf(out, "Tracing cost (cached orgUsers(first:100); spans batched into an exporter that drops them):\n")
	off.Name = "  tracing off"
	for _, c := range []struct {
		name  string
		ratio float64
	}{{"1%", 0.01}, {"100%", 1}} {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(discardSpans{}),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.ratio))),
		)
		app, err := NewApp(cfg, Extras{TracerProvider: tp}, logger)
		if err != nil {
			return err
		}
		u, stop, err := serveLoopback(app.Handler)
		if err != nil {
			app.Close()
			return err
		}
		if status, _, err := post(client, u, token, query); err != nil || status != 200 {
			stop()
			app.Close()
			return fmt.Errorf("warming the tracing server: %d %v", status, err)
		}
		on := off
		on.Name, on.URL = "graphql cached, tracing "+c.name+" sampled", u+"/graphql"
		rOn, rOff, err := interleave(func() (loadtest.Result, error) { return phase(on), nil }, func() (loadtest.Result, error) { return phase(off), nil })
		stop()
		app.Close()
		_ = tp.Shutdown(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s\n  %s\n  ratio %.1f%% (cost %.1f%%)\n", rOn, rOff, 100*rOn.RPS()/rOff.RPS(), 100-100*rOn.RPS()/rOff.RPS())
	}
	fmt.Fprintf(out, "  (target: tracing at 1%% costs under 10%%)\n\n")
	return nil
}
