package clerkemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrNotFound is wrapped by the errors of the Go mutation methods when an
// organization, user or membership does not exist.
var ErrNotFound = errors.New("clerkemu: not found")

// ErrConflict is wrapped by the errors of the Go mutation methods when the
// change would duplicate an existing user or membership, or when an
// invitation is no longer pending.
var ErrConflict = errors.New("clerkemu: conflict")

// ErrInvalid is wrapped by the errors of LoadDataset and the Go mutation
// methods when the input is malformed.
var ErrInvalid = errors.New("clerkemu: invalid")

// Dataset is everything the emulator serves. It is JSON-serialisable (see
// LoadDataset); timestamps are Unix milliseconds like Clerk's.
type Dataset struct {
	Organizations []Organization `json:"organizations"`
	Users         []User         `json:"users"`
	Memberships   []Membership   `json:"memberships"`
	Invitations   []Invitation   `json:"invitations"`
	// OrganizationRoles lists the instance's organization roles (optional;
	// JSON "roles"). Roles() adds the standard ones and every role a
	// membership or invitation uses.
	OrganizationRoles []Role `json:"roles,omitempty"`
}

// Organization is a Clerk organization.
type Organization struct {
	ID                    string         `json:"id"`
	Name                  string         `json:"name"`
	Slug                  string         `json:"slug"`
	ImageURL              string         `json:"image_url,omitempty"`
	HasImage              bool           `json:"has_image,omitempty"`
	MaxAllowedMemberships int            `json:"max_allowed_memberships,omitempty"`
	AdminDeleteEnabled    bool           `json:"admin_delete_enabled,omitempty"`
	PublicMetadata        map[string]any `json:"public_metadata,omitempty"`
	PrivateMetadata       map[string]any `json:"private_metadata,omitempty"`
	CreatedBy             string         `json:"created_by,omitempty"`
	CreatedAt             int64          `json:"created_at"`
	UpdatedAt             int64          `json:"updated_at"`
}

// EmailAddress is one of a user's email addresses.
type EmailAddress struct {
	ID           string `json:"id"`
	EmailAddress string `json:"email_address"`
	// Verified selects the verification status served ("verified" or "unverified").
	Verified  bool  `json:"verified"`
	CreatedAt int64 `json:"created_at,omitempty"`
	UpdatedAt int64 `json:"updated_at,omitempty"`
}

// User is a Clerk user. Optional values are nil when absent. The primary
// email is the address whose ID is PrimaryEmailAddressID; it need not be the
// first in EmailAddresses.
type User struct {
	ID                    string         `json:"id"`
	ExternalID            *string        `json:"external_id,omitempty"`
	Username              *string        `json:"username,omitempty"`
	FirstName             *string        `json:"first_name,omitempty"`
	LastName              *string        `json:"last_name,omitempty"`
	ImageURL              string         `json:"image_url,omitempty"`
	HasImage              bool           `json:"has_image,omitempty"`
	EmailAddresses        []EmailAddress `json:"email_addresses,omitempty"`
	PrimaryEmailAddressID string         `json:"primary_email_address_id,omitempty"`
	PublicMetadata        map[string]any `json:"public_metadata,omitempty"`
	PrivateMetadata       map[string]any `json:"private_metadata,omitempty"`
	UnsafeMetadata        map[string]any `json:"unsafe_metadata,omitempty"`
	PasswordEnabled       bool           `json:"password_enabled,omitempty"`
	TwoFactorEnabled      bool           `json:"two_factor_enabled,omitempty"`
	Banned                bool           `json:"banned,omitempty"`
	Locked                bool           `json:"locked,omitempty"`
	// LastSignInAt is nil for a user who never signed in.
	LastSignInAt *int64 `json:"last_sign_in_at,omitempty"`
	LastActiveAt *int64 `json:"last_active_at,omitempty"`
	CreatedAt    int64  `json:"created_at"`
	UpdatedAt    int64  `json:"updated_at"`
}

// PrimaryEmail returns the user's primary email address, or "" when the
// user has none.
func (u *User) PrimaryEmail() string {
	for _, e := range u.EmailAddresses {
		if e.ID == u.PrimaryEmailAddressID {
			return e.EmailAddress
		}
	}
	return ""
}

// Membership is a user's membership in an organization.
type Membership struct {
	ID             string `json:"id"`
	OrganizationID string `json:"organization_id"`
	UserID         string `json:"user_id"`
	Role           string `json:"role"`
	// RoleName is the display name; "" -> derived from Role.
	RoleName string `json:"role_name,omitempty"`
	// Permissions are "org:<feature>:<permission>" keys; nil -> those of Role.
	Permissions     []string       `json:"permissions,omitempty"`
	PublicMetadata  map[string]any `json:"public_metadata,omitempty"`
	PrivateMetadata map[string]any `json:"private_metadata,omitempty"`
	CreatedAt       int64          `json:"created_at"`
	UpdatedAt       int64          `json:"updated_at"`
}

// Invitation is an invitation to join an organization.
type Invitation struct {
	ID             string         `json:"id"`
	OrganizationID string         `json:"organization_id"`
	EmailAddress   string         `json:"email_address"`
	Role           string         `json:"role"`
	RoleName       string         `json:"role_name,omitempty"`
	Status         string         `json:"status"` // pending, accepted, revoked, expired
	InviterID      *string        `json:"inviter_id,omitempty"`
	PublicMetadata map[string]any `json:"public_metadata,omitempty"`
	// PrivateMetadata is served like Clerk does; the product must not leak it.
	PrivateMetadata map[string]any `json:"private_metadata,omitempty"`
	// URL is the invitation link when one was asked for (redirect_url).
	URL       *string `json:"url,omitempty"`
	ExpiresAt *int64  `json:"expires_at,omitempty"`
	CreatedAt int64   `json:"created_at"`
	UpdatedAt int64   `json:"updated_at"`
}

// The organization roles of the default dataset: RoleAdmin and RoleMember
// are Clerk's standard roles, every instance has them; RoleBilling and
// RoleViewer are custom roles. Their names and permissions are the
// defaults of any dataset role with these keys.
const (
	RoleAdmin   = "org:admin"
	RoleMember  = "org:member"
	RoleBilling = "org:billing"
	RoleViewer  = "org:viewer"
)

type roleInfo struct {
	name        string
	description string
	permissions []string
}

var knownRoles = map[string]roleInfo{
	RoleAdmin: {"Admin", "Manages the organization, its members and its domains.", []string{
		"org:sys_profile:manage", "org:sys_profile:delete",
		"org:sys_memberships:read", "org:sys_memberships:manage",
		"org:sys_domains:read", "org:sys_domains:manage",
	}},
	RoleMember:  {"Member", "Reads the organization's members.", []string{"org:sys_memberships:read"}},
	RoleBilling: {"Billing manager", "Reads the members and manages billing.", []string{"org:sys_memberships:read", "org:sys_billing:read", "org:sys_billing:manage"}},
	RoleViewer:  {"Viewer", "Reads the organization's members.", []string{"org:sys_memberships:read"}},
}

// RolePermissions returns the permissions the emulator grants role (nil for
// a role it does not know). Any caller may use it.
func RolePermissions(role string) []string {
	return append([]string(nil), knownRoles[role].permissions...)
}

func roleName(role string) string {
	if ri, ok := knownRoles[role]; ok {
		return ri.name
	}
	k := strings.TrimPrefix(role, "org:")
	if k == "" {
		return role
	}
	return strings.ToUpper(k[:1]) + strings.ReplaceAll(k[1:], "_", " ")
}

// LoadDataset decodes a Dataset from JSON (the encoding of Dataset) and
// checks it: ids present and unique, memberships and invitations pointing at
// existing organizations and users, no user twice in one organization, role
// keys present and unique.
// Numbers in metadata are kept exactly (as json.Number).
// Errors wrap ErrInvalid.
func LoadDataset(r io.Reader) (*Dataset, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var d Dataset
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: decoding dataset: %v", ErrInvalid, err)
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

func (d *Dataset) validate() error {
	if _, err := json.Marshal(d); err != nil {
		return fmt.Errorf("%w: dataset is not JSON-encodable: %v", ErrInvalid, err)
	}
	orgs := make(map[string]bool, len(d.Organizations))
	for _, o := range d.Organizations {
		if o.ID == "" || orgs[o.ID] {
			return fmt.Errorf("%w: organization id %q empty or repeated", ErrInvalid, o.ID)
		}
		orgs[o.ID] = true
	}
	users := make(map[string]bool, len(d.Users))
	for _, u := range d.Users {
		if u.ID == "" || users[u.ID] {
			return fmt.Errorf("%w: user id %q empty or repeated", ErrInvalid, u.ID)
		}
		users[u.ID] = true
		if u.PrimaryEmailAddressID != "" && u.PrimaryEmail() == "" {
			return fmt.Errorf("%w: user %s: primary email %q is not among its addresses", ErrInvalid, u.ID, u.PrimaryEmailAddressID)
		}
	}
	seen := make(map[[2]string]bool, len(d.Memberships))
	ids := make(map[string]bool, len(d.Memberships))
	for _, m := range d.Memberships {
		if !orgs[m.OrganizationID] || !users[m.UserID] {
			return fmt.Errorf("%w: membership %q refers to unknown organization %q or user %q", ErrInvalid, m.ID, m.OrganizationID, m.UserID)
		}
		k := [2]string{m.OrganizationID, m.UserID}
		if m.ID == "" || ids[m.ID] || seen[k] {
			return fmt.Errorf("%w: membership %q: id empty or repeated, or user %s twice in %s", ErrInvalid, m.ID, m.UserID, m.OrganizationID)
		}
		if m.Role == "" {
			return fmt.Errorf("%w: membership %q has no role", ErrInvalid, m.ID)
		}
		ids[m.ID], seen[k] = true, true
	}
	invs := make(map[string]bool, len(d.Invitations))
	for _, inv := range d.Invitations {
		if inv.ID == "" || invs[inv.ID] || !orgs[inv.OrganizationID] {
			return fmt.Errorf("%w: invitation %q: empty or repeated id, or unknown organization %q", ErrInvalid, inv.ID, inv.OrganizationID)
		}
		if inv.Role == "" {
			return fmt.Errorf("%w: invitation %q has no role", ErrInvalid, inv.ID)
		}
		invs[inv.ID] = true
	}
	keys := make(map[string]bool, len(d.OrganizationRoles))
	for _, r := range d.OrganizationRoles {
		if r.Key == "" || keys[r.Key] {
			return fmt.Errorf("%w: role key %q empty or repeated", ErrInvalid, r.Key)
		}
		keys[r.Key] = true
	}
	return nil
}

// MemberIDs returns the ids of the users holding role in orgID ("" = any
// role), in the order of d.Memberships. Tests use it to find an admin or a
// plain member of an organization.
func (d *Dataset) MemberIDs(orgID, role string) []string {
	var ids []string
	for _, m := range d.Memberships {
		if m.OrganizationID == orgID && (role == "" || m.Role == role) {
			ids = append(ids, m.UserID)
		}
	}
	return ids
}

// User returns the user with the given id, or nil.
func (d *Dataset) User(id string) *User {
	for i := range d.Users {
		if d.Users[i].ID == id {
			return &d.Users[i]
		}
	}
	return nil
}

// clone returns a deep copy of d.
func (d *Dataset) clone() *Dataset {
	c := &Dataset{
		Organizations: make([]Organization, len(d.Organizations)),
		Users:         make([]User, len(d.Users)),
		Memberships:   make([]Membership, len(d.Memberships)),
		Invitations:   make([]Invitation, len(d.Invitations)),
	}
	if d.OrganizationRoles != nil {
		c.OrganizationRoles = make([]Role, len(d.OrganizationRoles))
		for i, r := range d.OrganizationRoles {
			c.OrganizationRoles[i] = r.clone()
		}
	}
	for i, o := range d.Organizations {
		c.Organizations[i] = o.clone()
	}
	for i, u := range d.Users {
		c.Users[i] = u.clone()
	}
	for i, m := range d.Memberships {
		c.Memberships[i] = m.clone()
	}
	for i, inv := range d.Invitations {
		c.Invitations[i] = inv.clone()
	}
	return c
}

func (inv Invitation) clone() Invitation {
	inv.InviterID = clonePtr(inv.InviterID)
	inv.URL = clonePtr(inv.URL)
	inv.ExpiresAt = clonePtr(inv.ExpiresAt)
	inv.PublicMetadata = cloneMap(inv.PublicMetadata)
	inv.PrivateMetadata = cloneMap(inv.PrivateMetadata)
	return inv
}

func (o Organization) clone() Organization {
	o.PublicMetadata = cloneMap(o.PublicMetadata)
	o.PrivateMetadata = cloneMap(o.PrivateMetadata)
	return o
}

func (u User) clone() User {
	u.ExternalID = clonePtr(u.ExternalID)
	u.Username = clonePtr(u.Username)
	u.FirstName = clonePtr(u.FirstName)
	u.LastName = clonePtr(u.LastName)
	u.LastSignInAt = clonePtr(u.LastSignInAt)
	u.LastActiveAt = clonePtr(u.LastActiveAt)
	u.EmailAddresses = append([]EmailAddress(nil), u.EmailAddresses...)
	u.PublicMetadata = cloneMap(u.PublicMetadata)
	u.PrivateMetadata = cloneMap(u.PrivateMetadata)
	u.UnsafeMetadata = cloneMap(u.UnsafeMetadata)
	return u
}

func (m Membership) clone() Membership {
	m.Permissions = append([]string(nil), m.Permissions...)
	m.PublicMetadata = cloneMap(m.PublicMetadata)
	m.PrivateMetadata = cloneMap(m.PrivateMetadata)
	return m
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneMap(v)
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = cloneValue(e)
		}
		return c
	case []string:
		return append([]string(nil), v...)
	default:
		return v
	}
}
