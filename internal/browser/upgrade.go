package browser

import (
	"fmt"
	"net/http"
	"strings"
)

// UpgradeOrigin returns the check a WebSocket upgrade passes against
// cross-site WebSocket hijacking: browsers send the page's Origin with
// every upgrade and let any page open a socket to any host (with the
// host's cookies), so an upgrade with an Origin is refused unless that
// origin is in allowedOrigins (CORS_ALLOWED_ORIGINS, compared exactly) or
// is ownOrigin(r) (nil means RequestOrigin). An upgrade without an Origin
// comes from a program, not a browser page, and passes. The check returns
// why it refuses, or "".
func UpgradeOrigin(allowedOrigins []string, ownOrigin func(*http.Request) string) func(*http.Request) string {
	allowed := newOriginSet(allowedOrigins)
	if ownOrigin == nil {
		ownOrigin = RequestOrigin
	}
	return func(r *http.Request) string {
		origins := r.Header.Values("Origin")
		switch {
		case len(origins) == 0:
			return ""
		case len(origins) > 1:
			return "cross-site WebSocket refused: more than one Origin header"
		}
		origin := strings.ToLower(origins[0])
		if allowed.has(origin) || origin == ownOrigin(r) {
			return ""
		}
		return fmt.Sprintf("cross-site WebSocket refused: Origin %q is not an allowed origin", truncate(origins[0]))
	}
}
