package directory

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Snapshot is an immutable view of every member of one organization at one
// moment, with what filtering and sorting need computed once. It is safe for
// concurrent use. Build one with NewSnapshot.
type Snapshot struct {
	orgID    string
	members  []Member
	entries  []entry // entries[i] describes members[i]
	meta     *metaStore
	byID     map[string]int
	loadedAt time.Time
	version  string
	// removed holds when members left since the load (Apply), so that a
	// late delivery of an older change does not bring them back.
	removed map[string]time.Time
	// baseVersion and touched are set by Apply: the version of the
	// snapshot it patched and the users whose member it changed, so that
	// Diff from that snapshot costs O(changes).
	baseVersion string
	touched     []string
	size        int
	// indexes[o.code()] lists member positions sorted by ordering o; each is
	// built by the first query that needs it.
	indexes [numOrders]sortIndex
	// ranks[i] is the rank of member i's user id, for tie-breaks when sorting.
	rankOnce sync.Once
	ranks    []int32
	// memos holds what callers derived from the snapshot (Memo), built by
	// the first caller that asks and dropped with the snapshot.
	memoMu sync.Mutex
	memos  map[any]*memo
	// memoBytes is what built memos report retaining (Sized).
	memoBytes atomic.Int64
}

// Sized is what a memo value implements to have its heap counted in
// SizeBytes.
type Sized interface{ SizeBytes() int }

type memo struct {
	once sync.Once
	val  any
}

type sortIndex struct {
	once sync.Once
	idx  []int32
}

// entry is what filtering and sorting read about one member, computed once.
type entry struct {
	m *Member
	// text is email, first name, last name and username, lowercased and
	// joined by textSep: what Search looks in. The four text keys are
	// substrings of it, ending at the three ends and at its end; "" when
	// absent (see flags). Offsets, not four more strings: 40 bytes less
	// per member.
	text                        string
	ends                        [3]uint32
	created, joined, lastSignIn tkey
	// The member's metadata fields are meta.fields[metaOff:metaOff+metaLen].
	metaOff, metaLen uint32
	flags            uint8
	hash             uint64 // hashMember(m), for Diff
}

// textSep separates the parts of entry.text.
const textSep = 0

// The four text keys, lower-cased.
func (e *entry) email() string    { return e.text[:e.ends[0]] }
func (e *entry) first() string    { return e.text[e.ends[0]+1 : e.ends[1]] }
func (e *entry) last() string     { return e.text[e.ends[1]+1 : e.ends[2]] }
func (e *entry) username() string { return e.text[e.ends[2]+1:] }

const (
	hasEmail uint8 = 1 << iota
	hasFirstName
	hasLastName
	hasLastSignIn
)

// NewSnapshot builds the snapshot of orgID's members as loaded at loadedAt.
// It takes ownership of members; callers must not modify them afterwards.
// User ids must be unique. Metadata that is not valid JSON is logged and
// treated as an empty object. Sources call it once per load; the sort index
// of each ordering is built later, by the first query that uses it (of a
// large organization, the default ordering's is built with the snapshot).
func NewSnapshot(orgID string, members []Member, loadedAt time.Time) *Snapshot {
	s := &Snapshot{
		orgID:    orgID,
		members:  members,
		entries:  make([]entry, len(members)),
		meta:     newMetaStore(len(members)),
		byID:     make(map[string]int, len(members)),
		loadedAt: loadedAt,
	}
	size := int(unsafe.Sizeof(*s)) + len(orgID) +
		len(members)*int(unsafe.Sizeof(Member{})+unsafe.Sizeof(entry{})) +
		len(members)*(numOrders+1)*4 + // every sort index, once built, and the id ranks
		len(members)*48 // byID: key, value and table overhead
	// The metadata (interned into one store, in order) and the rest of
	// each entry are independent: a large organization builds them on two
	// goroutines, which write different fields of the entries.
	var metaDone chan struct{}
	if len(members) >= parallelBuild {
		metaDone = make(chan struct{})
		go func() {
			defer close(metaDone)
			s.addAllMetadata()
		}()
	} else {
		s.addAllMetadata()
	}
	var sum uint64
	for i := range members {
		m := &members[i]
		e := &s.entries[i]
		e.m = m
		size += memberBytes(m)
		var parts [4]string
		for j, p := range []*string{m.Email, m.FirstName, m.LastName, m.Username} {
			if p != nil {
				parts[j] = strings.ToLower(*p)
			}
		}
		e.text = strings.Join(parts[:], string(rune(textSep)))
		size += len(e.text)
		off := 0
		for j := range e.ends {
			off += len(parts[j])
			e.ends[j] = uint32(off)
			off++ // the separator
		}
		if m.Email != nil {
			e.flags |= hasEmail
		}
		if m.FirstName != nil {
			e.flags |= hasFirstName
		}
		if m.LastName != nil {
			e.flags |= hasLastName
		}
		if m.LastSignInAt != nil {
			e.flags |= hasLastSignIn
			e.lastSignIn = timeKey(*m.LastSignInAt)
		}
		e.created = timeKey(m.CreatedAt)
		e.joined = timeKey(m.JoinedAt)
		s.byID[m.UserID] = i
		e.hash = hashMember(m)
		sum += mix64(e.hash)
	}
	var in [64]byte
	h := hashInput(in[:0]).str(orgID).u64(uint64(len(members))).u64(sum).sum()
	s.version = fmt.Sprintf("%016x", mix64(h))
	if metaDone != nil {
		// The metadata store takes longer than the rest: in its shadow,
		// build the index of the default ordering (EMAIL ASC), which most
		// first queries use.
		s.index(order{})
		<-metaDone
	}
	s.size = size + s.meta.bytes()
	return s
}

// parallelBuild is the organization size from which NewSnapshot builds
// the metadata store beside the rest (below it, a goroutine costs more
// than it saves).
const parallelBuild = 512

// addAllMetadata interns every member's metadata, in member order, and
// sets each entry's metaOff and metaLen.
func (s *Snapshot) addAllMetadata() {
	for i := range s.members {
		m := &s.members[i]
		e := &s.entries[i]
		start := len(s.meta.fields)
		s.addMetadata(m, rootUser, m.PublicMetadata)
		s.addMetadata(m, rootMembership, m.MembershipMetadata)
		e.metaOff, e.metaLen = s.meta.member(start)
	}
	s.meta.done()
}

// RestoreSnapshot is NewSnapshot for a snapshot that crossed a process
// boundary (the fleet tier's Redis copy): it also restores removed, what
// Removals returned, so that a late delivery of an older change does not
// bring back a member who left. It takes ownership of both.
func RestoreSnapshot(orgID string, members []Member, loadedAt time.Time, removed map[string]time.Time) *Snapshot {
	s := NewSnapshot(orgID, members, loadedAt)
	if len(removed) > 0 {
		s.removed = removed
	}
	return s
}

// Removals returns when members left the organization since the load, by
// user id, as Apply records them (a deleted user far in the future); nil
// when none. Shared: read only.
func (s *Snapshot) Removals() map[string]time.Time { return s.removed }

func (s *Snapshot) addMetadata(m *Member, root uint32, raw []byte) {
	if err := s.meta.addJSON(root, raw); err != nil {
		which := "public"
		if root == rootMembership {
			which = "membership"
		}
		slog.Warn("directory: metadata is not valid JSON; treating it as empty",
			"org", s.orgID, "user", m.UserID, "metadata", which)
	}
}

func memberBytes(m *Member) int {
	n := len(m.UserID) + len(m.Role) + len(m.RoleName) +
		cap(m.PublicMetadata) + cap(m.MembershipMetadata)
	for _, p := range []*string{m.Email, m.FirstName, m.LastName, m.Username, m.ImageURL} {
		if p != nil {
			n += 16 + len(*p)
		}
	}
	if m.LastSignInAt != nil {
		n += int(unsafe.Sizeof(time.Time{}))
	}
	if m.LastActiveAt != nil {
		n += int(unsafe.Sizeof(time.Time{}))
	}
	return n
}

// OrgID returns the organization the snapshot belongs to.
func (s *Snapshot) OrgID() string { return s.orgID }

// LoadedAt returns when the snapshot was loaded from the backend.
func (s *Snapshot) LoadedAt() time.Time { return s.loadedAt }

// Len returns the number of members.
func (s *Snapshot) Len() int { return len(s.members) }

// Members returns the members in load order. The slice is shared: read only.
func (s *Snapshot) Members() []Member { return s.members }

// Member returns the member with the given user id, or nil.
func (s *Snapshot) Member(userID string) *Member {
	i, ok := s.byID[userID]
	if !ok {
		return nil
	}
	return &s.members[i]
}

// Version returns a hash of the snapshot's content as 16 hex digits:
// the organization id and every field of every member, regardless of load
// order. Snapshots with equal content have equal versions, so callers use it
// for ETags and response-cache keys. LoadedAt is not part of the content.
func (s *Snapshot) Version() string { return s.version }

// SizeBytes approximates the heap the snapshot retains: members, the
// precomputed keys and decoded metadata, all sort indexes as if built, and
// the memos built so far that report their size (Sized). It grows when a
// memo is built; the snapshot cache bounds the sum (CACHE_MAX_BYTES) and
// notices the growth at the organization's next read.
func (s *Snapshot) SizeBytes() int { return s.size + int(s.memoBytes.Load()) }

// GrowMemo counts n more bytes a memo retains after it was built (a memo
// that fills in lazily), as Sized counts what it held when built.
func (s *Snapshot) GrowMemo(n int) { s.memoBytes.Add(int64(n)) }

// Memo returns the value build derives from the snapshot for key, calling
// build once per key and snapshot (concurrent callers of one key wait for
// the first). Like the sort indexes, memos are built lazily and die with
// the snapshot: callers keep per-version encodings here (the GraphQL fast
// path keeps each member's JSON fields). key must be comparable; use an
// unexported type of the caller's package. A value that implements Sized
// counts in SizeBytes once built.
func (s *Snapshot) Memo(key any, build func(*Snapshot) any) any {
	s.memoMu.Lock()
	m := s.memos[key]
	if m == nil {
		if s.memos == nil {
			s.memos = map[any]*memo{}
		}
		m = &memo{}
		s.memos[key] = m
	}
	s.memoMu.Unlock()
	m.once.Do(func() {
		m.val = build(s)
		if sz, ok := m.val.(Sized); ok {
			s.memoBytes.Add(int64(sz.SizeBytes()))
		}
	})
	return m.val
}

// Position returns the index in Members of m, which must be a member of
// this snapshot as Page.Members and Member return them; -1 for any other
// pointer.
func (s *Snapshot) Position(m *Member) int {
	if len(s.members) == 0 || m == nil {
		return -1
	}
	size := unsafe.Sizeof(Member{})
	base := uintptr(unsafe.Pointer(&s.members[0]))
	p := uintptr(unsafe.Pointer(m))
	if p < base || p >= base+uintptr(len(s.members))*size || (p-base)%size != 0 {
		return -1
	}
	return int((p - base) / size)
}

// index returns member positions sorted by o, building the index on first use.
func (s *Snapshot) index(o order) []int32 {
	ix := &s.indexes[o.code()]
	ix.once.Do(func() { ix.idx = s.buildIndex(o) })
	return ix.idx
}

// sortRec is one member's sort key packed for a fast sort: most comparisons
// are settled by two integers held in the record itself, without following
// pointers to strings.
type sortRec struct {
	hi, lo uint64 // text: first 8 bytes, big-endian; time: biased seconds, nanoseconds
	text   string // text: the whole key, compared when hi ties
	rank   int32  // the user id's rank among all user ids: the tie-breaker
	pos    int32  // the member's position
	null   bool
}

// buildIndex sorts member positions by o. The order is exactly that of
// order.compare, which cursors are searched with.
func (s *Snapshot) buildIndex(o order) []int32 {
	rank := s.idRanks()
	recs := make([]sortRec, len(s.entries))
	for i := range s.entries {
		k := o.key(&s.entries[i])
		r := sortRec{rank: rank[i], pos: int32(i), null: k.null}
		if o.field.isText() {
			var b [8]byte
			copy(b[:], k.text)
			r.hi, r.text = binary.BigEndian.Uint64(b[:]), k.text
		} else {
			r.hi, r.lo = uint64(k.time.sec)^(1<<63), uint64(k.time.nsec)
		}
		recs[i] = r
	}
	slices.SortFunc(recs, func(a, b sortRec) int {
		if a.null != b.null {
			if a.null {
				return 1
			}
			return -1
		}
		if !a.null {
			c := cmp.Compare(a.hi, b.hi)
			if c == 0 {
				c = cmp.Compare(a.lo, b.lo)
			}
			if c == 0 && a.text != b.text {
				c = strings.Compare(a.text, b.text)
			}
			if o.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return cmp.Compare(a.rank, b.rank)
	})
	idx := make([]int32, len(recs))
	for i := range recs {
		idx[i] = recs[i].pos
	}
	return idx
}

// idRanks returns, for each member position, the rank of its user id in
// ascending order; computed once, for all orderings.
func (s *Snapshot) idRanks() []int32 {
	s.rankOnce.Do(func() {
		byID := make([]int32, len(s.members))
		for i := range byID {
			byID[i] = int32(i)
		}
		slices.SortFunc(byID, func(a, b int32) int { return strings.Compare(s.members[a].UserID, s.members[b].UserID) })
		s.ranks = make([]int32, len(byID))
		for r, i := range byID {
			s.ranks[i] = int32(r)
		}
	})
	return s.ranks
}

// hashInput is the input of a hash, built field by field (each with its
// length or presence, so that fields cannot run into each other) and
// hashed at once with xxHash: a member's hash is its fields, not their
// order in memory. An FNV hash fed byte by byte cost three times as much.
type hashInput []byte

func (h hashInput) bytes(b []byte) hashInput { return append(h.u64(uint64(len(b))), b...) }

func (h hashInput) str(s string) hashInput { return append(h.u64(uint64(len(s))), s...) }

func (h hashInput) u64(v uint64) hashInput { return binary.LittleEndian.AppendUint64(h, v) }

func (h hashInput) optStr(p *string) hashInput {
	if p == nil {
		return h.u64(0)
	}
	return h.u64(1).str(*p)
}

func (h hashInput) time(t time.Time) hashInput {
	k := timeKey(t)
	return h.u64(uint64(k.sec)).u64(uint64(k.nsec))
}

func (h hashInput) optTime(t *time.Time) hashInput {
	if t == nil {
		return h.u64(0)
	}
	return h.u64(1).time(*t)
}

func (h hashInput) sum() uint64 { return xxhash.Sum64(h) }

// hashMember hashes every field of m. Keep it in step with Member.
func hashMember(m *Member) uint64 {
	var in [512]byte // most members fit: no allocation
	h := hashInput(in[:0]).str(m.UserID).
		optStr(m.Email).optStr(m.FirstName).optStr(m.LastName).optStr(m.Username).optStr(m.ImageURL).
		optTime(m.LastSignInAt).optTime(m.LastActiveAt).time(m.CreatedAt)
	if m.Banned {
		h = h.u64(1)
	} else {
		h = h.u64(0)
	}
	h = h.bytes(m.PublicMetadata).str(m.Role).str(m.RoleName).bytes(m.MembershipMetadata).time(m.JoinedAt).
		time(m.UserUpdatedAt).time(m.MembershipUpdatedAt)
	return h.sum()
}

// mix64 is the splitmix64 finalizer; it spreads member hashes before they
// are summed, which makes the version independent of load order.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
