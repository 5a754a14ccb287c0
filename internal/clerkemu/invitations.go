package clerkemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	// maxBulkInvitations is the most invitations one bulk request may
	// create (the spec's maxItems).
	maxBulkInvitations = 10
	// defaultInvitationDays is how long an invitation stays valid when
	// expires_in_days is not given.
	defaultInvitationDays = 30
	// manageMembers is the permission an inviter or revoker must have.
	manageMembers = "org:sys_memberships:manage"
)

// invitationFields are the parameters of one invitation to create.
var invitationFields = []string{"email_address", "inviter_user_id", "role", "public_metadata", "private_metadata", "redirect_url", "expires_in_days", "notify"}

// invitationParams is one validated invitation to create.
type invitationParams struct {
	email, role, inviter, redirect string
	days                           int64
	patches                        map[string]map[string]any
}

// parseInvitation validates the parameters of one invitation.
func parseInvitation(fields map[string]json.RawMessage) (invitationParams, *apiError) {
	var p invitationParams
	if ae := checkFields(fields, invitationFields); ae != nil {
		return p, ae
	}
	var ae *apiError
	if p.email, ae = stringParam(fields, "email_address", true); ae != nil {
		return p, ae
	}
	if !validEmail(p.email) {
		return p, &apiError{status: http.StatusUnprocessableEntity, code: "form_param_format_invalid", message: "is invalid",
			longMessage: "email_address must be a valid email address.", param: "email_address"}
	}
	if p.role, ae = roleParam(fields); ae != nil {
		return p, ae
	}
	if p.inviter, ae = stringParam(fields, "inviter_user_id", false); ae != nil {
		return p, ae
	}
	if p.redirect, ae = stringParam(fields, "redirect_url", false); ae != nil {
		return p, ae
	}
	if u, err := url.Parse(p.redirect); p.redirect != "" && (err != nil || u.Scheme == "" || u.Host == "") {
		return p, errParam("form_param_format_invalid", "redirect_url", "redirect_url must be an absolute URL.")
	}
	p.days = defaultInvitationDays
	if raw, ok := fields["expires_in_days"]; ok && string(raw) != "null" {
		var n int64
		if json.Unmarshal(raw, &n) != nil {
			return p, errParam("form_param_type_invalid", "expires_in_days", "`expires_in_days` must be an `integer`.")
		}
		if n < 1 || n > 365 {
			return p, errParam("form_param_value_invalid", "expires_in_days", "expires_in_days must be between 1 and 365.")
		}
		p.days = n
	}
	if raw, ok := fields["notify"]; ok && string(raw) != "null" {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return p, errParam("form_param_type_invalid", "notify", "`notify` must be a `boolean`.")
		}
	}
	p.patches, ae = metadataPatches(fields)
	return p, ae
}

// validEmail reports whether s is a bare email address whose domain has a dot.
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	domain := s[strings.LastIndex(s, "@")+1:]
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

func (e *Emulator) createInvitation(w http.ResponseWriter, r *http.Request) {
	fields, ae := decodeBody(r, invitationFields...)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	p, ae := parseInvitation(fields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	ob := requestOutbox(r)
	bodies, ae := e.createInvitations(r.PathValue("id"), []invitationParams{p}, false, ob)
	e.deliver(ob)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	writeJSON(w, http.StatusOK, bodies[0])
}

func (e *Emulator) bulkInvitations(w http.ResponseWriter, r *http.Request) {
	raw, ae := readBody(r, maxBulkInvitations*(2*maxMetadataBytes+4096))
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		writeError(w, r, errParam("form_param_format_invalid", "body", "the request body must be a JSON array of invitations"))
		return
	}
	switch {
	case len(items) == 0:
		writeError(w, r, &apiError{status: http.StatusUnprocessableEntity, code: "form_param_missing",
			message: "at least one item must be provided", longMessage: "at least one invitation must be provided"})
		return
	case len(items) > maxBulkInvitations:
		writeError(w, r, &apiError{status: http.StatusUnprocessableEntity, code: "form_param_array_size_exceeded",
			message: "exceeds maximum size", longMessage: fmt.Sprintf("invitations should not exceed %d items.", maxBulkInvitations)})
		return
	}
	ps := make([]invitationParams, len(items))
	for i, fields := range items {
		if ps[i], ae = parseInvitation(fields); ae != nil {
			writeError(w, r, ae)
			return
		}
	}
	ob := requestOutbox(r)
	bodies, ae := e.createInvitations(r.PathValue("id"), ps, true, ob)
	e.deliver(ob)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	writeList(w, bodies, len(bodies))
}

// createInvitations creates all of ps in orgID or none: the organization
// and the roles must exist, inviters must manage members, no address may
// belong to a member or have a pending invitation (bulk: duplicate_record
// naming every such address).
func (e *Emulator) createInvitations(orgID string, ps []invitationParams, bulk bool, ob *outbox) ([][]byte, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	or := e.st.orgs[orgID]
	if or == nil {
		return nil, errNotFound()
	}
	for _, p := range ps {
		if e.st.roleByKey[p.role] == nil {
			return nil, roleNotFound()
		}
		if p.inviter != "" && !e.st.managesMembers(orgID, p.inviter) {
			return nil, errNotAdmin(p.inviter)
		}
	}
	members := map[string]bool{}
	for _, mr := range or.members {
		for _, a := range mr.user.u.EmailAddresses {
			members[strings.ToLower(a.EmailAddress)] = true
		}
	}
	pending := map[string]bool{}
	for _, inv := range e.st.invites[orgID] {
		if inv.Status == "pending" {
			pending[strings.ToLower(inv.EmailAddress)] = true
		}
	}
	var dups []string
	for _, p := range ps {
		k := strings.ToLower(p.email)
		if members[k] {
			return nil, errAlreadyMember(p.email)
		}
		if pending[k] {
			dups = append(dups, p.email)
		}
		pending[k] = true
	}
	if len(dups) > 0 && !bulk {
		return nil, &apiError{status: http.StatusBadRequest, code: "organization_invitation_not_unique", message: "organization invitation not unique",
			longMessage: "Organizations cannot have duplicate pending invitations for an email address."}
	}
	if len(dups) > 0 {
		return nil, &apiError{status: http.StatusBadRequest, code: "duplicate_record", message: "duplicate invitations",
			longMessage: "There are already pending invitations for the following email addresses: " + strings.Join(dups, ", "),
			meta:        map[string]any{"email_addresses": dups}}
	}

	now := time.Now().UnixMilli()
	invs := make([]*Invitation, len(ps))
	for i, p := range ps {
		exp := now + p.days*day
		inv := &Invitation{
			ID: "orginv_2" + randomToken(26), OrganizationID: orgID, EmailAddress: p.email,
			Role: p.role, RoleName: e.st.roleByKey[p.role].r.Name, Status: "pending",
			ExpiresAt: &exp, CreatedAt: now, UpdatedAt: now,
		}
		if p.inviter != "" {
			inv.InviterID = &p.inviter
		}
		if p.redirect != "" {
			sep := "?"
			if strings.Contains(p.redirect, "?") {
				sep = "&"
			}
			link := p.redirect + sep + "__clerk_ticket=" + randomToken(40)
			inv.URL = &link
		}
		if ae := applyPatches(p.patches, map[string]*map[string]any{"public_metadata": &inv.PublicMetadata, "private_metadata": &inv.PrivateMetadata}); ae != nil {
			return nil, ae
		}
		invs[i] = inv
	}
	bodies := make([][]byte, len(invs))
	for i, inv := range invs {
		e.st.invites[orgID] = append(e.st.invites[orgID], inv)
		bodies[i] = e.st.encodeInvitation(inv)
		ob.add(EventInvitationCreated, bodies[i])
	}
	return bodies, nil
}

// managesMembers reports whether userID is a member of orgID allowed to
// manage its members (an admin).
func (st *state) managesMembers(orgID, userID string) bool {
	mr := st.membership(orgID, userID)
	return mr != nil && slices.Contains(mr.m.Permissions, manageMembers)
}

// errNotAdmin is Clerk's NotAnAdminInOrganization.
func errNotAdmin(userID string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "not_an_admin_in_organization", message: "not an administrator",
		longMessage: userID + " is not an administrator in the organization. Only administrators can perform this action."}
}

// errNotPending is Clerk's OrganizationInvitationNotPending.
func errNotPending() *apiError {
	return &apiError{status: http.StatusNotFound, code: "organization_invitation_not_pending", message: "not pending",
		longMessage: "The organization invitation is not in the 'pending' status."}
}

// invitation returns the invitation id of orgID, or nil.
func (st *state) invitation(orgID, id string) *Invitation {
	for _, inv := range st.invites[orgID] {
		if inv.ID == id {
			return inv
		}
	}
	return nil
}

// encodeInvitation encodes inv as the Backend API serves it, with its
// inviter's current public data.
func (st *state) encodeInvitation(inv *Invitation) []byte {
	return mustJSON(wireInvitation(inv, st.inviter(inv)))
}

func (st *state) inviter(inv *Invitation) *User {
	if inv.InviterID != nil {
		if ur := st.users[*inv.InviterID]; ur != nil {
			return &ur.u
		}
	}
	return nil
}

func (e *Emulator) getInvitation(w http.ResponseWriter, r *http.Request) {
	e.mu.RLock()
	var body []byte
	if inv := e.st.invitation(r.PathValue("id"), r.PathValue("invitation_id")); inv != nil {
		body = e.st.encodeInvitation(inv)
	}
	e.mu.RUnlock()
	if body == nil {
		writeError(w, r, errNotFound())
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) revokeInvitation(w http.ResponseWriter, r *http.Request) {
	fields, ae := decodeBody(r, "requesting_user_id")
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	requester, ae := stringParam(fields, "requesting_user_id", false)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	ob := requestOutbox(r)
	body, ae := e.revoke(r.PathValue("id"), r.PathValue("invitation_id"), requester, ob)
	e.deliver(ob)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) revoke(orgID, id, requester string, ob *outbox) ([]byte, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	inv := e.st.invitation(orgID, id)
	switch {
	case inv == nil:
		return nil, errNotFound()
	case requester != "" && !e.st.managesMembers(orgID, requester):
		return nil, errNotAdmin(requester)
	case inv.Status != "pending":
		return nil, errNotPending()
	}
	inv.Status, inv.UpdatedAt = "revoked", nextStamp(inv.UpdatedAt)
	body := e.st.encodeInvitation(inv)
	ob.add(EventInvitationRevoked, body)
	return body, nil
}

// AcceptInvitation accepts the pending invitation invitationID of orgID as
// its invitee would: the user owning its email address (any of a user's
// addresses, case-insensitively) or, when none does, a new user with that
// verified primary address becomes a member with the invitation's role and
// metadata, and the invitation's status becomes accepted. It returns the
// member's user id. Webhooks: user.created for a new user, then
// organizationInvitation.accepted, then organizationMembership.created.
// Errors wrap ErrNotFound (unknown organization or invitation) or
// ErrConflict (the invitation is not pending, or its user is already a
// member; the invitation then stays pending).
func (e *Emulator) AcceptInvitation(orgID, invitationID string) (userID string, err error) {
	ob := &outbox{}
	userID, err = e.accept(orgID, invitationID, ob)
	e.deliver(ob)
	return userID, err
}

func (e *Emulator) accept(orgID, invitationID string, ob *outbox) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	or, inv := e.st.orgs[orgID], e.st.invitation(orgID, invitationID)
	switch {
	case or == nil || inv == nil:
		return "", fmt.Errorf("%w: invitation %s of organization %s", ErrNotFound, invitationID, orgID)
	case inv.Status != "pending":
		return "", fmt.Errorf("%w: invitation %s is %s, not pending", ErrConflict, invitationID, inv.Status)
	}
	ur := e.st.userByEmail(inv.EmailAddress)
	if ur != nil && or.byUser[ur.u.ID] != nil {
		return "", fmt.Errorf("%w: %s (%s) is already a member of %s", ErrConflict, ur.u.ID, inv.EmailAddress, orgID)
	}
	now := time.Now().UnixMilli()
	if ur == nil {
		idn := "idn_2" + randomToken(26)
		ur = e.st.addUser(User{
			ID: "user_2" + randomToken(26), PrimaryEmailAddressID: idn,
			EmailAddresses: []EmailAddress{{ID: idn, EmailAddress: inv.EmailAddress, Verified: true, CreatedAt: now, UpdatedAt: now}},
			CreatedAt:      now, UpdatedAt: now,
		})
		ob.add(EventUserCreated, ur.json)
	}
	mr := e.st.addMembership(Membership{
		ID: "orgmem_2" + randomToken(26), OrganizationID: orgID, UserID: ur.u.ID, Role: inv.Role,
		PublicMetadata: cloneMap(inv.PublicMetadata), PrivateMetadata: cloneMap(inv.PrivateMetadata),
		CreatedAt: now, UpdatedAt: now,
	})
	inv.Status, inv.UpdatedAt = "accepted", nextStamp(inv.UpdatedAt)
	e.st.invalidate()
	o := &or.o
	ob.add(EventInvitationAccepted, mustJSON(&wireAcceptedInvitationT{
		wireInvitationT: wireInvitation(inv, e.st.inviter(inv)), UserID: ur.u.ID,
		Data: wireInviteOrgDataT{&wirePublicOrgDataT{ID: o.ID, Name: o.Name, Slug: o.Slug, ImageURL: o.ImageURL, HasImage: o.HasImage}},
	}))
	ob.add(EventMembershipCreated, mr.json)
	return ur.u.ID, nil
}

// userByEmail returns the user with the address email (case-insensitive), or nil.
func (st *state) userByEmail(email string) *userRec {
	for _, ur := range st.userOrder {
		for _, a := range ur.u.EmailAddresses {
			if strings.EqualFold(a.EmailAddress, email) {
				return ur
			}
		}
	}
	return nil
}
