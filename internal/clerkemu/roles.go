package clerkemu

import (
	"crypto/sha256"
	"net/http"
	"slices"
	"strings"
)

// Role is an organization role of the instance, as GET
// /v1/organization_roles lists it. Zero fields take defaults: those of the
// built-in definition for RoleAdmin, RoleMember, RoleBilling and
// RoleViewer, otherwise derived from Key.
type Role struct {
	// ID is "role_..."; "" -> derived from Key.
	ID string `json:"id,omitempty"`
	// Key is the key memberships and invitations use, such as "org:admin".
	Key string `json:"key"`
	// Name is the display name, the role_name of memberships; "" -> default.
	Name string `json:"name,omitempty"`
	// Description may stay nil (served as null) for a role without one.
	Description *string `json:"description,omitempty"`
	// Permissions are "org:<feature>:<permission>" keys; nil -> default
	// (none for an unknown key), [] -> none.
	Permissions []string `json:"permissions"`
	// CreatedAt and UpdatedAt are Unix milliseconds; 0 -> see Dataset.Roles.
	CreatedAt int64 `json:"created_at,omitempty"`
	UpdatedAt int64 `json:"updated_at,omitempty"`
}

func (r Role) clone() Role {
	r.Description = clonePtr(r.Description)
	if r.Permissions != nil {
		r.Permissions = slices.Clone(r.Permissions)
	}
	return r
}

// rolesEpoch is when roles without timestamps were created: 30 days before
// the default dataset's first organization.
const rolesEpoch = baseTime - 30*day

// Roles returns the instance's organization roles, defaults filled in: the
// roles d lists, then the standard RoleAdmin and RoleMember unless listed,
// then every other role key a membership or invitation uses. A role
// without timestamps gets rolesEpoch plus its index in milliseconds, so
// the order is deterministic.
func (d *Dataset) Roles() []Role {
	var out []Role
	seen := map[string]bool{}
	add := func(r Role) {
		if seen[r.Key] {
			return
		}
		seen[r.Key] = true
		out = append(out, completeRole(r, rolesEpoch+int64(len(out))))
	}
	for _, r := range d.OrganizationRoles {
		add(r.clone())
	}
	add(Role{Key: RoleAdmin})
	add(Role{Key: RoleMember})
	for _, m := range d.Memberships {
		add(Role{Key: m.Role})
	}
	for _, inv := range d.Invitations {
		add(Role{Key: inv.Role})
	}
	return out
}

// completeRole fills r's zero fields with defaults, created at (if unset)
// at.
func completeRole(r Role, at int64) Role {
	ri, known := knownRoles[r.Key]
	if r.ID == "" {
		r.ID = derivedID("role", r.Key)
	}
	if r.Name == "" {
		r.Name = roleName(r.Key)
	}
	if r.Description == nil && known {
		r.Description = &ri.description
	}
	if r.Permissions == nil {
		r.Permissions = slices.Clone(ri.permissions)
		if r.Permissions == nil {
			r.Permissions = []string{}
		}
	}
	if r.CreatedAt == 0 {
		r.CreatedAt = at
	}
	if r.UpdatedAt == 0 {
		r.UpdatedAt = r.CreatedAt
	}
	return r
}

// derivedID returns prefix + "_2" and 26 characters derived from key, so
// that ids are stable across runs.
func derivedID(prefix, key string) string {
	sum := sha256.Sum256([]byte(prefix + "\x00" + key))
	b := make([]byte, 26)
	for i := range b {
		b[i] = idAlphabet[int(sum[i])%len(idAlphabet)]
	}
	return prefix + "_2" + string(b)
}

// systemPermissions names Clerk's system permissions.
var systemPermissions = map[string]string{
	"org:sys_profile:manage":     "Manage organization",
	"org:sys_profile:delete":     "Delete organization",
	"org:sys_memberships:read":   "Read members",
	"org:sys_memberships:manage": "Manage members",
	"org:sys_domains:read":       "Read domains",
	"org:sys_domains:manage":     "Manage domains",
	"org:sys_billing:read":       "Read billing",
	"org:sys_billing:manage":     "Manage billing",
}

// permissionName names a permission key: "org:reports:export" -> "Export reports".
func permissionName(key string) string {
	if n, ok := systemPermissions[key]; ok {
		return n
	}
	parts := strings.Split(strings.TrimPrefix(key, "org:"), ":")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return key
	}
	n := strings.ReplaceAll(parts[1]+" "+parts[0], "_", " ")
	return strings.ToUpper(n[:1]) + n[1:]
}

// roleRec is a role with its pre-encoded JSON.
type roleRec struct {
	r    Role
	json []byte
}

func newRoleRec(r Role) *roleRec {
	return &roleRec{r: r, json: mustJSON(wireRole(&r))}
}

// addRole adds a complete role to the state.
func (st *state) addRole(r Role) *roleRec {
	rr := newRoleRec(r)
	st.roles = append(st.roles, rr)
	st.roleByKey[r.Key] = rr
	return rr
}

// ensureRole returns the role with key, adding it (created at now) when the
// instance has none, as the Go mutation methods accept any key.
func (st *state) ensureRole(key string, now int64) *roleRec {
	if rr := st.roleByKey[key]; rr != nil {
		return rr
	}
	return st.addRole(completeRole(Role{Key: key}, now))
}

// isCreatorEligible reports whether a role may be an organization's creator
// role: it must manage the organization and its members.
func isCreatorEligible(perms []string) bool {
	return slices.Contains(perms, "org:sys_profile:manage") && slices.Contains(perms, "org:sys_memberships:manage")
}

var roleOrderFields = []string{"created_at", "name", "key"}

// listRoles serves GET /v1/organization_roles: paging, order_by created_at,
// name or key (default -created_at), and query (exact id, or a
// case-insensitive part of the name or key).
func (e *Emulator) listRoles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset, ae := paging(q)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	o, ae := parseOrder(q.Get("order_by"), roleOrderFields)
	if ae != nil {
		writeError(w, r, ae)
		return
	}
	query := q.Get("query")
	lower := strings.ToLower(query)

	e.mu.RLock()
	defer e.mu.RUnlock()
	var recs []*roleRec
	for _, rr := range e.st.roles {
		if query == "" || rr.r.ID == query || strings.Contains(strings.ToLower(rr.r.Name), lower) || strings.Contains(strings.ToLower(rr.r.Key), lower) {
			recs = append(recs, rr)
		}
	}
	sortBy(recs, o, func(rr *roleRec) sortKey {
		switch o.field {
		case "name":
			return sortKey{s: rr.r.Name}
		case "key":
			return sortKey{s: rr.r.Key}
		}
		return sortKey{n: rr.r.CreatedAt}
	}, func(rr *roleRec) string { return rr.r.ID })
	total := len(recs)
	recs = recs[min(offset, total):min(offset+limit, total)]
	items := make([][]byte, len(recs))
	for i, rr := range recs {
		items[i] = rr.json
	}
	writeList(w, items, total)
}

// roleNotFound is Clerk's answer to a role key the instance does not have
// (OrganizationRoleNotFound in Clerk's Backend API error index).
func roleNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: "resource_not_found", message: "not found",
		longMessage: "Organization role not found", param: "role"}
}
