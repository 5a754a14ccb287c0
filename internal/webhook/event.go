package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// The Clerk event types that Decode turns into changes.
const (
	TypeMembershipCreated   = "organizationMembership.created"
	TypeMembershipUpdated   = "organizationMembership.updated"
	TypeMembershipDeleted   = "organizationMembership.deleted"
	TypeUserUpdated         = "user.updated"
	TypeUserDeleted         = "user.deleted"
	TypeOrganizationDeleted = "organization.deleted"
	// Invitation events change no member; they reload invitation lists.
	TypeInvitationCreated  = "organizationInvitation.created"
	TypeInvitationAccepted = "organizationInvitation.accepted"
	TypeInvitationRevoked  = "organizationInvitation.revoked"
)

// Event is one decoded Clerk webhook event.
type Event struct {
	// Type is the event's type as Clerk names it, e.g. "user.updated",
	// also for types Decode does nothing with.
	Type string
	// Changes is what the event does to the members of organizations;
	// empty for event types that change nothing this service holds
	// (user.created, organizationInvitation.accepted, every other type).
	Changes []directory.Change
	// Reason, when set, says why Changes is a ChangeReload rather than the
	// event's own change: what the payload lacked. The handler logs it.
	Reason string
}

// Decode decodes the JSON body of a verified Clerk webhook delivery into
// its changes. The handler calls it after Verify. Clerk's timestamps (Unix
// milliseconds) become UTC times; user profiles are mapped as the Clerk
// repository maps them (primary email by id, "" as absent, null metadata as
// "{}"); private and unsafe metadata are never read.
//
// Unknown event types are not an error: they decode to an Event with no
// changes. A handled type whose data names its organization (membership
// events) or user (user events) but cannot be decoded exactly (a field of
// the wrong type, no user id) decodes to a ChangeReload of that
// organization or user, with Reason saying why. Errors (*Error, naming what
// is wrong without echoing the body): the body is not a JSON object or has
// no type; a handled type lacks data, or names neither organization nor
// user.
func Decode(body []byte) (Event, error) {
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := unmarshal(body, &env, "event"); err != nil {
		return Event{}, err
	}
	if env.Type == "" {
		return Event{}, newError("event has no type")
	}
	ev := Event{Type: env.Type}
	var (
		change directory.Change
		err    error
	)
	switch env.Type {
	case TypeMembershipCreated, TypeMembershipUpdated:
		change, err = decodeMembership(env.Type, env.Data, directory.ChangeMemberUpserted)
	case TypeMembershipDeleted:
		change, err = decodeMembership(env.Type, env.Data, directory.ChangeMemberRemoved)
	case TypeUserUpdated:
		change, err = decodeUser(env.Type, env.Data)
	case TypeUserDeleted, TypeOrganizationDeleted:
		change, err = decodeDeleted(env.Type, env.Data)
	case TypeInvitationCreated, TypeInvitationAccepted, TypeInvitationRevoked:
		var inv struct {
			OrganizationID string `json:"organization_id"`
		}
		if err = decodeData(env.Type, env.Data, &inv); err == nil && inv.OrganizationID == "" {
			err = newError(env.Type + " event has no data.organization_id")
		}
		change = directory.Change{Kind: directory.ChangeInvitationChanged, OrgID: inv.OrganizationID}
	default:
		return ev, nil
	}
	if err != nil {
		// A verified event of a handled type that names its organization or
		// user, but cannot be applied exactly: that snapshot reloads.
		if reload, ok := reloadOf(env.Type, env.Data); ok {
			ev.Changes, ev.Reason = []directory.Change{reload}, err.Error()
			return ev, nil
		}
		return Event{}, err
	}
	ev.Changes = []directory.Change{change}
	return ev, nil
}

// reloadOf returns a ChangeReload for the organization (membership events)
// or the user (user events) that data names, if it names one.
func reloadOf(typ string, data json.RawMessage) (directory.Change, bool) {
	var ids struct {
		ID           json.RawMessage `json:"id"`
		Organization *struct {
			ID string `json:"id"`
		} `json:"organization"`
	}
	if json.Unmarshal(data, &ids) != nil {
		return directory.Change{}, false
	}
	switch typ {
	case TypeMembershipCreated, TypeMembershipUpdated, TypeMembershipDeleted:
		if ids.Organization != nil && ids.Organization.ID != "" {
			return directory.Change{Kind: directory.ChangeReload, OrgID: ids.Organization.ID}, true
		}
	case TypeUserUpdated, TypeUserDeleted:
		var id string
		if json.Unmarshal(ids.ID, &id) == nil && id != "" {
			return directory.Change{Kind: directory.ChangeReload, UserID: id}, true
		}
	}
	return directory.Change{}, false
}

// membershipData is the part of Clerk's OrganizationMembership this
// service reads. public_user_data lacks the profile (no email, sign-in
// times, public metadata or created_at), so only its user id is read.
type membershipData struct {
	Role           string          `json:"role"`
	RoleName       string          `json:"role_name"`
	PublicMetadata json.RawMessage `json:"public_metadata"`
	Organization   *struct {
		ID string `json:"id"`
	} `json:"organization"`
	PublicUserData *struct {
		UserID string `json:"user_id"`
	} `json:"public_user_data"`
	CreatedAt *int64 `json:"created_at"`
	UpdatedAt *int64 `json:"updated_at"`
}

func decodeMembership(typ string, data json.RawMessage, kind directory.ChangeKind) (directory.Change, error) {
	var m membershipData
	if err := decodeData(typ, data, &m); err != nil {
		return directory.Change{}, err
	}
	if m.Organization == nil || m.Organization.ID == "" {
		return directory.Change{}, newError(typ + " event has no data.organization.id")
	}
	if m.PublicUserData == nil || m.PublicUserData.UserID == "" {
		return directory.Change{}, newError(typ + " event has no data.public_user_data.user_id")
	}
	updated := optMillis(m.UpdatedAt)
	c := directory.Change{
		Kind:      kind,
		OrgID:     m.Organization.ID,
		UserID:    m.PublicUserData.UserID,
		UpdatedAt: updated,
	}
	if kind == directory.ChangeMemberUpserted {
		c.Member = directory.Member{
			UserID:              m.PublicUserData.UserID,
			Role:                m.Role,
			RoleName:            m.RoleName,
			MembershipMetadata:  metadata(m.PublicMetadata),
			JoinedAt:            optMillis(m.CreatedAt),
			MembershipUpdatedAt: updated,
		}
	}
	return c, nil
}

// userData is the part of Clerk's User this service reads. Private and
// unsafe metadata have no field here, so they are never decoded.
type userData struct {
	ID                    string          `json:"id"`
	Username              *string         `json:"username"`
	FirstName             *string         `json:"first_name"`
	LastName              *string         `json:"last_name"`
	ImageURL              *string         `json:"image_url"`
	PrimaryEmailAddressID *string         `json:"primary_email_address_id"`
	EmailAddresses        []*emailAddress `json:"email_addresses"`
	PublicMetadata        json.RawMessage `json:"public_metadata"`
	LastSignInAt          *int64          `json:"last_sign_in_at"`
	LastActiveAt          *int64          `json:"last_active_at"`
	Banned                bool            `json:"banned"`
	CreatedAt             *int64          `json:"created_at"`
	UpdatedAt             *int64          `json:"updated_at"`
}

type emailAddress struct {
	ID           string `json:"id"`
	EmailAddress string `json:"email_address"`
}

func decodeUser(typ string, data json.RawMessage) (directory.Change, error) {
	var u userData
	if err := decodeData(typ, data, &u); err != nil {
		return directory.Change{}, err
	}
	if u.ID == "" {
		return directory.Change{}, newError(typ + " event has no data.id")
	}
	updated := optMillis(u.UpdatedAt)
	return directory.Change{
		Kind:   directory.ChangeUserUpdated,
		UserID: u.ID,
		Member: directory.Member{
			UserID:         u.ID,
			Email:          primaryEmail(&u),
			FirstName:      optString(u.FirstName),
			LastName:       optString(u.LastName),
			Username:       optString(u.Username),
			ImageURL:       optString(u.ImageURL),
			LastSignInAt:   optTime(u.LastSignInAt),
			LastActiveAt:   optTime(u.LastActiveAt),
			CreatedAt:      optMillis(u.CreatedAt),
			Banned:         u.Banned,
			PublicMetadata: metadata(u.PublicMetadata),
			UserUpdatedAt:  updated,
		},
		UpdatedAt: updated,
	}, nil
}

// decodeDeleted decodes Clerk's DeletedObject: a deleted user or
// organization, which carries no updated_at.
func decodeDeleted(typ string, data json.RawMessage) (directory.Change, error) {
	var d struct {
		ID string `json:"id"`
	}
	if err := decodeData(typ, data, &d); err != nil {
		return directory.Change{}, err
	}
	if d.ID == "" {
		return directory.Change{}, newError(typ + " event has no data.id")
	}
	if typ == TypeOrganizationDeleted {
		return directory.Change{Kind: directory.ChangeOrgDropped, OrgID: d.ID}, nil
	}
	return directory.Change{Kind: directory.ChangeUserDeleted, UserID: d.ID}, nil
}

// decodeData unmarshals an event's data object into v.
func decodeData(typ string, data json.RawMessage, v any) error {
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return newError(typ + " event has no data")
	}
	return unmarshal(data, v, typ+" event data")
}

// unmarshal decodes a JSON object into v. Its errors name the field whose
// type is wrong (the names are this package's, not the sender's) and never
// quote the input.
func unmarshal(raw []byte, v any, what string) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return newError(what + " is not a JSON object")
		}
		return newError(what + " field " + typeErr.Field + " has the wrong type")
	}
	return newError(what + " is not valid JSON")
}

// The helpers below mirror clerksource's toMember, so a member changed by
// a webhook equals the member a reload from Clerk would produce.

// primaryEmail returns the address whose id is the user's primary email
// address id, which need not be the first one listed.
func primaryEmail(u *userData) *string {
	if u.PrimaryEmailAddressID == nil {
		return nil
	}
	for _, e := range u.EmailAddresses {
		if e != nil && e.ID == *u.PrimaryEmailAddressID {
			return optString(&e.EmailAddress)
		}
	}
	return nil
}

// optString copies *p, mapping nil and "" to nil.
func optString(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	s := *p
	return &s
}

// optTime converts optional Unix milliseconds to an optional UTC time.
func optTime(ms *int64) *time.Time {
	if ms == nil {
		return nil
	}
	t := time.UnixMilli(*ms).UTC()
	return &t
}

// optMillis converts Unix milliseconds to a UTC time; absent or null is
// the zero time (unknown), never 1970.
func optMillis(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return time.UnixMilli(*ms).UTC()
}

// metadata returns a metadata object as JSON, "{}" when absent or null.
func metadata(raw json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return json.RawMessage("{}")
	}
	return trimmed
}
