// Package browser holds the HTTP middleware that lets web pages call the API
// with the visitor's Clerk session cookie: CORS for the origins the operator
// lists in CORS_ALLOWED_ORIGINS, and a CSRF check for cookie-authenticated
// requests. Requests with an Authorization header are a concern of neither
// check beyond CORS's response headers.
//
// The server wiring applies them in this order, outermost first:
//
//	CORS -> mux -> auth.Verifier.Middleware -> CSRF -> GraphQL or REST handler
//
// CORS answers preflights before any authentication (browsers send none);
// CSRF needs auth.ViaCookie, so it runs after the session middleware.
package browser

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// EnvAllowedOrigins is the environment variable holding the allowed origins,
// comma-separated, e.g. "https://app.example.com,http://localhost:3000".
const EnvAllowedOrigins = "CORS_ALLOWED_ORIGINS"

// ParseOrigins splits the value of CORS_ALLOWED_ORIGINS on commas, trims the
// spaces around each origin, drops empty entries and duplicates, and checks
// each as CORS does. The configuration loader calls it; "" gives nil (CORS
// off). The error names CORS_ALLOWED_ORIGINS and the offending entry.
func ParseOrigins(value string) ([]string, error) {
	var out []string
	for o := range strings.SplitSeq(value, ",") {
		o = strings.TrimSpace(o)
		if o == "" || contains(out, o) {
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkOrigin accepts s only in the exact form browsers send in Origin:
// http or https, lower-case host, no default port, nothing after the port.
func checkOrigin(s string) error {
	if s == "*" || s == "null" {
		return fmt.Errorf("%s: %q is not allowed: list exact origins such as https://app.example.com", EnvAllowedOrigins, s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || strings.Contains(s, "#") {
		return fmt.Errorf("%s: %q is not a bare origin scheme://host[:port] (http or https, no path, query or trailing slash)", EnvAllowedOrigins, s)
	}
	for i := 0; i < len(u.Host); i++ {
		if u.Host[i] >= 0x80 {
			return fmt.Errorf("%s: %q: write the host in its ASCII (xn--) form, as browsers send it", EnvAllowedOrigins, s)
		}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s: %q: port %s is out of range", EnvAllowedOrigins, s, p)
		}
	}
	if c := canonicalOrigin(u.Scheme, u.Host); c != s {
		return fmt.Errorf("%s: %q is not how browsers send it: write %q", EnvAllowedOrigins, s, c)
	}
	return nil
}

// canonicalOrigin serializes an origin as browsers do: lower case, without
// the scheme's default port.
func canonicalOrigin(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	host = strings.TrimSuffix(host, ":")
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	}
	return scheme + "://" + host
}

// originSet is a set of exact origins.
type originSet map[string]struct{}

func newOriginSet(origins []string) originSet {
	s := make(originSet, len(origins))
	for _, o := range origins {
		s[o] = struct{}{}
	}
	return s
}

func (s originSet) has(origin string) bool {
	_, ok := s[origin]
	return ok
}
