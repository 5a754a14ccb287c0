// Package metrics is the service's Prometheus instrumentation, wired in at
// the edges only: an HTTP middleware, an observer of GraphQL operations, an
// observer of the Clerk transport, an observer of webhook deliveries and a
// collector reading the snapshot cache's counters on scrape.
//
// It imports nothing of ours: the graph, clerksource and webhook packages
// declare small observer interfaces that the types here satisfy, and
// server.go hands them over. Every label is a bounded set: route
// templates, standard methods, status codes, error codes, Clerk endpoint
// templates, known webhook event types, and at most MaxOperationNames
// caller-chosen operation names (later ones are OtherLabel).
//
// Build one Metrics per app with New; its Registry is its own, never the
// global default, so several apps (tests) can live in one process.
package metrics

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "orgusers"

// OtherLabel is the label value of anything outside a bounded set: an
// operation name past the first MaxOperationNames, an unknown Clerk
// endpoint, an unknown webhook event type.
const OtherLabel = "other"

// AnonymousOperation is the name label of an operation without a name. It
// cannot be a GraphQL name, so it never collides with one.
const AnonymousOperation = "(anonymous)"

// MaxOperationNames is how many distinct GraphQL operation names keep their
// own label; later ones count as OtherLabel.
const MaxOperationNames = 100

// maxErrorCodes bounds the distinct GraphQL error codes labelled; the
// service answers a dozen or so.
const maxErrorCodes = 50

// Metrics holds one app's registry and its metrics. Its methods and the
// observers it hands out are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	gqlOperations *prometheus.CounterVec
	gqlNames      *prometheus.CounterVec
	names         *Bounded
	codes         *Bounded

	clerkRequests    *prometheus.CounterVec
	clerkDuration    *prometheus.HistogramVec
	clerkRateLimited prometheus.Counter
	clerkLimiterWait prometheus.Histogram
	clerkBreaker     prometheus.Gauge

	webhookDeliveries *prometheus.CounterVec
}

// New returns a Metrics with a fresh registry holding every metric of this
// package plus the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		names: NewBounded(MaxOperationNames, maxOperationNameLen),
		codes: NewBounded(maxErrorCodes, maxCodeLen),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route template, method (OTHER for non-standard ones) and status code.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		gqlOperations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "graphql_operations_total",
			Help: "GraphQL requests answered, by operation type (query, mutation, subscription, unknown) and code (OK or the first extensions.code of the answer).",
		}, []string{"type", "code"}),
		gqlNames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "graphql_operation_names_total",
			Help: "GraphQL operations answered, by operation name: the first 100 distinct names keep their own label, later ones count as \"other\", unnamed ones as \"(anonymous)\".",
		}, []string{"name"}),
		clerkRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "clerk_requests_total",
			Help: "HTTP requests (attempts, retries included) sent to Clerk's Backend API, by endpoint template and status code (\"error\" when no response came).",
		}, []string{"endpoint", "status"}),
		clerkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "clerk_request_duration_seconds",
			Help:    "Time from sending a request to Clerk to its response headers, by endpoint template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"endpoint"}),
		clerkRateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "clerk_rate_limited_total",
			Help: "Clerk answers with status 429 Too Many Requests.",
		}),
		clerkLimiterWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "clerk_limiter_wait_seconds",
			Help:    "Time a request to Clerk waited for the process-wide rate limiter (CLERK_RATE_LIMIT).",
			Buckets: []float64{0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		clerkBreaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "clerk_breaker_state",
			Help: "State of the circuit breaker in front of Clerk: 0 closed, 1 half-open, 2 open.",
		}),
		webhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_deliveries_total",
			Help: "Clerk webhook deliveries, by event type (the types the service handles, else \"other\") and outcome (applied, ignored, replayed, refused, failed).",
		}, []string{"type", "outcome"}),
	}
	m.reg.MustRegister(
		m.httpRequests, m.httpDuration,
		m.gqlOperations, m.gqlNames,
		m.clerkRequests, m.clerkDuration, m.clerkRateLimited, m.clerkLimiterWait, m.clerkBreaker,
		m.webhookDeliveries,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the app's registry, for tests and for registering more
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus's exposition formats; server.go
// mounts it at GET /metrics on METRICS_ADDR's listener only.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Middleware returns HTTP middleware counting and timing each request by
// route (route(r), called after next returns; "" counts as OtherLabel),
// method and status. server.go wraps its handler with it, giving it the
// access log's route function (accesslog.PathRoutes). A panic in next is
// counted as status 500 and re-raised.
func (m *Metrics) Middleware(route func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			panicked := true
			defer func() {
				status := sw.status
				switch {
				case panicked:
					status = http.StatusInternalServerError
				case status == 0:
					status = http.StatusOK
				}
				name := ""
				if route != nil {
					name = route(r)
				}
				if name == "" {
					name = OtherLabel
				}
				method := standardMethod(r.Method)
				m.httpRequests.WithLabelValues(name, method, statusLabel(status)).Inc()
				m.httpDuration.WithLabelValues(name, method).Observe(time.Since(start).Seconds())
			}()
			next.ServeHTTP(sw, r)
			panicked = false
		})
	}
}

// GraphQL returns the observer of GraphQL operations (graph.Observer).
func (m *Metrics) GraphQL() *GraphQLObserver { return &GraphQLObserver{m: m} }

// GraphQLObserver counts GraphQL operations; graph's transport calls it once
// per /graphql request.
type GraphQLObserver struct{ m *Metrics }

// ObserveOperation counts one answered GraphQL request. typ other than
// query, mutation or subscription counts as "unknown"; code "" as "OK";
// name is counted only for a known typ ("" as AnonymousOperation), and
// bounded to the first MaxOperationNames distinct names.
func (o *GraphQLObserver) ObserveOperation(typ, name, code string) {
	switch typ {
	case "query", "mutation", "subscription":
		if name == "" {
			name = AnonymousOperation
		} else {
			name = o.m.names.Label(name)
		}
		o.m.gqlNames.WithLabelValues(name).Inc()
	default:
		typ = "unknown"
	}
	if code == "" {
		code = "OK"
	} else if code != "OK" {
		code = o.m.codes.Label(code)
	}
	o.m.gqlOperations.WithLabelValues(typ, code).Inc()
}

// Clerk returns the observer of the Clerk transport (clerksource.Observer).
func (m *Metrics) Clerk() *ClerkObserver {
	return &ClerkObserver{m: m}
}

// ClerkObserver counts the Clerk transport's requests, limiter waits and
// breaker states.
type ClerkObserver struct{ m *Metrics }

// ObserveRequest counts one attempt sent to Clerk: method, path relative
// to the API base (e.g. "/users/user_1"), status (0 when no response came)
// and the time to the response headers. The path is reduced to its
// endpoint template by ClerkEndpoint.
func (o *ClerkObserver) ObserveRequest(method, path string, status int, d time.Duration) {
	endpoint := ClerkEndpoint(method, path)
	s := "error"
	if status > 0 {
		s = statusLabel(status)
	}
	o.m.clerkRequests.WithLabelValues(endpoint, s).Inc()
	o.m.clerkDuration.WithLabelValues(endpoint).Observe(d.Seconds())
	if status == http.StatusTooManyRequests {
		o.m.clerkRateLimited.Inc()
	}
}

// ObserveLimiterWait records how long one request waited for the rate limiter.
func (o *ClerkObserver) ObserveLimiterWait(d time.Duration) {
	o.m.clerkLimiterWait.Observe(d.Seconds())
}

// ObserveBreakerState records the breaker's new state: 0 closed, 1
// half-open, 2 open.
func (o *ClerkObserver) ObserveBreakerState(state int) {
	o.m.clerkBreaker.Set(float64(state))
}

// Webhooks returns the observer of webhook deliveries (webhook.Observer).
func (m *Metrics) Webhooks() *WebhookObserver { return &WebhookObserver{m: m} }

// WebhookObserver counts webhook deliveries.
type WebhookObserver struct{ m *Metrics }

// ObserveDelivery counts one delivery. The webhook handler bounds
// eventType to the types it knows plus "other"; an outcome other than
// applied, ignored, replayed, refused or failed counts as failed.
func (o *WebhookObserver) ObserveDelivery(eventType, outcome string) {
	switch outcome {
	case "applied", "ignored", "replayed", "refused", "failed":
	default:
		outcome = "failed"
	}
	o.m.webhookDeliveries.WithLabelValues(eventType, outcome).Inc()
}

// statusLabel formats an HTTP status; anything outside 100..599 is "other".
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return OtherLabel
	}
	return strconv.Itoa(code)
}

// standardMethod returns m when it is a standard method, else "OTHER": the
// method is caller-chosen text.
func standardMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusWriter records the status of a response. It keeps http.Flusher
// and, through Unwrap, http.ResponseController's other abilities.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the wrapped writer's io.ReaderFrom (sendfile) when it has one.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

// Flush sends buffered data, as http.Flusher.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
