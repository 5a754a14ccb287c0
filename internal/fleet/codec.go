package fleet

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// The snapshot encoding, as stored in Redis. Version 1:
//
//	byte     format: 1
//	byte     body compression: 0 none, 1 DEFLATE (compress/flate, BestSpeed)
//	body     (compressed or not):
//	  varint  loadedAt: seconds since the Unix epoch; uvarint nanoseconds
//	  string  organization id
//	  uvarint number of strings in the table, then each string
//	  uvarint number of members, then each member:
//	    uvarint presence bits (see the has* constants)
//	    string  user id
//	    string  email, first name, last name, username, image URL (when present)
//	    time    last sign-in, last active (when present); created
//	    bytes   public metadata
//	    uvarint role, role name: indexes in the string table
//	    bytes   membership metadata
//	    time    joined, user updated, membership updated
//	  uvarint number of removals, then each: string user id, time it left
//	          (Snapshot.Removals: a late change older than it is not applied)
//
// where a string or bytes is a uvarint length and the bytes, and a time a
// varint of seconds since the Unix epoch and a uvarint of nanoseconds (the
// zero time.Time round-trips as itself; times decode in UTC). Roles repeat
// across members, so they are written once in the table. Metadata is kept
// as the JSON bytes Clerk sent. A reader refuses a format it does not know:
// the caller treats that like a miss and loads from Clerk, so replicas of
// two releases can share one Redis during a rolling deploy.
const (
	formatV1 = 1

	compressNone    = 0
	compressDeflate = 1

	// compressAbove is the body size from which compressing is tried; the
	// compressed body is kept only when it is smaller.
	compressAbove = 512
)

// presence bits of one encoded member.
const (
	hasEmail = 1 << iota
	hasFirstName
	hasLastName
	hasUsername
	hasImageURL
	hasLastSignIn
	hasLastActive
	isBanned
)

// errFormat reports an encoding this release cannot read.
var errFormat = errors.New("fleet: unknown snapshot encoding")

// Encode returns the encoding of snap (format 1), compressed when that
// makes it smaller.
func Encode(snap *directory.Snapshot) []byte {
	return encodeMembers(snap.OrgID(), snap.Members(), snap.LoadedAt(), snap.Removals(), true)
}

func encodeMembers(orgID string, members []directory.Member, loadedAt time.Time, removed map[string]time.Time, compress bool) []byte {
	var w writer
	w.time(loadedAt)
	w.str(orgID)
	table, index := roleTable(members)
	w.uvarint(uint64(len(table)))
	for _, s := range table {
		w.str(s)
	}
	w.uvarint(uint64(len(members)))
	for i := range members {
		m := &members[i]
		var bits uint64
		for j, p := range []*string{m.Email, m.FirstName, m.LastName, m.Username, m.ImageURL} {
			if p != nil {
				bits |= 1 << j
			}
		}
		if m.LastSignInAt != nil {
			bits |= hasLastSignIn
		}
		if m.LastActiveAt != nil {
			bits |= hasLastActive
		}
		if m.Banned {
			bits |= isBanned
		}
		w.uvarint(bits)
		w.str(m.UserID)
		for _, p := range []*string{m.Email, m.FirstName, m.LastName, m.Username, m.ImageURL} {
			if p != nil {
				w.str(*p)
			}
		}
		if m.LastSignInAt != nil {
			w.time(*m.LastSignInAt)
		}
		if m.LastActiveAt != nil {
			w.time(*m.LastActiveAt)
		}
		w.time(m.CreatedAt)
		w.bytes(m.PublicMetadata)
		w.uvarint(uint64(index[m.Role]))
		w.uvarint(uint64(index[m.RoleName]))
		w.bytes(m.MembershipMetadata)
		w.time(m.JoinedAt)
		w.time(m.UserUpdatedAt)
		w.time(m.MembershipUpdatedAt)
	}
	w.uvarint(uint64(len(removed)))
	for _, id := range slices.Sorted(maps.Keys(removed)) {
		w.str(id)
		w.time(removed[id])
	}
	body := w.buf.Bytes()
	out := []byte{formatV1, compressNone}
	if compress && len(body) >= compressAbove {
		var z bytes.Buffer
		z.Write([]byte{formatV1, compressDeflate})
		fw, _ := flate.NewWriter(&z, flate.BestSpeed) // the level is valid
		_, _ = fw.Write(body)                         // a bytes.Buffer does not fail
		_ = fw.Close()
		if z.Len() < len(body)+2 {
			return z.Bytes()
		}
	}
	return append(out, body...)
}

// roleTable lists the distinct role keys and names in first-seen order.
func roleTable(members []directory.Member) ([]string, map[string]int) {
	index := map[string]int{}
	var table []string
	for i := range members {
		for _, s := range []string{members[i].Role, members[i].RoleName} {
			if _, ok := index[s]; !ok {
				index[s] = len(table)
				table = append(table, s)
			}
		}
	}
	return table, index
}

// Decode returns the snapshot that data encodes. A format it does not know
// is errFormat.
func Decode(data []byte) (*directory.Snapshot, error) {
	orgID, members, loadedAt, removed, err := decodeMembers(data)
	if err != nil {
		return nil, err
	}
	return directory.RestoreSnapshot(orgID, members, loadedAt, removed), nil
}

func decodeMembers(data []byte) (orgID string, members []directory.Member, loadedAt time.Time, removed map[string]time.Time, err error) {
	if len(data) < 2 || data[0] != formatV1 {
		return "", nil, time.Time{}, nil, errFormat
	}
	body := data[2:]
	switch data[1] {
	case compressNone:
	case compressDeflate:
		body, err = io.ReadAll(flate.NewReader(bytes.NewReader(body)))
		if err != nil {
			return "", nil, time.Time{}, nil, fmt.Errorf("fleet: decompressing a snapshot: %w", err)
		}
	default:
		return "", nil, time.Time{}, nil, errFormat
	}
	r := reader{b: body}
	loadedAt = r.time()
	orgID = r.str()
	table := make([]string, r.count())
	for i := range table {
		table[i] = r.str()
	}
	role := func() string {
		i := r.uvarint()
		if i >= uint64(len(table)) {
			r.fail()
			return ""
		}
		return table[i]
	}
	members = make([]directory.Member, r.count())
	for i := range members {
		m := &members[i]
		bits := r.uvarint()
		m.UserID = r.str()
		for j, dst := range []**string{&m.Email, &m.FirstName, &m.LastName, &m.Username, &m.ImageURL} {
			if bits&(1<<j) != 0 {
				s := r.str()
				*dst = &s
			}
		}
		if bits&hasLastSignIn != 0 {
			t := r.time()
			m.LastSignInAt = &t
		}
		if bits&hasLastActive != 0 {
			t := r.time()
			m.LastActiveAt = &t
		}
		m.Banned = bits&isBanned != 0
		m.CreatedAt = r.time()
		m.PublicMetadata = r.bytes()
		m.Role = role()
		m.RoleName = role()
		m.MembershipMetadata = r.bytes()
		m.JoinedAt = r.time()
		m.UserUpdatedAt = r.time()
		m.MembershipUpdatedAt = r.time()
	}
	if n := r.count(); n > 0 {
		removed = make(map[string]time.Time, n)
		for range n {
			id := r.str()
			removed[id] = r.time()
		}
	}
	if r.err != nil {
		return "", nil, time.Time{}, nil, r.err
	}
	if len(r.b) != 0 {
		return "", nil, time.Time{}, nil, errors.New("fleet: trailing bytes after a snapshot")
	}
	return orgID, members, loadedAt, removed, nil
}

type writer struct {
	buf bytes.Buffer
	tmp [binary.MaxVarintLen64]byte
}

func (w *writer) uvarint(v uint64) { w.buf.Write(binary.AppendUvarint(w.tmp[:0], v)) }
func (w *writer) varint(v int64)   { w.buf.Write(binary.AppendVarint(w.tmp[:0], v)) }
func (w *writer) str(s string)     { w.uvarint(uint64(len(s))); w.buf.WriteString(s) }
func (w *writer) bytes(b []byte)   { w.uvarint(uint64(len(b))); w.buf.Write(b) }

// time writes t as seconds and nanoseconds since the Unix epoch. The zero
// time is an ordinary (very negative) second count and round-trips.
func (w *writer) time(t time.Time) {
	w.varint(t.Unix())
	w.uvarint(uint64(t.Nanosecond()))
}

// reader decodes what writer wrote; the first error sticks and later reads
// return zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("fleet: truncated or corrupt snapshot")

func (r *reader) fail() {
	if r.err == nil {
		r.err = errShort
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length that must fit what is left (each item takes at
// least one byte), so corrupt input cannot make a huge allocation.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) raw() []byte {
	n := r.count()
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) str() string { return string(r.raw()) }

// bytes returns a slice of the body, which the decoded snapshot then
// shares (its capacity is cut so that nothing appends into the next
// field); empty is nil.
func (r *reader) bytes() []byte {
	b := r.raw()
	if len(b) == 0 {
		return nil
	}
	return b
}

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail()
		return time.Time{}
	}
	if sec == zeroUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// zeroUnix is time.Time{}.Unix().
var zeroUnix = time.Time{}.Unix()
