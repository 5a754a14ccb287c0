package browser

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/orgusers/orgusers/internal/auth"
)

// CodeCSRFRejected is the error code of a request CSRF refuses.
const CodeCSRFRejected = "CSRF_REJECTED"

// CSRF returns middleware refusing cross-site use of the session cookie. The
// server wiring calls it once and puts it directly inside
// auth.Verifier.Middleware on every cookie-capable route (it reads
// auth.ViaCookie, which only that middleware sets; outside it, CSRF checks
// nothing).
//
// Only requests whose credential came from the __session cookie are checked
// (auth.ViaCookie, including cookies that failed verification); requests
// with an Authorization header, or without credentials, pass untouched. A
// cookie request is refused with 403 and code CSRF_REJECTED when:
//
//   - its origin is not known: it has no Sec-Fetch-Site "same-origin"
//     header (which browsers set, and pages cannot forge, when the page's
//     origin is this server's) and either has neither an Origin nor a Referer
//     header, has more than one Origin header, has a Referer that is not an
//     absolute http(s) URL, or has an origin (Origin, else the Referer's
//     scheme://host[:port]) that is neither in allowedOrigins nor
//     ownOrigin(r);
//   - or it is a POST whose Content-Type is not application/json, as form
//     posts and other CORS "simple requests" (form-urlencoded, multipart,
//     text/plain) are.
//
// GET passes with a good origin: the GraphQL transport already refuses
// mutations over GET (405), and the REST endpoint only reads. The message
// says which check failed and quotes the offending value.
//
// ownOrigin returns the server's own origin for a request; nil means
// RequestOrigin (scheme from r.TLS, host from r.Host). Behind a proxy that
// terminates TLS, r.TLS is nil: pass a function returning the public origin,
// or list the public origin in allowedOrigins. allowedOrigins are compared
// exactly; give the list CORS was given.
//
// The answer is GraphQL-shaped, {"errors":[{"message":..., "extensions":
// {"code":"CSRF_REJECTED"}}]}, when the path is /graphql or below it, and
// REST-shaped, {"error":..., "code":"CSRF_REJECTED"}, elsewhere.
func CSRF(allowedOrigins []string, ownOrigin func(*http.Request) string) func(http.Handler) http.Handler {
	allowed := newOriginSet(allowedOrigins)
	if ownOrigin == nil {
		ownOrigin = RequestOrigin
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if auth.ViaCookie(r.Context()) {
				if msg := check(r, allowed, ownOrigin); msg != "" {
					reject(w, r, msg)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequestOrigin returns the origin r was sent to as browsers write it:
// "https" when r came over TLS to this process, else "http", then "://" and
// r.Host (lower case, default port dropped). CSRF uses it when given no
// ownOrigin.
func RequestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return canonicalOrigin(scheme, r.Host)
}

// check returns why a cookie-authenticated r is refused, or "".
func check(r *http.Request, allowed originSet, ownOrigin func(*http.Request) string) string {
	if r.Header.Get("Sec-Fetch-Site") != "same-origin" {
		var origin, source string
		origins := r.Header.Values("Origin")
		switch {
		case len(origins) > 1:
			return "cross-site request refused: more than one Origin header"
		case len(origins) == 1 && origins[0] != "":
			origin, source = origins[0], "Origin"
		default:
			ref := r.Header.Get("Referer")
			if ref == "" {
				return "cross-site request refused: a request authenticated by the session cookie needs an Origin or Referer header"
			}
			u, err := url.Parse(ref)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Sprintf("cross-site request refused: Referer %q is not an absolute http(s) URL", truncate(ref))
			}
			origin, source = canonicalOrigin(u.Scheme, u.Host), "Referer origin"
		}
		if !allowed.has(origin) && origin != ownOrigin(r) {
			return fmt.Sprintf("cross-site request refused: %s %q is not an allowed origin", source, truncate(origin))
		}
	}
	if r.Method == http.MethodPost {
		ct := r.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			if ct == "" {
				return "a POST authenticated by the session cookie must have Content-Type application/json, not none"
			}
			return fmt.Sprintf("a POST authenticated by the session cookie must have Content-Type application/json, not %q", truncate(ct))
		}
	}
	return ""
}

// reject answers 403 CSRF_REJECTED with msg, shaped for the route.
func reject(w http.ResponseWriter, r *http.Request, msg string) {
	var body any = map[string]string{"error": msg, "code": CodeCSRFRejected}
	if r.URL.Path == "/graphql" || strings.HasPrefix(r.URL.Path, "/graphql/") {
		body = map[string]any{"errors": []any{map[string]any{
			"message": msg, "extensions": map[string]string{"code": CodeCSRFRejected},
		}}}
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	if r.ContentLength < 0 || r.ContentLength > 256<<10 {
		// The body is never read, and net/http would drain only the
		// first 256 KiB of it for keep-alive: close instead.
		h.Set("Connection", "close")
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write(b)
}

// truncate bounds a caller-chosen value quoted in a message.
func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
