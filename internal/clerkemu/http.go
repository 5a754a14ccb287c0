package clerkemu

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The route templates the emulator serves; Fault.Endpoint and the keys of
// Requests use them.
const (
	RouteJWKS               = "GET /v1/jwks"
	RouteListUsers          = "GET /v1/users"
	RouteCountUsers         = "GET /v1/users/count"
	RouteGetUser            = "GET /v1/users/{id}"
	RouteDeleteUser         = "DELETE /v1/users/{id}"
	RouteUserMetadata       = "PATCH /v1/users/{id}/metadata"
	RouteListMemberships    = "GET /v1/organizations/{id}/memberships"
	RouteCreateMembership   = "POST /v1/organizations/{id}/memberships"
	RouteUpdateMembership   = "PATCH /v1/organizations/{id}/memberships/{user_id}"
	RouteMembershipMetadata = "PATCH /v1/organizations/{id}/memberships/{user_id}/metadata"
	RouteDeleteMembership   = "DELETE /v1/organizations/{id}/memberships/{user_id}"
	RouteListInvitations    = "GET /v1/organizations/{id}/invitations"
	RouteCreateInvitation   = "POST /v1/organizations/{id}/invitations"
	RouteBulkInvitations    = "POST /v1/organizations/{id}/invitations/bulk"
	RouteGetInvitation      = "GET /v1/organizations/{id}/invitations/{invitation_id}"
	RouteRevokeInvitation   = "POST /v1/organizations/{id}/invitations/{invitation_id}/revoke"
	RouteListRoles          = "GET /v1/organization_roles"
	maxFilterValues         = 100
	maxMetadataBytes        = 8 * 1024
	maxRequestBodyBytes     = 64 * 1024
	defaultLimit, maxLimit  = 10, 500
)

func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(RouteJWKS, e.getJWKS)
	mux.HandleFunc(RouteListUsers, e.listUsers)
	mux.HandleFunc(RouteCountUsers, e.countUsers)
	mux.HandleFunc(RouteGetUser, e.getUser)
	mux.HandleFunc(RouteDeleteUser, e.deleteUserHandler)
	mux.HandleFunc(RouteUserMetadata, e.patchUserMetadata)
	mux.HandleFunc(RouteListMemberships, e.listMemberships)
	mux.HandleFunc(RouteCreateMembership, e.createMembership)
	mux.HandleFunc(RouteUpdateMembership, e.updateMembership)
	mux.HandleFunc(RouteMembershipMetadata, e.patchMembershipMetadata)
	mux.HandleFunc(RouteDeleteMembership, e.deleteMembership)
	mux.HandleFunc(RouteListInvitations, e.listInvitations)
	mux.HandleFunc(RouteCreateInvitation, e.createInvitation)
	mux.HandleFunc(RouteBulkInvitations, e.bulkInvitations)
	mux.HandleFunc(RouteGetInvitation, e.getInvitation)
	mux.HandleFunc(RouteRevokeInvitation, e.revokeInvitation)
	mux.HandleFunc(RouteListRoles, e.listRoles)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errNotFound())
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, route := mux.Handler(r)
		if route == "" || route == "/" {
			route = r.Method + " (unmatched)"
		}
		e.counts.inc(route)
		w.Header().Set("Clerk-Trace-Id", e.tracePfx+strconv.FormatUint(e.traceSeq.Add(1), 16))

		if d := e.faults.decide(route, r); d.latency > 0 || d.status != 0 {
			// A read's answer is prepared as the request arrives, and sent
			// when the latency has passed since then, as Clerk's servers
			// compute theirs within their response time: the latency is
			// the time to the answer, and the emulator's own work, on the
			// client's CPUs, does not add to it. A write waits first and
			// applies after, so a cancelled write changes nothing.
			due := time.Now().Add(d.latency)
			var early *preparedAnswer
			if d.latency > 0 && d.status == 0 && r.Method == http.MethodGet && e.authorized(r) {
				early = &preparedAnswer{header: w.Header().Clone()} // the trace id, which error bodies repeat
				mux.ServeHTTP(early, r)
			}
			if wait := time.Until(due); d.latency > 0 && wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			if d.status != 0 {
				writeFault(w, r, d)
				return
			}
			if early != nil {
				early.writeTo(w)
				return
			}
		}
		if !e.authorized(r) {
			writeError(w, r, errAuth(r.Header.Get("Authorization")))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (e *Emulator) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(e.secretKey)) == 1
}

// apiError is one Clerk error answer.
type apiError struct {
	status      int
	code        string
	message     string
	longMessage string
	param       string         // meta.param_name
	meta        map[string]any // more meta, such as email_addresses
}

func errNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: "resource_not_found", message: "not found", longMessage: "Resource not found"}
}

func errAuth(header string) *apiError {
	if !strings.HasPrefix(header, "Bearer ") {
		return &apiError{status: http.StatusUnauthorized, code: "authorization_header_format_invalid", message: "Invalid Authorization header format",
			longMessage: `Invalid Authorization header format. Must be "Bearer <YOUR_API_KEY>"`}
	}
	const msg = "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct."
	return &apiError{status: http.StatusUnauthorized, code: "clerk_key_invalid", message: msg, longMessage: msg}
}

func errParam(code, param, long string) *apiError {
	msg := "is invalid"
	switch code {
	case "form_param_missing":
		msg = "missing data"
	case "form_param_unknown":
		msg = "is unknown"
	}
	return &apiError{status: http.StatusUnprocessableEntity, code: code, message: msg, longMessage: long, param: param}
}

func writeFault(w http.ResponseWriter, r *http.Request, d decision) {
	ae := &apiError{status: d.status, code: "internal_clerk_error", message: "Oops, an unexpected error occurred",
		longMessage: "There was an internal error on our servers. We've been notified and are working on fixing it."}
	switch d.status {
	case http.StatusTooManyRequests:
		ae.code, ae.message, ae.longMessage = "too_many_requests", "Too many requests", "Too many requests, please try again later."
	case http.StatusServiceUnavailable:
		ae.code, ae.message, ae.longMessage = "service_unavailable", "Service unavailable", "The service is temporarily unavailable, please try again later."
	}
	if d.retryAfter > 0 && (d.status == http.StatusTooManyRequests || d.status == http.StatusServiceUnavailable) {
		secs := int64(math.Ceil(d.retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	writeError(w, r, ae)
}

func writeError(w http.ResponseWriter, r *http.Request, ae *apiError) {
	we := wireErrorT{Message: ae.message, LongMessage: ae.longMessage, Code: ae.code}
	if ae.param != "" || len(ae.meta) > 0 {
		we.Meta = maps.Clone(ae.meta)
		if we.Meta == nil {
			we.Meta = map[string]any{}
		}
		if ae.param != "" {
			we.Meta["param_name"] = ae.param
		}
	}
	trace := w.Header().Get("Clerk-Trace-Id")
	writeJSON(w, ae.status, mustJSON(wireErrorsT{Errors: []wireErrorT{we}, ClerkTraceID: trace}))
}

func writeJSON(w http.ResponseWriter, status int, body ...[]byte) {
	n := 0
	for _, b := range body {
		n += len(b)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(status)
	for _, b := range body {
		if _, err := w.Write(b); err != nil {
			return // the client went away
		}
	}
}

var (
	listOpen  = []byte(`{"data":[`)
	listClose = []byte(`],"total_count":`)
	comma     = []byte(",")
)

// writeList writes {"data":[items...],"total_count":total}.
func writeList(w http.ResponseWriter, items [][]byte, total int) {
	body := make([][]byte, 0, 2*len(items)+3)
	body = append(body, listOpen)
	for i, it := range items {
		if i > 0 {
			body = append(body, comma)
		}
		body = append(body, it)
	}
	body = append(body, listClose, []byte(strconv.Itoa(total)+"}"))
	writeJSON(w, http.StatusOK, body...)
}

func (e *Emulator) getJWKS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, e.jwksJSON)
}

// paging parses limit (1..500, default 10) and offset (>= 0).
func paging(q url.Values) (limit, offset int, ae *apiError) {
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0, errParam("form_param_format_invalid", "limit", "limit must be an integer")
		}
		if n < 1 || n > maxLimit {
			return 0, 0, errParam("form_param_value_invalid", "limit", "limit must be between 1 and 500")
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0, errParam("form_param_format_invalid", "offset", "offset must be an integer")
		}
		if n < 0 {
			return 0, 0, errParam("form_param_value_invalid", "offset", "offset must be greater than or equal to 0")
		}
		offset = n
	}
	return limit, offset, nil
}

// order is a parsed order_by: a field and a direction.
type order struct {
	field string
	desc  bool
}

func (o order) String() string {
	if o.desc {
		return "-" + o.field
	}
	return "+" + o.field
}

// parseOrder parses order_by ("field", "+field" or "-field"; "" -> -created_at).
func parseOrder(v string, fields []string) (order, *apiError) {
	if v == "" {
		return order{"created_at", true}, nil
	}
	o := order{field: v}
	switch v[0] {
	case '-':
		o = order{v[1:], true}
	case '+', ' ': // an unescaped "+" in a query string arrives as a space
		o.field = v[1:]
	}
	if !slices.Contains(fields, o.field) {
		return order{}, errParam("form_param_value_invalid", "order_by",
			"order_by must be one of "+strings.Join(fields, ", ")+", optionally prefixed with + or -")
	}
	return o, nil
}

// sortKey is one value to order by: a number, a string, or null. Null sorts
// after every value ascending and before every value descending, as in
// PostgreSQL.
type sortKey struct {
	null bool
	n    int64
	s    string
}

func compareKeys(a, b sortKey) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return 1
	case b.null:
		return -1
	}
	if c := cmp.Compare(a.n, b.n); c != 0 {
		return c
	}
	return strings.Compare(a.s, b.s)
}

func strKey(p *string) sortKey {
	if p == nil {
		return sortKey{null: true}
	}
	return sortKey{s: *p}
}

func intKey(p *int64) sortKey {
	if p == nil {
		return sortKey{null: true}
	}
	return sortKey{n: *p}
}

func userKey(u *userRec, field string) sortKey {
	switch field {
	case "created_at":
		return sortKey{n: u.u.CreatedAt}
	case "updated_at":
		return sortKey{n: u.u.UpdatedAt}
	case "email_address":
		if u.primary == "" {
			return sortKey{null: true}
		}
		return sortKey{s: u.primary}
	case "first_name":
		return strKey(u.u.FirstName)
	case "last_name":
		return strKey(u.u.LastName)
	case "username":
		return strKey(u.u.Username)
	case "last_active_at":
		return intKey(u.u.LastActiveAt)
	case "last_sign_in_at":
		return intKey(u.u.LastSignInAt)
	}
	return sortKey{null: true} // phone_number, web3wallet: the emulator's users have none
}

var (
	userOrderFields       = []string{"created_at", "updated_at", "email_address", "web3wallet", "first_name", "last_name", "phone_number", "username", "last_active_at", "last_sign_in_at"}
	membershipOrderFields = []string{"created_at", "updated_at", "email_address", "phone_number", "first_name", "last_name", "username"}
	invitationOrderFields = []string{"created_at", "email_address"}
)

// sortBy sorts recs by key, ties broken by id; descending reverses both.
func sortBy[T any](recs []T, o order, key func(T) sortKey, id func(T) string) {
	keys := make(map[string]sortKey, len(recs))
	for _, r := range recs {
		keys[id(r)] = key(r)
	}
	slices.SortFunc(recs, func(a, b T) int {
		c := compareKeys(keys[id(a)], keys[id(b)])
		if c == 0 {
			c = strings.Compare(id(a), id(b))
		}
		if o.desc {
			return -c
		}
		return c
	})
}

// userView returns the listed (not hidden) users in order o. Callers hold
// the read lock; the slice is shared and must not be modified.
func (st *state) userView(o order) []*userRec {
	k := o.String()
	st.cacheMu.Lock()
	v, ok := st.userViews[k]
	st.cacheMu.Unlock()
	if ok {
		return v
	}
	v = make([]*userRec, 0, len(st.userOrder))
	for _, ur := range st.userOrder {
		if !st.hidden[ur.u.ID] {
			v = append(v, ur)
		}
	}
	sortBy(v, o, func(u *userRec) sortKey { return userKey(u, o.field) }, func(u *userRec) string { return u.u.ID })
	st.cacheMu.Lock()
	st.userViews[k] = v
	st.cacheMu.Unlock()
	return v
}

// memView returns the memberships of or in order o, with the same rules as userView.
func (st *state) memView(or *orgRec, o order) []*memRec {
	k := or.o.ID + " " + o.String()
	st.cacheMu.Lock()
	v, ok := st.memViews[k]
	st.cacheMu.Unlock()
	if ok {
		return v
	}
	v = slices.Clone(or.members)
	sortBy(v, o, func(m *memRec) sortKey {
		switch o.field {
		case "created_at":
			return sortKey{n: m.m.CreatedAt}
		case "updated_at":
			return sortKey{n: m.m.UpdatedAt}
		}
		return userKey(m.user, o.field)
	}, func(m *memRec) string { return m.m.ID })
	st.cacheMu.Lock()
	st.memViews[k] = v
	st.cacheMu.Unlock()
	return v
}

// idSet is a +/- list of ids: include any of inc (when non-empty), exclude all of exc.
type idSet struct {
	inc, exc map[string]bool
}

func (s *idSet) any() bool { return len(s.inc) > 0 || len(s.exc) > 0 }

func parseIDSet(vals []string) idSet {
	var s idSet
	for _, v := range vals {
		if rest, ok := strings.CutPrefix(v, "-"); ok {
			if s.exc == nil {
				s.exc = map[string]bool{}
			}
			s.exc[rest] = true
			continue
		}
		v = strings.TrimPrefix(strings.TrimPrefix(v, " "), "+")
		if s.inc == nil {
			s.inc = map[string]bool{}
		}
		s.inc[v] = true
	}
	return s
}

// matches reports whether ids (the values of one record) satisfy s.
func (s *idSet) matches(ids ...string) bool {
	if len(s.inc) > 0 && !slices.ContainsFunc(ids, func(id string) bool { return s.inc[id] }) {
		return false
	}
	return !slices.ContainsFunc(ids, func(id string) bool { return s.exc[id] })
}

// userFilter holds the user filters shared by GET /v1/users, /v1/users/count
// and the memberships list.
type userFilter struct {
	orgs, users                                 idSet
	emails, usernames, externalIDs              map[string]bool
	impossible                                  bool // phone_number / web3_wallet given: no user has one
	query, emailQuery, usernameQuery, nameQuery string
	banned                                      *bool
	createdBefore, createdAfter                 *int64
	signInBefore, signInAfter                   *int64
	activeBefore, activeAfter                   *int64
}

func parseUserFilter(q url.Values) (*userFilter, *apiError) {
	f := &userFilter{}
	for _, p := range []string{"email_address", "phone_number", "external_id", "username", "web3_wallet", "user_id", "organization_id", "role"} {
		if len(q[p]) > maxFilterValues {
			return nil, errParam("form_param_value_invalid", p, fmt.Sprintf("%s accepts up to %d values", p, maxFilterValues))
		}
	}
	f.orgs = parseIDSet(q["organization_id"])
	f.users = parseIDSet(q["user_id"])
	f.emails = lowerSet(q["email_address"])
	f.usernames = lowerSet(q["username"])
	f.externalIDs = lowerSet(q["external_id"])
	f.impossible = len(q["phone_number"]) > 0 || len(q["web3_wallet"]) > 0 || q.Get("phone_number_query") != ""
	f.query = strings.ToLower(q.Get("query"))
	f.emailQuery = strings.ToLower(q.Get("email_address_query"))
	f.usernameQuery = strings.ToLower(q.Get("username_query"))
	f.nameQuery = strings.ToLower(q.Get("name_query"))
	if v := q.Get("banned"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errParam("form_param_format_invalid", "banned", "banned must be true or false")
		}
		f.banned = &b
	}
	ints := []struct {
		name string
		dst  **int64
	}{
		{"created_at_before", &f.createdBefore}, {"created_at_after", &f.createdAfter},
		{"last_sign_in_at_before", &f.signInBefore}, {"last_sign_in_at_after", &f.signInAfter},
		{"last_active_at_before", &f.activeBefore}, {"last_active_at_after", &f.activeAfter},
		{"last_active_at_since", &f.activeAfter},
	}
	for _, p := range ints {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, errParam("form_param_format_invalid", p.name, p.name+" must be a Unix timestamp in milliseconds")
			}
			*p.dst = &n
		}
	}
	return f, nil
}

func lowerSet(vals []string) map[string]bool {
	if len(vals) == 0 {
		return nil
	}
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[strings.ToLower(v)] = true
	}
	return m
}

func (f *userFilter) match(ur *userRec) bool {
	u := &ur.u
	if f.impossible {
		return false
	}
	if f.orgs.any() && !f.orgs.matches(ur.orgs...) {
		return false
	}
	if f.users.any() && !f.users.matches(u.ID) {
		return false
	}
	if f.emails != nil && !slices.ContainsFunc(u.EmailAddresses, func(e EmailAddress) bool { return f.emails[strings.ToLower(e.EmailAddress)] }) {
		return false
	}
	if f.usernames != nil && (u.Username == nil || !f.usernames[strings.ToLower(*u.Username)]) {
		return false
	}
	if f.externalIDs != nil && (u.ExternalID == nil || !f.externalIDs[strings.ToLower(*u.ExternalID)]) {
		return false
	}
	if f.query != "" && !strings.Contains(ur.search, f.query) {
		return false
	}
	if f.emailQuery != "" && !slices.ContainsFunc(u.EmailAddresses, func(e EmailAddress) bool {
		return strings.Contains(strings.ToLower(e.EmailAddress), f.emailQuery)
	}) {
		return false
	}
	if f.usernameQuery != "" && (u.Username == nil || !strings.Contains(strings.ToLower(*u.Username), f.usernameQuery)) {
		return false
	}
	if f.nameQuery != "" {
		name := strings.ToLower(deref(u.FirstName) + " " + deref(u.LastName))
		if !strings.Contains(name, f.nameQuery) {
			return false
		}
	}
	if f.banned != nil && u.Banned != *f.banned {
		return false
	}
	return inRange(&u.CreatedAt, f.createdAfter, f.createdBefore) &&
		inRange(u.LastSignInAt, f.signInAfter, f.signInBefore) &&
		inRange(u.LastActiveAt, f.activeAfter, f.activeBefore)
}

// inRange reports whether v is strictly between after and before (each
// optional); a null v matches only when neither bound is set.
func inRange(v, after, before *int64) bool {
	if after == nil && before == nil {
		return true
	}
	if v == nil {
		return false
	}
	return (after == nil || *v > *after) && (before == nil || *v < *before)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// listParams reads what every list endpoint shares: paging, ordering by
// one of fields, and the user filter.
func listParams(q url.Values, fields []string) (limit, offset int, o order, f *userFilter, ae *apiError) {
	if limit, offset, ae = paging(q); ae != nil {
		return
	}
	if o, ae = parseOrder(q.Get("order_by"), fields); ae != nil {
		return
	}
	f, ae = parseUserFilter(q)
	return
}

func (e *Emulator) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, o, f, ae := listParams(q, userOrderFields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	after := q.Get("starting_after")
	if after != "" && o.field != "created_at" {
		writeError(w, r, errParam("form_param_value_invalid", "starting_after", "starting_after requires ordering by created_at"))
		return
	}
	if after != "" && offset != 0 {
		writeError(w, r, errParam("form_param_value_invalid", "starting_after", "starting_after cannot be combined with a non-zero offset"))
		return
	}

	e.mu.RLock()
	defer e.mu.RUnlock()
	view := e.st.userView(o)
	if after != "" {
		i := slices.IndexFunc(view, func(u *userRec) bool { return u.u.ID == after })
		if i < 0 {
			writeError(w, r, errParam("form_param_value_invalid", "starting_after", "starting_after must be the id of a listed user"))
			return
		}
		view = view[i+1:]
	}
	items := make([][]byte, 0, limit)
	skipped := 0
	for _, ur := range view {
		if len(items) == limit {
			break
		}
		if !f.match(ur) {
			continue
		}
		if skipped < offset {
			skipped++
			continue
		}
		items = append(items, ur.json)
	}
	body := make([][]byte, 0, 2*len(items)+1)
	body = append(body, []byte("["))
	for i, it := range items {
		if i > 0 {
			body = append(body, comma)
		}
		body = append(body, it)
	}
	body = append(body, []byte("]"))
	writeJSON(w, http.StatusOK, body...)
}

func (e *Emulator) countUsers(w http.ResponseWriter, r *http.Request) {
	f, ae := parseUserFilter(r.URL.Query())
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	e.mu.RLock()
	n := 0
	for _, ur := range e.st.userView(order{"created_at", true}) {
		if f.match(ur) {
			n++
		}
	}
	e.mu.RUnlock()
	writeJSON(w, http.StatusOK, []byte(`{"object":"total_count","total_count":`+strconv.Itoa(n)+"}"))
}

func (e *Emulator) getUser(w http.ResponseWriter, r *http.Request) {
	e.mu.RLock()
	ur := e.st.users[r.PathValue("id")]
	var body []byte
	if ur != nil {
		body = ur.json
	}
	e.mu.RUnlock()
	if body == nil {
		writeError(w, r, errNotFound())
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) listMemberships(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, o, f, ae := listParams(q, membershipOrderFields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	var roles map[string]bool
	if rs := q["role"]; len(rs) > 0 {
		roles = make(map[string]bool, len(rs))
		for _, r := range rs {
			roles[r] = true
		}
	}

	e.mu.RLock()
	defer e.mu.RUnlock()
	or := e.st.orgs[r.PathValue("id")]
	if or == nil {
		writeError(w, r, errNotFound())
		return
	}
	items := make([][]byte, 0, limit)
	total := 0
	for _, mr := range e.st.memView(or, o) {
		if roles != nil && !roles[mr.m.Role] {
			continue
		}
		if !f.match(mr.user) {
			continue
		}
		if total >= offset && len(items) < limit {
			items = append(items, mr.json)
		}
		total++
	}
	writeList(w, items, total)
}

func (e *Emulator) listInvitations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, ae := paging(q)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	o, ae := parseOrder(q.Get("order_by"), invitationOrderFields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	statuses := map[string]bool{}
	for _, s := range q["status"] {
		if !slices.Contains([]string{"pending", "accepted", "revoked", "expired"}, s) {
			writeError(w, r, errParam("form_param_value_invalid", "status", "status must be one of pending, accepted, revoked, expired"))
			return
		}
		statuses[s] = true
	}
	email := strings.ToLower(q.Get("email_address"))

	e.mu.RLock()
	defer e.mu.RUnlock()
	id := r.PathValue("id")
	if e.st.orgs[id] == nil {
		writeError(w, r, errNotFound())
		return
	}
	var invs []*Invitation
	for _, inv := range e.st.invites[id] {
		if (len(statuses) == 0 || statuses[inv.Status]) && (email == "" || strings.ToLower(inv.EmailAddress) == email) {
			invs = append(invs, inv)
		}
	}
	sortBy(invs, o, func(inv *Invitation) sortKey {
		if o.field == "email_address" {
			return sortKey{s: inv.EmailAddress}
		}
		return sortKey{n: inv.CreatedAt}
	}, func(inv *Invitation) string { return inv.ID })
	total := len(invs)
	invs = invs[min(offset, total):min(offset+limit, total)]
	items := make([][]byte, len(invs))
	for i, inv := range invs {
		items[i] = e.st.encodeInvitation(inv)
	}
	writeList(w, items, total)
}

// decodeBody decodes a JSON object body into fields, rejecting unknown
// fields (allowed lists the known ones). Metadata numbers stay exact.
func decodeBody(r *http.Request, allowed ...string) (map[string]json.RawMessage, *apiError) {
	raw, ae := readBody(r, maxRequestBodyBytes)
	if ae != nil {
		return nil, ae
	}
	var fields map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, errParam("form_param_format_invalid", "body", "the request body must be a JSON object")
		}
	}
	return fields, checkFields(fields, allowed)
}

// readBody reads a request body of at most limit bytes.
func readBody(r *http.Request, limit int) ([]byte, *apiError) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil || len(raw) > limit {
		return nil, errParam("form_param_value_invalid", "body", "the request body is too large or unreadable")
	}
	return raw, nil
}

// checkFields refuses the first field not in allowed.
func checkFields(fields map[string]json.RawMessage, allowed []string) *apiError {
	for k := range fields {
		if !slices.Contains(allowed, k) {
			return errParam("form_param_unknown", k, k+" is not a recognized parameter")
		}
	}
	return nil
}

// metadataPatches decodes the metadata objects among fields (null -> no
// patch), numbers kept exact.
func metadataPatches(fields map[string]json.RawMessage) (map[string]map[string]any, *apiError) {
	patches := map[string]map[string]any{}
	for k, raw := range fields {
		if !strings.HasSuffix(k, "_metadata") || string(raw) == "null" {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, errParam("form_param_format_invalid", k, k+" must be a JSON object")
		}
		patches[k] = m
	}
	return patches, nil
}

// applyPatches deep-merges patches[k] into *dsts[k] for every k in dsts,
// refusing results larger than maxMetadataBytes.
func applyPatches(patches map[string]map[string]any, dsts map[string]*map[string]any) *apiError {
	for k, dst := range dsts {
		p, ok := patches[k]
		if !ok {
			continue
		}
		*dst = deepMerge(*dst, p)
		if b, _ := json.Marshal(*dst); len(b) > maxMetadataBytes {
			return errParam("form_param_value_invalid", k, fmt.Sprintf("%s must not exceed %d bytes", k, maxMetadataBytes))
		}
	}
	return nil
}

func (e *Emulator) patchUserMetadata(w http.ResponseWriter, r *http.Request) {
	fields, ae := decodeBody(r, "public_metadata", "private_metadata", "unsafe_metadata")
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	patches, ae := metadataPatches(fields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	ob := requestOutbox(r)
	body, ae := e.mergeUserMetadata(r.PathValue("id"), patches, ob)
	e.deliver(ob)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) mergeUserMetadata(userID string, patches map[string]map[string]any, ob *outbox) ([]byte, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ur := e.st.users[userID]
	if ur == nil {
		return nil, errNotFound()
	}
	if len(patches) == 0 {
		return ur.json, nil
	}
	u := ur.u.clone()
	if ae := applyPatches(patches, map[string]*map[string]any{
		"public_metadata": &u.PublicMetadata, "private_metadata": &u.PrivateMetadata, "unsafe_metadata": &u.UnsafeMetadata,
	}); ae != nil {
		return nil, ae
	}
	e.st.replaceUser(ur, u)
	ob.add(EventUserUpdated, ur.json)
	return ur.json, nil
}

// deepMerge merges patch into dst (a copy is returned): nested objects merge,
// null values delete keys, anything else replaces.
func deepMerge(dst, patch map[string]any) map[string]any {
	out := cloneMap(dst)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			cur, _ := out[k].(map[string]any)
			out[k] = deepMerge(cur, pv)
		default:
			out[k] = v
		}
	}
	return out
}

// stringParam reads the string parameter name from fields: "" when absent
// or null, form_param_missing when required and absent, null or empty,
// form_param_type_invalid when not a string.
func stringParam(fields map[string]json.RawMessage, name string, required bool) (string, *apiError) {
	raw, ok := fields[name]
	var v string
	if ok && string(raw) != "null" && json.Unmarshal(raw, &v) != nil {
		return "", errParam("form_param_type_invalid", name, "`"+name+"` must be a `string`.")
	}
	if required && v == "" {
		return "", errParam("form_param_missing", name, name+" must be included.")
	}
	return v, nil
}

// roleParam reads the required role key from fields. Whether the instance
// has that role is checked under the lock (roleNotFound).
func roleParam(fields map[string]json.RawMessage) (string, *apiError) {
	return stringParam(fields, "role", true)
}

func (e *Emulator) createMembership(w http.ResponseWriter, r *http.Request) {
	fields, ae := decodeBody(r, "user_id", "role", "public_metadata", "private_metadata")
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	userID, ae := stringParam(fields, "user_id", true)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	role, ae := roleParam(fields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	patches, ae := metadataPatches(fields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	ob := requestOutbox(r)
	body, ae := e.createMember(r.PathValue("id"), userID, role, patches, ob)
	e.deliver(ob)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) createMember(orgID, userID, role string, patches map[string]map[string]any, ob *outbox) ([]byte, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	or, ur := e.st.orgs[orgID], e.st.users[userID]
	if or == nil || ur == nil {
		return nil, errNotFound()
	}
	if e.st.roleByKey[role] == nil {
		return nil, roleNotFound()
	}
	if or.byUser[userID] != nil {
		return nil, errAlreadyMember(cmp.Or(ur.primary, userID))
	}
	now := time.Now().UnixMilli()
	m := Membership{ID: "orgmem_2" + randomToken(26), OrganizationID: orgID, UserID: userID, Role: role, CreatedAt: now, UpdatedAt: now}
	if ae := applyPatches(patches, map[string]*map[string]any{"public_metadata": &m.PublicMetadata, "private_metadata": &m.PrivateMetadata}); ae != nil {
		return nil, ae
	}
	mr := e.st.addMembership(m)
	e.st.invalidate()
	ob.add(EventMembershipCreated, mr.json)
	return mr.json, nil
}

func (e *Emulator) updateMembership(w http.ResponseWriter, r *http.Request) {
	fields, ae := decodeBody(r, "role")
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	role, ae := roleParam(fields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	ob := requestOutbox(r)
	body, err := e.setMemberRole(r.PathValue("id"), r.PathValue("user_id"), role, true, ob)
	e.deliver(ob)
	switch {
	case errors.Is(err, errUnknownRole):
		writeError(w, r, roleNotFound())
	case err != nil:
		writeError(w, r, errNotFound())
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

// errAlreadyMember is Clerk's AlreadyAMemberOfOrganization; who is an
// email address (a user id for a user without one).
func errAlreadyMember(who string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "already_a_member_in_organization", message: "already a member",
		longMessage: who + " is already a member of the organization."}
}

func (e *Emulator) patchMembershipMetadata(w http.ResponseWriter, r *http.Request) {
	fields, ae := decodeBody(r, "public_metadata", "private_metadata")
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	patches, ae := metadataPatches(fields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	ob := requestOutbox(r)
	body, ae := e.mergeMembershipMetadata(r.PathValue("id"), r.PathValue("user_id"), patches, ob)
	e.deliver(ob)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) mergeMembershipMetadata(orgID, userID string, patches map[string]map[string]any, ob *outbox) ([]byte, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	mr := e.st.membership(orgID, userID)
	if mr == nil {
		return nil, errNotFound()
	}
	if len(patches) == 0 {
		return mr.json, nil
	}
	m := mr.m.clone()
	if ae := applyPatches(patches, map[string]*map[string]any{"public_metadata": &m.PublicMetadata, "private_metadata": &m.PrivateMetadata}); ae != nil {
		return nil, ae
	}
	mr.m = m
	e.st.touchMembership(mr)
	ob.add(EventMembershipUpdated, mr.json)
	return mr.json, nil
}

func (e *Emulator) deleteMembership(w http.ResponseWriter, r *http.Request) {
	ob := requestOutbox(r)
	body, err := e.removeMember(r.PathValue("id"), r.PathValue("user_id"), ob)
	e.deliver(ob)
	if err != nil {
		writeError(w, r, errNotFound())
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) deleteUserHandler(w http.ResponseWriter, r *http.Request) {
	ob := requestOutbox(r)
	id := r.PathValue("id")
	err := e.deleteUser(id, ob)
	e.deliver(ob)
	if err != nil {
		writeError(w, r, errNotFound())
		return
	}
	writeJSON(w, http.StatusOK, mustJSON(&deletedObject{Object: "user", ID: id, Deleted: true}))
}

// preparedAnswer is a read's answer computed before its latency ran out.
type preparedAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *preparedAnswer) Header() http.Header { return a.header }

func (a *preparedAnswer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
		if n, err := strconv.Atoi(a.header.Get("Content-Length")); err == nil && n > 0 {
			a.body.Grow(n) // a list's items arrive as a thousand small writes
		}
	}
}

func (a *preparedAnswer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(b)
}

// writeTo sends the answer.
func (a *preparedAnswer) writeTo(w http.ResponseWriter) {
	maps.Copy(w.Header(), a.header)
	w.WriteHeader(cmp.Or(a.status, http.StatusOK))
	w.Write(a.body.Bytes())
}
