package directory

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// InvitationStatus is the state of an organization invitation. The values
// are Clerk's statuses in upper case.
type InvitationStatus string

// The invitation statuses.
const (
	InvitationPending  InvitationStatus = "PENDING"
	InvitationAccepted InvitationStatus = "ACCEPTED"
	InvitationRevoked  InvitationStatus = "REVOKED"
	InvitationExpired  InvitationStatus = "EXPIRED"
)

// Invitation is an invitation to join an organization, as Clerk holds it.
// Invitations in a list shared by the Invitations cache must not be modified.
type Invitation struct {
	ID           string
	EmailAddress string
	Role         string // organization role key, e.g. org:member
	RoleName     string
	Status       InvitationStatus
	// PublicMetadata is the invitation's public metadata object, as JSON ("{}" when empty).
	PublicMetadata       json.RawMessage
	CreatedAt, UpdatedAt time.Time
	// ExpiresAt is nil when Clerk gives no expiry.
	ExpiresAt *time.Time
}

// MaxInvitationsFirst is the largest page of invitations one query may ask for.
const MaxInvitationsFirst = 100

// InvitationQuery asks for one page of an organization's invitations,
// newest first (created_at descending, then id ascending).
type InvitationQuery struct {
	// Statuses selects invitations in any of these statuses; nil selects
	// every status, an empty non-nil list none.
	Statuses []InvitationStatus
	// Search is a case-insensitive substring of the email address; "" matches all.
	Search string
	// First is the page size, 0..MaxInvitationsFirst.
	First int
	// After is an opaque cursor from a previous page; "" starts at the newest.
	After string
}

// InvitationPage is one page of invitations.
type InvitationPage struct {
	Invitations []*Invitation
	// TotalCount counts every invitation matching the query, on every page.
	TotalCount  int
	HasNextPage bool
	// EndCursor is the cursor of the page's last invitation; "" for an empty page.
	EndCursor string
}

// invitationCursor is the keyset position of one invitation in the
// newest-first order.
type invitationCursor struct {
	createdAt int64 // Unix milliseconds, as Clerk stamps it
	id        string
}

const invitationCursorVersion = 1

// CheckInvitationQuery validates q without loading anything. Errors:
// BAD_USER_INPUT naming `first` (outside 0..MaxInvitationsFirst) or
// `after` (not a cursor this service made).
func CheckInvitationQuery(q InvitationQuery) error {
	if q.First < 0 || q.First > MaxInvitationsFirst {
		return badInput("first", "must be in 0..%d, got %d", MaxInvitationsFirst, q.First)
	}
	if q.After != "" {
		if _, ok := decodeInvitationCursor(q.After); !ok {
			return badInput("after", msgInvalidCursor)
		}
	}
	return nil
}

// PageInvitations filters, orders and pages invitations by q; it is pure
// and does not modify invs. Errors: those of CheckInvitationQuery.
func PageInvitations(invs []Invitation, q InvitationQuery) (*InvitationPage, error) {
	if err := CheckInvitationQuery(q); err != nil {
		return nil, err
	}
	var statuses map[InvitationStatus]bool
	if q.Statuses != nil {
		statuses = make(map[InvitationStatus]bool, len(q.Statuses))
		for _, s := range q.Statuses {
			statuses[s] = true
		}
	}
	search := strings.ToLower(q.Search)
	matches := make([]*Invitation, 0, len(invs))
	for i := range invs {
		inv := &invs[i]
		if statuses != nil && !statuses[inv.Status] {
			continue
		}
		if search != "" && !strings.Contains(strings.ToLower(inv.EmailAddress), search) {
			continue
		}
		matches = append(matches, inv)
	}
	slices.SortFunc(matches, func(a, b *Invitation) int {
		return compareInvitationKeys(keyOf(a), keyOf(b))
	})
	page := &InvitationPage{TotalCount: len(matches)}
	start := 0
	if q.After != "" {
		after, _ := decodeInvitationCursor(q.After)
		start, _ = slices.BinarySearchFunc(matches, after, func(inv *Invitation, k invitationCursor) int {
			return compareInvitationKeys(keyOf(inv), k)
		})
		if start < len(matches) && keyOf(matches[start]) == after {
			start++
		}
	}
	end := min(start+q.First, len(matches))
	page.Invitations = matches[start:end]
	page.HasNextPage = end < len(matches)
	if n := len(page.Invitations); n > 0 {
		page.EndCursor = encodeInvitationCursor(keyOf(page.Invitations[n-1]))
	}
	return page, nil
}

func keyOf(inv *Invitation) invitationCursor {
	return invitationCursor{createdAt: inv.CreatedAt.UnixMilli(), id: inv.ID}
}

// compareInvitationKeys orders newest first, then by id ascending.
func compareInvitationKeys(a, b invitationCursor) int {
	if c := cmp.Compare(b.createdAt, a.createdAt); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// encodeInvitationCursor: version (1) | varint created_at ms | uvarint
// length + id | CRC-32 of what precedes, base64url without padding.
func encodeInvitationCursor(k invitationCursor) string {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*2+len(k.id)+4)
	b = append(b, invitationCursorVersion)
	b = binary.AppendVarint(b, k.createdAt)
	b = binary.AppendUvarint(b, uint64(len(k.id)))
	b = append(b, k.id...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeInvitationCursor(s string) (invitationCursor, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 1+1+1+4 {
		return invitationCursor{}, false
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum || body[0] != invitationCursorVersion {
		return invitationCursor{}, false
	}
	ms, n := binary.Varint(body[1:])
	if n <= 0 {
		return invitationCursor{}, false
	}
	id, rest, ok := readString(body[1+n:])
	if !ok || len(rest) != 0 {
		return invitationCursor{}, false
	}
	return invitationCursor{createdAt: ms, id: id}, true
}

// ValidEmail reports whether s is a bare email address (no display name,
// no surrounding space) whose domain has an inner dot.
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	domain := s[strings.LastIndex(s, "@")+1:]
	return strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}
