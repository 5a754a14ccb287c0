package clerkemu

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
)

// The wire types are the JSON shapes of the Backend API 2025-04-10 spec
// (testdata/bapi-2025-04-10.yml); every field the spec requires is present.

type wireUserT struct {
	ID                            string         `json:"id"`
	Object                        string         `json:"object"`
	ExternalID                    *string        `json:"external_id"`
	PrimaryEmailAddressID         *string        `json:"primary_email_address_id"`
	PrimaryPhoneNumberID          *string        `json:"primary_phone_number_id"`
	PrimaryWeb3WalletID           *string        `json:"primary_web3_wallet_id"`
	Username                      *string        `json:"username"`
	FirstName                     *string        `json:"first_name"`
	LastName                      *string        `json:"last_name"`
	Locale                        *string        `json:"locale"`
	ProfileImageURL               string         `json:"profile_image_url"`
	ImageURL                      string         `json:"image_url"`
	HasImage                      bool           `json:"has_image"`
	PublicMetadata                map[string]any `json:"public_metadata"`
	PrivateMetadata               map[string]any `json:"private_metadata"`
	UnsafeMetadata                map[string]any `json:"unsafe_metadata"`
	EmailAddresses                []wireEmailT   `json:"email_addresses"`
	PhoneNumbers                  []struct{}     `json:"phone_numbers"`
	Web3Wallets                   []struct{}     `json:"web3_wallets"`
	Passkeys                      []struct{}     `json:"passkeys"`
	PasswordEnabled               bool           `json:"password_enabled"`
	TwoFactorEnabled              bool           `json:"two_factor_enabled"`
	TOTPEnabled                   bool           `json:"totp_enabled"`
	BackupCodeEnabled             bool           `json:"backup_code_enabled"`
	MFAEnabledAt                  *int64         `json:"mfa_enabled_at"`
	MFADisabledAt                 *int64         `json:"mfa_disabled_at"`
	PasswordLastUpdatedAt         *int64         `json:"password_last_updated_at"`
	ExternalAccounts              []struct{}     `json:"external_accounts"`
	SAMLAccounts                  []struct{}     `json:"saml_accounts"`
	EnterpriseAccounts            []struct{}     `json:"enterprise_accounts"`
	LastSignInAt                  *int64         `json:"last_sign_in_at"`
	Banned                        bool           `json:"banned"`
	Locked                        bool           `json:"locked"`
	LockoutExpiresInSeconds       *int64         `json:"lockout_expires_in_seconds"`
	VerificationAttemptsRemaining *int64         `json:"verification_attempts_remaining"`
	UpdatedAt                     int64          `json:"updated_at"`
	CreatedAt                     int64          `json:"created_at"`
	DeleteSelfEnabled             bool           `json:"delete_self_enabled"`
	CreateOrganizationEnabled     bool           `json:"create_organization_enabled"`
	CreateOrganizationsLimit      *int           `json:"create_organizations_limit"`
	LastActiveAt                  *int64         `json:"last_active_at"`
	LegalAcceptedAt               *int64         `json:"legal_accepted_at"`
	BypassClientTrust             bool           `json:"bypass_client_trust"`
}

type wireEmailT struct {
	ID                   string            `json:"id"`
	Object               string            `json:"object"`
	EmailAddress         string            `json:"email_address"`
	Reserved             bool              `json:"reserved"`
	Verification         *wireVerification `json:"verification"`
	LinkedTo             []struct{}        `json:"linked_to"`
	MatchesSSOConnection bool              `json:"matches_sso_connection"`
	CreatedAt            int64             `json:"created_at"`
	UpdatedAt            int64             `json:"updated_at"`
}

type wireVerification struct {
	Object   string `json:"object"`
	Status   string `json:"status"`
	Strategy string `json:"strategy"`
	Attempts *int   `json:"attempts"`
	ExpireAt *int64 `json:"expire_at"`
}

func wireUser(u *User) *wireUserT {
	w := &wireUserT{
		ID: u.ID, Object: "user", ExternalID: u.ExternalID,
		Username: u.Username, FirstName: u.FirstName, LastName: u.LastName,
		ProfileImageURL: u.ImageURL, ImageURL: u.ImageURL, HasImage: u.HasImage,
		PublicMetadata:  nonNil(u.PublicMetadata),
		PrivateMetadata: nonNil(u.PrivateMetadata),
		UnsafeMetadata:  nonNil(u.UnsafeMetadata),
		EmailAddresses:  make([]wireEmailT, 0, len(u.EmailAddresses)),
		PhoneNumbers:    []struct{}{}, Web3Wallets: []struct{}{}, Passkeys: []struct{}{},
		ExternalAccounts: []struct{}{}, SAMLAccounts: []struct{}{}, EnterpriseAccounts: []struct{}{},
		PasswordEnabled: u.PasswordEnabled, TwoFactorEnabled: u.TwoFactorEnabled, TOTPEnabled: u.TwoFactorEnabled,
		LastSignInAt: u.LastSignInAt, LastActiveAt: u.LastActiveAt,
		Banned: u.Banned, Locked: u.Locked,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		DeleteSelfEnabled: true, CreateOrganizationEnabled: true,
	}
	if u.PrimaryEmailAddressID != "" {
		w.PrimaryEmailAddressID = &u.PrimaryEmailAddressID
	}
	if u.PasswordEnabled {
		w.PasswordLastUpdatedAt = &u.CreatedAt
	}
	if u.TwoFactorEnabled {
		w.MFAEnabledAt = &u.CreatedAt
	}
	if u.Locked {
		w.LockoutExpiresInSeconds = new(int64)
		*w.LockoutExpiresInSeconds = 1800
	}
	for _, e := range u.EmailAddresses {
		v := &wireVerification{Object: "verification_otp", Status: "verified", Strategy: "email_code", Attempts: new(int)}
		*v.Attempts = 1
		if !e.Verified {
			v.Status = "unverified"
			exp := e.CreatedAt + 10*minute
			v.ExpireAt = &exp
		}
		w.EmailAddresses = append(w.EmailAddresses, wireEmailT{
			ID: e.ID, Object: "email_address", EmailAddress: e.EmailAddress,
			Verification: v, LinkedTo: []struct{}{},
			CreatedAt: orDefault(e.CreatedAt, u.CreatedAt), UpdatedAt: orDefault(e.UpdatedAt, u.CreatedAt),
		})
	}
	return w
}

type wireOrganizationT struct {
	Object                string         `json:"object"`
	ID                    string         `json:"id"`
	Name                  string         `json:"name"`
	Slug                  string         `json:"slug"`
	ImageURL              string         `json:"image_url"`
	HasImage              bool           `json:"has_image"`
	MaxAllowedMemberships int            `json:"max_allowed_memberships"`
	AdminDeleteEnabled    bool           `json:"admin_delete_enabled"`
	PublicMetadata        map[string]any `json:"public_metadata"`
	PrivateMetadata       map[string]any `json:"private_metadata"`
	CreatedBy             string         `json:"created_by,omitempty"`
	CreatedAt             int64          `json:"created_at"`
	UpdatedAt             int64          `json:"updated_at"`
}

func wireOrganization(o *Organization) *wireOrganizationT {
	return &wireOrganizationT{
		Object: "organization", ID: o.ID, Name: o.Name, Slug: o.Slug,
		ImageURL: o.ImageURL, HasImage: o.HasImage,
		MaxAllowedMemberships: o.MaxAllowedMemberships, AdminDeleteEnabled: o.AdminDeleteEnabled,
		PublicMetadata: nonNil(o.PublicMetadata), PrivateMetadata: nonNil(o.PrivateMetadata),
		CreatedBy: o.CreatedBy, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
}

type wireMembershipT struct {
	Object          string              `json:"object"`
	ID              string              `json:"id"`
	Role            string              `json:"role"`
	RoleName        string              `json:"role_name"`
	Permissions     []string            `json:"permissions"`
	PublicMetadata  map[string]any      `json:"public_metadata"`
	PrivateMetadata map[string]any      `json:"private_metadata"`
	Organization    json.RawMessage     `json:"organization"`
	PublicUserData  *wirePublicUserData `json:"public_user_data"`
	CreatedAt       int64               `json:"created_at"`
	UpdatedAt       int64               `json:"updated_at"`
}

type wirePublicUserData struct {
	UserID          string  `json:"user_id"`
	FirstName       *string `json:"first_name"`
	LastName        *string `json:"last_name"`
	ProfileImageURL *string `json:"profile_image_url"`
	ImageURL        string  `json:"image_url"`
	HasImage        bool    `json:"has_image"`
	Identifier      *string `json:"identifier"`
	Username        *string `json:"username"`
	Banned          bool    `json:"banned"`
}

func encodeMembership(mr *memRec) []byte {
	u := &mr.user.u
	pud := &wirePublicUserData{
		UserID: u.ID, FirstName: u.FirstName, LastName: u.LastName,
		ProfileImageURL: &u.ImageURL, ImageURL: u.ImageURL, HasImage: u.HasImage,
		Username: u.Username, Banned: u.Banned,
	}
	if p := u.PrimaryEmail(); p != "" {
		pud.Identifier = &p
	} else if u.Username != nil {
		pud.Identifier = u.Username
	}
	perms := mr.m.Permissions
	if perms == nil {
		perms = []string{}
	}
	return mustJSON(&wireMembershipT{
		Object: "organization_membership", ID: mr.m.ID, Role: mr.m.Role, RoleName: mr.m.RoleName,
		Permissions: perms, PublicMetadata: nonNil(mr.m.PublicMetadata), PrivateMetadata: nonNil(mr.m.PrivateMetadata),
		Organization: mr.org.json, PublicUserData: pud, CreatedAt: mr.m.CreatedAt, UpdatedAt: mr.m.UpdatedAt,
	})
}

type wireInvitationT struct {
	Object            string            `json:"object"`
	ID                string            `json:"id"`
	EmailAddress      string            `json:"email_address"`
	Role              string            `json:"role"`
	RoleName          string            `json:"role_name"`
	OrganizationID    string            `json:"organization_id"`
	InviterID         *string           `json:"inviter_id"`
	PublicInviterData *wireInviterDataT `json:"public_inviter_data"`
	Status            string            `json:"status"`
	PublicMetadata    map[string]any    `json:"public_metadata"`
	PrivateMetadata   map[string]any    `json:"private_metadata"`
	URL               *string           `json:"url"`
	ExpiresAt         *int64            `json:"expires_at"`
	CreatedAt         int64             `json:"created_at"`
	UpdatedAt         int64             `json:"updated_at"`
}

type wireInviterDataT struct {
	UserID     string  `json:"user_id"`
	FirstName  *string `json:"first_name"`
	LastName   *string `json:"last_name"`
	ImageURL   string  `json:"image_url"`
	HasImage   bool    `json:"has_image"`
	Identifier string  `json:"identifier"`
}

func wireInvitation(inv *Invitation, inviter *User) *wireInvitationT {
	w := &wireInvitationT{
		Object: "organization_invitation", ID: inv.ID, EmailAddress: inv.EmailAddress,
		Role: inv.Role, RoleName: inv.RoleName, OrganizationID: inv.OrganizationID,
		InviterID: inv.InviterID, Status: inv.Status,
		PublicMetadata: nonNil(inv.PublicMetadata), PrivateMetadata: nonNil(inv.PrivateMetadata),
		URL: inv.URL, ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt, UpdatedAt: inv.UpdatedAt,
	}
	if w.RoleName == "" {
		w.RoleName = roleName(inv.Role)
	}
	if inviter != nil {
		w.PublicInviterData = &wireInviterDataT{
			UserID: inviter.ID, FirstName: inviter.FirstName, LastName: inviter.LastName,
			ImageURL: inviter.ImageURL, HasImage: inviter.HasImage, Identifier: inviter.PrimaryEmail(),
		}
	}
	return w
}

// wireAcceptedInvitationT is the data of organizationInvitation.accepted:
// the invitation, the accepting user and the organization, as the webhook
// spec's OrganizationInvitationAcceptedPayload has them.
type wireAcceptedInvitationT struct {
	*wireInvitationT
	UserID string             `json:"user_id"`
	Data   wireInviteOrgDataT `json:"data"`
}

type wireInviteOrgDataT struct {
	PublicOrganizationData *wirePublicOrgDataT `json:"public_organization_data"`
}

type wirePublicOrgDataT struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	ImageURL string `json:"image_url,omitempty"`
	HasImage bool   `json:"has_image"`
}

type wireRoleT struct {
	Object            string            `json:"object"`
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Key               string            `json:"key"`
	Description       *string           `json:"description"`
	IsCreatorEligible bool              `json:"is_creator_eligible"`
	Permissions       []wirePermissionT `json:"permissions"`
	CreatedAt         int64             `json:"created_at"`
	UpdatedAt         int64             `json:"updated_at"`
}

type wirePermissionT struct {
	Object      string `json:"object"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	Key         string `json:"key"`
	Description string `json:"description"`
	Type        string `json:"type"` // "system" for org:sys_* keys, else "user"
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`
}

func wireRole(r *Role) *wireRoleT {
	w := &wireRoleT{
		Object: "role", ID: r.ID, Name: r.Name, Key: r.Key, Description: r.Description,
		IsCreatorEligible: isCreatorEligible(r.Permissions), Permissions: make([]wirePermissionT, 0, len(r.Permissions)),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	for _, k := range r.Permissions {
		typ := "user"
		if strings.HasPrefix(k, "org:sys_") {
			typ = "system"
		}
		name := permissionName(k)
		w.Permissions = append(w.Permissions, wirePermissionT{
			Object: "permission", ID: derivedID("perm", k), Name: name, Key: k, Description: name + ".",
			Type: typ, CreatedAt: rolesEpoch, UpdatedAt: rolesEpoch,
		})
	}
	return w
}

type wireErrorT struct {
	Message     string         `json:"message"`
	LongMessage string         `json:"long_message"`
	Code        string         `json:"code"`
	Meta        map[string]any `json:"meta,omitempty"`
}

type wireErrorsT struct {
	Errors       []wireErrorT `json:"errors"`
	ClerkTraceID string       `json:"clerk_trace_id"`
}

func encodeJWKS(kid string, pub *rsa.PublicKey) []byte {
	type jwk struct {
		Use string `json:"use"`
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	return mustJSON(map[string][]jwk{"keys": {{
		Use: "sig", Kty: "RSA", Kid: kid, Alg: "RS256",
		N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// mustJSON encodes v without HTML escaping. It panics on values
// encoding/json rejects, which only malformed metadata (channels, funcs) can
// produce; the mutation paths reject those first.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("clerkemu: encoding " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
