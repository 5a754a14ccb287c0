package browser

import (
	"net/http"
	"strconv"
)

// What a preflight from an allowed origin is told.
const (
	// AllowedMethods are the methods the API serves to browsers.
	AllowedMethods = "GET, POST"
	// AllowedHeaders are the request headers pages may send: credentials,
	// content negotiation, request correlation and Apollo client awareness.
	AllowedHeaders = "Authorization, Content-Type, Accept, X-Request-Id, apollographql-client-name, apollographql-client-version"
	// ExposedHeaders are the response headers, beyond the CORS-safelisted
	// ones, that pages of allowed origins may read.
	ExposedHeaders = "ETag, Retry-After, WWW-Authenticate, X-Request-Id"
	// PreflightMaxAge is how long, in seconds, browsers may cache a preflight answer.
	PreflightMaxAge = 600
)

// CORS returns middleware letting pages of allowedOrigins call the API with
// credentials (the session cookie or a bearer token). The server wiring calls
// it once with the parsed CORS_ALLOWED_ORIGINS and wraps the whole mux with
// the result, outside the session middleware.
//
// Origins must be exact, in the form browsers send: scheme://host[:port]
// with scheme http or https (see ParseOrigins); "*" is refused, so
// Access-Control-Allow-Origin is never "*". The error names
// CORS_ALLOWED_ORIGINS and the entry. An empty list turns CORS off: the
// middleware returned is the identity and no CORS header is ever sent.
//
// When CORS is on, every response gets "Vary: Origin". A request whose
// Origin is listed gets Access-Control-Allow-Origin: <that origin>,
// Access-Control-Allow-Credentials: true and Access-Control-Expose-Headers.
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) never
// reaches the handlers: it is answered 204, from a listed origin with the
// allowed methods (AllowedMethods), headers (AllowedHeaders) and a max age
// (PreflightMaxAge), from any other origin with no CORS header at all, which
// the browser treats as a refusal (a 403 would tell it nothing more). Other
// OPTIONS requests pass through.
func CORS(allowedOrigins []string) (func(http.Handler) http.Handler, error) {
	if len(allowedOrigins) == 0 {
		return func(next http.Handler) http.Handler { return next }, nil
	}
	for _, o := range allowedOrigins {
		if err := checkOrigin(o); err != nil {
			return nil, err
		}
	}
	allowed := newOriginSet(allowedOrigins)
	maxAge := strconv.Itoa(PreflightMaxAge)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Add("Vary", "Origin")
			origins := r.Header.Values("Origin")
			listed := len(origins) == 1 && allowed.has(origins[0])
			if r.Method == http.MethodOptions && len(origins) > 0 && r.Header.Get("Access-Control-Request-Method") != "" {
				if listed {
					h.Set("Access-Control-Allow-Origin", origins[0])
					h.Set("Access-Control-Allow-Credentials", "true")
					h.Set("Access-Control-Allow-Methods", AllowedMethods)
					h.Set("Access-Control-Allow-Headers", AllowedHeaders)
					h.Set("Access-Control-Max-Age", maxAge)
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if listed {
				h.Set("Access-Control-Allow-Origin", origins[0])
				h.Set("Access-Control-Allow-Credentials", "true")
				h.Set("Access-Control-Expose-Headers", ExposedHeaders)
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
