package directory

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// metaStore holds the metadata of every member of a snapshot, interned so
// that filtering reads a few small integers per member instead of walking
// maps scattered over the heap:
//
//   - every path that occurs (in either source) has an id;
//   - every distinct JSON value that occurs has an id, and equal values
//     (by JSON equality: 7 and 7.0, objects with the same members) share it;
//   - each member's metadata is a run of (path id, value id) fields, one per
//     object member at any depth (paths do not go through arrays), sorted by
//     path id, stored contiguously for all members in load order.
//
// A condition's path and operand are resolved to ids once per query; then
// equals is one integer comparison per member, and operators that look
// inside values (contains, includes) are decided once per distinct value.
type metaStore struct {
	paths      map[pathKey]uint32 // (parent path id, key) -> path id
	pathValues [][]uint32         // by path id: the distinct value ids seen there
	valueIDs   map[string]uint32  // canonical key -> value id
	values     []metaValue        // by value id
	fields     []metaField        // every member's fields; entries point into it
	seen       map[metaField]struct{}
}

// The two roots: path ids of the USER and MEMBERSHIP metadata objects.
const (
	rootUser       = 0
	rootMembership = 1
	numRoots       = 2
)

type pathKey struct {
	parent uint32
	key    string
}

type metaField struct {
	path, value uint32
}

// metaValue is what operators that look inside a value need of it.
type metaValue struct {
	kind  byte     // 's' string, '[' array, 0 anything else
	str   string   // for strings
	elems []uint32 // for arrays, the value ids of the elements
}

func newMetaStore() *metaStore {
	return &metaStore{
		paths:      map[pathKey]uint32{},
		pathValues: make([][]uint32, numRoots),
		valueIDs:   map[string]uint32{},
		seen:       map[metaField]struct{}{},
	}
}

// add appends the fields of one metadata object (a normalized value) under
// root. Non-objects have no fields.
func (ms *metaStore) add(root uint32, v any) {
	if obj, ok := v.(map[string]any); ok {
		ms.object(root, obj, true)
	}
}

// member sorts the fields appended since start, which belong to one member,
// and returns where they are.
func (ms *metaStore) member(start int) (off, n uint32) {
	added := ms.fields[start:]
	slices.SortFunc(added, func(a, b metaField) int { return int(a.path) - int(b.path) })
	return uint32(start), uint32(len(added))
}

// intern returns the value id of v, interning it and (when paths is set, for
// object members) recording fields for every path below parent.
func (ms *metaStore) intern(parent uint32, v any, paths bool) uint32 {
	var key string
	var mv metaValue
	switch x := v.(type) {
	case map[string]any:
		key = ms.object(parent, x, paths)
	case []any:
		mv.kind = '['
		mv.elems = make([]uint32, len(x))
		b := make([]byte, 1, 1+4*len(x))
		b[0] = '['
		for i, e := range x {
			mv.elems[i] = ms.intern(0, e, false)
			b = binary.BigEndian.AppendUint32(b, mv.elems[i])
		}
		key = string(b)
	default:
		key = scalarKey(v)
	}
	if id, ok := ms.valueIDs[key]; ok {
		return id
	}
	if _, ok := v.(string); ok {
		mv = metaValue{kind: 's', str: key[1:]} // shares the key's bytes
	}
	id := uint32(len(ms.values))
	ms.valueIDs[key] = id
	ms.values = append(ms.values, mv)
	return id
}

// object interns the members of obj, records their fields when paths is
// set, and returns the canonical key of obj.
func (ms *metaStore) object(parent uint32, obj map[string]any, paths bool) string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte{'{'}
	for _, k := range keys {
		var pid uint32
		if paths {
			pid = ms.path(parent, k)
		}
		vid := ms.intern(pid, obj[k], paths)
		if paths {
			f := metaField{path: pid, value: vid}
			ms.fields = append(ms.fields, f)
			if _, ok := ms.seen[f]; !ok {
				ms.seen[f] = struct{}{}
				ms.pathValues[pid] = append(ms.pathValues[pid], vid)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, vid)
	}
	return string(b)
}

func (ms *metaStore) path(parent uint32, key string) uint32 {
	pk := pathKey{parent, key}
	if id, ok := ms.paths[pk]; ok {
		return id
	}
	id := uint32(len(ms.pathValues))
	ms.paths[pk] = id
	ms.pathValues = append(ms.pathValues, nil)
	return id
}

// done drops what only building needed.
func (ms *metaStore) done() {
	ms.seen = nil
	ms.fields = slices.Clip(ms.fields)
}

// scalarKey is the canonical key of a normalized scalar.
func scalarKey(v any) string {
	switch x := v.(type) {
	case nil:
		return "n"
	case bool:
		if x {
			return "t"
		}
		return "f"
	case string:
		return "s" + x
	case number:
		return "#" + string(x)
	}
	panic("directory: not a normalized JSON value")
}

// lookupPath returns the id of a dotted path under root, if it occurs.
func (ms *metaStore) lookupPath(root uint32, path []string) (uint32, bool) {
	id := root
	for _, seg := range path {
		var ok bool
		if id, ok = ms.paths[pathKey{id, seg}]; !ok {
			return 0, false
		}
	}
	return id, true
}

// lookupValue returns the id of a normalized value, if it occurs. It only
// reads, so concurrent queries may call it.
func (ms *metaStore) lookupValue(v any) (uint32, bool) {
	var key string
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b := []byte{'{'}
		for _, k := range keys {
			vid, ok := ms.lookupValue(x[k])
			if !ok {
				return 0, false
			}
			b = binary.AppendUvarint(b, uint64(len(k)))
			b = append(b, k...)
			b = binary.BigEndian.AppendUint32(b, vid)
		}
		key = string(b)
	case []any:
		b := []byte{'['}
		for _, e := range x {
			vid, ok := ms.lookupValue(e)
			if !ok {
				return 0, false
			}
			b = binary.BigEndian.AppendUint32(b, vid)
		}
		key = string(b)
	default:
		key = scalarKey(v)
	}
	id, ok := ms.valueIDs[key]
	return id, ok
}

// bytes approximates the heap the store retains.
func (ms *metaStore) bytes() int {
	n := 8*len(ms.fields) + 24*len(ms.pathValues) + 48*len(ms.paths) + 48*len(ms.valueIDs)
	for pk := range ms.paths {
		n += len(pk.key)
	}
	for k := range ms.valueIDs {
		n += len(k)
	}
	for _, pv := range ms.pathValues {
		n += 4 * cap(pv)
	}
	for _, v := range ms.values {
		n += int(unsafe.Sizeof(v)) + 4*cap(v.elems)
	}
	return n
}

// value returns the value id at path in the fields of one member.
func value(fields []metaField, path uint32) (uint32, bool) {
	for _, f := range fields {
		if f.path >= path {
			return f.value, f.path == path
		}
	}
	return 0, false
}

// idSet is a set of value ids, as a bitset.
type idSet []uint64

func newIDSet(n int) idSet { return make(idSet, (n+63)/64) }

func (s idSet) add(id uint32)           { s[id/64] |= 1 << (id % 64) }
func (s idSet) has(id uint32) bool      { return s[id/64]&(1<<(id%64)) != 0 }
func (s idSet) hasAny(ids []uint32) bool {
	for _, id := range ids {
		if s.has(id) {
			return true
		}
	}
	return false
}

// bind resolves a validated condition against a snapshot's
// metadata and returns its predicate.
func (c *condition) bind(ms *metaStore) pred {
	pid, found := ms.lookupPath(c.root, c.path)
	if !found {
		// No member has this path.
		if c.op == OpExists && !c.exists {
			return nil
		}
		return matchNone
	}
	fieldsOf := func(e *entry) []metaField { return ms.fields[e.metaOff : e.metaOff+e.metaLen] }

	switch c.op {
	case OpExists:
		if c.exists {
			return func(e *entry) bool { _, ok := value(fieldsOf(e), pid); return ok }
		}
		return func(e *entry) bool { _, ok := value(fieldsOf(e), pid); return !ok }
	case OpEquals:
		want, ok := ms.lookupValue(c.value)
		if !ok {
			return matchNone
		}
		return func(e *entry) bool { v, ok := value(fieldsOf(e), pid); return ok && v == want }
	case OpIn:
		var wants []uint32
		for _, w := range c.values {
			if id, ok := ms.lookupValue(w); ok {
				wants = append(wants, id)
			}
		}
		if len(wants) == 0 {
			return matchNone
		}
		if len(wants) == 1 {
			want := wants[0]
			return func(e *entry) bool { v, ok := value(fieldsOf(e), pid); return ok && v == want }
		}
		return bindAccepting(ms, pid, fieldsOf, func(id uint32, _ *metaValue) bool { return slices.Contains(wants, id) })
	case OpIncludes:
		want, ok := ms.lookupValue(c.value)
		if !ok {
			return matchNone
		}
		return bindAccepting(ms, pid, fieldsOf, func(_ uint32, v *metaValue) bool {
			return v.kind == '[' && slices.Contains(v.elems, want)
		})
	case OpContains:
		sub := c.lowerSub
		return bindAccepting(ms, pid, fieldsOf, func(_ uint32, v *metaValue) bool {
			return v.kind == 's' && containsFold(v.str, sub)
		})
	}
	panic("directory: unvalidated metadata operator " + string(c.op))
}

// bindAccepting decides ok once for each distinct value seen at path pid
// and returns the predicate "the member's value at pid is accepted".
func bindAccepting(ms *metaStore, pid uint32, fieldsOf func(*entry) []metaField, ok func(id uint32, v *metaValue) bool) pred {
	set := newIDSet(len(ms.values))
	any := false
	for _, id := range ms.pathValues[pid] {
		if ok(id, &ms.values[id]) {
			set.add(id)
			any = true
		}
	}
	if !any {
		return matchNone
	}
	return func(e *entry) bool {
		v, found := value(fieldsOf(e), pid)
		return found && set.has(v)
	}
}
