package clerkemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/clerk/clerk-sdk-go/v2/jwt"
	"github.com/clerk/clerk-sdk-go/v2/organizationmembership"
	"github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

func sdkConfig(emu *clerkemu.Emulator, srv *httptest.Server) *clerk.ClientConfig {
	return &clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		URL: clerk.String(srv.URL + "/v1"), Key: clerk.String(emu.SecretKey()), HTTPClient: srv.Client(),
	}}
}

func TestSDKDecodesUser(t *testing.T) {
	emu, srv := readOnly(t)
	users := user.NewClient(sdkConfig(emu, srv))
	want := emu.Data().User(clerkemu.UserAcmeMember)

	got, err := users.Get(context.Background(), clerkemu.UserAcmeMember)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Object != "user" || *got.FirstName != *want.FirstName || got.CreatedAt != want.CreatedAt {
		t.Errorf("decoded user %+v, want %+v", got, want)
	}
	if len(got.EmailAddresses) < 2 || got.PrimaryEmailAddressID == nil || *got.PrimaryEmailAddressID == got.EmailAddresses[0].ID {
		t.Errorf("want several addresses with a primary that is not the first, got primary %v of %d", got.PrimaryEmailAddressID, len(got.EmailAddresses))
	}
	if got.CreatedAt < 1_000_000_000_000 {
		t.Errorf("created_at %d is not in Unix milliseconds", got.CreatedAt)
	}
	var priv map[string]any
	if err := json.Unmarshal(got.PrivateMetadata, &priv); err != nil || priv["salary"] == nil || priv["ssn_last4"] == nil {
		t.Errorf("private metadata %s lacks salary/ssn_last4 (%v)", got.PrivateMetadata, err)
	}
	var pub struct {
		Department string         `json:"department"`
		Location   map[string]any `json:"location"`
		Skills     []string       `json:"skills"`
		VNum       any            `json:"vnum"`
	}
	if err := json.Unmarshal(got.PublicMetadata, &pub); err != nil || pub.Department == "" || pub.Location["country"] == nil || len(pub.Skills) == 0 {
		t.Errorf("public metadata %s lacks department/location/skills (%v)", got.PublicMetadata, err)
	}
	if _, ok := pub.VNum.(string); !ok { // UserAcmeMember has an odd index: a numeric string
		t.Errorf("vnum %v (%T), want a numeric string", pub.VNum, pub.VNum)
	}

	_, err = users.Get(context.Background(), "user_missing")
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Errors[0].Code != "resource_not_found" || apiErr.TraceID == "" {
		t.Errorf("unknown user: %v", err)
	}
}

func TestSDKListsUsersWithCount(t *testing.T) {
	emu, srv := readOnly(t)
	users := user.NewClient(sdkConfig(emu, srv))
	list, err := users.List(context.Background(), &user.ListParams{
		ListParams:      clerk.ListParams{Limit: clerk.Int64(5)},
		OrganizationIDs: []string{clerkemu.OrgSmall},
	})
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != clerkemu.SmallMembers || len(list.Users) != 5 {
		t.Errorf("got %d users of total %d, want 5 of %d", len(list.Users), list.TotalCount, clerkemu.SmallMembers)
	}
	for i := 1; i < len(list.Users); i++ { // default order: -created_at
		if list.Users[i-1].CreatedAt < list.Users[i].CreatedAt {
			t.Errorf("users not newest first at %d", i)
		}
	}
}

// TestSDKPagesThroughAcme walks OrgAcme 500 at a time with the SDK: the
// pages together hold every member exactly once.
func TestSDKPagesThroughAcme(t *testing.T) {
	emu, srv := readOnly(t)
	mc := organizationmembership.NewClient(sdkConfig(emu, srv))
	seen := map[string]bool{}
	for offset := int64(0); ; offset += 500 {
		page, err := mc.List(context.Background(), &organizationmembership.ListParams{
			OrganizationID: clerkemu.OrgAcme,
			ListParams:     clerk.ListParams{Limit: clerk.Int64(500), Offset: clerk.Int64(offset)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != clerkemu.AcmeMembers {
			t.Fatalf("total_count %d, want %d", page.TotalCount, clerkemu.AcmeMembers)
		}
		for _, m := range page.OrganizationMemberships {
			if m.Organization == nil || m.Organization.ID != clerkemu.OrgAcme || m.PublicUserData == nil || m.Role == "" || m.RoleName == "" {
				t.Fatalf("incomplete membership %+v", m)
			}
			if seen[m.PublicUserData.UserID] {
				t.Fatalf("user %s on two pages", m.PublicUserData.UserID)
			}
			seen[m.PublicUserData.UserID] = true
		}
		if len(page.OrganizationMemberships) < 500 {
			break
		}
	}
	if len(seen) != clerkemu.AcmeMembers {
		t.Errorf("saw %d members, want %d", len(seen), clerkemu.AcmeMembers)
	}

	_, err := mc.List(context.Background(), &organizationmembership.ListParams{
		OrganizationID: clerkemu.OrgAcme, ListParams: clerk.ListParams{Limit: clerk.Int64(501)},
	})
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 422 || string(apiErr.Errors[0].Meta) != `{"param_name":"limit"}` {
		t.Errorf("limit 501: %v", err)
	}
}

func TestSDKWrites(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{})
	ctx := context.Background()
	mc := organizationmembership.NewClient(sdkConfig(emu, srv))
	uc := user.NewClient(sdkConfig(emu, srv))

	m, err := mc.Update(ctx, &organizationmembership.UpdateParams{OrganizationID: clerkemu.OrgSmall, UserID: clerkemu.UserSmallMember, Role: clerk.String(clerkemu.RoleBilling)})
	if err != nil || m.Role != clerkemu.RoleBilling || m.RoleName != "Billing manager" {
		t.Fatalf("update: %+v %v", m, err)
	}
	if _, err := mc.Delete(ctx, &organizationmembership.DeleteParams{OrganizationID: clerkemu.OrgSmall, UserID: clerkemu.UserSmallMember}); err != nil {
		t.Fatal(err)
	}
	if ids := emu.Data().MemberIDs(clerkemu.OrgSmall, ""); slices.Contains(ids, clerkemu.UserSmallMember) || len(ids) != clerkemu.SmallMembers-1 {
		t.Errorf("after delete, members %v", ids)
	}

	raw := json.RawMessage(`{"department":"Legal","location":{"city":"Lyon"},"skills":null}`)
	u, err := uc.UpdateMetadata(ctx, clerkemu.UserAcmeViewer, &user.UpdateMetadataParams{PublicMetadata: &raw})
	if err != nil {
		t.Fatal(err)
	}
	var pub map[string]any
	if err := json.Unmarshal(u.PublicMetadata, &pub); err != nil {
		t.Fatal(err)
	}
	loc, _ := pub["location"].(map[string]any)
	if pub["department"] != "Legal" || loc["city"] != "Lyon" || loc["country"] == nil || pub["skills"] != nil || pub["vnum"] == nil {
		t.Errorf("deep merge gave %v", pub)
	}
	if got := emu.Data().User(clerkemu.UserAcmeViewer).PublicMetadata["department"]; got != "Legal" {
		t.Errorf("Data() sees department %v", got)
	}

	m, err = mc.Create(ctx, &organizationmembership.CreateParams{OrganizationID: clerkemu.OrgSolo, UserID: clerk.String(clerkemu.UserNoOrg), Role: clerk.String(clerkemu.RoleMember)})
	if err != nil || m.Role != clerkemu.RoleMember || m.Organization.ID != clerkemu.OrgSolo || m.PublicUserData.UserID != clerkemu.UserNoOrg {
		t.Fatalf("create: %+v %v", m, err)
	}
	del, err := uc.Delete(ctx, clerkemu.UserNoOrg)
	if err != nil || !del.Deleted || del.ID != clerkemu.UserNoOrg || del.Object != "user" {
		t.Fatalf("delete user: %+v %v", del, err)
	}
	if _, err := uc.Get(ctx, clerkemu.UserNoOrg); err == nil || len(emu.Data().MemberIDs(clerkemu.OrgSolo, "")) != 1 {
		t.Errorf("deleted user still served (%v) or still a member", err)
	}
}

func TestSDKVerifiesTokens(t *testing.T) {
	emu, srv := readOnly(t)
	keys, err := jwks.NewClient(sdkConfig(emu, srv)).Get(context.Background(), &jwks.GetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Keys) != 1 || keys.Keys[0].KeyID != emu.KeyID() || keys.Keys[0].Algorithm != "RS256" || keys.Keys[0].Use != "sig" {
		t.Fatalf("jwks %+v", keys.Keys)
	}
	pemKey, err := clerk.JSONWebKeyFromPEM(emu.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	perms := clerkemu.RolePermissions(clerkemu.RoleAdmin)
	cases := []struct {
		name    string
		opts    clerkemu.TokenOptions
		wantOrg bool
	}{
		{"v2 admin", clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgAcme, OrgSlug: clerkemu.SlugAcme, OrgRole: clerkemu.RoleAdmin, OrgPermissions: perms}, true},
		{"v1 admin", clerkemu.TokenOptions{Version: 1, UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgAcme, OrgSlug: clerkemu.SlugAcme, OrgRole: clerkemu.RoleAdmin, OrgPermissions: perms}, true},
		{"v2 custom role no perms", clerkemu.TokenOptions{UserID: clerkemu.UserAcmeViewer, OrgID: clerkemu.OrgAcme, OrgSlug: clerkemu.SlugAcme, OrgRole: clerkemu.RoleViewer}, true},
		{"v2 no org", clerkemu.TokenOptions{UserID: clerkemu.UserNoOrg}, false},
		{"v1 no org", clerkemu.TokenOptions{Version: 1, UserID: clerkemu.UserNoOrg}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := emu.SignToken(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, jwk := range []*clerk.JSONWebKey{keys.Keys[0], pemKey} {
				c, err := jwt.Verify(context.Background(), &jwt.VerifyParams{Token: tok, JWK: jwk})
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if c.Subject != tc.opts.UserID || c.Issuer != emu.Issuer() || c.SessionID == "" || c.AuthorizedParty != "http://localhost:3000" {
					t.Errorf("claims %+v", c)
				}
				if !tc.wantOrg {
					if c.ActiveOrganizationID != "" || c.ActiveOrganizationRole != "" {
						t.Errorf("no-org token has org %q role %q", c.ActiveOrganizationID, c.ActiveOrganizationRole)
					}
					continue
				}
				wantPerms := tc.opts.OrgPermissions
				if wantPerms == nil {
					wantPerms = []string{}
				}
				gotPerms := slices.Clone(c.ActiveOrganizationPermissions)
				slices.Sort(gotPerms)
				wantPerms = slices.Sorted(slices.Values(wantPerms))
				if c.ActiveOrganizationID != clerkemu.OrgAcme || c.ActiveOrganizationSlug != clerkemu.SlugAcme ||
					c.ActiveOrganizationRole != tc.opts.OrgRole || !slices.Equal(gotPerms, wantPerms) {
					t.Errorf("org claims %q %q %q %v, want %q %v", c.ActiveOrganizationID, c.ActiveOrganizationSlug, c.ActiveOrganizationRole, gotPerms, tc.opts.OrgRole, wantPerms)
				}
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		tok, err := emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, IssuedAt: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jwt.Verify(context.Background(), &jwt.VerifyParams{Token: tok, JWK: pemKey}); err == nil {
			t.Error("an hour-old 60s token verified")
		}
	})
	t.Run("other emulator's key", func(t *testing.T) {
		other, _ := fresh(t, clerkemu.Options{})
		tok, err := other.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jwt.Verify(context.Background(), &jwt.VerifyParams{Token: tok, JWK: pemKey}); err == nil {
			t.Error("a token signed by another key verified")
		}
	})
	t.Run("bad v2 permission", func(t *testing.T) {
		if _, err := emu.SignToken(clerkemu.TokenOptions{UserID: "u", OrgID: "o", OrgPermissions: []string{"admin"}}); err == nil {
			t.Error("a permission without feature was encoded")
		}
	})
	t.Run("demo tokens", func(t *testing.T) {
		demo, err := emu.DemoTokens(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][2]string{
			demo.Admin:  {clerkemu.UserAcmeAdmin, clerkemu.RoleAdmin},
			demo.Member: {clerkemu.UserAcmeMember, clerkemu.RoleMember},
			demo.NoOrg:  {clerkemu.UserNoOrg, ""},
		}
		for tok, w := range want {
			c, err := jwt.Verify(context.Background(), &jwt.VerifyParams{Token: tok, JWK: pemKey})
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != w[0] || c.ActiveOrganizationRole != w[1] {
				t.Errorf("demo token for %s role %q, want %s %q", c.Subject, c.ActiveOrganizationRole, w[0], w[1])
			}
			if w[1] == clerkemu.RoleAdmin && !c.HasPermission("org:sys_memberships:manage") {
				t.Errorf("admin lacks org:sys_memberships:manage: %v", c.ActiveOrganizationPermissions)
			}
		}
	})
}

func TestSecretKeyAndIssuerOptions(t *testing.T) {
	emu, srv := fresh(t, clerkemu.Options{SecretKey: "sk_test_fixed", Issuer: "https://clerk.example.test", Data: &clerkemu.Dataset{}})
	if emu.SecretKey() != "sk_test_fixed" || emu.Issuer() != "https://clerk.example.test" {
		t.Fatalf("options ignored: %q %q", emu.SecretKey(), emu.Issuer())
	}
	if status, _, body := callKey(t, srv, "Bearer sk_test_fixed", http.MethodGet, "/v1/users", ""); status != 200 || string(body) != "[]" {
		t.Errorf("empty dataset: %d %s", status, body)
	}
	if _, err := emu.DemoTokens(0); err == nil {
		t.Error("DemoTokens on an empty dataset succeeded")
	}
	def, _ := readOnly(t)
	if len(def.SecretKey()) < 20 || def.SecretKey()[:8] != "sk_test_" || def.Issuer() != clerkemu.DefaultIssuer {
		t.Errorf("generated key %q issuer %q", def.SecretKey(), def.Issuer())
	}
}
