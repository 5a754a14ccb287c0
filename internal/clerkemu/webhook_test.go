package clerkemu_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
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

// webhookSpec is the webhook spec (testdata/webhooks-2025-04-15.yml, MIT,
// see testdata/LICENSE) as a router: its events, under x-webhooks, become
// the operations POST /<event type> of a server http://receiver, so that
// openapi3filter validates a delivery as the request of its event type.
//
// One correction makes organizationInvitation.accepted satisfiable: its
// payload is allOf [OrganizationInvitation, {required user_id, data}], and
// OrganizationInvitation forbids additional properties, so no object
// satisfies both. The first branch becomes a copy of OrganizationInvitation
// that also allows user_id and data (their types come from the second
// branch); any other property still fails, and created and revoked keep the
// strict schema.
var webhookSpec struct {
	once   sync.Once
	router routers.Router
	err    error
}

func webhookRouter(t *testing.T) routers.Router {
	t.Helper()
	webhookSpec.once.Do(func() { webhookSpec.router, webhookSpec.err = loadWebhookRouter() })
	if webhookSpec.err != nil {
		t.Fatalf("loading the webhook spec: %v", webhookSpec.err)
	}
	return webhookSpec.router
}

func loadWebhookRouter() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromFile("testdata/webhooks-2025-04-15.yml")
	if err != nil {
		return nil, err
	}
	hooks, ok := doc.Extensions["x-webhooks"].(map[string]any)
	if !ok || len(hooks) == 0 {
		return nil, errors.New("the spec has no x-webhooks")
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	paths := map[string]any{}
	for typ, item := range hooks {
		post, ok := item.(map[string]any)["post"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("event %s has no post operation", typ)
		}
		// OpenAPI 3.0 paths need responses; webhooks declare none.
		post["responses"] = map[string]any{"200": map[string]any{"description": "received"}}
		paths["/"+typ] = item
	}
	if err := allowAcceptedFields(m); err != nil {
		return nil, err
	}
	delete(m, "x-webhooks")
	m["paths"] = paths
	m["servers"] = []any{map[string]any{"url": "http://receiver"}}
	if b, err = json.Marshal(m); err != nil {
		return nil, err
	}
	hooksDoc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, err
	}
	return legacy.NewRouter(hooksDoc, openapi3.DisableExamplesValidation())
}

// allowAcceptedFields applies the correction described at webhookSpec to
// the spec's JSON document m.
func allowAcceptedFields(m map[string]any) error {
	components, _ := m["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	inv, _ := schemas["OrganizationInvitation"].(map[string]any)
	accepted, _ := schemas["OrganizationInvitationAcceptedPayload"].(map[string]any)
	allOf, _ := accepted["allOf"].([]any)
	var first map[string]any
	if len(allOf) > 0 {
		first, _ = allOf[0].(map[string]any)
	}
	if inv == nil || first == nil || first["$ref"] != "#/components/schemas/OrganizationInvitation" || inv["additionalProperties"] != false {
		return errors.New("the webhook spec's OrganizationInvitationAcceptedPayload changed; revisit allowAcceptedFields")
	}
	b, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	var open map[string]any
	if err := json.Unmarshal(b, &open); err != nil {
		return err
	}
	props, _ := open["properties"].(map[string]any)
	props["user_id"] = map[string]any{"type": "string"}
	props["data"] = map[string]any{"type": "object"}
	schemas["OrganizationInvitationWithAcceptance"] = open
	allOf[0] = map[string]any{"$ref": "#/components/schemas/OrganizationInvitationWithAcceptance"}
	return nil
}

// validateEvent validates body as the request body of event type typ.
func validateEvent(t *testing.T, typ string, body []byte) error {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://receiver/"+typ, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	route, params, err := webhookRouter(t).FindRoute(req)
	if err != nil {
		t.Fatalf("event type %s is not in the webhook spec: %v", typ, err)
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route, Options: &openapi3filter.Options{MultiError: true},
	})
}

// verifySvix checks a delivery's headers as a Svix receiver does,
// independently of the emulator's signing code.
func verifySvix(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("svix-id"), h.Get("svix-timestamp")
	if !strings.HasPrefix(id, "msg_") {
		return fmt.Errorf("svix-id %q", id)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("svix-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature in %q", h.Get("svix-signature"))
}

func TestSignWebhookMatchesSvixTestVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	got, err := clerkemu.SignWebhook(secret, id, ts, []byte(body))
	if err != nil || got != want {
		t.Fatalf("SignWebhook = %q, %v; want %q", got, err, want)
	}
	h := http.Header{"Svix-Id": {id}, "Svix-Timestamp": {strconv.Itoa(ts)}, "Svix-Signature": {want}}
	if err := verifySvix(secret, h, []byte(body)); err != nil {
		t.Fatalf("the test's verifier rejects the test vector: %v", err)
	}
	if _, err := clerkemu.SignWebhook("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id, ts, nil); !errors.Is(err, clerkemu.ErrInvalid) {
		t.Errorf("secret without whsec_: %v", err)
	}
}

func TestGenerateWebhookSecret(t *testing.T) {
	a, err := clerkemu.GenerateWebhookSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := clerkemu.GenerateWebhookSecret()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(key) != 24 || a == b {
		t.Fatalf("secrets %q and %q", a, b)
	}
}

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint recording what it gets.
type receiver struct {
	url string

	mu     sync.Mutex
	got    []delivery
	status []int  // answers to the next deliveries; then 204
	hook   func() // called on every delivery before answering
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{r.Header.Clone(), body})
		status := http.StatusNoContent
		if len(rc.status) > 0 {
			status, rc.status = rc.status[0], rc.status[1:]
		}
		hook := rc.hook
		rc.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			status = http.StatusBadRequest
		}
		if hook != nil {
			hook()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL + "/webhooks/clerk"
	return rc
}

// take returns the deliveries received since the last take.
func (rc *receiver) take() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	got := rc.got
	rc.got = nil
	return got
}

// event is a decoded delivery body.
type event struct {
	Data       map[string]any `json:"data"`
	Object     string         `json:"object"`
	Type       string         `json:"type"`
	Timestamp  int64          `json:"timestamp"`
	InstanceID string         `json:"instance_id"`
	Attrs      struct {
		HTTPRequest struct {
			ClientIP  string `json:"client_ip"`
			UserAgent string `json:"user_agent"`
		} `json:"http_request"`
	} `json:"event_attributes"`
}

func webhookEmulator(t *testing.T) (*clerkemu.Emulator, *httptest.Server, *receiver, string) {
	t.Helper()
	secret, err := clerkemu.GenerateWebhookSecret()
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t), Webhook: &clerkemu.WebhookConfig{URL: rc.url, Secret: secret}})
	return emu, srv, rc, secret
}

// TestWebhookEvents makes every kind of write, over HTTP and through the Go
// methods, and checks that the receiver got exactly the expected events,
// signed, valid against the webhook spec, carrying the objects the API
// serves right after the write, with updated_at advancing.
func TestWebhookEvents(t *testing.T) {
	emu, srv, rc, secret := webhookEmulator(t)
	// The receiver calls the emulator back, as the server under test does.
	rc.hook = func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/users/count", nil)
		req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
		if res, err := srv.Client().Do(req); err == nil {
			res.Body.Close()
		}
	}
	const member = clerkemu.UserSmallMember
	adminOrgs := 0
	for _, m := range emu.Data().Memberships {
		if m.UserID == clerkemu.UserSmallAdmin {
			adminOrgs++
		}
	}
	httpWrite := func(method, path, body string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			status, _, resp := call(t, emu, srv, method, path, body)
			if status != http.StatusOK {
				t.Fatalf("%s %s: %d %s", method, path, status, resp)
			}
			return resp
		}
	}
	goWrite := func(f func() error) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			if err := f(); err != nil {
				t.Fatal(err)
			}
			return nil
		}
	}
	const (
		mCreated = clerkemu.EventMembershipCreated
		mUpdated = clerkemu.EventMembershipUpdated
		mDeleted = clerkemu.EventMembershipDeleted
		uCreated = clerkemu.EventUserCreated
		uUpdated = clerkemu.EventUserUpdated
		uDeleted = clerkemu.EventUserDeleted
	)
	steps := []struct {
		name string
		do   func(t *testing.T) []byte // the HTTP answer, nil for Go methods
		want []string
	}{
		{"role change", httpWrite("PATCH", "/v1/organizations/org_small/memberships/"+member, `{"role":"org:viewer"}`), []string{mUpdated}},
		{"same role", httpWrite("PATCH", "/v1/organizations/org_small/memberships/"+member, `{"role":"org:viewer"}`), nil},
		{"membership metadata change", httpWrite("PATCH", "/v1/organizations/org_small/memberships/"+member+"/metadata", `{"public_metadata":{"team":"blue"}}`), []string{mUpdated}},
		{"user update", httpWrite("PATCH", "/v1/users/"+member+"/metadata", `{"public_metadata":{"department":"Legal"}}`), []string{uUpdated}},
		{"empty metadata patch", httpWrite("PATCH", "/v1/users/"+member+"/metadata", `{}`), nil},
		{"membership creation", httpWrite("POST", "/v1/organizations/org_mid/memberships", `{"user_id":"`+member+`","role":"org:member","public_metadata":{"seat":3}}`), []string{mCreated}},
		{"membership removal", httpWrite("DELETE", "/v1/organizations/org_small/memberships/"+member, ""), []string{mDeleted}},
		{"user deletion", httpWrite("DELETE", "/v1/users/"+member, ""), []string{mDeleted, uDeleted}},
		{"Go AddMember new user", goWrite(func() error {
			return emu.AddMember(clerkemu.OrgSolo, clerkemu.User{ID: "user_hook", EmailAddresses: []clerkemu.EmailAddress{{EmailAddress: "hook@example.com", Verified: true}}}, clerkemu.RoleMember)
		}), []string{uCreated, mCreated}},
		{"Go AddMember existing user", goWrite(func() error {
			return emu.AddMember(clerkemu.OrgMid, clerkemu.User{ID: "user_hook"}, clerkemu.RoleMember)
		}), []string{mCreated}},
		{"Go SetMemberRole", goWrite(func() error { return emu.SetMemberRole(clerkemu.OrgSolo, "user_hook", clerkemu.RoleAdmin) }), []string{mUpdated}},
		{"Go UpdateUser", goWrite(func() error {
			return emu.UpdateUser("user_hook", func(u *clerkemu.User) { u.FirstName = new("Hook") })
		}), []string{uUpdated}},
		{"Go SetUserPublicMetadata", goWrite(func() error { return emu.SetUserPublicMetadata("user_hook", map[string]any{"vnum": 7}) }), []string{uUpdated}},
		{"Go RemoveMember", goWrite(func() error { return emu.RemoveMember(clerkemu.OrgSolo, "user_hook") }), []string{mDeleted}},
		{"Go DeleteUser", goWrite(func() error { return emu.DeleteUser("user_hook") }), []string{mDeleted, uDeleted}},
		{"Go DeleteUser with memberships", goWrite(func() error { return emu.DeleteUser(clerkemu.UserSmallAdmin) }), append(slices.Repeat([]string{mDeleted}, adminOrgs), uDeleted)},
	}

	lastUpdated := map[string]int64{} // object id -> updated_at of its last event
	var ids []string
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			resp := step.do(t)
			got := rc.take() // delivered before the write returned
			var types []string
			for _, d := range got {
				var ev event
				if err := json.Unmarshal(d.body, &ev); err != nil {
					t.Fatalf("body is not JSON: %v", err)
				}
				types = append(types, ev.Type)
				ids = append(ids, d.header.Get("svix-id"))
				if err := verifySvix(secret, d.header, d.body); err != nil {
					t.Errorf("%s: %v", ev.Type, err)
				}
				if ts, _ := strconv.ParseInt(d.header.Get("svix-timestamp"), 10, 64); time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
					t.Errorf("%s: svix-timestamp %d is not now", ev.Type, ts)
				}
				if err := validateEvent(t, ev.Type, d.body); err != nil {
					t.Errorf("%s violates the webhook spec: %v\nbody: %.800s", ev.Type, err, d.body)
				}
				if ev.Object != "event" || ev.InstanceID != emu.KeyID() || !strings.HasPrefix(ev.InstanceID, "ins_") ||
					time.Since(time.UnixMilli(ev.Timestamp)).Abs() > time.Minute {
					t.Errorf("%s: envelope object %q instance %q timestamp %d", ev.Type, ev.Object, ev.InstanceID, ev.Timestamp)
				}
				if wantIP := map[bool]string{true: "127.0.0.1", false: ""}[resp != nil]; ev.Attrs.HTTPRequest.ClientIP != wantIP {
					t.Errorf("%s: client_ip %q, want %q", ev.Type, ev.Attrs.HTTPRequest.ClientIP, wantIP)
				}
				checkEventData(t, emu, srv, ev, resp, lastUpdated)
			}
			if !slices.Equal(types, step.want) {
				t.Fatalf("events %v, want %v", types, step.want)
			}
		})
	}

	ds := emu.Deliveries()
	if len(ds) != len(ids) {
		t.Fatalf("%d deliveries recorded, %d received", len(ds), len(ids))
	}
	for i, d := range ds {
		if d.ID != ids[i] || d.Status != http.StatusNoContent || d.Err != "" {
			t.Errorf("delivery %d: %+v, received id %s", i, d, ids[i])
		}
	}
	if unique := slices.Compact(slices.Sorted(slices.Values(ids))); len(unique) != len(ids) {
		t.Error("svix-id repeated across messages")
	}
}

// checkEventData checks an event's data against what the API serves right
// after the write (resp is the write's HTTP answer, nil for Go methods) and
// that updated_at advanced since the object's previous event.
func checkEventData(t *testing.T, emu *clerkemu.Emulator, srv *httptest.Server, ev event, resp []byte, lastUpdated map[string]int64) {
	t.Helper()
	id, _ := ev.Data["id"].(string)
	var want map[string]any
	switch ev.Type {
	case clerkemu.EventUserCreated, clerkemu.EventUserUpdated:
		getJSON(t, emu, srv, "/v1/users/"+id, &want)
	case clerkemu.EventUserDeleted:
		want = map[string]any{"object": "user", "id": id, "deleted": true}
		if status, _, _ := call(t, emu, srv, "GET", "/v1/users/"+id, ""); status != http.StatusNotFound {
			t.Errorf("deleted user %s: GET answers %d", id, status)
		}
	default:
		org, _ := ev.Data["organization"].(map[string]any)
		pud, _ := ev.Data["public_user_data"].(map[string]any)
		var l struct {
			Data []map[string]any `json:"data"`
		}
		getJSON(t, emu, srv, fmt.Sprintf("/v1/organizations/%v/memberships?user_id=%v", org["id"], pud["user_id"]), &l)
		if ev.Type == clerkemu.EventMembershipDeleted {
			if len(l.Data) != 0 {
				t.Errorf("%s: the membership is still listed", ev.Type)
			}
			if resp != nil && !bytes.Contains(resp, []byte(`"deleted":true`)) {
				if err := json.Unmarshal(resp, &want); err != nil {
					t.Fatal(err)
				}
			}
		} else if len(l.Data) == 1 {
			want = l.Data[0]
		} else {
			t.Errorf("%s: %d memberships listed", ev.Type, len(l.Data))
		}
	}
	if want != nil && !reflect.DeepEqual(ev.Data, want) {
		t.Errorf("%s: data differs from what the API serves\n got %v\nwant %v", ev.Type, ev.Data, want)
	}
	if ev.Type == clerkemu.EventUserDeleted {
		return
	}
	updated, _ := ev.Data["updated_at"].(float64)
	if prev, ok := lastUpdated[id]; ok && int64(updated) <= prev {
		t.Errorf("%s: updated_at %d does not advance past %d", ev.Type, int64(updated), prev)
	}
	lastUpdated[id] = int64(updated)
}

// TestWebhookValidatorCatchesViolations guards the spec check against being
// vacuous.
func TestWebhookValidatorCatchesViolations(t *testing.T) {
	emu, _, rc, _ := webhookEmulator(t)
	if err := emu.SetMemberRole(clerkemu.OrgSmall, clerkemu.UserSmallMember, clerkemu.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := emu.SetUserPublicMetadata(clerkemu.UserSmallMember, nil); err != nil {
		t.Fatal(err)
	}
	got := rc.take()
	if len(got) != 2 {
		t.Fatalf("%d deliveries", len(got))
	}
	mutate := func(body []byte, f func(ev map[string]any)) []byte {
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		f(ev)
		b, _ := json.Marshal(ev)
		return b
	}
	membership, user := got[0].body, got[1].body
	cases := []struct {
		name, typ string
		body      []byte
		valid     bool
	}{
		{"membership", clerkemu.EventMembershipUpdated, membership, true},
		{"user", clerkemu.EventUserUpdated, user, true},
		{"membership without organization", clerkemu.EventMembershipUpdated, mutate(membership, func(ev map[string]any) { delete(ev["data"].(map[string]any), "organization") }), false},
		{"user with an unknown field", clerkemu.EventUserUpdated, mutate(user, func(ev map[string]any) { ev["data"].(map[string]any)["password"] = "x" }), false},
		{"no instance_id", clerkemu.EventUserUpdated, mutate(user, func(ev map[string]any) { delete(ev, "instance_id") }), false},
		{"user as a deletion", clerkemu.EventUserDeleted, user, false},
	}
	for _, tc := range cases {
		if err := validateEvent(t, tc.typ, tc.body); (err == nil) != tc.valid {
			t.Errorf("%s: validation error %v", tc.name, err)
		}
	}
}

// TestUpdatedAtStrictlyIncreases changes the same objects many times in a
// row, within the same milliseconds.
func TestUpdatedAtStrictlyIncreases(t *testing.T) {
	emu, srv, rc, _ := webhookEmulator(t)
	roles := []string{clerkemu.RoleAdmin, clerkemu.RoleMember}
	for i := range 20 {
		if err := emu.SetMemberRole(clerkemu.OrgSmall, clerkemu.UserSmallMember, roles[i%2]); err != nil {
			t.Fatal(err)
		}
		if err := emu.SetUserPublicMetadata(clerkemu.UserSmallMember, map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	last := map[string]int64{}
	for _, d := range rc.take() {
		var ev event
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatal(err)
		}
		u := int64(ev.Data["updated_at"].(float64))
		if u <= last[ev.Type] {
			t.Fatalf("%s: updated_at %d after %d", ev.Type, u, last[ev.Type])
		}
		last[ev.Type] = u
	}
	var u userJSON
	getJSON(t, emu, srv, "/v1/users/"+clerkemu.UserSmallMember, &u)
	if u.UpdatedAt != last[clerkemu.EventUserUpdated] {
		t.Errorf("GET updated_at %d, last event %d", u.UpdatedAt, last[clerkemu.EventUserUpdated])
	}
}

// TestWebhookFailureAndRedeliver: a failed delivery is recorded without
// failing the write; Redeliver resends the same message, freshly signed.
func TestWebhookFailureAndRedeliver(t *testing.T) {
	emu, srv, rc, secret := webhookEmulator(t)
	rc.status = []int{http.StatusInternalServerError}
	status, _, body := call(t, emu, srv, "PATCH", "/v1/organizations/org_small/memberships/"+clerkemu.UserSmallMember, `{"role":"org:admin"}`)
	if status != http.StatusOK {
		t.Fatalf("the write failed with its webhook: %d %s", status, body)
	}
	ds := emu.Deliveries()
	if len(ds) != 1 || ds[0].Status != 500 || ds[0].Err == "" || ds[0].Type != clerkemu.EventMembershipUpdated {
		t.Fatalf("deliveries %+v", ds)
	}
	first := rc.take()[0]

	d, err := emu.Redeliver(ds[0].ID)
	if err != nil || d.ID != ds[0].ID || d.Status != http.StatusNoContent || d.Err != "" || !bytes.Equal(d.Body, ds[0].Body) {
		t.Fatalf("Redeliver: %+v, %v", d, err)
	}
	again := rc.take()
	if len(again) != 1 {
		t.Fatalf("%d deliveries after Redeliver", len(again))
	}
	if again[0].header.Get("svix-id") != first.header.Get("svix-id") || !bytes.Equal(again[0].body, first.body) {
		t.Error("the redelivery's svix-id or body differs")
	}
	if err := verifySvix(secret, again[0].header, again[0].body); err != nil {
		t.Error(err)
	}
	if ds := emu.Deliveries(); len(ds) != 2 || ds[1].ID != ds[0].ID {
		t.Errorf("deliveries after Redeliver: %+v", ds)
	}
	if _, err := emu.Redeliver("msg_nope"); !errors.Is(err, clerkemu.ErrNotFound) {
		t.Errorf("Redeliver unknown id: %v", err)
	}
	if err := emu.SetWebhook("", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Redeliver(ds[0].ID); !errors.Is(err, clerkemu.ErrNotFound) {
		t.Errorf("Redeliver without a webhook: %v", err)
	}
	if err := emu.RemoveMember(clerkemu.OrgSmall, clerkemu.UserSmallMember); err != nil {
		t.Fatal(err)
	}
	if n := len(emu.Deliveries()); n != 2 || len(rc.take()) != 0 {
		t.Errorf("a write after SetWebhook(\"\", \"\") was delivered (%d recorded)", n)
	}
}

// TestWebhookTimeout: a receiver that never answers delays the write by
// the timeout only.
func TestWebhookTimeout(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{Data: smallDataset(t)})
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	secret, _ := clerkemu.GenerateWebhookSecret()
	var (
		mu     sync.Mutex
		logged []clerkemu.Delivery
	)
	err := emu.SetWebhookConfig(&clerkemu.WebhookConfig{URL: hang.URL, Secret: secret, Timeout: 200 * time.Millisecond,
		OnDelivery: func(d clerkemu.Delivery) { mu.Lock(); logged = append(logged, d); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	status, _, _ := call(t, emu, srv, "DELETE", "/v1/organizations/org_small/memberships/"+clerkemu.UserSmallMember, "")
	if elapsed := time.Since(start); status != http.StatusOK || elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("status %d after %v", status, elapsed)
	}
	ds := emu.Deliveries()
	mu.Lock()
	defer mu.Unlock()
	if len(ds) != 1 || ds[0].Status != 0 || ds[0].Err == "" || !reflect.DeepEqual(logged, ds) {
		t.Fatalf("deliveries %+v, logged %+v", ds, logged)
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	secret, _ := clerkemu.GenerateWebhookSecret()
	bad := []clerkemu.WebhookConfig{
		{URL: "localhost:8080/webhooks", Secret: secret},
		{URL: "ftp://example.com/", Secret: secret},
		{URL: "http://example.com/", Secret: ""},
		{URL: "http://example.com/", Secret: strings.TrimPrefix(secret, "whsec_")},
		{URL: "http://example.com/", Secret: "whsec_not base64!"},
	}
	for _, c := range bad {
		if _, err := clerkemu.New(clerkemu.Options{Data: &clerkemu.Dataset{}, Webhook: &c}); !errors.Is(err, clerkemu.ErrInvalid) {
			t.Errorf("New with %+v: %v", c, err)
		}
	}
	emu, _ := fresh(t, clerkemu.Options{Data: &clerkemu.Dataset{}})
	if err := emu.SetWebhook("http://example.com/", "whsec_"); !errors.Is(err, clerkemu.ErrInvalid) {
		t.Errorf("SetWebhook with an empty key: %v", err)
	}
}

// TestConcurrentWritesWithWebhooks runs writers in parallel with a
// receiver that calls back; run with -race.
func TestConcurrentWritesWithWebhooks(t *testing.T) {
	emu, srv, rc, _ := webhookEmulator(t)
	rc.hook = func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/organizations/org_mid/memberships?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+emu.SecretKey())
		if res, err := srv.Client().Do(req); err == nil {
			res.Body.Close()
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				id := fmt.Sprintf("user_w%d_%d", w, i)
				if err := emu.AddMember(clerkemu.OrgMid, clerkemu.User{ID: id}, clerkemu.RoleMember); err != nil {
					t.Error(err)
				}
				if err := emu.SetUserPublicMetadata(id, map[string]any{"i": i}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got, ds := len(rc.take()), len(emu.Deliveries()); got != 4*5*3 || ds != got {
		t.Errorf("received %d, recorded %d, want %d", got, ds, 4*5*3)
	}
}
