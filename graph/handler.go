package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/respcache"
)

// Options configure the GraphQL handler.
type Options struct {
	// Directory answers the member queries. Required.
	Directory *directory.Service
	// Introspection enables schema introspection (and field suggestions in errors).
	Introspection bool
	// ComplexityLimit bounds a query's cost; 0 means DefaultComplexityLimit.
	ComplexityLimit int
	// ParserTokenLimit bounds the tokens of a query document; 0 means DefaultParserTokenLimit.
	ParserTokenLimit int
	// ResponseCacheBytes bounds the cache of complete answers to identical warm
	// requests of org admins; 0 means 32 MiB, negative disables it.
	ResponseCacheBytes int
	// Logger receives masked internal errors; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults for Options.
const (
	// DefaultComplexityLimit admits one orgUsers(first: 1000) page with every
	// field on both nodes and edges, and rejects multiples of it.
	DefaultComplexityLimit  = 50_000
	DefaultParserTokenLimit = 5_000
)

// New builds the executable schema config: resolvers, the @hasOrgRole
// directive and the complexity functions.
func New(r *Resolver) Config {
	c := Config{Resolvers: r}
	c.Directives.HasOrgRole = HasOrgRole
	c.Complexity.Query.OrgUsers = func(child int, _ *model.OrgUserFilter, _ *model.OrgUserOrder, first *int, _ *string) int {
		n := 100
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
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

// NewHandler returns the GraphQL HTTP handler: POST and GET transports only,
// error presenter, panic recovery, abuse bounds (complexity, parser tokens,
// JSON nesting) and the response cache.
// Callers put the auth middleware and a request body limit in front of it.
func NewHandler(o Options) http.Handler {
	srv := newServer(o)
	size := o.ResponseCacheBytes
	if size == 0 {
		size = 32 << 20
	}
	if size < 0 {
		return limitDepth(srv)
	}
	return limitDepth(&responseCache{next: srv, source: o.Directory.Source, cache: respcache.New(size)})
}

// newServer builds the gqlgen server.
func newServer(o Options) *handler.Server {
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	srv := handler.New(NewExecutableSchema(New(&Resolver{Directory: o.Directory})))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if o.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	limit := o.ComplexityLimit
	if limit == 0 {
		limit = DefaultComplexityLimit
	}
	srv.Use(extension.FixedComplexityLimit(limit))
	tokens := o.ParserTokenLimit
	if tokens == 0 {
		tokens = DefaultParserTokenLimit
	}
	srv.SetParserTokenLimit(tokens)
	srv.AroundResponses(errorsMarker)
	srv.SetErrorPresenter(ErrorPresenter(logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		logger.ErrorContext(ctx, "graphql: panic in resolver", "panic", fmt.Sprint(v))
		return directory.Errorf(directory.CodeInternal, "internal error")
	})
	return srv
}

// ErrorPresenter maps any error to a GraphQL error whose extensions.code is
// the domain code. Errors without a domain code are logged and masked as
// INTERNAL_SERVER_ERROR; gqlgen's own parse and validation errors keep their codes.
func ErrorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var domainErr *directory.Error
		switch {
		case errors.As(err, &domainErr):
			if domainErr.Code == directory.CodeInternal || domainErr.Code == directory.CodeUpstreamUnavailable {
				logger.ErrorContext(ctx, "graphql: request failed", "code", domainErr.Code, "err", err.Error(), "path", gqlErr.Path.String())
			}
			gqlErr.Message = domainErr.Message
			gqlErr.Extensions = map[string]any{"code": string(domainErr.Code)}
		case isGraphQLRequestError(err):
			// Parse, validation and argument errors from gqlgen: safe and useful as they are.
			if _, ok := gqlErr.Extensions["code"]; !ok {
				if gqlErr.Extensions == nil {
					gqlErr.Extensions = map[string]any{}
				}
				gqlErr.Extensions["code"] = string(directory.CodeBadUserInput)
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
