// Command orgusers serves the org-users API: GraphQL (POST/GET /graphql) and
// the legacy REST endpoint (GET /api/organization/users) over Clerk.
//
//	go run .                 serve against Clerk (CLERK_SECRET_KEY required)
//	go run . -demo           serve against an in-process Clerk emulator, no account needed
//	go run . clerk-emulator  run the Clerk emulator alone
//	go run . loadtest        measure cold loads and warm throughput on loopback (see BENCHMARKS.md)
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orgusers/orgusers/graph"
	"github.com/redis/go-redis/v9"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/browser"
	"github.com/orgusers/orgusers/internal/cache"
	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/clerksource"
	"github.com/orgusers/orgusers/internal/dashboard"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/fleet"
	"github.com/orgusers/orgusers/internal/graphiql"
	"github.com/orgusers/orgusers/internal/live"
	"github.com/orgusers/orgusers/internal/metrics"
	"github.com/orgusers/orgusers/internal/rest"
	"github.com/orgusers/orgusers/internal/tracing"
	"github.com/orgusers/orgusers/internal/webhook"
)

// secretKeyForm is the shape of a Clerk secret key.
var secretKeyForm = regexp.MustCompile(`^sk_(live|test)_[A-Za-z0-9_-]{8,}$`)

// DefaultAPIURL is Clerk's Backend API.
const DefaultAPIURL = "https://api.clerk.com"

// WebhookPath is where Clerk delivers webhooks, when
// CLERK_WEBHOOK_SIGNING_SECRET is set.
const WebhookPath = "/webhooks/clerk"

// maxBodyBytes bounds a GraphQL request body.
const maxBodyBytes = 1 << 20

// exampleQuery is what GraphiQL opens with in demo mode.
const exampleQuery = `# Members of your active organization. Try filters such as
#   filter: {metadata: [{path: "department", equals: "Engineering"}]}
#   filter: {signInStatus: NEVER_SIGNED_IN}
query Members {
  orgUsers(first: 10, orderBy: {field: EMAIL, direction: ASC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      email
      firstName
      lastName
      role
      lastSignInAt
      publicMetadata
    }
  }
}
`

// Config is the server's configuration, read from the environment by LoadConfig.
type Config struct {
	Port int
	// ListenAddr is where the server listens (LISTEN_ADDR, else :PORT);
	// -demo keeps its port but always listens on 127.0.0.1.
	ListenAddr string
	// MetricsAddr, when set, is where a separate listener serves Prometheus
	// metrics at GET /metrics (METRICS_ADDR); empty: no metrics at all.
	MetricsAddr string
	// ShutdownTimeout bounds the draining of in-flight requests at SIGTERM.
	ShutdownTimeout time.Duration
	// Version asks for the version to be printed (-version).
	Version           bool
	SecretKey         string
	APIURL            string // including /v1
	AuthorizedParties []string
	JWTKeyPEM         string
	Introspection     bool
	// FastPath answers orgUsers and orgUser queries without gqlgen's
	// executor, identically (GRAPHQL_FAST_PATH, on by default).
	FastPath      bool
	CacheTTL      time.Duration
	CacheMaxStale time.Duration
	CacheMaxOrgs  int
	CacheMaxBytes int64
	RateLimit     int
	// SubscriptionsPerCaller and Subscriptions bound the open
	// orgUsersChanged subscriptions of one caller and of the process
	// (SUBSCRIPTIONS_MAX_PER_CALLER, SUBSCRIPTIONS_MAX).
	SubscriptionsPerCaller, Subscriptions int
	// SubscriptionMaxLag is how far behind a subscriber may fall before
	// it is closed with SLOW_CONSUMER (SUBSCRIPTIONS_MAX_LAG).
	SubscriptionMaxLag time.Duration
	// RedisURL, when set, turns the fleet tier on (REDIS_URL): replicas
	// share snapshots, loads, webhook changes and the Clerk budget through
	// Redis (internal/fleet). RedisKeyPrefix starts every key (REDIS_KEY_PREFIX).
	RedisURL, RedisKeyPrefix string
	// Limits bound each GraphQL operation before it runs (GRAPHQL_MAX_*).
	Limits graph.Limits
	// LogFormat (json or text) and LogLevel shape the logger (LOG_FORMAT,
	// LOG_LEVEL); json by default, text in -demo.
	LogFormat, LogLevel string
	// TrustedDocuments, when set, are the only GraphQL operations that run
	// (GRAPHQL_TRUSTED_DOCUMENTS, an Apollo persisted query manifest).
	TrustedDocuments *graph.TrustedDocuments
	// CORSAllowedOrigins are the exact browser origins that may call the
	// API cross-origin, and whose cookie-authenticated requests pass the
	// CSRF check (CORS_ALLOWED_ORIGINS); empty: no CORS headers at all.
	CORSAllowedOrigins []string
	// WebhookSecrets verify Clerk's webhook deliveries
	// (CLERK_WEBHOOK_SIGNING_SECRET); none: no webhook endpoint.
	WebhookSecrets [][]byte
	// Tracing is whether the OTEL_* environment turns OpenTelemetry
	// tracing on (see tracing.Enabled); run then builds the OTLP/HTTP
	// exporter, which reads the rest of the OTEL_* variables itself.
	Tracing  bool
	Demo     bool
	DemoData string
}

// LoadConfig reads the configuration from getenv and the command-line args.
// Every bad value is an error naming the variable or flag.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("orgusers", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	demo := fs.Bool("demo", false, "serve against an in-process Clerk emulator with generated data (no Clerk account needed)")
	demoData := fs.String("demo-data", "", "with -demo: load the emulator's dataset from this JSON file")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%v (flags: -demo, -demo-data FILE, -version, -h; subcommands: clerk-emulator, loadtest)", err)
	}
	if *version {
		return Config{Version: true}, nil
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (flags: -demo, -demo-data FILE; subcommands: clerk-emulator, loadtest)", fs.Arg(0))
	}
	c := Config{Demo: *demo, DemoData: *demoData}
	if c.DemoData != "" && !c.Demo {
		return Config{}, errors.New("-demo-data needs -demo")
	}
	var err error
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if c.Port, err = intEnv(env, "PORT", 8080, 0, 65535); err != nil {
		return Config{}, err
	}
	c.ListenAddr = net.JoinHostPort("", strconv.Itoa(c.Port))
	if a := env("LISTEN_ADDR"); a != "" {
		host, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			return Config{}, fmt.Errorf("LISTEN_ADDR: %q is not host:port, such as :8080 or 127.0.0.1:8080", a)
		}
		c.ListenAddr = net.JoinHostPort(host, port)
	}
	if a := env("METRICS_ADDR"); a != "" {
		host, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			return Config{}, fmt.Errorf("METRICS_ADDR: %q is not host:port, such as :9090 or 127.0.0.1:9090", a)
		}
		c.MetricsAddr = net.JoinHostPort(host, port)
		if _, lport, _ := net.SplitHostPort(c.ListenAddr); port != "0" && port == lport {
			return Config{}, fmt.Errorf("METRICS_ADDR: %q uses the API's port %s: metrics need a listener of their own", a, port)
		}
	}
	if c.ShutdownTimeout, err = durationEnv(env, "SHUTDOWN_TIMEOUT", 20*time.Second); err != nil {
		return Config{}, err
	}
	c.SecretKey = env("CLERK_SECRET_KEY")
	if c.SecretKey != "" && !secretKeyForm.MatchString(c.SecretKey) {
		return Config{}, errors.New("CLERK_SECRET_KEY: not a Clerk secret key: it starts with sk_live_ or sk_test_ followed by letters and digits (Clerk dashboard, API keys)")
	}
	if !c.Demo && c.SecretKey == "" {
		return Config{}, errors.New("CLERK_SECRET_KEY is not set: set it to your Clerk instance's secret key (sk_live_... or sk_test_...), or run with -demo to try the server against a local Clerk emulator")
	}
	raw := env("CLERK_API_URL")
	if raw == "" {
		raw = DefaultAPIURL
	}
	if c.APIURL, err = NormalizeAPIURL(raw); err != nil {
		return Config{}, fmt.Errorf("CLERK_API_URL: %v", err)
	}
	for _, p := range strings.Split(env("CLERK_AUTHORIZED_PARTIES"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			// azp is compared exactly: only a bare origin (scheme://host[:port]) can ever match.
			if u, err := url.Parse(p); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return Config{}, fmt.Errorf("CLERK_AUTHORIZED_PARTIES: %q is not an origin such as https://app.example.com (scheme and host only, no path or trailing slash)", p)
			}
			c.AuthorizedParties = append(c.AuthorizedParties, p)
		}
	}
	c.JWTKeyPEM = getenv("CLERK_JWT_KEY")
	if c.Introspection, err = boolEnv(env, "GRAPHQL_INTROSPECTION", false); err != nil {
		return Config{}, err
	}
	if c.FastPath, err = fastPathEnv(env("GRAPHQL_FAST_PATH")); err != nil {
		return Config{}, err
	}
	if c.CacheTTL, err = durationEnv(env, "CACHE_TTL", cache.DefaultTTL); err != nil {
		return Config{}, err
	}
	if c.CacheMaxStale, err = durationEnv(env, "CACHE_MAX_STALE", cache.DefaultMaxStale); err != nil {
		return Config{}, err
	}
	if c.CacheMaxOrgs, err = intEnv(env, "CACHE_MAX_ORGS", cache.DefaultMaxOrgs, 1, 1<<20); err != nil {
		return Config{}, err
	}
	if c.CacheMaxBytes, err = bytesEnv(env, "CACHE_MAX_BYTES", cache.DefaultMaxBytes); err != nil {
		return Config{}, err
	}
	if c.RateLimit, err = intEnv(env, "CLERK_RATE_LIMIT", 900, 1, 1<<20); err != nil {
		return Config{}, err
	}
	if c.SubscriptionsPerCaller, err = intEnv(env, "SUBSCRIPTIONS_MAX_PER_CALLER", live.DefaultMaxPerPrincipal, 1, 1000); err != nil {
		return Config{}, err
	}
	if c.Subscriptions, err = intEnv(env, "SUBSCRIPTIONS_MAX", live.DefaultMaxTotal, 1, 1<<20); err != nil {
		return Config{}, err
	}
	if c.SubscriptionMaxLag, err = durationEnv(env, "SUBSCRIPTIONS_MAX_LAG", live.DefaultMaxLag); err != nil {
		return Config{}, err
	}
	if c.RedisURL = env("REDIS_URL"); c.RedisURL != "" {
		if err := fleet.ParseURL(c.RedisURL); err != nil {
			// The URL may hold a password: the error names the variable, not the value.
			return Config{}, errors.New("REDIS_URL: not a Redis URL such as redis://host:6379/0, rediss://user:password@host:6380/0, a cluster redis://host1:6379?addr=host2:6379 or a Sentinel redis://sentinel1:26379?master_name=mymaster")
		}
	}
	c.RedisKeyPrefix = env("REDIS_KEY_PREFIX")
	if c.RedisKeyPrefix == "" {
		c.RedisKeyPrefix = fleet.DefaultPrefix
	}
	for _, l := range []struct {
		name    string
		v       *int
		def, lo int
		hi      int
	}{
		{"GRAPHQL_MAX_DEPTH", &c.Limits.MaxDepth, graph.DefaultMaxDepth, 1, 100},
		{"GRAPHQL_MAX_ALIASES", &c.Limits.MaxAliases, graph.DefaultMaxAliases, 1, 10_000},
		{"GRAPHQL_MAX_DIRECTIVES", &c.Limits.MaxDirectives, graph.DefaultMaxDirectives, 1, 10_000},
		{"GRAPHQL_MAX_FIELDS", &c.Limits.MaxFields, graph.DefaultMaxFields, 1, 100_000},
		{"GRAPHQL_MAX_FIELD_REPEATS", &c.Limits.MaxFieldRepeats, graph.DefaultMaxFieldRepeats, 1, 1_000},
		{"GRAPHQL_MAX_COST", &c.Limits.MaxCost, graph.DefaultMaxCost, 1, 1 << 40},
		{"GRAPHQL_MAX_TOKENS", &c.Limits.MaxTokens, graph.DefaultMaxTokens, 10, 1 << 20},
		{"GRAPHQL_MAX_QUERY_BYTES", &c.Limits.MaxQueryBytes, graph.DefaultMaxQueryBytes, 256, maxBodyBytes / 2},
		{"GRAPHQL_MAX_VALUE_DEPTH", &c.Limits.MaxValueDepth, graph.DefaultMaxValueDepth, 1, graph.MaxJSONDepth},
	} {
		if *l.v, err = intEnv(env, l.name, l.def, l.lo, l.hi); err != nil {
			return Config{}, err
		}
	}
	if path := env("GRAPHQL_TRUSTED_DOCUMENTS"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return Config{}, fmt.Errorf("GRAPHQL_TRUSTED_DOCUMENTS: %v", err)
		}
		c.TrustedDocuments, err = graph.ParseTrustedDocuments(f)
		f.Close()
		if err != nil {
			return Config{}, fmt.Errorf("GRAPHQL_TRUSTED_DOCUMENTS %s: %v", path, err)
		}
	}
	if c.CORSAllowedOrigins, err = browser.ParseOrigins(getenv(browser.EnvAllowedOrigins)); err != nil {
		return Config{}, err
	}
	if raw := env("CLERK_WEBHOOK_SIGNING_SECRET"); raw != "" {
		if c.WebhookSecrets, err = webhook.ParseSecrets(raw); err != nil {
			return Config{}, fmt.Errorf("CLERK_WEBHOOK_SIGNING_SECRET: %v", err)
		}
	}
	if c.Tracing, err = tracing.Enabled(getenv); err != nil {
		return Config{}, err
	}
	if c.Demo {
		c.Introspection = true
	}
	if c.LogFormat = env("LOG_FORMAT"); c.LogFormat == "" {
		c.LogFormat = "json"
		if c.Demo {
			c.LogFormat = "text"
		}
	}
	if c.LogLevel = env("LOG_LEVEL"); c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if _, err := accesslog.NewLogger(c.LogFormat, c.LogLevel, io.Discard); err != nil {
		return Config{}, err
	}
	return c, nil
}

// NormalizeAPIURL returns the Backend API base with /v1 appended when raw has
// no path, as Clerk's other SDKs do: "https://api.clerk.com" and
// "http://127.0.0.1:4000/v1" both work.
func NormalizeAPIURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1"
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u.String(), nil
}

func intEnv(env func(string) string, name string, def, lo, hi int) (int, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: %q is not a whole number in %d..%d", name, v, lo, hi)
	}
	return n, nil
}

// bytesEnv reads a size such as 268435456, 512KiB, 256MiB or 2GiB.
func bytesEnv(env func(string) string, name string, def int64) (int64, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	num, mult := v, int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(v, suffix)), m
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%s: %q is not a size such as 268435456, 512KiB, 256MiB or 2GiB (at most 1 TiB)", name, v)
	}
	return n * mult, nil
}

// fastPathEnv reads GRAPHQL_FAST_PATH: on unless off (or false, 0).
func fastPathEnv(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "on", "true", "1":
		return true, nil
	case "off", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("GRAPHQL_FAST_PATH: %q is not on or off", v)
}

func boolEnv(env func(string) string, name string, def bool) (bool, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not true or false", name, v)
	}
	return b, nil
}

func durationEnv(env func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration such as 30s or 10m", name, v)
	}
	return d, nil
}

// App is the wired server: its HTTP handler and what must be closed.
type App struct {
	Handler http.Handler
	// Metrics serves the Prometheus metrics (GET /metrics on its own
	// listener); nil when METRICS_ADDR is unset.
	Metrics http.Handler
	Cache   *cache.Cache
	// Live is the hub of the orgUsersChanged subscriptions.
	Live *live.Hub
	// Fleet is the Redis tier behind the cache; nil without REDIS_URL.
	Fleet   *fleet.Source
	closers []func()
	// draining makes /readyz answer 503 from the moment shutdown begins.
	draining atomic.Bool
}

// Drain makes /readyz answer 503 "draining", so load balancers stop
// sending requests before the server stops accepting them.
func (a *App) Drain() { a.draining.Store(true) }

// Close stops background work.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// Extras are the demo-only parts of the wiring.
type Extras struct {
	// DemoTokens, when non-nil, is served at GET /demo/tokens and prefilled
	// in GraphiQL and the dashboard.
	DemoTokens *clerkemu.DemoTokens
	// HTTPClient is used for every Clerk call; nil means a default client.
	HTTPClient *http.Client
	// DisableResponseCache turns the GraphQL response cache off (the load
	// test measures gqlgen's execution with it).
	DisableResponseCache bool
	// CacheClock, when set, is the snapshot cache's clock (tests move it).
	CacheClock func() time.Time
	// TracerProvider, when set, traces every request: server spans, GraphQL
	// operations, snapshot loads and Clerk calls. run sets it from the
	// OTEL_* environment; tests and the load test pass their own. Nil:
	// nothing is traced and no traceparent is sent to Clerk.
	TracerProvider trace.TracerProvider
	// Propagator carries trace context in from callers and out to Clerk
	// when TracerProvider is set; nil means W3C trace context.
	Propagator propagation.TextMapPropagator
}

// NewApp wires the layers: auth -> transports -> directory service -> cache -> Clerk.
func NewApp(cfg Config, x Extras, logger *slog.Logger) (*App, error) {
	verifier, err := auth.NewVerifier(auth.Config{
		APIURL:            cfg.APIURL,
		SecretKey:         cfg.SecretKey,
		HTTPClient:        x.HTTPClient,
		JWTKeyPEM:         cfg.JWTKeyPEM,
		AuthorizedParties: cfg.AuthorizedParties,
		Logger:            logger,
	})
	if err != nil {
		if cfg.JWTKeyPEM != "" {
			return nil, fmt.Errorf("CLERK_JWT_KEY or session verification settings: %w", err)
		}
		return nil, fmt.Errorf("session verification: %w", err)
	}
	// Metrics exist only when they are served: with METRICS_ADDR unset no
	// observer is wired and nothing is measured.
	var m *metrics.Metrics
	if cfg.MetricsAddr != "" {
		m = metrics.New()
	}
	ccfg := clerksource.Config{
		APIURL:     cfg.APIURL,
		SecretKey:  cfg.SecretKey,
		HTTPClient: x.HTTPClient,
		RateLimit:  cfg.RateLimit,
		Logger:     logger,
	}
	if m != nil {
		ccfg.Observer = m.Clerk()
	}
	tp, prop := x.TracerProvider, x.Propagator
	if tp != nil && prop == nil {
		prop = tracing.Propagator()
	}
	if tp != nil {
		name := clerkSpanName(cfg.APIURL)
		ccfg.WrapAttempt = func(rt http.RoundTripper) http.RoundTripper { return tracing.Transport(rt, tp, prop, name) }
	}
	// The fleet tier (REDIS_URL): a second cache tier in Redis behind the
	// near cache, one load per organization for the whole fleet, webhook
	// changes fanned out to every replica and CLERK_RATE_LIMIT as the
	// fleet's budget. Without Redis, or while it is unreachable, each
	// process works on its own as before.
	var conn *fleet.Redis
	var rdb redis.UniversalClient
	if cfg.RedisURL != "" {
		if rdb, err = fleet.NewClient(cfg.RedisURL, 0); err != nil {
			return nil, errors.New("REDIS_URL: not a Redis URL")
		}
		conn = fleet.Connect(fleet.Config{
			Client: rdb, Prefix: cfg.RedisKeyPrefix, TTL: cfg.CacheTTL, MaxStale: cfg.CacheMaxStale, Logger: logger,
		})
		ccfg.Limiter = conn.Limiter(cfg.RateLimit)
	}
	repo, err := clerksource.New(ccfg)
	if err != nil {
		if rdb != nil {
			_ = rdb.Close()
		}
		return nil, fmt.Errorf("clerk repository: %w", err)
	}
	var source directory.Source = repo
	var shared *fleet.Source
	if conn != nil {
		shared = conn.Source(repo)
		source = shared
		logger.Info("fleet tier on: snapshots, loads, webhook changes and the Clerk budget shared through Redis",
			"redis", redactedRedis(cfg.RedisURL), "key_prefix", cfg.RedisKeyPrefix)
	}
	ccache := cache.Config{
		TTL: cfg.CacheTTL, MaxStale: cfg.CacheMaxStale, MaxOrgs: cfg.CacheMaxOrgs, MaxBytes: cfg.CacheMaxBytes, Logger: logger, Now: x.CacheClock,
		Profiles: repo,
	}
	if tp != nil {
		ccache.OnLoad = tracing.LoadSpans(tp)
	}
	// A snapshot from Redis may have been loaded by another replica a
	// while ago: it is fresh for what is left of CACHE_TTL, not a whole one.
	ccache.AgeFromSnapshot = shared != nil
	// The live subscriptions follow every snapshot the cache installs:
	// with the fleet tier, the changes other replicas publish too.
	var hub *live.Hub
	ccache.OnSnapshot = func(orgID string, snap *directory.Snapshot) { hub.Observe(orgID, snap) }
	snapshots := cache.New(source, ccache)
	hub = live.NewHub(snapshots, live.Config{MaxPerPrincipal: cfg.SubscriptionsPerCaller, MaxTotal: cfg.Subscriptions, MaxLag: cfg.SubscriptionMaxLag, Logger: logger})
	if m != nil {
		m.RegisterCache(func() metrics.CacheStats {
			st := snapshots.Stats()
			return metrics.CacheStats{
				Hits: st.Hits, Misses: st.Misses, StaleServed: st.StaleServed, Loads: st.Loads,
				Refreshes: st.Refreshes, Errors: st.Errors, Evictions: st.Evictions, Patches: st.Patches,
				Entries: st.Entries, Bytes: snapshots.SizeBytes(),
			}
		})
	}
	if m != nil {
		m.RegisterLive(func() metrics.LiveStats {
			st := hub.Stats()
			return metrics.LiveStats{Subscribers: st.Subscribers, Events: st.Events, SlowClosed: st.SlowClosed, Diffs: st.Diffs}
		})
	}
	if m != nil && shared != nil {
		m.RegisterFleet(func() metrics.FleetStats {
			st := shared.Stats()
			return metrics.FleetStats{
				Up: shared.Up(), Hits: st.Hits, Loads: st.Loads, Waits: st.Waits, Fallbacks: st.Fallbacks,
				Stored: st.Stored, Patches: st.Patches, Conflicts: st.Conflicts,
			}
		})
	}
	svc := &directory.Service{Source: snapshots}
	// A bulk call stops before the server's 60 s WriteTimeout would cut its
	// answer; the members it did not reach are SKIPPED (run it again: what
	// was done is UNCHANGED). Its writes share the Clerk rate limiter.
	// Invitations are read from Clerk at most every 10 s per organization
	// and reloaded after this service's own invites and revokes.
	invitations := &directory.Invitations{Store: repo, Members: snapshots, Deadline: 50 * time.Second, Logger: logger}

	// Changes (webhooks, admin writes) go to the near cache and, with the
	// fleet tier, to Redis and the other replicas, whose near caches and
	// invitation lists apply them in turn. The fleet goes first: it finds
	// the organizations holding a user in the near cache, before a
	// deletion removes them there.
	var memberSink webhook.Sink = snapshots
	webhookSink := sinks{snapshots, invitations}
	if shared != nil {
		shared.Start(webhookSink.Apply, snapshots.Holding)
		memberSink = sinks{shared, snapshots}
		webhookSink = sinks{shared, snapshots, invitations}
	}
	bulk := &directory.Bulk{Source: snapshots, Writer: repo, Sink: memberSink, Concurrency: 16, Deadline: 50 * time.Second, Logger: logger}

	gopts := graph.Options{Directory: svc, Bulk: bulk, Invitations: invitations, Live: hub,
		VerifyToken: verifier.Verify, UpgradeOrigin: browser.UpgradeOrigin(cfg.CORSAllowedOrigins, nil), Introspection: cfg.Introspection, Limits: cfg.Limits, TrustedDocuments: cfg.TrustedDocuments, MaxBodyBytes: maxBodyBytes, Logger: logger, FastPath: cfg.FastPath}
	if x.DisableResponseCache {
		gopts.ResponseCacheBytes = -1
	}
	if conn != nil {
		gopts.SharedPersistedQueries = conn.Queries() // a text registered on any replica runs on all
	}
	if m != nil {
		gopts.Observer = m.GraphQL()
	}
	gopts.TracerProvider = tp
	gql := graph.NewHandler(gopts)
	mux := http.NewServeMux()
	app := &App{Cache: snapshots, Live: hub, Fleet: shared}
	if shared != nil {
		// Run in reverse: the near cache's loads end, then the subscriber, then the client.
		app.closers = append(app.closers, func() { _ = rdb.Close() }, shared.Close)
	}
	app.closers = append(app.closers, snapshots.Close, hub.Close)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	// Ready: not draining, and Clerk accepts the secret key (checked at
	// most every 10 s). The answer says why not, and says when the fleet
	// tier's Redis is down (the replica then serves on its own: ready).
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		var reason string
		if app.draining.Load() {
			reason = "draining: shutting down"
		} else if err := repo.Check(r.Context()); err != nil {
			reason = err.Error()
		}
		if reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+reason+"\n")
			return
		}
		if shared != nil && !shared.Up() {
			// Still ready: this replica serves on its own until Redis is back.
			_, _ = io.WriteString(w, "ready; redis: down (serving from this process: its own cache, loads and rate limit)\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	// A session comes from the Authorization header or Clerk's __session
	// cookie; a cookie request must also pass the CSRF check.
	csrf := browser.CSRF(cfg.CORSAllowedOrigins, nil)
	session := func(h http.Handler) http.Handler { return verifier.Middleware(csrf(h)) }
	mux.Handle("/graphql", session(gql))
	mux.Handle(rest.Path, session(&rest.Handler{Directory: svc, Logger: logger}))
	mux.Handle("GET "+rest.OpenAPIPath, rest.OpenAPIHandler())
	if len(cfg.WebhookSecrets) > 0 {
		// No session: the Svix signature is the authentication.
		sink := webhookSink
		var obs webhook.Observer
		if m != nil {
			obs = m.Webhooks()
		}
		mux.Handle(WebhookPath, webhook.NewObservedHandler(&webhook.Verifier{Secrets: cfg.WebhookSecrets}, sink, logger, obs))
	}
	if cfg.Introspection {
		gcfg := graphiql.Config{Endpoint: "/graphql", Title: "orgusers GraphiQL", DefaultQuery: exampleQuery}
		if x.DemoTokens != nil {
			gcfg.Headers = map[string]string{"Authorization": "Bearer " + x.DemoTokens.Admin}
		}
		page := graphiql.Handler(gcfg)
		mux.Handle("GET /{$}", page)
		mux.Handle("GET "+graphiql.AssetPrefix, page)
		// The dashboard is a client of the public API like GraphiQL, served
		// where GraphiQL is, with the same demo credential.
		dash := dashboard.Handler(dashboard.Config{Endpoint: "/graphql", Title: "orgusers dashboard", Headers: gcfg.Headers})
		mux.Handle("GET "+dashboard.Path, dash)
		mux.Handle("GET "+dashboard.AssetPrefix, dash)
	}
	if x.DemoTokens != nil {
		body, _ := json.Marshal(map[string]string{"admin": x.DemoTokens.Admin, "member": x.DemoTokens.Member, "noOrg": x.DemoTokens.NoOrg})
		mux.HandleFunc("GET /demo/tokens", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(body)
		})
	}
	cors, err := browser.CORS(cfg.CORSAllowedOrigins)
	if err != nil {
		return nil, err
	}
	h := cors(mux) // outside the session: preflights carry no credentials
	if x.DemoTokens != nil {
		h = loopbackHostOnly(h)
	}
	routes := []string{"/graphql", rest.Path, rest.OpenAPIPath, "/healthz", "/readyz", WebhookPath, "/demo/tokens", "/"}
	if cfg.Introspection {
		routes = append(routes, graphiql.AssetPrefix, dashboard.Path, dashboard.AssetPrefix)
	}
	route := accesslog.PathRoutes(routes...)
	if m != nil {
		h = m.Middleware(route)(h)
		app.Metrics = m.Handler()
	}
	app.Handler = accesslog.Middleware(logger, route)(h)
	if tp != nil {
		// Outermost: the server span covers the access log and metrics too.
		app.Handler = tracing.Middleware(tp, prop, route)(app.Handler)
	}
	return app, nil
}

// clerkSpanName names a Clerk call's client span by its endpoint template,
// e.g. "GET /organizations/{id}/memberships" (the method alone for a call
// matching no template): ids never reach a span name.
func clerkSpanName(apiURL string) func(*http.Request) string {
	basePath := ""
	if u, err := url.Parse(apiURL); err == nil {
		basePath = strings.TrimRight(u.Path, "/")
	}
	return func(r *http.Request) string {
		path := r.URL.Path
		if rest, ok := strings.CutPrefix(path, basePath); ok && (rest == "" || rest[0] == '/') {
			path = rest
		}
		if e := metrics.ClerkEndpoint(r.Method, path); e != metrics.OtherLabel {
			return e
		}
		return tracing.Method(r.Method)
	}
}

// redactedRedis returns a Redis URL's scheme, host and database, without
// user or password, for logs.
func redactedRedis(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// sinks applies changes to each of its sinks in turn: the member cache and
// the invitation lists both hear the webhooks.
type sinks []webhook.Sink

func (s sinks) Apply(ctx context.Context, changes []directory.Change) error {
	for _, sink := range s {
		if err := sink.Apply(ctx, changes); err != nil {
			return err
		}
	}
	return nil
}

// loopbackHostOnly refuses, with 403, a request whose Host is not
// localhost, 127.0.0.1 or [::1] (any port). Demo mode hands out an admin
// token at /demo/tokens; without this, a web page on any domain that
// rebinds its DNS name to 127.0.0.1 could read it.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = "[" + h + "]"
			if !strings.Contains(h, ":") {
				host = h
			}
		}
		switch host {
		case "localhost", "127.0.0.1", "[::1]":
			next.ServeHTTP(w, r)
			return
		}
		msg := fmt.Sprintf("host %q is not served in demo mode: use localhost, 127.0.0.1 or [::1]", truncateHost(r.Host))
		var body any = map[string]any{"error": msg, "code": "FORBIDDEN"}
		if r.URL.Path == "/graphql" {
			body = map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": "FORBIDDEN"}}}}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(body)
	})
}

func truncateHost(h string) string {
	if len(h) > 100 {
		return h[:100] + "..."
	}
	return h
}

// demoTokenTTL is how long the demo banner's tokens stay valid.
const demoTokenTTL = 7 * 24 * time.Hour

// startEmulator serves a Clerk emulator on a loopback listener, sending
// webhooks as wh says (nil: none).
func startEmulator(addr, dataFile string, wh *clerkemu.WebhookConfig, secretKey string) (*clerkemu.Emulator, *http.Server, string, error) {
	opts := clerkemu.Options{Webhook: wh, SecretKey: secretKey}
	if dataFile != "" {
		f, err := os.Open(dataFile)
		if err != nil {
			return nil, nil, "", fmt.Errorf("-demo-data: %w", err)
		}
		opts.Data, err = clerkemu.LoadDataset(f)
		f.Close()
		if err != nil {
			return nil, nil, "", fmt.Errorf("-demo-data %s: %w", dataFile, err)
		}
	}
	emu, err := clerkemu.New(opts)
	if err != nil {
		return nil, nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, "", fmt.Errorf("clerk emulator: %w", err)
	}
	srv := &http.Server{Handler: emu.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return emu, srv, "http://" + ln.Addr().String() + "/v1", nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "clerk-emulator":
		err = runEmulator(ctx, os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "loadtest":
		err = runLoadTest(ctx, os.Args[2:], os.Stdout)
	default:
		err = run(ctx, os.Args[1:], os.Getenv, os.Stdout, nil) // the logger follows LOG_FORMAT and LOG_LEVEL
	}
	if errors.Is(err, flag.ErrHelp) {
		return // a subcommand's -h printed its flags: asked for, not a failure
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orgusers:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer, logger *slog.Logger) error {
	cfg, err := LoadConfig(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(out)
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.Version {
		fmt.Fprintln(out, versionString())
		return nil
	}
	if logger == nil {
		if logger, err = accesslog.NewLogger(cfg.LogFormat, cfg.LogLevel, os.Stderr); err != nil {
			return err
		}
	}
	var x Extras
	var emu *clerkemu.Emulator
	var webhookSecret string
	if cfg.Demo {
		var emuSrv *http.Server
		var apiURL string
		if emu, emuSrv, apiURL, err = startEmulator("127.0.0.1:0", cfg.DemoData, nil, ""); err != nil {
			return err
		}
		defer emuSrv.Close()
		cfg.APIURL, cfg.SecretKey, cfg.JWTKeyPEM = apiURL, emu.SecretKey(), ""
		tokens, err := emu.DemoTokens(demoTokenTTL)
		if err != nil {
			return err
		}
		x.DemoTokens = &tokens
		// The emulator's writes reach the server as signed webhooks.
		if webhookSecret, err = clerkemu.GenerateWebhookSecret(); err != nil {
			return err
		}
		if cfg.WebhookSecrets, err = webhook.ParseSecrets(webhookSecret); err != nil {
			return err
		}
	}
	if cfg.Tracing {
		// The exporter and the SDK read the other OTEL_* variables from
		// the process environment themselves.
		tp, shutdown, err := tracing.NewProvider(ctx)
		if err != nil {
			return err
		}
		defer func() {
			flushCtx, cancel := context.WithTimeout(context.Background(), tracing.ShutdownTimeout)
			defer cancel()
			if err := shutdown(flushCtx); err != nil {
				logger.Warn("tracing: flushing spans at exit failed", "err", err)
			}
		}()
		x.TracerProvider = tp
		logger.Info("tracing: exporting spans with OTLP/HTTP")
	}
	app, err := NewApp(cfg, x, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	addr := cfg.ListenAddr
	if cfg.Demo {
		// Demo mode hands out admin tokens at /demo/tokens: loopback only,
		// whatever host LISTEN_ADDR names.
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %s: %w", addr, err)
	}
	// Metrics have a listener of their own, never the API's: only who can
	// reach METRICS_ADDR can read them.
	var mln net.Listener
	if app.Metrics != nil {
		maddr := cfg.MetricsAddr
		if cfg.Demo { // demo mode listens on loopback only, metrics included
			_, port, _ := net.SplitHostPort(maddr)
			maddr = net.JoinHostPort("127.0.0.1", port)
		}
		if mln, err = net.Listen("tcp", maddr); err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_ADDR %s: %w", maddr, err)
		}
		defer mln.Close()
	}
	srv := &http.Server{
		Handler:           app.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	base := "http://localhost:" + port
	if emu != nil {
		if err := emu.SetWebhook("http://127.0.0.1:"+port+WebhookPath, webhookSecret); err != nil {
			return err
		}
	}
	if x.DemoTokens != nil {
		printDemoBanner(out, base, cfg.APIURL, emu.SecretKey(), *x.DemoTokens)
	} else {
		fmt.Fprintf(out, "orgusers listening on %s (GraphQL at %s/graphql)\n", base, base)
	}
	if mln != nil {
		fmt.Fprintf(out, "metrics at http://%s/metrics\n", mln.Addr())
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", app.Metrics)
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
		go func() { errc <- msrv.Serve(mln) }()
		defer msrv.Close()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Not ready first, then no new connections, then in-flight requests
	// finish within SHUTDOWN_TIMEOUT.
	app.Drain()
	// Subscriptions end now (their streams complete; clients reconnect to
	// another replica) rather than holding the shutdown to its timeout.
	app.Live.Close()
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// versionString is the module version and VCS revision the binary was
// built from, as -version prints them.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "orgusers (no build information)"
	}
	v, rev, modified, at := info.Main.Version, "", false, ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		case "vcs.time":
			at = s.Value
		}
	}
	out := "orgusers " + v
	if rev != "" {
		out += " revision " + rev
		if modified {
			out += " (modified)"
		}
		if at != "" {
			out += " " + at
		}
	}
	return out + " " + info.GoVersion
}

// printUsage prints every flag, subcommand and environment variable with
// its default: -h.
func printUsage(out io.Writer) {
	fmt.Fprint(out, `orgusers: who is in my organization? A GraphQL and REST API over Clerk.

Usage:
  orgusers [-demo [-demo-data FILE]]   serve (configuration from the environment below)
  orgusers -version                    print the version
  orgusers clerk-emulator [flags]      run the Clerk emulator alone (-h for its flags)
  orgusers loadtest [flags]            measure the server on loopback (-h for its flags)

Flags:
  -demo            serve against an in-process Clerk emulator with generated data (no Clerk account needed)
  -demo-data FILE  with -demo: load the emulator's dataset from this JSON file
  -version         print the version and exit
  -h               print this help and exit

Environment (default in brackets):
`)
	for _, v := range envVars {
		fmt.Fprintf(out, "  %-34s %s [%s]\n", v[0], v[2], v[1])
	}
}

// envVars lists every environment variable: name, default, meaning. The
// README's configuration table says the same.
var envVars = [][3]string{
	{"CLERK_SECRET_KEY", "required outside -demo", "the Clerk instance's secret key, sk_live_... or sk_test_..."},
	{"CLERK_API_URL", DefaultAPIURL, "Clerk's Backend API base (/v1 appended when it has no path)"},
	{"CLERK_AUTHORIZED_PARTIES", "none", "comma-separated origins a session token's azp must be one of"},
	{"CLERK_JWT_KEY", "none", "PEM public key: verify session tokens with no network call"},
	{"CLERK_WEBHOOK_SIGNING_SECRET", "none", "whsec_ secret(s), space-separated: turns on POST /webhooks/clerk"},
	{"CLERK_RATE_LIMIT", "900", "Clerk requests per 10 s this process may send (the whole fleet's, with REDIS_URL)"},
	{"REDIS_URL", "none", "redis:// or rediss:// (TLS) URL; a Cluster as redis://h1:6379?addr=h2:6379, Sentinel as redis://s1:26379?master_name=m: replicas share snapshots, loads, webhook changes and the Clerk budget; unset: each process on its own"},
	{"REDIS_KEY_PREFIX", fleet.DefaultPrefix, "starts every Redis key and the change channel: one prefix per deployment sharing a Redis"},
	{"CORS_ALLOWED_ORIGINS", "none", "comma-separated exact origins (https://app.example.com) allowed cross-origin and for cookie sessions"},
	{"LISTEN_ADDR", ":8080 (or :PORT)", "listen address host:port; -demo always listens on 127.0.0.1"},
	{"PORT", "8080", "listen port, when LISTEN_ADDR is unset"},
	{"METRICS_ADDR", "none", "host:port of a separate listener serving Prometheus metrics at GET /metrics; unset: no metrics"},
	{"SHUTDOWN_TIMEOUT", "20s", "how long in-flight requests may take to finish at SIGTERM"},
	{"LOG_FORMAT", "json (text in -demo)", "json or text"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"GRAPHQL_INTROSPECTION", "false", "schema introspection, suggestions, GraphiQL at / and the dashboard at /dashboard (on in -demo)"},
	{"GRAPHQL_FAST_PATH", "on", "answer orgUsers/orgUser queries without gqlgen's executor, byte-identically; off uses the executor for everything"},
	{"CACHE_TTL", "30s", "a member snapshot is fresh this long (with webhooks, 5m suggested)"},
	{"CACHE_MAX_STALE", "10m", "while Clerk fails, serve the last snapshot up to this age"},
	{"CACHE_MAX_ORGS", "1000", "organizations kept in memory"},
	{"SUBSCRIPTIONS_MAX_PER_CALLER", "5", "open orgUsersChanged subscriptions one caller (user in an organization) may hold"},
	{"SUBSCRIPTIONS_MAX", "10000", "open orgUsersChanged subscriptions of the process"},
	{"SUBSCRIPTIONS_MAX_LAG", "10s", "how far behind a subscriber may fall (changes waiting while it still reads earlier ones) before it is closed with SLOW_CONSUMER"},
	{"CACHE_MAX_BYTES", "256MiB", "estimated heap of the member snapshots kept (512KiB, 256MiB, 2GiB or bytes)"},
	{"GRAPHQL_TRUSTED_DOCUMENTS", "none", "an Apollo persisted query manifest (JSON): only its operations run"},
	{"GRAPHQL_MAX_DEPTH", "8", "field nesting, fragments expanded"},
	{"GRAPHQL_MAX_ALIASES", "30", "aliases, fragments expanded"},
	{"GRAPHQL_MAX_DIRECTIVES", "50", "directive uses, fragments expanded"},
	{"GRAPHQL_MAX_FIELDS", "2000", "fields, fragments expanded"},
	{"GRAPHQL_MAX_FIELD_REPEATS", "10", "selections merged into one response field"},
	{"GRAPHQL_MAX_COST", "50000", "operation cost"},
	{"GRAPHQL_MAX_TOKENS", "2000", "lexical tokens of the query text"},
	{"GRAPHQL_MAX_QUERY_BYTES", "65536", "length of the query text"},
	{"GRAPHQL_MAX_VALUE_DEPTH", "32", "nesting of an argument value"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "none", "OTLP/HTTP collector base URL, e.g. http://localhost:4318: turns tracing on"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "none", "full OTLP/HTTP traces URL (.../v1/traces): turns tracing on"},
	{"OTEL_TRACES_EXPORTER", "otlp when an endpoint is set, else none", "otlp turns tracing on (endpoint default http://localhost:4318); none turns it off"},
	{"OTEL_SDK_DISABLED", "false", "true turns tracing off whatever the other OTEL_* settings say"},
	{"OTEL_EXPORTER_OTLP_HEADERS", "none", "key=value,... sent to the collector, e.g. its API key"},
	{"OTEL_SERVICE_NAME", tracing.DefaultServiceName, "service.name of the spans (OTEL_RESOURCE_ATTRIBUTES adds others)"},
	{"OTEL_TRACES_SAMPLER", "parentbased_always_on", "always_on, always_off, traceidratio or parentbased_ of those"},
	{"OTEL_TRACES_SAMPLER_ARG", "1", "the traceidratio samplers' ratio, e.g. 0.01 for 1%"},
}

func printDemoBanner(out io.Writer, base, apiURL, secretKey string, t clerkemu.DemoTokens) {
	fmt.Fprintf(out, `orgusers demo mode: serving against a local Clerk emulator (generated data, no Clerk account).

  GraphiQL        %[1]s/            (opens with the admin token filled in)
  Dashboard       %[1]s/dashboard   (facets, members, bulk role change, live updates)
  GraphQL         %[1]s/graphql
  REST            %[1]s/api/organization/users
  Demo tokens     %[1]s/demo/tokens
  Clerk emulator  %[2]s

Bearer tokens (demo only, valid 7 days):
  admin   %[3]s
  member  %[4]s
  no org  %[5]s

Try:
  export ADMIN=%[3]s
  curl -s %[1]s/graphql -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"query":"{ orgUsers(first: 3) { totalCount nodes { email role publicMetadata } } }"}'

Change a member in "Clerk" (the emulator, secret key %[6]s): its signed
webhook reaches this server before curl returns, and the next query shows it:
  curl -s -X PATCH %[2]s/organizations/org_acme/memberships/user_acme_member \
    -H 'Authorization: Bearer %[6]s' -H 'Content-Type: application/json' -d '{"role":"org:billing"}'
  curl -s %[1]s/graphql -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"query":"{ orgUser(id: \"user_acme_member\") { email role } }"}'

Watch changes live (run it in another terminal, then the PATCH above; the event arrives at once):
  curl -N %[1]s/graphql -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \
    -d '{"query":"subscription { orgUsersChanged { kind userId user { email role } } }"}'
`, base, apiURL, t.Admin, t.Member, t.NoOrg, secretKey)
}

// runEmulator runs the Clerk emulator alone until ctx is done.
func runEmulator(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("clerk-emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4000", "listen address")
	data := fs.String("data", "", "load the dataset from this JSON file instead of the generated one")
	latency := fs.Duration("latency", 0, "fault: latency added to every request, e.g. 100ms")
	failStatus := fs.Int("fail-status", 0, "fault: answer with this status (429, 500, 502, 503...) in Clerk's error shape")
	failRate := fs.Float64("fail-rate", 1, "fault: fraction of requests -fail-status affects, 0 < rate <= 1")
	failEndpoint := fs.String("fail-endpoint", "", `fault: limit -fail-status to one route, e.g. "GET /v1/users" (default every route)`)
	retryAfter := fs.Duration("retry-after", 0, "fault: Retry-After sent with -fail-status 429 or 503, e.g. 2s")
	webhookURL := fs.String("webhook-url", "", "send each write's Clerk webhook, signed as Svix does, to this URL, e.g. http://127.0.0.1:8080/webhooks/clerk")
	webhookSecret := fs.String("webhook-secret", "", "with -webhook-url: the whsec_ signing secret (default: a fresh one, printed)")
	secretKey := fs.String("secret-key", "", "the sk_test_ secret key clients must send (default: a fresh one, printed), e.g. for replicas started with it beforehand (compose.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("clerk-emulator: unexpected argument %q", fs.Arg(0))
	}
	faults, err := emulatorFaults(*latency, *failStatus, *failRate, *failEndpoint, *retryAfter)
	if err != nil {
		return err
	}
	var wh *clerkemu.WebhookConfig
	switch {
	case *webhookURL != "":
		secret := *webhookSecret
		if secret == "" {
			if secret, err = clerkemu.GenerateWebhookSecret(); err != nil {
				return err
			}
		}
		wh = &clerkemu.WebhookConfig{URL: *webhookURL, Secret: secret, OnDelivery: func(d clerkemu.Delivery) {
			fmt.Fprintf(out, "webhook %s %s -> %d %s\n", d.Type, d.ID, d.Status, d.Err)
		}}
	case *webhookSecret != "":
		return errors.New("-webhook-secret needs -webhook-url")
	}
	if *secretKey != "" && !secretKeyForm.MatchString(*secretKey) {
		return errors.New("-secret-key: not a Clerk secret key: sk_test_ followed by at least 8 letters and digits")
	}
	emu, srv, apiURL, err := startEmulator(*addr, *data, wh, *secretKey)
	if err != nil {
		if wh != nil && errors.Is(err, clerkemu.ErrInvalid) && strings.Contains(err.Error(), "webhook") {
			return fmt.Errorf("-webhook-url or -webhook-secret: %w", err)
		}
		return err
	}
	emu.SetFaults(faults...)
	if wh != nil {
		fmt.Fprintf(out, "Webhooks to %s\n  CLERK_WEBHOOK_SIGNING_SECRET=%s\n", wh.URL, wh.Secret)
	}
	tokens, err := emu.DemoTokens(demoTokenTTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `Clerk Backend API emulator
  CLERK_API_URL=%s
  CLERK_SECRET_KEY=%s
Session tokens (valid 7 days):
  admin   %s
  member  %s
  no org  %s
`, apiURL, emu.SecretKey(), tokens.Admin, tokens.Member, tokens.NoOrg)
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// emulatorFaults turns the clerk-emulator command's fault flags into faults.
// Errors name the bad flag.
func emulatorFaults(latency time.Duration, status int, rate float64, endpoint string, retryAfter time.Duration) ([]clerkemu.Fault, error) {
	var faults []clerkemu.Fault
	if latency < 0 {
		return nil, fmt.Errorf("-latency: %s is negative", latency)
	}
	if latency > 0 {
		faults = append(faults, clerkemu.Fault{Latency: latency})
	}
	if rate <= 0 || rate > 1 {
		return nil, fmt.Errorf("-fail-rate: %v is not in (0, 1]", rate)
	}
	if status == 0 {
		if endpoint != "" || retryAfter != 0 || rate != 1 {
			return nil, errors.New("-fail-endpoint, -fail-rate and -retry-after need -fail-status")
		}
		return faults, nil
	}
	if status < 400 || status > 599 {
		return nil, fmt.Errorf("-fail-status: %d is not an HTTP error status (400..599)", status)
	}
	if retryAfter < 0 {
		return nil, fmt.Errorf("-retry-after: %s is negative", retryAfter)
	}
	return append(faults, clerkemu.Fault{Endpoint: endpoint, Status: status, Rate: rate, RetryAfter: retryAfter}), nil
}
