package clerkemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TokenOptions describes a session token for SignToken.
type TokenOptions struct {
	UserID          string        // sub
	SessionID       string        // sid; "" -> generated
	OrgID           string        // "" -> a session without an active organization
	OrgSlug         string        // org_slug (v1) or o.slg (v2)
	OrgRole         string        // e.g. "org:admin"; v2 tokens carry it as "admin" in the compact "o" claim
	OrgPermissions  []string      // "org:<feature>:<permission>" keys
	Version         int           // 1 (org_id/org_role/... claims) or 2 ("v":2, compact "o" claim); 0 -> 2
	AuthorizedParty string        // azp; "" -> "http://localhost:3000"
	IssuedAt        time.Time     // zero -> now
	TTL             time.Duration // exp - iat; 0 -> 60s (negative makes an already expired token)
	NotBefore       time.Time     // zero -> IssuedAt minus 5s of clock-skew allowance, like Clerk
}

// SignToken returns a Clerk session JWT signed RS256 by the emulator's key
// (header kid = KeyID()), verifiable with the JWKS at GET /v1/jwks or with
// PublicKeyPEM. Version 1 tokens carry org_id, org_slug, org_role and
// org_permissions; version 2 tokens carry "v":2, "fea" and the compact "o"
// claim {id, slg, rol, per, fpm} that clerk-sdk-go decodes back into the
// same role and permissions. Errors: an empty UserID, an unknown Version, or
// (v2) a permission not of the form "org:<feature>:<permission>".
func (e *Emulator) SignToken(opts TokenOptions) (string, error) {
	if opts.UserID == "" {
		return "", errors.New("clerkemu: SignToken: empty UserID")
	}
	if opts.Version == 0 {
		opts.Version = 2
	}
	if opts.Version != 1 && opts.Version != 2 {
		return "", fmt.Errorf("clerkemu: SignToken: unknown version %d", opts.Version)
	}
	if opts.SessionID == "" {
		opts.SessionID = "sess_2" + randomToken(26)
	}
	if opts.AuthorizedParty == "" {
		opts.AuthorizedParty = "http://localhost:3000"
	}
	iat := opts.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = 60 * time.Second
	}
	nbf := opts.NotBefore
	if nbf.IsZero() {
		nbf = iat.Add(-5 * time.Second)
	}
	claims := map[string]any{
		"azp": opts.AuthorizedParty,
		"exp": iat.Add(ttl).Unix(),
		"fva": []int{0, -1},
		"iat": iat.Unix(),
		"iss": e.issuer,
		"jti": randomToken(20),
		"nbf": nbf.Unix(),
		"sid": opts.SessionID,
		"sub": opts.UserID,
	}
	switch {
	case opts.Version == 1 && opts.OrgID != "":
		perms := opts.OrgPermissions
		if perms == nil {
			perms = []string{}
		}
		claims["org_id"] = opts.OrgID
		claims["org_slug"] = opts.OrgSlug
		claims["org_role"] = opts.OrgRole
		claims["org_permissions"] = perms
	case opts.Version == 2:
		claims["v"] = 2
		claims["sts"] = "active"
		if opts.OrgID != "" {
			fea, per, fpm, err := compactPermissions(opts.OrgPermissions)
			if err != nil {
				return "", err
			}
			claims["fea"] = fea
			claims["o"] = map[string]string{
				"id":  opts.OrgID,
				"slg": opts.OrgSlug,
				"rol": strings.TrimPrefix(opts.OrgRole, "org:"),
				"per": per,
				"fpm": fpm,
			}
		}
	}
	return e.sign(claims)
}

// compactPermissions encodes "org:<feature>:<permission>" keys the way
// Clerk's v2 session tokens do: fea lists the features ("o:<feature>"), per
// the distinct permission names, and fpm for each feature a bit mask over per
// (bit j set = permission per[j] granted).
func compactPermissions(perms []string) (fea, per, fpm string, err error) {
	var features, names []string
	featIdx, nameIdx := map[string]int{}, map[string]int{}
	masks := []int{}
	for _, p := range perms {
		parts := strings.Split(p, ":")
		if len(parts) != 3 || parts[0] != "org" || parts[1] == "" || parts[2] == "" {
			return "", "", "", fmt.Errorf("clerkemu: SignToken: permission %q is not org:<feature>:<permission>", p)
		}
		fi, ok := featIdx[parts[1]]
		if !ok {
			fi = len(features)
			featIdx[parts[1]] = fi
			features = append(features, "o:"+parts[1])
			masks = append(masks, 0)
		}
		ni, ok := nameIdx[parts[2]]
		if !ok {
			ni = len(names)
			nameIdx[parts[2]] = ni
			names = append(names, parts[2])
		}
		masks[fi] |= 1 << ni
	}
	ms := make([]string, len(masks))
	for i, m := range masks {
		ms[i] = strconv.Itoa(m)
	}
	return strings.Join(features, ","), strings.Join(names, ","), strings.Join(ms, ","), nil
}

func (e *Emulator) sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "kid": e.keyID, "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, e.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("clerkemu: signing token: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// DemoTokens holds ready-made v2 session tokens for the demo and tests.
type DemoTokens struct {
	Admin  string // an org:admin of the largest organization
	Member string // a plain org:member of the largest organization
	NoOrg  string // a session with no active organization
}

// DemoTokens signs three v2 session tokens valid for ttl (0 -> 60s): an
// admin and a plain member of the organization with the most members
// (UserAcmeAdmin and UserAcmeMember of OrgAcme in DefaultDataset), and a
// session without an organization (UserNoOrg in DefaultDataset, else a user
// in no organization, else any user). Errors: no organization with both an
// org:admin and an org:member.
func (e *Emulator) DemoTokens(ttl time.Duration) (DemoTokens, error) {
	type pick struct {
		org                  Organization
		admin, member, noOrg string
	}
	var p pick
	e.mu.RLock()
	best := -1
	for _, or := range e.st.orgOrder {
		if len(or.members) > best {
			best = len(or.members)
			p.org = or.o
		}
	}
	if or := e.st.orgs[p.org.ID]; or != nil {
		p.admin = preferred(or, RoleAdmin, UserAcmeAdmin)
		p.member = preferred(or, RoleMember, UserAcmeMember)
	}
	if ur := e.st.users[UserNoOrg]; ur != nil && len(ur.orgs) == 0 {
		p.noOrg = ur.u.ID
	}
	for _, ur := range e.st.userOrder {
		if p.noOrg == "" && len(ur.orgs) == 0 {
			p.noOrg = ur.u.ID
		}
	}
	if p.noOrg == "" && len(e.st.userOrder) > 0 {
		p.noOrg = e.st.userOrder[0].u.ID
	}
	e.mu.RUnlock()
	if p.admin == "" || p.member == "" {
		return DemoTokens{}, errors.New("clerkemu: DemoTokens: the largest organization lacks an org:admin or an org:member")
	}
	var t DemoTokens
	var err error
	mk := func(user, role string) string {
		if err != nil {
			return ""
		}
		o := TokenOptions{UserID: user, TTL: ttl}
		if role != "" {
			o.OrgID, o.OrgSlug, o.OrgRole, o.OrgPermissions = p.org.ID, p.org.Slug, role, RolePermissions(role)
		}
		var s string
		s, err = e.SignToken(o)
		return s
	}
	t.Admin = mk(p.admin, RoleAdmin)
	t.Member = mk(p.member, RoleMember)
	t.NoOrg = mk(p.noOrg, "")
	return t, err
}

// preferred returns want if it holds role in or, else the first member
// holding role, else "".
func preferred(or *orgRec, role, want string) string {
	if mr := or.byUser[want]; mr != nil && mr.m.Role == role {
		return want
	}
	for _, mr := range or.members {
		if mr.m.Role == role {
			return mr.m.UserID
		}
	}
	return ""
}
