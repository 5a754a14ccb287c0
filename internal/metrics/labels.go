package metrics

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// Bounds on the length of caller-influenced label values.
const (
	maxOperationNameLen = 100
	maxCodeLen          = 64
)

// Bounded turns caller-chosen strings into a bounded set of label values:
// the first max distinct values seen keep their own label, every later one
// (and any value longer than maxLen bytes, empty or not valid UTF-8) is
// OtherLabel. It is safe for concurrent use.
type Bounded struct {
	max, maxLen int
	mu          sync.RWMutex
	seen        map[string]struct{}
}

// NewBounded returns a Bounded keeping at most max distinct values of at
// most maxLen bytes.
func NewBounded(max, maxLen int) *Bounded {
	return &Bounded{max: max, maxLen: maxLen, seen: make(map[string]struct{}, max)}
}

// Label returns s when it is one of the first max distinct values seen,
// else OtherLabel.
func (b *Bounded) Label(s string) string {
	if s == "" || len(s) > b.maxLen || !utf8.ValidString(s) {
		return OtherLabel
	}
	b.mu.RLock()
	_, ok := b.seen[s]
	full := len(b.seen) >= b.max
	b.mu.RUnlock()
	if ok {
		return s
	}
	if full {
		return OtherLabel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[s]; ok {
		return s
	}
	if len(b.seen) >= b.max {
		return OtherLabel
	}
	b.seen[strings.Clone(s)] = struct{}{}
	return s
}

// clerkEndpoints are the templates of the Clerk Backend API calls this
// service makes, method first, "{...}" standing for one path segment.
// Literal segments win over placeholders: "GET /users/count" is listed
// before "GET /users/{id}".
var clerkEndpoints = compileEndpoints(
	"GET /jwks",
	"GET /organization_roles",
	"GET /users",
	"GET /users/count",
	"GET /users/{id}",
	"GET /organizations/{id}",
	"GET /organizations/{id}/memberships",
	"POST /organizations/{id}/memberships",
	"PATCH /organizations/{id}/memberships/{user_id}",
	"DELETE /organizations/{id}/memberships/{user_id}",
	"PATCH /organizations/{id}/memberships/{user_id}/metadata",
	"GET /organizations/{id}/invitations",
	"POST /organizations/{id}/invitations",
	"POST /organizations/{id}/invitations/bulk",
	"GET /organizations/{id}/invitations/{invitation_id}",
	"POST /organizations/{id}/invitations/{invitation_id}/revoke",
)

type endpoint struct {
	name     string
	method   string
	segments []string // "" is a placeholder
}

func compileEndpoints(templates ...string) []endpoint {
	out := make([]endpoint, 0, len(templates))
	for _, t := range templates {
		method, path, _ := strings.Cut(t, " ")
		e := endpoint{name: t, method: method}
		for seg := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
			if strings.HasPrefix(seg, "{") {
				seg = ""
			}
			e.segments = append(e.segments, seg)
		}
		out = append(out, e)
	}
	return out
}

// maxEndpointSegments is more segments than any template has.
const maxEndpointSegments = 8

// ClerkEndpoint returns the endpoint template of a request to Clerk's
// Backend API, e.g. "GET /users/{id}" for method GET and path
// "/users/user_123" (relative to the API base, such as /v1): ids never
// reach a label. A request matching no template is OtherLabel.
func ClerkEndpoint(method, path string) string {
	path = strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	var segs [maxEndpointSegments]string
	n := 0
	for seg := range strings.SplitSeq(path, "/") {
		if n == maxEndpointSegments || seg == "" {
			return OtherLabel
		}
		segs[n] = seg
		n++
	}
	// Literal matches are listed before placeholder ones sharing their shape.
	for _, e := range clerkEndpoints {
		if e.method != method || len(e.segments) != n {
			continue
		}
		match := true
		for i, want := range e.segments {
			if want != "" && want != segs[i] {
				match = false
				break
			}
		}
		if match {
			return e.name
		}
	}
	return OtherLabel
}
