// Package clerkemu is a local, in-memory emulator of the Clerk Backend API
// (version 2025-04-10) for demos, integration tests and benchmarks: the real
// clerk-sdk-go client talks to it over HTTP exactly as it talks to Clerk.
//
// It serves, under /v1 and behind secret-key authentication:
//
//	GET    /v1/jwks
//	GET    /v1/users                       (a bare JSON array)
//	GET    /v1/users/count
//	GET    /v1/users/{id}
//	DELETE /v1/users/{id}                  (memberships too)
//	PATCH  /v1/users/{id}/metadata         (deep merge; null deletes a key)
//	GET    /v1/organizations/{id}/memberships
//	POST   /v1/organizations/{id}/memberships
//	PATCH  /v1/organizations/{id}/memberships/{user_id}
//	PATCH  /v1/organizations/{id}/memberships/{user_id}/metadata
//	DELETE /v1/organizations/{id}/memberships/{user_id}
//	GET    /v1/organizations/{id}/invitations  (status, email_address filters)
//	POST   /v1/organizations/{id}/invitations
//	POST   /v1/organizations/{id}/invitations/bulk   (1 to 10 invitations)
//	GET    /v1/organizations/{id}/invitations/{invitation_id}
//	POST   /v1/organizations/{id}/invitations/{invitation_id}/revoke
//	GET    /v1/organization_roles              (query; order_by created_at, name, key)
//
// with Clerk's semantics: limit 1..500 (default 10) and offset >= 0; order_by
// "field", "+field" or "-field" (default -created_at), ties broken by id so
// offset paging never skips or repeats; filters user_id and organization_id
// with +/- prefixes, email_address, username, role, query and friends;
// timestamps in Unix milliseconds; errors as
// {"errors":[{"code","message","long_message","meta"}],"clerk_trace_id"} with
// a Clerk-Trace-Id header: 401 for a missing or wrong secret key, 422 naming
// the parameter in meta.param_name, 404 for an unknown resource or route.
// Responses are pre-encoded per record, so a page costs little more than
// copying bytes. Users include private_metadata as Clerk serves it; the
// product under test must never leak it.
//
// # Roles and invitations
//
// The instance's organization roles are Dataset.Roles(): the dataset's
// OrganizationRoles, the standard org:admin and org:member, and every role
// a membership or invitation uses. A write naming a role the instance does
// not have is refused as Clerk's error index documents it
// (OrganizationRoleNotFound): 404 resource_not_found, "Organization role
// not found", meta.param_name "role"; the Go methods add such a role
// instead. Writes to a membership that does not exist answer 404
// resource_not_found; POST memberships of a member 400
// already_a_member_in_organization.
//
// An invitation is refused, with the codes of Clerk's error index, when its
// address belongs to a member of the organization (any of the member's
// addresses, case-insensitively; 400 already_a_member_in_organization) or
// has a pending invitation there (400 organization_invitation_not_unique;
// a bulk request answers 400 duplicate_record with every such address in
// meta.email_addresses, as Clerk's components expect), when the address is
// not one (422 form_param_format_invalid, email_address) or when
// inviter_user_id is not an admin of the organization (403
// not_an_admin_in_organization). A bulk request creates all its
// invitations or none. Invitations are pending until revoked (only a
// pending one: otherwise 404 organization_invitation_not_pending) or
// accepted (AcceptInvitation); expires_at is created_at plus
// expires_in_days (default 30) days, and statuses are stored, not derived
// from it. A redirect_url gives the invitation a url carrying a
// __clerk_ticket.
//
// # Session tokens
//
// Each Emulator generates one RSA-2048 key, serves it as the JWKS and signs
// v1 or v2 session tokens with it (SignToken, DemoTokens) that clerk-sdk-go's
// jwt.Verify accepts.
//
// # Webhooks
//
// With a webhook configured (Options.Webhook, SetWebhook), every write, over
// HTTP or through the Go methods (AddMember, RemoveMember, SetMemberRole,
// SetUserPublicMetadata, UpdateUser, DeleteUser, AcceptInvitation), emits
// Clerk's events once it is committed: user.created (AddMember or
// AcceptInvitation of a new user), user.updated, user.deleted,
// organizationMembership.created, .updated and .deleted (one per membership
// a user deletion removes, before user.deleted), organizationInvitation.created
// (one per invitation of a bulk request), .revoked and .accepted (followed
// by the organizationMembership.created of the accept). A write that
// changes nothing (the same role again, an empty metadata patch) emits
// nothing. Payloads are Clerk's {"data","object":"event","type","timestamp"
// (Unix ms),"instance_id","event_attributes"}, data being the object as the
// Backend API serves it ({"object":"user","id","deleted":true} for
// user.deleted; the invitation plus user_id and
// data.public_organization_data for organizationInvitation.accepted, as
// the webhook spec requires). Every change advances the updated_at of the
// user, membership or invitation it changes (a membership's deletion
// included), strictly, even within one millisecond.
//
// Deliveries are made the way Svix makes them: a POST with svix-id
// ("msg_..."), svix-timestamp (Unix seconds) and svix-signature ("v1," and
// the base64 HMAC-SHA256 of id.timestamp.body, see SignWebhook). They are
// synchronous: a write returns once the receiver answered or the timeout
// (5s) passed, and the receiver may call the emulator back. A failed
// delivery is recorded (Deliveries), never retried on its own and never
// fails the write; Redeliver replays one like a Svix retry.
//
// # Faults
//
// SetFaults makes the emulator misbehave the way a remote API does. A Fault
// matches requests by route template (Fault.Endpoint, e.g.
// "GET /v1/organizations/{id}/memberships"; "" matches every route) and,
// when set, by a part of the URL path (Fault.PathContains, e.g. a user id:
// a Clerk 500 for exactly the chosen users of a bulk write) or a predicate
// (Fault.Match).
// For each request, every matching fault that fires adds its Latency before
// the answer (cut short when the client cancels; a read's answer is computed
// as it arrives and counts within the latency, a write applies after it),
// and the first firing fault
// with a non-zero Status answers with that status in Clerk's error shape
// (429 too_many_requests, 503 service_unavailable, other statuses
// internal_clerk_error) plus, for 429 and 503, a Retry-After header of
// Fault.RetryAfter rounded up to whole seconds (at least 1). A fault fires on
// a fraction Rate of matching requests (0 = all; drawn from a fixed-seed
// generator) and, when Count > 0, only until it has fired Count times.
// Faults apply before authentication, like an edge rate limiter. SetFaults
// replaces the whole set; ClearFaults removes it. Requests, TotalRequests and
// ResetCounters count every request per route template, faulted or not.
package clerkemu
