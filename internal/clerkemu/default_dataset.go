package clerkemu

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Organization ids (and slugs) of DefaultDataset.
const (
	OrgAcme  = "org_acme"  // "acme": 1,200 members, every role, paging matters
	OrgSmall = "org_small" // "globex": 12 members
	OrgSolo  = "org_solo"  // "solo-studio": a single admin
	OrgMid   = "org_mid"   // "initech": 60 members, some shared with OrgAcme

	SlugAcme  = "acme"
	SlugSmall = "globex"
	SlugSolo  = "solo-studio"
	SlugMid   = "initech"
)

// Well-known user ids of DefaultDataset, for tests that need a particular
// principal. Every other user id is random-looking but fixed.
const (
	UserAcmeAdmin   = "user_acme_admin"   // org:admin of OrgAcme, also org:member of OrgSmall
	UserAcmeMember  = "user_acme_member"  // plain org:member of OrgAcme
	UserAcmeBilling = "user_acme_billing" // org:billing of OrgAcme
	UserAcmeViewer  = "user_acme_viewer"  // org:viewer of OrgAcme
	UserSmallAdmin  = "user_small_admin"  // org:admin of OrgSmall
	UserSmallMember = "user_small_member" // org:member of OrgSmall
	UserSoloAdmin   = "user_solo_admin"   // the only member of OrgSolo
	UserNoOrg       = "user_no_org"       // a member of no organization
)

// The sizes of DefaultDataset's organizations and the number of users in none.
const (
	AcmeMembers  = 1200
	SmallMembers = 12
	MidMembers   = 60
	NoOrgUsers   = 25
)

// baseTime is 2023-01-02T03:04:05.678Z in Unix milliseconds: all default
// timestamps are offsets from it, so the dataset never depends on the clock.
const baseTime int64 = 1672628645678

const (
	minute = int64(60_000)
	day    = 24 * 60 * minute
)

var (
	firstNames  = []string{"Ada", "Grace", "Alan", "Barbara", "Linus", "Margaret", "Ken", "Radia", "Dennis", "Frances", "Edsger", "Katherine", "Donald", "Hedy", "John", "Sophie", "Tim", "Anita", "Guido", "Joan", "Bjarne", "Shafi", "Niklaus", "Lynn", "Rob", "Ivan", "Mary", "Yukihiro", "Zoë", "José"}
	lastNames   = []string{"Lovelace", "Hopper", "Turing", "Liskov", "Torvalds", "Hamilton", "Thompson", "Perlman", "Ritchie", "Allen", "Dijkstra", "Johnson", "Knuth", "Lamarr", "McCarthy", "Wilson", "Berners-Lee", "Borg", "van Rossum", "Clarke", "Stroustrup", "Goldwasser", "Wirth", "Conway", "Pike", "Sutherland", "Keller", "Matsumoto", "O'Neil", "Núñez"}
	departments = []string{"Engineering", "Sales", "Marketing", "Finance", "Support", "Legal", "Design", "Operations"}
	jobRoles    = []string{"Engineer", "Senior Engineer", "Manager", "Director", "Analyst", "Designer", "Specialist", "Intern"}
	locations   = [][2]string{{"US", "New York"}, {"US", "San Francisco"}, {"DE", "Berlin"}, {"FR", "Paris"}, {"GB", "London"}, {"JP", "Tokyo"}, {"BR", "São Paulo"}, {"IN", "Bengaluru"}}
	skillsPool  = []string{"go", "graphql", "sql", "kubernetes", "react", "negotiation", "excel", "figma", "rust", "python"}
	teams       = []string{"platform", "growth", "core", "payments", "mobile", "data"}
	domains     = []string{"example.com", "mail.example.org", "corp.example.net"}
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// DefaultDataset returns the built-in dataset, identical on every call
// (generated from a fixed seed, no clock): OrgAcme with 1,200 members in
// roles org:admin, org:member, org:billing and org:viewer; OrgSmall with 12;
// OrgSolo with one admin; OrgMid with 60 (10 shared with OrgAcme); 25 users in
// no organization. Users vary the way real ones do: some never signed in,
// some have several email addresses with a primary that is not the first,
// some lack a username or names, some are banned, a batch shares one
// created_at. Every user has public metadata (department, role, vnum as a
// number or a numeric string, location{country,city}, skills[]), private
// metadata (salary, ssn_last4, ...) and unsafe metadata; memberships carry
// {team, seat} public and {cost_center} private metadata. Organizations have
// pending (and accepted, revoked, expired) invitations. OrganizationRoles
// lists the standard roles org:admin and org:member and the custom roles
// org:billing and org:viewer.
func DefaultDataset() *Dataset {
	g := &gen{r: rand.New(rand.NewPCG(20250410, 42))}
	d := &Dataset{}
	d.OrganizationRoles = []Role{
		{Key: RoleAdmin, CreatedAt: rolesEpoch},
		{Key: RoleMember, CreatedAt: rolesEpoch + 1},
		{Key: RoleBilling, CreatedAt: rolesEpoch + 5*day},
		{Key: RoleViewer, CreatedAt: rolesEpoch + 6*day, UpdatedAt: rolesEpoch + 9*day},
	}
	d.Organizations = []Organization{
		g.org(OrgAcme, "Acme Corporation", SlugAcme, 0),
		g.org(OrgSmall, "Globex", SlugSmall, 10*day),
		g.org(OrgSolo, "Solo Studio", SlugSolo, 20*day),
		g.org(OrgMid, "Initech", SlugMid, 30*day),
	}
	d.Organizations[0].MaxAllowedMemberships = 0 // unlimited
	d.Organizations[2].MaxAllowedMemberships = 5

	named := map[int]string{0: UserAcmeAdmin, 1: UserAcmeMember, 2: UserAcmeBilling, 3: UserAcmeViewer}
	total := AcmeMembers + (SmallMembers - 4) + 1 + (MidMembers - 10) + NoOrgUsers
	for i := 0; i < total; i++ {
		id := named[i]
		switch i {
		case AcmeMembers:
			id = UserSmallAdmin
		case AcmeMembers + 1:
			id = UserSmallMember
		case AcmeMembers + SmallMembers - 4:
			id = UserSoloAdmin
		case total - 1:
			id = UserNoOrg
		}
		d.Users = append(d.Users, g.user(i, id))
	}
	for i := range d.Users {
		d.Users[i].PublicMetadata["employee_number"] = i + 1
	}

	// OrgAcme: users 0..1199. Roles: 1 in 40 admin, 1 in 25 billing, 1 in 8 viewer.
	for i := 0; i < AcmeMembers; i++ {
		role := RoleMember
		switch {
		case i == 0 || (i > 3 && i%40 == 7):
			role = RoleAdmin
		case i == 2 || (i > 3 && i%25 == 3):
			role = RoleBilling
		case i == 3 || (i > 3 && i%8 == 5):
			role = RoleViewer
		}
		d.Memberships = append(d.Memberships, g.membership(OrgAcme, d.Users[i].ID, role, i))
	}
	// OrgSmall: its admin and member, 6 more of its own, and 4 Acme users (UserAcmeAdmin among them).
	small := []int{AcmeMembers, AcmeMembers + 1}
	for i := AcmeMembers + 2; i < AcmeMembers+SmallMembers-4; i++ {
		small = append(small, i)
	}
	small = append(small, 0, 10, 20, 30)
	for k, i := range small {
		role := RoleMember
		switch k {
		case 0, 3:
			role = RoleAdmin
		case 5:
			role = RoleBilling
		}
		d.Memberships = append(d.Memberships, g.membership(OrgSmall, d.Users[i].ID, role, k))
	}
	// OrgSolo: one admin.
	soloIdx := AcmeMembers + SmallMembers - 4
	d.Memberships = append(d.Memberships, g.membership(OrgSolo, d.Users[soloIdx].ID, RoleAdmin, 0))
	// OrgMid: 50 own users and 10 Acme users.
	for k := 0; k < MidMembers; k++ {
		i := soloIdx + 1 + k
		if k >= MidMembers-10 {
			i = 100 + k // Acme users 150..159
		}
		role := RoleMember
		if k%20 == 0 {
			role = RoleAdmin
		} else if k%9 == 0 {
			role = RoleViewer
		}
		d.Memberships = append(d.Memberships, g.membership(OrgMid, d.Users[i].ID, role, k))
	}

	inviter := UserAcmeAdmin
	statuses := []string{"pending", "pending", "pending", "accepted", "revoked", "expired"}
	for k := 0; k < 18; k++ {
		d.Invitations = append(d.Invitations, g.invitation(OrgAcme, k, statuses[k%len(statuses)], &inviter))
	}
	smallInviter := UserSmallAdmin
	for k := 0; k < 3; k++ {
		d.Invitations = append(d.Invitations, g.invitation(OrgSmall, k, "pending", &smallInviter))
	}
	d.Invitations = append(d.Invitations, g.invitation(OrgSolo, 0, "pending", nil))
	return d
}

type gen struct {
	r *rand.Rand
}

func (g *gen) id(prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString("_2")
	for i := 0; i < 26; i++ {
		b.WriteByte(idAlphabet[g.r.IntN(len(idAlphabet))])
	}
	return b.String()
}

func (g *gen) org(id, name, slug string, offset int64) Organization {
	return Organization{
		ID:                    id,
		Name:                  name,
		Slug:                  slug,
		ImageURL:              "https://img.clerk.com/emulator/org/" + slug + ".png",
		HasImage:              id != OrgSolo,
		MaxAllowedMemberships: 5000,
		AdminDeleteEnabled:    true,
		PublicMetadata:        map[string]any{"plan": "enterprise", "region": "eu"},
		PrivateMetadata:       map[string]any{"stripe_customer_id": "cus_" + slug, "contract_value": 120000},
		CreatedBy:             "",
		CreatedAt:             baseTime + offset,
		UpdatedAt:             baseTime + offset + day,
	}
}

func (g *gen) user(i int, id string) User {
	r := g.r
	if id == "" {
		id = g.id("user")
	}
	fn := firstNames[r.IntN(len(firstNames))]
	ln := lastNames[r.IntN(len(lastNames))]
	local := strings.ToLower(asciiLocal(fn) + "." + asciiLocal(ln) + strconv.Itoa(i))
	created := baseTime + int64(i)*97*minute
	if i >= 100 && i < 150 {
		created = baseTime + 100*97*minute // a bulk import: 50 users share one created_at
	}
	u := User{
		ID:              id,
		FirstName:       &fn,
		LastName:        &ln,
		ImageURL:        "https://img.clerk.com/emulator/user/" + id + ".png",
		HasImage:        i%3 != 0,
		PasswordEnabled: i%10 != 0,
		CreatedAt:       created,
		UpdatedAt:       created + int64(r.IntN(300))*day/10,
	}
	switch {
	case i%17 == 4: // no names at all
		u.FirstName, u.LastName = nil, nil
	case i%23 == 6: // first name only
		u.LastName = nil
	}
	if i%5 != 2 {
		un := strings.ReplaceAll(local, ".", "_")
		u.Username = &un
	}
	if i%29 == 9 {
		ext := "ext-" + strconv.Itoa(100000+i)
		u.ExternalID = &ext
	}
	u.TwoFactorEnabled = i%7 == 1
	u.Banned = i%50 == 13
	u.Locked = i%97 == 11

	emails := []EmailAddress{{ID: g.id("idn"), EmailAddress: local + "@" + domains[i%len(domains)], Verified: true, CreatedAt: created, UpdatedAt: created}}
	u.PrimaryEmailAddressID = emails[0].ID
	if i%15 == 1 { // several addresses, the primary is the second
		emails = append([]EmailAddress{{ID: g.id("idn"), EmailAddress: local + ".old@legacy.example.com", Verified: i%2 == 0, CreatedAt: created, UpdatedAt: created}}, emails...)
		if i%30 == 1 {
			emails = append(emails, EmailAddress{ID: g.id("idn"), EmailAddress: local + "+alt@example.dev", Verified: false, CreatedAt: created + day, UpdatedAt: created + day})
		}
	}
	u.EmailAddresses = emails

	if i%10 != 3 { // 1 in 10 never signed in
		s := created + int64(1+r.IntN(600))*day/2
		a := s - s%day + day // last_active_at has day precision
		u.LastSignInAt, u.LastActiveAt = &s, &a
	}

	var vnum any = 1000 + i
	if i%2 == 1 {
		vnum = strconv.Itoa(1000 + i)
	}
	loc := locations[r.IntN(len(locations))]
	nskills := 1 + r.IntN(3)
	skills := make([]any, 0, nskills)
	for k := 0; k < nskills; k++ {
		skills = append(skills, skillsPool[(i+k*3)%len(skillsPool)])
	}
	u.PublicMetadata = map[string]any{
		"department": departments[r.IntN(len(departments))],
		"role":       jobRoles[r.IntN(len(jobRoles))],
		"vnum":       vnum,
		"location":   map[string]any{"country": loc[0], "city": loc[1]},
		"skills":     skills,
	}
	if i%11 == 0 {
		u.PublicMetadata["manager"] = true
	}
	if i%13 == 0 {
		u.PublicMetadata["start_date"] = fmt.Sprintf("20%02d-%02d-01", 15+i%9, 1+i%12)
	}
	u.PrivateMetadata = map[string]any{
		"salary":             40000 + r.IntN(160)*1000,
		"ssn_last4":          fmt.Sprintf("%04d", r.IntN(10000)),
		"performance_rating": 1 + r.IntN(5),
		"home_address":       map[string]any{"street": strconv.Itoa(1+r.IntN(999)) + " Main St", "postal_code": fmt.Sprintf("%05d", r.IntN(100000))},
	}
	u.UnsafeMetadata = map[string]any{"theme": []string{"dark", "light"}[i%2], "onboarding_complete": i%4 != 0}
	return u
}

func (g *gen) membership(orgID, userID, role string, k int) Membership {
	created := baseTime + int64(k)*61*minute + 2*day
	if k >= 200 && k < 230 {
		created = baseTime + 200*61*minute + 2*day // a bulk invite: 30 memberships share one created_at
	}
	return Membership{
		ID:              g.id("orgmem"),
		OrganizationID:  orgID,
		UserID:          userID,
		Role:            role,
		PublicMetadata:  map[string]any{"team": teams[g.r.IntN(len(teams))], "seat": fmt.Sprintf("%c-%02d", 'A'+rune(k%6), k%40)},
		PrivateMetadata: map[string]any{"cost_center": fmt.Sprintf("CC-%03d", 100+k%17)},
		CreatedAt:       created,
		UpdatedAt:       created + int64(k%5)*day,
	}
}

func (g *gen) invitation(orgID string, k int, status string, inviter *string) Invitation {
	created := baseTime + 400*day + int64(k)*3*day
	exp := created + 30*day
	return Invitation{
		ID:              g.id("orginv"),
		OrganizationID:  orgID,
		EmailAddress:    fmt.Sprintf("invitee%d.%s@example.com", k, strings.TrimPrefix(orgID, "org_")),
		Role:            []string{RoleMember, RoleViewer, RoleAdmin}[k%3],
		Status:          status,
		InviterID:       clonePtr(inviter),
		PublicMetadata:  map[string]any{"team": teams[k%len(teams)]},
		PrivateMetadata: map[string]any{"referral_code": fmt.Sprintf("REF-%04d", g.r.IntN(10000))},
		ExpiresAt:       &exp,
		CreatedAt:       created,
		UpdatedAt:       created,
	}
}

// asciiLocal maps a name to the ASCII letters usable in an email local part.
func asciiLocal(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			b.WriteRune(c)
		case c == 'é' || c == 'ë':
			b.WriteByte('e')
		case c == 'ú':
			b.WriteByte('u')
		case c == 'ñ':
			b.WriteByte('n')
		}
	}
	return b.String()
}
