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
	paths      map[string]uint32 // parent path id (4 bytes) + key -> path id
	pathValues [][]uint32        // by path id: the distinct value ids seen there
	valueIDs   map[string]uint32 // canonical key -> value id
	values     []metaValue       // by value id
	fields     []metaField       // every member's fields; entries point into it
	seen       map[metaField]struct{}
	scratch    []byte
	parser     metaParser // reused while building
}

// The two roots: path ids of the USER and MEMBERSHIP metadata objects.
const (
	rootUser       = 0
	rootMembership = 1
	numRoots       = 2
)

type metaField struct {
	path, value uint32
}

// metaValue is what operators that look inside a value need of it.
type metaValue struct {
	kind  byte     // 's' string, '#' number, 't' true, 'f' false, 'n' null, '[' array, '{' object
	str   string   // for strings; for numbers, the canonical form (see canonicalNumber)
	elems []uint32 // for arrays, the value ids of the elements
}

// newMetaStore returns an empty store sized for members members, whose
// metadata typically holds a few distinct values and fields each.
func newMetaStore(members int) *metaStore {
	return &metaStore{
		paths:      map[string]uint32{},
		pathValues: make([][]uint32, numRoots),
		valueIDs:   make(map[string]uint32, members),
		values:     make([]metaValue, 0, members),
		fields:     make([]metaField, 0, 4*members),
		seen:       make(map[metaField]struct{}, members),
	}
}

// member sorts the fields appended since start, which belong to one member,
// and returns where they are.
func (ms *metaStore) member(start int) (off, n uint32) {
	added := ms.fields[start:]
	slices.SortFunc(added, func(a, b metaField) int { return int(a.path) - int(b.path) })
	return uint32(start), uint32(len(added))
}

// internKey returns the id of the value with canonical key key, adding mv
// as its description when the value is new.
func (ms *metaStore) internKey(key []byte, mv metaValue) uint32 {
	if id, ok := ms.valueIDs[string(key)]; ok {
		return id
	}
	k := string(key)
	switch mv.kind {
	case 's', '#':
		mv.str = k[1:] // shares the key's bytes
	case '[':
		mv.elems = slices.Clone(mv.elems)
	}
	id := uint32(len(ms.values))
	ms.valueIDs[k] = id
	ms.values = append(ms.values, mv)
	return id
}

// addField appends one field of the member being added.
func (ms *metaStore) addField(f metaField) {
	ms.fields = append(ms.fields, f)
	if _, ok := ms.seen[f]; !ok {
		ms.seen[f] = struct{}{}
		ms.pathValues[f.path] = append(ms.pathValues[f.path], f.value)
	}
}

// pathKey returns the map key of the path key below parent, in ms.scratch.
func (ms *metaStore) pathKey(parent uint32, key []byte) []byte {
	ms.scratch = append(binary.BigEndian.AppendUint32(ms.scratch[:0], parent), key...)
	return ms.scratch
}

// path returns the id of the path key below parent, adding it if new.
func (ms *metaStore) path(parent uint32, key []byte) uint32 {
	pk := ms.pathKey(parent, key)
	if id, ok := ms.paths[string(pk)]; ok {
		return id
	}
	id := uint32(len(ms.pathValues))
	ms.paths[string(pk)] = id
	ms.pathValues = append(ms.pathValues, nil)
	return id
}

// done drops what only building needed.
func (ms *metaStore) done() {
	ms.seen = nil
	ms.scratch = nil
	ms.parser = metaParser{}
	// Built with room to grow; kept at their size (bytes counts len).
	ms.fields = shrink(ms.fields)
	ms.values = shrink(ms.values)
}

// shrink returns s in an array of its length when more than a fifth of
// its capacity is unused.
func shrink[T any](s []T) []T {
	if cap(s)-len(s) > cap(s)/5 {
		return slices.Clone(s)
	}
	return s
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
	var b []byte
	for _, seg := range path {
		b = append(binary.BigEndian.AppendUint32(b[:0], id), seg...)
		var ok bool
		if id, ok = ms.paths[string(b)]; !ok {
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
		n += len(pk)
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

// value returns the value id at path in the fields of one member, which are
// sorted by path and few, so a linear scan is fastest.
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

func (s idSet) add(id uint32)      { s[id/64] |= 1 << (id % 64) }
func (s idSet) has(id uint32) bool { return s[id/64]&(1<<(id%64)) != 0 }

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
		wants := newIDSet(len(ms.values))
		found := false
		for _, w := range c.values {
			if id, ok := ms.lookupValue(w); ok {
				wants.add(id)
				found = true
			}
		}
		if !found {
			return matchNone
		}
		return func(e *entry) bool { v, ok := value(fieldsOf(e), pid); return ok && wants.has(v) }
	case OpIncludes:
		want, ok := ms.lookupValue(c.value)
		if !ok {
			return matchNone
		}
		return bindAccepting(ms, pid, fieldsOf, func(v *metaValue) bool {
			return v.kind == '[' && slices.Contains(v.elems, want)
		})
	case OpContains:
		sub := c.lowerSub
		return bindAccepting(ms, pid, fieldsOf, func(v *metaValue) bool {
			return v.kind == 's' && containsFold(v.str, sub)
		})
	}
	panic("directory: unvalidated metadata operator " + string(c.op))
}

// bindAccepting decides ok once for each distinct value seen at path pid
// and returns the predicate "the member's value at pid is accepted".
func bindAccepting(ms *metaStore, pid uint32, fieldsOf func(*entry) []metaField, ok func(v *metaValue) bool) pred {
	set := newIDSet(len(ms.values))
	some := false
	for _, id := range ms.pathValues[pid] {
		if ok(&ms.values[id]) {
			set.add(id)
			some = true
		}
	}
	if !some {
		return matchNone
	}
	return func(e *entry) bool {
		v, found := value(fieldsOf(e), pid)
		return found && set.has(v)
	}
}
