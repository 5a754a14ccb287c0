package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/bytelru"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/live"
	"github.com/orgusers/orgusers/internal/respcache"
)

// Options configure the GraphQL handler.
type Options struct {
	// Directory answers the member queries. Required.
	Directory *directory.Service
	// Bulk runs the bulk mutations; nil answers them INTERNAL_SERVER_ERROR.
	Bulk *directory.Bulk
	// Invitations answers orgInvitations, inviteOrgMembers and
	// revokeOrgInvitations; nil answers them INTERNAL_SERVER_ERROR.
	Invitations *directory.Invitations
	// Live answers the orgUsersChanged subscription, over WebSocket and
	// SSE; nil answers it INTERNAL_SERVER_ERROR.
	Live *live.Hub
	// VerifyToken checks the session token a WebSocket client sends in
	// connection_init; nil accepts only the upgrade request's session.
	VerifyToken func(ctx context.Context, token string) (*auth.Principal, error)
	// UpgradeOrigin returns why a WebSocket upgrade's Origin is refused,
	// or ""; nil allows any (see browser.UpgradeOrigin).
	UpgradeOrigin func(*http.Request) string
	// Introspection enables schema introspection (and field suggestions in errors).
	Introspection bool
	// Limits bound each operation before it runs; zero fields mean their defaults.
	Limits Limits
	// MaxBodyBytes bounds a POST body (413 beyond); 0 means 1 MiB.
	MaxBodyBytes int64
	// QueryCacheBytes bounds the parsed and validated documents kept, by
	// their estimated heap; 0 means DefaultQueryCacheBytes, negative keeps
	// none (benchmarks measure the uncached work with it).
	QueryCacheBytes int
	// TrustedDocuments, when set, is the only operations that run
	// (GRAPHQL_TRUSTED_DOCUMENTS); any other is PERSISTED_QUERY_NOT_IN_LIST.
	TrustedDocuments *TrustedDocuments
	// PersistedQueryBytes bounds the texts of Apollo's automatic persisted
	// queries kept; 0 means DefaultPersistedQueryBytes, negative turns
	// persisted queries off (PERSISTED_QUERY_NOT_SUPPORTED).
	PersistedQueryBytes int
	// SharedPersistedQueries, when set, shares the persisted query texts
	// with the other replicas (the fleet tier's Redis).
	SharedPersistedQueries SharedQueries
	// ResponseCacheBytes bounds the cache of complete answers to identical warm
	// requests of org admins; 0 means 32 MiB, negative disables it.
	ResponseCacheBytes int
	// Logger receives masked internal errors; nil means slog.Default().
	Logger *slog.Logger
	// Observer, when set, hears each /graphql request's operation and
	// outcome (server.go gives it the metrics); nil observes nothing.
	Observer Observer
	// TracerProvider, when set, traces each /graphql request: an operation
	// span ("query Name") with child spans graphql.parse_validate and
	// graphql.execute (see tracedTransport); nil traces nothing.
	TracerProvider trace.TracerProvider
	// FastPath answers orgUsers and orgUser queries without gqlgen's
	// executor, byte for byte as it would (fastpath.go); anything else, and
	// any error, still runs in the executor (GRAPHQL_FAST_PATH).
	FastPath bool
}

// withoutDefer removes @defer from the schema once.
var withoutDefer sync.Once

// DefaultQueryCacheBytes is the default bound of the parsed-query cache.
const DefaultQueryCacheBytes = 16 << 20

// New builds the executable schema config: resolvers, the @hasOrgRole
// directive and the complexity functions.
func New(r *Resolver) Config {
	c := Config{Resolvers: r}
	c.Directives.HasOrgRole = HasOrgRole
	c.Complexity.Query.OrgUsers = func(child int, _ *model.OrgUserFilter, _ *model.OrgUserOrder, first *int, _ *string, last *int, _ *string) int {
		n := 100
		switch {
		case last != nil:
			n = max(*last, 1) // backward paging: last is the page size
		case first != nil:
			n = max(*first, 1) // first: 0 still answers totalCount and pageInfo
		}
		return 1 + n*child
	}
	c.Complexity.Query.OrgInvitations = func(child int, _ []directory.InvitationStatus, _ *string, first *int, _ *string) int {
		n := 100
		if first != nil {
			n = max(*first, 1)
		}
		return 1 + n*child
	}
	setFacetComplexity(&c.Complexity)
	return c
}

// HasOrgRole implements @hasOrgRole(role): the caller's verified active
// organization role must equal role. It never calls next otherwise.
// Errors: UNAUTHENTICATED, NO_ACTIVE_ORGANIZATION, FORBIDDEN.
func HasOrgRole(ctx context.Context, _ any, next graphql.Resolver, role string) (any, error) {
	if _, err := auth.RequireOrgRole(ctx, role); err != nil {
		return nil, err
	}
	return next(ctx)
}

// actor returns the verified caller and their active organization, for
// the mutations that act as them. Errors: UNAUTHENTICATED,
// NO_ACTIVE_ORGANIZATION.
func actor(ctx context.Context) (userID, orgID string, err error) {
	if orgID, err = activeOrg(ctx); err != nil {
		return "", "", err
	}
	p, _ := auth.FromContext(ctx) // activeOrg found it
	return p.UserID, orgID, nil
}

// activeOrg returns the caller's verified active organization.
// Errors: UNAUTHENTICATED, NO_ACTIVE_ORGANIZATION.
func activeOrg(ctx context.Context) (string, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return "", err
	}
	if p.OrgID == "" {
		return "", directory.Errorf(directory.CodeNoActiveOrganization, "the session has no active organization")
	}
	return p.OrgID, nil
}

// NewHandler returns the GraphQL HTTP handler for GET and POST: the
// transport (authentication first, then request shape, limits and
// validation, see httpTransport), the response cache, gqlgen's executor with
// the error presenter and panic recovery.
// Callers put the auth middleware in front of it.
func NewHandler(o Options) http.Handler {
	h, _ := buildHandler(o, fastPathOn(o.FastPath))
	return h
}

// buildHandler is NewHandler with the fast path on or off, returning the
// transport too (tests count what the fast path answered).
func buildHandler(o Options, fast bool) (http.Handler, *httpTransport) {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	withoutDefer.Do(func() {
		// gqlparser's prelude declares @defer, but answers are never sent
		// incrementally: introspection must not advertise it, and a query
		// using it is refused as an unknown directive.
		delete(NewExecutableSchema(Config{}).Schema().Directives, "defer")
	})
	resolver := &Resolver{Directory: o.Directory, Bulk: o.Bulk, Invitations: o.Invitations, Live: o.Live}
	if fast && o.Directory != nil {
		// A load the fast path made is not made again when it declines.
		resolver.Directory = &directory.Service{Source: memoSource{o.Directory.Source}}
	}
	es := NewExecutableSchema(New(resolver))
	cacheBytes := o.QueryCacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultQueryCacheBytes
	}
	prep := &preparer{
		schema:      es.Schema(),
		limits:      o.Limits.withDefaults(),
		suggestions: o.Introspection,
		docs:        bytelru.New[string, prepared](cacheBytes),
	}
	t := &httpTransport{prep: prep, maxBody: o.MaxBodyBytes, obs: o.Observer, trusted: o.TrustedDocuments}
	if fast {
		t.fast = newFastPath(es, resolver)
	}
	if o.PersistedQueryBytes >= 0 {
		size := o.PersistedQueryBytes
		if size == 0 {
			size = DefaultPersistedQueryBytes
		}
		t.apq = &persistedQueries{texts: bytelru.New[string, string](size), shared: o.SharedPersistedQueries}
	}
	if t.maxBody <= 0 {
		t.maxBody = defaultMaxBodyBytes
	}
	size := o.ResponseCacheBytes
	if size == 0 {
		size = 32 << 20
	}
	if size > 0 {
		t.cache = &responseCache{source: o.Directory.Source, cache: respcache.New(size)}
	}

	srv := handler.New(es)
	// Streams first: the HTTP transport claims every request it sees.
	srv.AddTransport(newWSTransport(o.VerifyToken, o.UpgradeOrigin, t.maxBody))
	srv.AddTransport(sseTransport{t})
	if o.TracerProvider != nil {
		srv.AddTransport(&tracedTransport{inner: t, tracer: o.TracerProvider.Tracer("github.com/orgusers/orgusers/graph")})
	} else {
		srv.AddTransport(t)
	}
	srv.SetQueryCache(queryCache{prep})
	if o.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	srv.Use(&guard{p: prep})
	srv.SetParserTokenLimit(2 * prep.limits.MaxTokens)
	srv.AroundResponses(errorsMarker)
	srv.SetErrorPresenter(ErrorPresenter(logger, o.Introspection))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		logger.ErrorContext(ctx, "graphql: panic in resolver", "panic", fmt.Sprint(v))
		return directory.Errorf(directory.CodeInternal, "internal error")
	})
	if t.cache != nil && o.TracerProvider == nil {
		return hitFirst{next: srv, t: t}, t
	}
	return srv, t
}

// ErrorPresenter maps any error to a GraphQL error whose extensions.code is
// the domain code. Errors without a domain code are logged and masked as
// INTERNAL_SERVER_ERROR; gqlgen's own parse and validation errors keep their
// codes. Without introspection, no message suggests names ("Did you mean
// ...?"): suggestions would rebuild the schema for anyone guessing near it.
func ErrorPresenter(logger *slog.Logger, introspection bool) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var domainErr *directory.Error
		switch {
		case errors.As(err, &domainErr):
			if (domainErr.Code == directory.CodeInternal || domainErr.Code == directory.CodeUpstreamUnavailable) && !directory.WasLogged(err) {
				logger.ErrorContext(ctx, "graphql: request failed", "code", domainErr.Code, "err", err.Error(), "path", gqlErr.Path.String())
			}
			gqlErr.Message = domainErr.Message
			gqlErr.Extensions = map[string]any{"code": string(domainErr.Code)}
			for k, v := range domainErr.Details {
				gqlErr.Extensions[k] = v
			}
		case isGraphQLRequestError(err):
			// Parse, validation and argument errors from gqlgen: safe and useful as they are.
			if _, ok := gqlErr.Extensions["code"]; !ok {
				if gqlErr.Extensions == nil {
					gqlErr.Extensions = map[string]any{}
				}
				gqlErr.Extensions["code"] = string(directory.CodeBadUserInput)
			}
			if !introspection {
				gqlErr.Message = withoutSuggestions(gqlErr.Message)
			}
		default:
			logger.ErrorContext(ctx, "graphql: internal error", "err", err.Error(), "path", gqlErr.Path.String())
			gqlErr.Message = "internal error"
			gqlErr.Extensions = map[string]any{"code": string(directory.CodeInternal)}
		}
		return gqlErr
	}
}

// isGraphQLRequestError reports whether err is one of gqlgen's own errors
// about the request: parse and validation errors, and input coercion errors
// (gqlgen wraps those in a *gqlerror.Error with the input path). Resolvers
// never return *gqlerror.Error, so nothing internal is shown through here.
func isGraphQLRequestError(err error) bool {
	var gqlErr *gqlerror.Error
	return errors.As(err, &gqlErr)
}

// withoutSuggestions cuts a "Did you mean ...?" suggestion off a message,
// wherever gqlparser put one (unknown fields, arguments, input fields, enum
// values, in literals and in variables).
func withoutSuggestions(msg string) string {
	if i := strings.Index(msg, " Did you mean"); i >= 0 {
		return msg[:i]
	}
	return msg
}
