package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orgusers/orgusers/graph"
	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/tracing"
)

// clerkCall is one request the Clerk emulator received.
type clerkCall struct{ method, path, traceparent string }

// tracedStack is the real server against an emulator whose every request
// is recorded, with x's tracer provider.
type tracedStack struct {
	*stack
	mu    sync.Mutex
	calls []clerkCall
}

func newTracedStack(t *testing.T, x Extras) *tracedStack {
	t.Helper()
	emu, err := clerkemu.New(clerkemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &tracedStack{}
	emuHandler := emu.Handler()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.calls = append(ts.calls, clerkCall{r.Method, r.URL.Path, r.Header.Get("Traceparent")})
		ts.mu.Unlock()
		emuHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)
	vars := map[string]string{"CLERK_SECRET_KEY": emu.SecretKey(), "CLERK_API_URL": upstream.URL}
	if v, ok := os.LookupEnv("GRAPHQL_FAST_PATH"); ok { // as newStack
		vars["GRAPHQL_FAST_PATH"] = v
	}
	cfg, err := LoadConfig(nil, func(name string) string { return vars[name] })
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewApp(cfg, x, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	srv := httptest.NewServer(app.Handler)
	t.Cleanup(srv.Close)
	tokens, err := emu.DemoTokens(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ts.stack = &stack{emu: emu, emuURL: upstream.URL, app: app, url: srv.URL, tokens: tokens}
	return ts
}

// memberCalls returns the member-load calls Clerk received (memberships
// and users pages), leaving out the session verifier's key fetch.
func (ts *tracedStack) memberCalls() []clerkCall {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []clerkCall
	for _, c := range ts.calls {
		if strings.HasSuffix(c.path, "/memberships") || strings.HasSuffix(c.path, "/users") {
			out = append(out, c)
		}
	}
	return out
}

const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	// secretRole is a variable value no span may carry.
	secretRole  = "org:variable_value_never_traced"
	tracedQuery = `query Members($roles: [String!]) { orgUsers(first: 3, filter: {roles: $roles}) { totalCount } }`
)

// postTraced sends tracedQuery with a traceparent (when not empty) and
// returns the body.
func (ts *tracedStack) postTraced(t *testing.T, traceparent string) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": tracedQuery, "variables": map[string]any{"roles": []string{secretRole}}})
	req, _ := http.NewRequest(http.MethodPost, ts.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ts.tokens.Admin)
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(raw, []byte(`"totalCount":0`)) {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	return raw
}

// TestTracingSpanTree: a cold orgUsers request continuing the caller's
// trace is one span tree in that trace, down to each Clerk call, and Clerk
// receives the trace context; a warm one calls no Clerk; no span carries
// the token, a variable value or the query text.
func TestTracingSpanTree(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ts := newTracedStack(t, Extras{TracerProvider: tp})

	ts.postTraced(t, "00-"+callerTraceID+"-"+callerSpanID+"-01")
	spans := serverEnded(t, rec, 0)
	byName := map[string][]sdktrace.ReadOnlySpan{}
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
		byID[s.SpanContext().SpanID()] = s
		if got := s.SpanContext().TraceID().String(); got != callerTraceID {
			t.Errorf("span %q in trace %s, want the caller's %s", s.Name(), got, callerTraceID)
		}
	}
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d spans named %q, want 1; spans: %v", len(byName[name]), name, names(spans))
		}
		return byName[name][0]
	}
	parentOf := func(s sdktrace.ReadOnlySpan) string {
		if p, ok := byID[s.Parent().SpanID()]; ok {
			return p.Name()
		}
		return "remote " + s.Parent().SpanID().String()
	}
	server := one("POST /graphql")
	if server.SpanKind() != trace.SpanKindServer || !server.Parent().IsRemote() || server.Parent().SpanID().String() != callerSpanID {
		t.Errorf("server span: kind %v, parent %v (remote %v), want a server span under the caller's %s", server.SpanKind(), server.Parent().SpanID(), server.Parent().IsRemote(), callerSpanID)
	}
	op := one("query Members")
	want := map[string]string{
		"query Members":                       "POST /graphql",
		graph.SpanParseValidate:               "query Members",
		graph.SpanExecute:                     "query Members",
		tracing.SpanCacheLoad:                 graph.SpanExecute,
		"POST /graphql":                       "remote " + callerSpanID,
		"GET /organizations/{id}/memberships": tracing.SpanCacheLoad,
		"GET /users":                          tracing.SpanCacheLoad,
	}
	for name, parent := range want {
		for _, s := range byName[name] {
			if got := parentOf(s); got != parent {
				t.Errorf("span %q has parent %q, want %q", name, got, parent)
			}
		}
	}
	if a := attrs(op); a[graph.AttrOperationType] != "query" || a[graph.AttrOperationName] != "Members" {
		t.Errorf("operation span attributes %v", a)
	}
	load := one(tracing.SpanCacheLoad)
	if a := attrs(load); a[tracing.AttrCacheMembers] != "1200" || a[tracing.AttrCacheRefresh] != "false" {
		t.Errorf("cache.load attributes %v, want 1200 members, not a refresh", a)
	}
	one(graph.SpanParseValidate)
	fastPathOn := os.Getenv("GRAPHQL_FAST_PATH") == ""
	if a := attrs(one(graph.SpanExecute)); fastPathOn && a[graph.AttrFastPath] != "true" {
		t.Errorf("execute span attributes %v, want it marked as answered by the fast path", a)
	}
	// org_acme: 1,200 members, pages of 500.
	memberships, users := byName["GET /organizations/{id}/memberships"], byName["GET /users"]
	if len(memberships) != 3 || len(users) != 3 {
		t.Fatalf("Clerk spans: %d membership pages, %d user pages, want 3 and 3; spans: %v", len(memberships), len(users), names(spans))
	}
	clientIDs := map[string]bool{}
	for _, s := range append(slices.Clone(memberships), users...) {
		if s.SpanKind() != trace.SpanKindClient {
			t.Errorf("Clerk span %q is %v, want client", s.Name(), s.SpanKind())
		}
		clientIDs[s.SpanContext().SpanID().String()] = true
	}
	calls := ts.memberCalls()
	if len(calls) != 6 {
		t.Fatalf("Clerk received %d member calls, want 6: %v", len(calls), calls)
	}
	for _, c := range calls {
		parts := strings.Split(c.traceparent, "-")
		if len(parts) != 4 || parts[1] != callerTraceID || !clientIDs[parts[2]] {
			t.Errorf("Clerk call %s %s carried traceparent %q, want the caller's trace and one of the client spans", c.method, c.path, c.traceparent)
		}
	}
	noSecrets(t, spans, ts.tokens.Admin)

	// Warm: answered from the cache, no load, no Clerk span.
	before := len(rec.Ended())
	ts.postTraced(t, "")
	warm := serverEnded(t, rec, before)[before:]
	for _, s := range warm {
		if s.SpanKind() == trace.SpanKindClient || s.Name() == tracing.SpanCacheLoad {
			t.Errorf("warm request has span %q", s.Name())
		}
	}
	if !slices.Contains(names(warm), "POST /graphql") || !slices.Contains(names(warm), "query Members") {
		t.Errorf("warm request spans %v, want the server and operation spans", names(warm))
	}
	for _, sp := range warm {
		if sp.Name() == "query Members" && attrs(sp)[graph.AttrResponseCached] != "true" {
			t.Errorf("warm operation span attributes %v, want it marked as answered by the response cache", attrs(sp))
		}
	}
	if n := len(ts.memberCalls()); n != 6 {
		t.Errorf("Clerk received %d member calls after the warm request, want still 6", n)
	}
	noSecrets(t, warm, ts.tokens.Admin)

	// Refused in validation: the operation span says so with the code only.
	before = len(rec.Ended())
	if resp, raw := ts.graphql(t, ts.tokens.Admin, `query Bad { orgUsers(first: 1) { noSuchField } }`, nil); len(resp.Errors) == 0 {
		t.Fatalf("%s", raw)
	}
	refused := serverEnded(t, rec, before)[before:]
	var sawPrepare bool
	for _, sp := range refused {
		switch sp.Name() {
		case graph.SpanParseValidate:
			sawPrepare = true
			if sp.Status().Description != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("refused parse_validate status %+v", sp.Status())
			}
		case graph.SpanExecute:
			t.Error("a refused operation was executed")
		case graph.SpanOperationUnknown, "POST /graphql":
		default:
			t.Errorf("refused request has span %q", sp.Name())
		}
	}
	if !sawPrepare {
		t.Errorf("refused request spans %v, want %s", names(refused), graph.SpanParseValidate)
	}
	noSecrets(t, refused, ts.tokens.Admin)

	// Declined by the fast path (a bad cursor): one execute span, the
	// executor's run in it, with the error.
	before = len(rec.Ended())
	if resp, raw := ts.graphql(t, ts.tokens.Admin, `query Cursor { orgUsers(first: 1, after: "nope") { totalCount } }`, nil); len(resp.Errors) == 0 {
		t.Fatalf("%s", raw)
	}
	var executes []sdktrace.ReadOnlySpan
	for _, sp := range serverEnded(t, rec, before)[before:] {
		if sp.Name() == graph.SpanExecute {
			executes = append(executes, sp)
		}
	}
	if len(executes) != 1 || executes[0].Status().Description != "BAD_USER_INPUT" {
		t.Fatalf("declined request: %d execute spans, want 1 with BAD_USER_INPUT", len(executes))
	}
	if a := attrs(executes[0]); fastPathOn && a[graph.AttrFastPath] != "false" {
		t.Errorf("declined execute span attributes %v, want fast_path false", a)
	}
}

// TestTracingOff: with no tracer provider nothing is traced, whatever the
// global provider is, and Clerk receives no traceparent.
func TestTracingOff(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	global := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(global)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = global.Shutdown(context.Background()) })

	ts := newTracedStack(t, Extras{})
	ts.postTraced(t, "00-"+callerTraceID+"-"+callerSpanID+"-01")
	if spans := rec.Ended(); len(spans) != 0 {
		t.Errorf("tracing off recorded spans %v", names(spans))
	}
	calls := ts.memberCalls()
	if len(calls) != 6 {
		t.Fatalf("Clerk received %d member calls, want 6", len(calls))
	}
	for _, c := range calls {
		if c.traceparent != "" {
			t.Errorf("tracing off: Clerk call %s carried traceparent %q", c.path, c.traceparent)
		}
	}
}

// TestTracingUnsampled: a caller's unsampled trace records nothing and
// its context still reaches Clerk, unsampled.
func TestTracingUnsampled(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ts := newTracedStack(t, Extras{TracerProvider: tp})
	ts.postTraced(t, "00-"+callerTraceID+"-"+callerSpanID+"-00")
	if spans := rec.Ended(); len(spans) != 0 {
		t.Errorf("unsampled trace recorded spans %v", names(spans))
	}
	for _, c := range ts.memberCalls() {
		if parts := strings.Split(c.traceparent, "-"); len(parts) != 4 || parts[1] != callerTraceID || parts[3] != "00" {
			t.Errorf("Clerk call %s carried traceparent %q, want the caller's unsampled trace", c.path, c.traceparent)
		}
	}
}

func TestTracingEnabledByEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
		err  string
	}{
		{env: nil},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, want: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}},
		{env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "OTEL_TRACES_EXPORTER"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, err: "OTEL_TRACES_SAMPLER_ARG"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "sometimes"}, err: "OTEL_TRACES_SAMPLER"},
	} {
		vars := map[string]string{"CLERK_SECRET_KEY": "sk_test_abcdefghijkl"}
		for k, v := range tc.env {
			vars[k] = v
		}
		cfg, err := LoadConfig(nil, func(name string) string { return vars[name] })
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: err %v, want one naming %s", tc.env, err, tc.err)
		case tc.err == "" && (err != nil || cfg.Tracing != tc.want):
			t.Errorf("%v: Tracing %v err %v, want %v", tc.env, cfg.Tracing, err, tc.want)
		}
	}
	var out strings.Builder
	printUsage(&out)
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("-h does not mention %s", name)
		}
	}
}

// serverEnded returns the ended spans once one after the first skip is the
// server span: the client may read the answer before the server's handler
// returns and ends it.
func serverEnded(t *testing.T, rec *tracetest.SpanRecorder, skip int) []sdktrace.ReadOnlySpan {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		spans := rec.Ended()
		if slices.Contains(names(spans[skip:]), "POST /graphql") {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span ended; spans: %v", names(spans[skip:]))
		}
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name()
	}
	return out
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// noSecrets fails when a span's name or attribute holds the token, the
// variable value or any of the query text.
func noSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan, token string) {
	t.Helper()
	for _, s := range spans {
		for _, v := range append([]string{s.Name()}, values(s)...) {
			for _, secret := range []string{token, "Bearer", secretRole, "orgUsers(", "totalCount", "$roles"} {
				if strings.Contains(v, secret) {
					t.Errorf("span %q carries %q: %q", s.Name(), secret, v)
				}
			}
		}
	}
}

func values(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, kv := range s.Attributes() {
		out = append(out, fmt.Sprintf("%s=%s", kv.Key, kv.Value.Emit()))
	}
	for _, e := range s.Events() {
		out = append(out, e.Name)
		for _, kv := range e.Attributes {
			out = append(out, kv.Value.Emit())
		}
	}
	return append(out, s.Status().Description)
}
