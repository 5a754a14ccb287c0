package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/webhook"
)

// readEvent reads one of the example payloads of Clerk's webhook spec
// (webhooks-2025-04-15.yml), converted from YAML to JSON.
func readEvent(t *testing.T, typ string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "events", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func ms(n int64) time.Time { return time.UnixMilli(n).UTC() }

func ptr[T any](v T) *T { return &v }

// compactMetadata returns c with its metadata compacted, so that examples
// may be pretty-printed.
func compactMetadata(t *testing.T, c directory.Change) directory.Change {
	t.Helper()
	compact := func(raw json.RawMessage) json.RawMessage {
		if raw == nil {
			return nil
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			t.Fatalf("metadata %q is not JSON: %v", raw, err)
		}
		return buf.Bytes()
	}
	c.Member.PublicMetadata = compact(c.Member.PublicMetadata)
	c.Member.MembershipMetadata = compact(c.Member.MembershipMetadata)
	return c
}

func decodeOne(t *testing.T, body []byte) directory.Change {
	t.Helper()
	ev, err := webhook.Decode(body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(ev.Changes) != 1 {
		t.Fatalf("Decode gave %d changes, want 1: %+v", len(ev.Changes), ev.Changes)
	}
	return compactMetadata(t, ev.Changes[0])
}

func assertChange(t *testing.T, got, want directory.Change) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("change\n got %s\nwant %s", describe(got), describe(want))
	}
}

// describe prints a change with its pointers followed.
func describe(c directory.Change) string {
	m := c.Member
	str := func(p *string) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", *p)
	}
	tm := func(p *time.Time) string {
		if p == nil {
			return "nil"
		}
		return p.String()
	}
	return fmt.Sprintf("{%v org=%q user=%q profile=%v updated=%v member={id=%q email=%s first=%s last=%s user=%s image=%s signin=%s active=%s created=%v banned=%v meta=%s role=%q rolename=%q mmeta=%s joined=%v uupd=%v mupd=%v}}",
		c.Kind, c.OrgID, c.UserID, c.HasProfile, c.UpdatedAt, m.UserID, str(m.Email), str(m.FirstName), str(m.LastName), str(m.Username), str(m.ImageURL),
		tm(m.LastSignInAt), tm(m.LastActiveAt), m.CreatedAt, m.Banned, m.PublicMetadata, m.Role, m.RoleName, m.MembershipMetadata, m.JoinedAt, m.UserUpdatedAt, m.MembershipUpdatedAt)
}

func TestDecodeSpecExamples(t *testing.T) {
	const (
		org  = "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S"
		jane = "user_2h8op3Isl1QR7tKu5FGNfaLKEoU"
		john = "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S"
	)
	tests := []struct {
		typ  string
		want directory.Change
	}{
		{"organizationMembership.created", directory.Change{
			Kind: directory.ChangeMemberUpserted, OrgID: org, UserID: jane, UpdatedAt: ms(1716883200000),
			Member: directory.Member{
				UserID: jane, Role: "org:member", RoleName: "Member", MembershipMetadata: json.RawMessage(`{}`),
				JoinedAt: ms(1716883200000), MembershipUpdatedAt: ms(1716883200000),
			},
		}},
		{"organizationMembership.updated", directory.Change{
			Kind: directory.ChangeMemberUpserted, OrgID: org, UserID: jane, UpdatedAt: ms(1716883500000),
			Member: directory.Member{
				UserID: jane, Role: "org:admin", RoleName: "Admin", MembershipMetadata: json.RawMessage(`{}`),
				JoinedAt: ms(1716883200000), MembershipUpdatedAt: ms(1716883500000),
			},
		}},
		{"organizationMembership.deleted", directory.Change{
			Kind: directory.ChangeMemberRemoved, OrgID: org, UserID: jane, UpdatedAt: ms(1716883200000),
		}},
		{"user.updated", directory.Change{
			Kind: directory.ChangeUserUpdated, UserID: john, UpdatedAt: ms(1716883500000),
			Member: directory.Member{
				UserID: john,
				// The example lists no email addresses, so the primary one is unknown.
				Email:     nil,
				FirstName: ptr("John"), LastName: ptr("Doe Updated"), Username: ptr("johndoe"),
				ImageURL:     ptr("https://img.clerk.com/yyyyy"),
				LastSignInAt: ptr(ms(1716883400000)), LastActiveAt: ptr(ms(1716883500000)),
				CreatedAt:      ms(1716883200000),
				PublicMetadata: json.RawMessage(`{"department":"engineering"}`),
				UserUpdatedAt:  ms(1716883500000),
			},
		}},
		{"user.deleted", directory.Change{Kind: directory.ChangeUserDeleted, UserID: john}},
		{"organization.deleted", directory.Change{Kind: directory.ChangeOrgDropped, OrgID: org}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			body := readEvent(t, tt.typ)
			ev, err := webhook.Decode(body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Type != tt.typ {
				t.Errorf("Type = %q, want %q", ev.Type, tt.typ)
			}
			assertChange(t, decodeOne(t, body), tt.want)
		})
	}
}

func TestDecodeIgnoredTypes(t *testing.T) {
	for _, typ := range []string{"user.created"} {
		t.Run(typ, func(t *testing.T) {
			ev, err := webhook.Decode(readEvent(t, typ))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Type != typ || len(ev.Changes) != 0 {
				t.Fatalf("Decode = %+v, want type %q and no changes", ev, typ)
			}
		})
	}
	// Types this service does not know are acknowledged whatever their data.
	for _, body := range []string{
		`{"type":"session.created","data":{"id":"sess_1"}}`,
		`{"type":"email.created","data":5}`,
		`{"type":"organization.updated"}`,
	} {
		ev, err := webhook.Decode([]byte(body))
		if err != nil || len(ev.Changes) != 0 || ev.Type == "" {
			t.Fatalf("Decode(%s) = %+v, %v; want its type, no changes, no error", body, ev, err)
		}
	}
}

// userUpdated returns a user.updated event whose data is the example's
// with the given fields replaced (a nil value deletes the field).
func userUpdated(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	return withData(t, "user.updated", fields)
}

func withData(t *testing.T, typ string, fields map[string]any) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readEvent(t, typ), &ev); err != nil {
		t.Fatal(err)
	}
	data := ev["data"].(map[string]any)
	for k, v := range fields {
		if v == nil {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// null is a JSON null in withData's fields.
var null = json.RawMessage("null")

func TestDecodeUserProfile(t *testing.T) {
	emails := []any{
		map[string]any{"id": "idn_secondary", "object": "email_address", "email_address": "second@example.com"},
		nil,
		map[string]any{"id": "idn_primary", "object": "email_address", "email_address": "primary@example.com"},
	}
	tests := []struct {
		name   string
		fields map[string]any
		check  func(t *testing.T, m directory.Member)
	}{
		{"primary email is not the first listed", map[string]any{"primary_email_address_id": "idn_primary", "email_addresses": emails},
			func(t *testing.T, m directory.Member) {
				if m.Email == nil || *m.Email != "primary@example.com" {
					t.Fatalf("Email = %v, want primary@example.com", m.Email)
				}
			}},
		{"primary email id not listed", map[string]any{"primary_email_address_id": "idn_gone", "email_addresses": emails},
			func(t *testing.T, m directory.Member) {
				if m.Email != nil {
					t.Fatalf("Email = %q, want nil", *m.Email)
				}
			}},
		{"no primary email id", map[string]any{"primary_email_address_id": null, "email_addresses": emails},
			func(t *testing.T, m directory.Member) {
				if m.Email != nil {
					t.Fatalf("Email = %q, want nil", *m.Email)
				}
			}},
		{"empty primary email", map[string]any{"primary_email_address_id": "idn_primary", "email_addresses": []any{
			map[string]any{"id": "idn_primary", "email_address": ""}}},
			func(t *testing.T, m directory.Member) {
				if m.Email != nil {
					t.Fatalf("Email = %q, want nil", *m.Email)
				}
			}},
		{"empty strings are absent", map[string]any{"first_name": "", "last_name": "", "username": "", "image_url": ""},
			func(t *testing.T, m directory.Member) {
				if m.FirstName != nil || m.LastName != nil || m.Username != nil || m.ImageURL != nil {
					t.Fatalf("names and image = %v %v %v %v, want all nil", m.FirstName, m.LastName, m.Username, m.ImageURL)
				}
			}},
		{"null strings and times are absent", map[string]any{"first_name": null, "username": null, "last_sign_in_at": null, "last_active_at": null},
			func(t *testing.T, m directory.Member) {
				if m.FirstName != nil || m.Username != nil || m.LastSignInAt != nil || m.LastActiveAt != nil {
					t.Fatalf("got %s, want first name, username and times nil", describe(directory.Change{Member: m}))
				}
			}},
		{"null public metadata", map[string]any{"public_metadata": null},
			func(t *testing.T, m directory.Member) {
				if string(m.PublicMetadata) != "{}" {
					t.Fatalf("PublicMetadata = %s, want {}", m.PublicMetadata)
				}
			}},
		{"absent public metadata", map[string]any{"public_metadata": nil},
			func(t *testing.T, m directory.Member) {
				if string(m.PublicMetadata) != "{}" {
					t.Fatalf("PublicMetadata = %s, want {}", m.PublicMetadata)
				}
			}},
		{"banned", map[string]any{"banned": true},
			func(t *testing.T, m directory.Member) {
				if !m.Banned {
					t.Fatal("Banned = false, want true")
				}
			}},
		{"times are UTC milliseconds", map[string]any{"last_sign_in_at": 1716883400123, "created_at": 1},
			func(t *testing.T, m directory.Member) {
				if m.LastSignInAt == nil || !m.LastSignInAt.Equal(time.UnixMilli(1716883400123)) || m.LastSignInAt.Location() != time.UTC {
					t.Fatalf("LastSignInAt = %v, want 1716883400123 ms in UTC", m.LastSignInAt)
				}
				if want := time.Unix(0, 1e6).UTC(); m.CreatedAt != want {
					t.Fatalf("CreatedAt = %v, want %v", m.CreatedAt, want)
				}
			}},
		{"absent updated_at is unknown, not 1970", map[string]any{"updated_at": nil},
			func(t *testing.T, m directory.Member) {
				if !m.UserUpdatedAt.IsZero() {
					t.Fatalf("UserUpdatedAt = %v, want zero", m.UserUpdatedAt)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := decodeOne(t, userUpdated(t, tt.fields))
			if c.Kind != directory.ChangeUserUpdated || c.UserID != c.Member.UserID || !c.UpdatedAt.Equal(c.Member.UserUpdatedAt) {
				t.Fatalf("change %s: want a user update whose ids and times agree", describe(c))
			}
			tt.check(t, c.Member)
		})
	}
}

func TestDecodeNeverReadsPrivateOrUnsafeMetadata(t *testing.T) {
	const marker = "DO-NOT-LEAK"
	secretMeta := map[string]any{"ssn": marker + "-private", "nested": map[string]any{"k": marker}}
	bodies := map[string][]byte{
		"user.updated": userUpdated(t, map[string]any{
			"private_metadata": secretMeta,
			"unsafe_metadata":  map[string]any{"note": marker + "-unsafe"},
		}),
		"organizationMembership.updated": withData(t, "organizationMembership.updated", map[string]any{
			"private_metadata": secretMeta,
			"public_metadata":  null,
		}),
	}
	for typ, body := range bodies {
		t.Run(typ, func(t *testing.T) {
			ev, err := webhook.Decode(body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(ev.Changes) != 1 {
				t.Fatalf("%d changes, want 1", len(ev.Changes))
			}
			m := ev.Changes[0].Member
			for _, s := range []string{describe(ev.Changes[0]), string(m.PublicMetadata), string(m.MembershipMetadata)} {
				if strings.Contains(s, marker) {
					t.Fatalf("private or unsafe metadata leaked into %s", s)
				}
			}
		})
	}
	// The membership's null public metadata is "{}".
	c := decodeOne(t, bodies["organizationMembership.updated"])
	if string(c.Member.MembershipMetadata) != "{}" {
		t.Fatalf("MembershipMetadata = %s, want {}", c.Member.MembershipMetadata)
	}
}

func TestDecodeMembershipMetadataKept(t *testing.T) {
	c := decodeOne(t, withData(t, "organizationMembership.created", map[string]any{
		"public_metadata": map[string]any{"team": "core", "level": 3},
	}))
	if string(c.Member.MembershipMetadata) != `{"level":3,"team":"core"}` {
		t.Fatalf("MembershipMetadata = %s, want the membership's public metadata", c.Member.MembershipMetadata)
	}
	if c.HasProfile || c.Member.Email != nil || c.Member.FirstName != nil || !c.Member.CreatedAt.IsZero() || string(c.Member.PublicMetadata) != "" {
		t.Fatalf("membership change %s carries a profile; public_user_data is not one", describe(c))
	}
}

func TestDecodeErrors(t *testing.T) {
	const marker = "BODY-MARKER"
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"empty body", []byte(""), "event is not valid JSON"},
		{"malformed JSON", []byte(`{"type":"user.updated",` + marker), "event is not valid JSON"},
		{"trailing garbage", []byte(`{"type":"user.created"} ` + marker), "event is not valid JSON"},
		{"array", []byte(`["` + marker + `"]`), "event is not a JSON object"},
		{"string", []byte(`"` + marker + `"`), "event is not a JSON object"},
		{"no type", []byte(`{"data":{"id":"` + marker + `"}}`), "event has no type"},
		{"type not a string", []byte(`{"type":5}`), "event field type has the wrong type"},
		{"membership without data", []byte(`{"type":"organizationMembership.created"}`), "organizationMembership.created event has no data"},
		{"membership with null data", []byte(`{"type":"organizationMembership.updated","data":null}`), "organizationMembership.updated event has no data"},
		{"membership data not an object", []byte(`{"type":"organizationMembership.created","data":"` + marker + `"}`), "organizationMembership.created event data is not a JSON object"},
		{"membership without organization", withData(t, "organizationMembership.created", map[string]any{"organization": nil}),
			"organizationMembership.created event has no data.organization.id"},
		{"membership with empty organization id", withData(t, "organizationMembership.deleted", map[string]any{"organization": map[string]any{"id": ""}}),
			"organizationMembership.deleted event has no data.organization.id"},
		{"membership with a numeric organization id", withData(t, "organizationMembership.created", map[string]any{"organization": map[string]any{"id": 7}}),
			"organizationMembership.created event data field organization.id has the wrong type"},
		{"user without id", userUpdated(t, map[string]any{"id": nil}), "user.updated event has no data.id"},
		{"deleted user without id", []byte(`{"type":"user.deleted","data":{"object":"user","deleted":true}}`), "user.deleted event has no data.id"},
		{"deleted organization without id", []byte(`{"type":"organization.deleted","data":{"object":"organization","deleted":true}}`), "organization.deleted event has no data.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := webhook.Decode(tt.body)
			got := errMessage(t, err)
			if got != tt.want {
				t.Fatalf("Decode error %q, want %q", got, tt.want)
			}
			if ev.Type != "" || ev.Changes != nil {
				t.Fatalf("Decode returned %+v with its error, want the zero Event", ev)
			}
			if strings.Contains(got, marker) {
				t.Fatalf("error %q echoes the body", got)
			}
		})
	}
}

// TestDecodeReloads: a handled event that names its organization or user
// but cannot be applied exactly becomes a reload of that snapshot, with the
// reason, rather than a 400 Svix would retry for a day.
func TestDecodeReloads(t *testing.T) {
	const marker = "BODY-MARKER"
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"membership without public_user_data", withData(t, "organizationMembership.updated", map[string]any{"public_user_data": null}),
			"organizationMembership.updated event has no data.public_user_data.user_id"},
		{"membership without user id", withData(t, "organizationMembership.deleted", map[string]any{"public_user_data": map[string]any{"first_name": marker}}),
			"organizationMembership.deleted event has no data.public_user_data.user_id"},
		{"membership with a string time", withData(t, "organizationMembership.created", map[string]any{"updated_at": marker}),
			"organizationMembership.created event data field updated_at has the wrong type"},
		{"user with bad email list", userUpdated(t, map[string]any{"email_addresses": marker}), "user.updated event data field email_addresses has the wrong type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := webhook.Decode(tt.body)
			if err != nil || len(ev.Changes) != 1 || ev.Changes[0].Kind != directory.ChangeReload || ev.Reason != tt.want {
				t.Fatalf("Decode = %+v, %v; want a reload because %q", ev, err, tt.want)
			}
			c := ev.Changes[0]
			if c.OrgID == "" && c.UserID == "" || strings.Contains(ev.Reason, marker) {
				t.Fatalf("reload %+v, reason %q", c, ev.Reason)
			}
		})
	}
}

// TestDecodeInvitationEvents: invitation events change no member but tell
// the invitation lists of their organization to reload.
func TestDecodeInvitationEvents(t *testing.T) {
	ev, err := webhook.Decode(readEvent(t, "organizationInvitation.accepted"))
	if err != nil || len(ev.Changes) != 1 || ev.Changes[0].Kind != directory.ChangeInvitationChanged || ev.Changes[0].OrgID == "" {
		t.Fatalf("Decode = %+v, %v", ev, err)
	}
	if _, err := webhook.Decode([]byte(`{"type":"organizationInvitation.revoked","data":{"id":"orginv_1"}}`)); err == nil {
		t.Fatal("an invitation event without organization_id decoded")
	}
}
