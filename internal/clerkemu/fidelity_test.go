package clerkemu_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

// specDoc is the Backend API spec (testdata/bapi-2025-04-10.yml, MIT, see
// testdata/LICENSE), loaded once.
var specDoc struct {
	once sync.Once
	doc  *openapi3.T
	err  error
}

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	specDoc.once.Do(func() {
		loader := openapi3.NewLoader()
		specDoc.doc, specDoc.err = loader.LoadFromFile("testdata/bapi-2025-04-10.yml")
	})
	if specDoc.err != nil {
		t.Fatalf("loading spec: %v", specDoc.err)
	}
	return specDoc.doc
}

// validator checks requests and responses against the spec, with the
// server URL of one test server.
type validator struct {
	router      routers.Router
	clerkErrors *openapi3.Schema
}

func newValidator(t *testing.T, serverURL string) *validator {
	t.Helper()
	base := loadSpec(t)
	doc := *base // shallow copy: only Servers changes
	doc.Servers = openapi3.Servers{{URL: serverURL + "/v1"}}
	router, err := legacy.NewRouter(&doc, openapi3.DisableExamplesValidation())
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	ref := doc.Components.Schemas["ClerkErrors"]
	if ref == nil || ref.Value == nil {
		t.Fatal("spec has no ClerkErrors schema")
	}
	return &validator{router: router, clerkErrors: ref.Value}
}

var bearerOnly = func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearerAuth" || !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return openapi3filter.ErrAuthenticationServiceMissing
	}
	return nil
}

// exchange sends one request and validates it and its answer. When
// wantReqValid is false the request must violate the spec (the emulator
// must reject what the spec rejects). It returns the status and body.
func (v *validator) exchange(t *testing.T, srv *httptest.Server, auth, method, path, body string, wantReqValid bool) (int, []byte) {
	t.Helper()
	status, header, respBody := callKey(t, srv, auth, method, path, body)

	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, srv.URL+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no route in the spec: %v", method, path, err)
	}
	opts := &openapi3filter.Options{MultiError: true, AuthenticationFunc: bearerOnly}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case wantReqValid && reqErr != nil && auth != "" && status != http.StatusUnauthorized:
		t.Errorf("%s %s: the spec rejects the request: %v", method, path, reqErr)
	case !wantReqValid && reqErr == nil:
		t.Errorf("%s %s: the spec accepts the request the test expects to be invalid", method, path)
	}

	respIn := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Options: opts,
	}
	respIn.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), respIn); err != nil {
		t.Errorf("%s %s -> %d: response violates the spec: %v\nbody: %.600s", method, path, status, err, respBody)
	}
	if status >= 400 {
		// Also for statuses the operation does not declare (429 anywhere, 404 on lists).
		var doc any
		if err := json.Unmarshal(respBody, &doc); err != nil {
			t.Fatalf("%s %s -> %d: body is not JSON: %v", method, path, status, err)
		}
		if err := v.clerkErrors.VisitJSON(doc); err != nil {
			t.Errorf("%s %s -> %d: body is not ClerkErrors: %v", method, path, status, err)
		}
		if header.Get("Clerk-Trace-Id") == "" || decodeErr(t, respBody).Trace != header.Get("Clerk-Trace-Id") {
			t.Errorf("%s %s -> %d: trace id missing or differs between header and body", method, path, status)
		}
	}
	return status, respBody
}

func TestResponsesMatchSpec(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{})
	v := newValidator(t, srv.URL)
	auth := "Bearer " + emu.SecretKey()
	noNames := emu.Data().Users[4].ID // index 4: no first or last name
	midMember := emu.Data().MemberIDs(clerkemu.OrgMid, clerkemu.RoleMember)[0]
	midOther := emu.Data().MemberIDs(clerkemu.OrgMid, clerkemu.RoleMember)[1]
	smallMemberEmail := emu.Data().User(clerkemu.UserSmallMember).PrimaryEmail()
	var smallPending, acmeAccepted string
	for _, inv := range emu.Data().Invitations {
		switch {
		case inv.OrganizationID == clerkemu.OrgSmall && inv.Status == "pending" && smallPending == "":
			smallPending = inv.ID
		case inv.OrganizationID == clerkemu.OrgAcme && inv.Status == "accepted" && acmeAccepted == "":
			acmeAccepted = inv.ID
		}
	}
	invitations := "/v1/organizations/org_small/invitations"
	invite := func(email, extra string) string {
		return `{"email_address":"` + email + `","role":"org:member"` + extra + `}`
	}
	bulk := func(n int, prefix string) string {
		items := make([]string, n)
		for i := range items {
			items[i] = invite(prefix+strconv.Itoa(i)+"@example.com", `,"public_metadata":{"i":`+strconv.Itoa(i)+`},"private_metadata":null,"redirect_url":null`)
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	cases := []struct {
		name, method, path, body string
		auth                     string // "" -> the right key; "-" -> none
		reqValid                 bool
		want                     int
		wantCode, wantParam      string
	}{
		{"jwks", "GET", "/v1/jwks", "", "", true, 200, "", ""},
		{"users default", "GET", "/v1/users", "", "", true, 200, "", ""},
		{"users filtered", "GET", "/v1/users?organization_id=org_small&order_by=-last_sign_in_at&limit=20", "", "", true, 200, "", ""},
		{"users query", "GET", "/v1/users?query=lovelace&banned=false&email_address=x@example.com&user_id=-user_no_org", "", "", true, 200, "", ""},
		{"users starting_after", "GET", "/v1/users?starting_after=" + clerkemu.UserAcmeMember + "&limit=3", "", "", true, 200, "", ""},
		{"users starting_after needs created_at", "GET", "/v1/users?starting_after=" + clerkemu.UserAcmeMember + "&order_by=username", "", "", true, 422, "form_param_value_invalid", "starting_after"},
		{"users count", "GET", "/v1/users/count?organization_id=org_acme", "", "", true, 200, "", ""},
		{"users limit 0", "GET", "/v1/users?limit=0", "", "", false, 422, "form_param_value_invalid", "limit"},
		{"users limit 501", "GET", "/v1/users?limit=501", "", "", false, 422, "form_param_value_invalid", "limit"},
		{"users limit abc", "GET", "/v1/users?limit=abc", "", "", false, 422, "form_param_format_invalid", "limit"},
		{"users offset -1", "GET", "/v1/users?offset=-1", "", "", false, 422, "form_param_value_invalid", "offset"},
		{"users order_by unknown", "GET", "/v1/users?order_by=-salary", "", "", true, 422, "form_param_value_invalid", "order_by"},
		{"users banned not bool", "GET", "/v1/users?banned=maybe", "", "", false, 422, "form_param_format_invalid", "banned"},
		{"users wrong key", "GET", "/v1/users", "", "Bearer sk_test_wrong", true, 401, "clerk_key_invalid", ""},
		{"users no key", "GET", "/v1/users", "", "-", false, 401, "authorization_header_format_invalid", ""},
		{"user several emails", "GET", "/v1/users/" + clerkemu.UserAcmeMember, "", "", true, 200, "", ""},
		{"user without names", "GET", "/v1/users/" + noNames, "", "", true, 200, "", ""},
		{"user unknown", "GET", "/v1/users/user_nope", "", "", true, 404, "resource_not_found", ""},
		{"user wrong key", "GET", "/v1/users/" + clerkemu.UserAcmeAdmin, "", "Bearer nope", true, 401, "clerk_key_invalid", ""},
		{"metadata merge", "PATCH", "/v1/users/" + clerkemu.UserSmallMember + "/metadata", `{"public_metadata":{"department":"Legal","location":{"city":"Lyon"}},"private_metadata":{"salary":null}}`, "", true, 200, "", ""},
		{"metadata unknown field", "PATCH", "/v1/users/" + clerkemu.UserSmallMember + "/metadata", `{"secret":{}}`, "", false, 422, "form_param_unknown", "secret"},
		{"metadata not object", "PATCH", "/v1/users/" + clerkemu.UserSmallMember + "/metadata", `{"public_metadata":7}`, "", false, 422, "form_param_format_invalid", "public_metadata"},
		{"metadata unknown user", "PATCH", "/v1/users/user_nope/metadata", `{"public_metadata":{}}`, "", true, 404, "resource_not_found", ""},
		{"memberships acme 500", "GET", "/v1/organizations/org_acme/memberships?limit=500&offset=700", "", "", true, 200, "", ""},
		{"memberships filtered", "GET", "/v1/organizations/org_acme/memberships?role=org:admin&role=org:billing&order_by=+email_address&query=a", "", "", true, 200, "", ""},
		{"memberships user_id", "GET", "/v1/organizations/org_small/memberships?user_id=" + clerkemu.UserSmallAdmin + "&email_address=nobody@example.com", "", "", true, 200, "", ""},
		{"memberships solo", "GET", "/v1/organizations/org_solo/memberships", "", "", true, 200, "", ""},
		{"memberships limit 501", "GET", "/v1/organizations/org_acme/memberships?limit=501", "", "", false, 422, "form_param_value_invalid", "limit"},
		{"memberships offset abc", "GET", "/v1/organizations/org_acme/memberships?offset=abc", "", "", false, 422, "form_param_format_invalid", "offset"},
		{"memberships order_by unknown", "GET", "/v1/organizations/org_acme/memberships?order_by=role", "", "", true, 422, "form_param_value_invalid", "order_by"},
		{"memberships unknown org", "GET", "/v1/organizations/org_nope/memberships", "", "", true, 404, "resource_not_found", ""},
		{"memberships wrong key", "GET", "/v1/organizations/org_acme/memberships", "", "Bearer sk_live_x", true, 401, "clerk_key_invalid", ""},
		{"membership role change", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember, `{"role":"org:viewer"}`, "", true, 200, "", ""},
		{"membership role missing", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember, `{}`, "", false, 422, "form_param_missing", "role"},
		{"membership role of non-member", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserNoOrg, `{"role":"org:viewer"}`, "", true, 404, "resource_not_found", ""},
		{"membership delete", "DELETE", "/v1/organizations/org_mid/memberships/" + midMember, "", "", true, 200, "", ""},
		{"membership delete again", "DELETE", "/v1/organizations/org_mid/memberships/" + midMember, "", "", true, 404, "resource_not_found", ""},
		{"invitations", "GET", "/v1/organizations/org_acme/invitations?limit=50", "", "", true, 200, "", ""},
		{"invitations pending by email", "GET", "/v1/organizations/org_acme/invitations?status=pending&order_by=email_address", "", "", true, 200, "", ""},
		{"invitations no inviter", "GET", "/v1/organizations/org_solo/invitations", "", "", true, 200, "", ""},
		{"invitations bad status", "GET", "/v1/organizations/org_acme/invitations?status=bogus", "", "", false, 422, "form_param_value_invalid", "status"},
		{"invitations unknown org", "GET", "/v1/organizations/org_nope/invitations", "", "", true, 404, "resource_not_found", ""},
		{"membership create", "POST", "/v1/organizations/org_solo/memberships", `{"user_id":"` + clerkemu.UserNoOrg + `","role":"org:member","public_metadata":{"seat":1},"private_metadata":null}`, "", true, 200, "", ""},
		{"membership create again", "POST", "/v1/organizations/org_solo/memberships", `{"user_id":"` + clerkemu.UserNoOrg + `","role":"org:member"}`, "", true, 400, "already_a_member_in_organization", ""},
		{"membership create no user_id", "POST", "/v1/organizations/org_solo/memberships", `{"role":"org:member"}`, "", false, 422, "form_param_missing", "user_id"},
		{"membership create unknown user", "POST", "/v1/organizations/org_solo/memberships", `{"user_id":"user_nope","role":"org:member"}`, "", true, 404, "resource_not_found", ""},
		{"membership metadata", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember + "/metadata", `{"public_metadata":{"team":{"name":"blue"}},"private_metadata":{"note":null}}`, "", true, 200, "", ""},
		{"membership metadata unknown field", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember + "/metadata", `{"role":"org:admin"}`, "", false, 422, "form_param_unknown", "role"},
		{"membership metadata of non-member", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSoloAdmin + "/metadata", `{"public_metadata":{}}`, "", true, 404, "resource_not_found", ""},
		{"user delete", "DELETE", "/v1/users/" + midOther, "", "", true, 200, "", ""},
		{"user delete again", "DELETE", "/v1/users/" + midOther, "", "", true, 404, "resource_not_found", ""},

		{"roles", "GET", "/v1/organization_roles", "", "", true, 200, "", ""},
		{"roles paged by key", "GET", "/v1/organization_roles?limit=2&offset=1&order_by=key", "", "", true, 200, "", ""},
		{"roles query", "GET", "/v1/organization_roles?query=bill&order_by=-name", "", "", true, 200, "", ""},
		{"roles limit 501", "GET", "/v1/organization_roles?limit=501", "", "", false, 422, "form_param_value_invalid", "limit"},
		{"roles order_by unknown", "GET", "/v1/organization_roles?order_by=permissions", "", "", true, 422, "form_param_value_invalid", "order_by"},
		{"roles wrong key", "GET", "/v1/organization_roles", "", "Bearer sk_test_wrong", true, 401, "clerk_key_invalid", ""},
		{"membership unknown role", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember, `{"role":"org:nope"}`, "", true, 404, "resource_not_found", "role"},
		{"membership role not a string", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserSmallMember, `{"role":5}`, "", false, 422, "form_param_type_invalid", "role"},
		{"membership unknown role of non-member", "PATCH", "/v1/organizations/org_small/memberships/" + clerkemu.UserNoOrg, `{"role":"org:nope"}`, "", true, 404, "resource_not_found", ""},
		{"membership create unknown role", "POST", "/v1/organizations/org_solo/memberships", `{"user_id":"` + clerkemu.UserSmallAdmin + `","role":"admin"}`, "", true, 404, "resource_not_found", "role"},
		{"invitation create", "POST", invitations, invite("new.person@example.com", `,"inviter_user_id":"`+clerkemu.UserSmallAdmin+`","public_metadata":{"team":"blue"},"private_metadata":{"ref":1},"redirect_url":"https://app.example.com/accept","expires_in_days":7,"notify":false`), "", true, 200, "", ""},
		{"invitation create minimal", "POST", invitations, invite("minimal@example.com", ""), "", true, 200, "", ""},
		{"invitation duplicate", "POST", invitations, invite("NEW.person@example.com", ""), "", true, 400, "organization_invitation_not_unique", ""},
		{"invitation of a member", "POST", invitations, invite(smallMemberEmail, ""), "", true, 400, "already_a_member_in_organization", ""},
		{"invitation invalid email", "POST", invitations, invite("not-an-email", ""), "", true, 422, "form_param_format_invalid", "email_address"},
		{"invitation no role", "POST", invitations, `{"email_address":"x@example.com"}`, "", false, 422, "form_param_missing", "role"},
		{"invitation unknown role", "POST", invitations, `{"email_address":"x@example.com","role":"org:nope"}`, "", true, 404, "resource_not_found", "role"},
		{"invitation inviter not admin", "POST", invitations, invite("x@example.com", `,"inviter_user_id":"`+clerkemu.UserSmallMember+`"`), "", true, 403, "not_an_admin_in_organization", ""},
		{"invitation expires_in_days 0", "POST", invitations, invite("x@example.com", `,"expires_in_days":0`), "", false, 422, "form_param_value_invalid", "expires_in_days"},
		{"invitation bad redirect_url", "POST", invitations, invite("x@example.com", `,"redirect_url":"/relative"`), "", true, 422, "form_param_format_invalid", "redirect_url"},
		{"invitation unknown org", "POST", "/v1/organizations/org_nope/invitations", invite("x@example.com", ""), "", true, 404, "resource_not_found", ""},
		{"invitations bulk of 10", "POST", invitations + "/bulk", bulk(10, "bulk"), "", true, 200, "", ""},
		{"invitations bulk of 11", "POST", invitations + "/bulk", bulk(11, "eleven"), "", false, 422, "form_param_array_size_exceeded", ""},
		{"invitations bulk empty", "POST", invitations + "/bulk", "[]", "", false, 422, "form_param_missing", ""},
		{"invitations bulk duplicate", "POST", invitations + "/bulk", bulk(2, "bulk"), "", true, 400, "duplicate_record", ""},
		{"invitations bulk invalid email", "POST", invitations + "/bulk", "[" + invite("a@example.com", "") + "," + invite("b@", "") + "]", "", true, 422, "form_param_format_invalid", "email_address"},
		{"invitations bulk unknown org", "POST", "/v1/organizations/org_nope/invitations/bulk", bulk(1, "nobody"), "", true, 404, "resource_not_found", ""},
		{"invitations after writes", "GET", invitations + "?status=pending&status=revoked&limit=20&offset=1", "", "", true, 200, "", ""},
		{"invitation get", "GET", invitations + "/" + smallPending, "", "", true, 200, "", ""},
		{"invitation get unknown", "GET", invitations + "/orginv_nope", "", "", true, 404, "resource_not_found", ""},
		{"invitation revoke by non-admin", "POST", invitations + "/" + smallPending + "/revoke", `{"requesting_user_id":"` + clerkemu.UserSmallMember + `"}`, "", true, 403, "not_an_admin_in_organization", ""},
		{"invitation revoke", "POST", invitations + "/" + smallPending + "/revoke", `{"requesting_user_id":"` + clerkemu.UserSmallAdmin + `"}`, "", true, 200, "", ""},
		{"invitation revoke again", "POST", invitations + "/" + smallPending + "/revoke", "", "", true, 404, "organization_invitation_not_pending", ""},
		{"invitation revoke accepted", "POST", "/v1/organizations/org_acme/invitations/" + acmeAccepted + "/revoke", "", "", true, 404, "organization_invitation_not_pending", ""},
		{"invitation revoke unknown", "POST", invitations + "/orginv_nope/revoke", "", "", true, 404, "resource_not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := auth
			switch tc.auth {
			case "":
			case "-":
				a = ""
			default:
				a = tc.auth
			}
			status, body := v.exchange(t, srv, a, tc.method, tc.path, tc.body, tc.reqValid)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, body)
			}
			if tc.wantCode != "" {
				got := decodeErr(t, body)
				if got.Code != tc.wantCode || got.Param != tc.wantParam {
					t.Errorf("error code %q param %q, want %q %q", got.Code, got.Param, tc.wantCode, tc.wantParam)
				}
			}
		})
	}

	t.Run("429 with Retry-After", func(t *testing.T) {
		emu.SetFaults(clerkemu.Fault{Endpoint: clerkemu.RouteListMemberships, Status: 429, RetryAfter: 1500 * time.Millisecond})
		defer emu.ClearFaults()
		status, header, _ := call(t, emu, srv, "GET", "/v1/organizations/org_acme/memberships", "")
		if status != 429 || header.Get("Retry-After") != "2" {
			t.Fatalf("status %d Retry-After %q, want 429 and 2", status, header.Get("Retry-After"))
		}
		status, body := v.exchange(t, srv, auth, "GET", "/v1/organizations/org_acme/memberships", "", true)
		if status != 429 || decodeErr(t, body).Code != "too_many_requests" {
			t.Fatalf("status %d body %s", status, body)
		}
	})
}

// TestEveryRecordMatchesSpec pages through every user and every membership of
// every organization, validating each page: every variant in the dataset
// (no names, several emails, banned, never signed in...) must be valid.
func TestEveryRecordMatchesSpec(t *testing.T) {
	if testing.Short() {
		t.Skip("pages through the whole dataset")
	}
	emu, srv := readOnly(t)
	v := newValidator(t, srv.URL)
	auth := "Bearer " + emu.SecretKey()
	data := emu.Data()
	pages := []string{}
	for off := 0; off < len(data.Users); off += 500 {
		pages = append(pages, "/v1/users?limit=500&offset="+strconv.Itoa(off))
	}
	for _, o := range data.Organizations {
		n := len(data.MemberIDs(o.ID, ""))
		for off := 0; off < n; off += 500 {
			pages = append(pages, "/v1/organizations/"+o.ID+"/memberships?limit=500&offset="+strconv.Itoa(off))
		}
		pages = append(pages, "/v1/organizations/"+o.ID+"/invitations?limit=500")
	}
	pages = append(pages, "/v1/organization_roles?limit=500")
	for _, p := range pages {
		if status, body := v.exchange(t, srv, auth, "GET", p, "", true); status != 200 {
			t.Fatalf("GET %s: %d %s", p, status, body)
		}
	}
}

// TestValidatorCatchesViolations guards the fidelity tests against being
// vacuous: a user body missing a required field, or with a field the spec
// does not define, must fail validation.
func TestValidatorCatchesViolations(t *testing.T) {
	emu, srv := readOnly(t)
	v := newValidator(t, srv.URL)
	_, _, good := call(t, emu, srv, "GET", "/v1/users/"+clerkemu.UserAcmeAdmin, "")
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	missing := cloneJSON(t, m)
	delete(missing, "username")
	extra := cloneJSON(t, m)
	extra["password"] = "hunter2"
	badTime := cloneJSON(t, m)
	badTime["created_at"] = "2024-01-01T00:00:00Z"
	for name, body := range map[string]map[string]any{"good": m, "missing username": missing, "extra field": extra, "RFC 3339 time": badTime} {
		b, _ := json.Marshal(body)
		req := httptest.NewRequest("GET", srv.URL+"/v1/users/"+clerkemu.UserAcmeAdmin, nil)
		req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
		route, params, err := v.router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		opts := &openapi3filter.Options{AuthenticationFunc: bearerOnly}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
			Status:                 200, Header: http.Header{"Content-Type": {"application/json"}}, Options: opts,
		}
		in.SetBodyBytes(b)
		err = openapi3filter.ValidateResponse(context.Background(), in)
		if (err == nil) != (name == "good") {
			t.Errorf("%s: validation error = %v", name, err)
		}
	}
}

func cloneJSON(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(m)
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRoleValidatorCatchesViolations guards the validation of the roles
// list and of an invitation against being vacuous.
func TestRoleValidatorCatchesViolations(t *testing.T) {
	emu, srv := readOnly(t)
	v := newValidator(t, srv.URL)
	validate := func(path string, body any) error {
		b, _ := json.Marshal(body)
		req := httptest.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
		route, params, err := v.router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		opts := &openapi3filter.Options{AuthenticationFunc: bearerOnly}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
			Status:                 200, Header: http.Header{"Content-Type": {"application/json"}}, Options: opts,
		}
		in.SetBodyBytes(b)
		return openapi3filter.ValidateResponse(context.Background(), in)
	}
	var roles map[string]any
	getJSON(t, emu, srv, "/v1/organization_roles", &roles)
	first := func(m map[string]any) map[string]any { return m["data"].([]any)[0].(map[string]any) }
	perm := func(m map[string]any) map[string]any { return first(m)["permissions"].([]any)[0].(map[string]any) }
	var inv map[string]any
	invPath := "/v1/organizations/org_acme/invitations/" + emu.Data().Invitations[0].ID
	getJSON(t, emu, srv, invPath, &inv)
	cases := []struct {
		name, path string
		body       map[string]any
		mutate     func(m map[string]any)
		valid      bool
	}{
		{"roles", "/v1/organization_roles", roles, func(map[string]any) {}, true},
		{"role without is_creator_eligible", "/v1/organization_roles", roles, func(m map[string]any) { delete(first(m), "is_creator_eligible") }, false},
		{"role with an unknown field", "/v1/organization_roles", roles, func(m map[string]any) { first(m)["default"] = true }, false},
		{"permission as a key", "/v1/organization_roles", roles, func(m map[string]any) { first(m)["permissions"] = []any{"org:sys_memberships:read"} }, false},
		{"permission without type", "/v1/organization_roles", roles, func(m map[string]any) { delete(perm(m), "type") }, false},
		{"roles without total_count", "/v1/organization_roles", roles, func(m map[string]any) { delete(m, "total_count") }, false},
		{"invitation", invPath, inv, func(map[string]any) {}, true},
		{"invitation without url", invPath, inv, func(m map[string]any) { delete(m, "url") }, false},
		{"invitation with user_id", invPath, inv, func(m map[string]any) { m["user_id"] = "user_x" }, false},
	}
	for _, tc := range cases {
		body := cloneJSON(t, tc.body)
		tc.mutate(body)
		if err := validate(tc.path, body); (err == nil) != tc.valid {
			t.Errorf("%s: validation error = %v", tc.name, err)
		}
	}
}
