package directory

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// This file interns raw metadata JSON straight into a metaStore. Building a
// map[string]any per member with encoding/json and then interning it cost
// most of the snapshot build; scanning the text once, with a validity check
// guarding the input and encoding/json decoding any string that holds
// escapes or invalid UTF-8, gives the same values (numbers keep their exact
// text, as with json.Decoder.UseNumber; a repeated key keeps its last value)
// without allocating for values seen before.

var errInvalidJSON = errors.New("invalid JSON")

// encodingJSONGrammar makes jsontext accept what encoding/json's Valid
// accepts (invalid UTF-8, repeated names), at twice its speed; FuzzMetadata
// holds addJSON to json.Valid.
var encodingJSONGrammar = []jsontext.Options{jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true)}

// addJSON interns the metadata object raw under root, appending its fields.
// Empty input, null and non-objects have no fields; invalid JSON is an error
// and adds nothing.
func (ms *metaStore) addJSON(root uint32, raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if !jsontext.Value(raw).IsValid(encodingJSONGrammar...) {
		return errInvalidJSON
	}
	p := &ms.parser
	p.ms, p.data, p.pos = ms, raw, 0
	p.space()
	if p.data[p.pos] == '{' {
		p.object(root, true, true)
	}
	return nil
}

type metaParser struct {
	ms    *metaStore
	data  []byte // valid JSON
	pos   int
	buf   []byte     // scratch for canonical keys
	pairs []metaPair // stack of the members of the objects being parsed
	elems []uint32   // stack of the elements of the arrays being parsed
}

type metaPair struct {
	key        []byte
	path, vid  uint32
	arrivalIdx int
	// The fields the value added (an object's members), [fieldsFrom, fieldsTo).
	fieldsFrom, fieldsTo int
}

func (p *metaParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses the value at pos and returns its id. When paths is set, the
// value is an object member at path parent and its own members get fields.
func (p *metaParser) value(parent uint32, paths bool) uint32 {
	p.space()
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(parent, paths, false)
	case c == '[':
		return p.array()
	case c == '"':
		s := p.str()
		p.buf = append(append(p.buf[:0], 's'), s...)
		return p.ms.internKey(p.buf, metaValue{kind: 's'})
	case c == 't':
		p.pos += 4
		return p.ms.internKey(append(p.buf[:0], 't'), metaValue{kind: 't'})
	case c == 'f':
		p.pos += 5
		return p.ms.internKey(append(p.buf[:0], 'f'), metaValue{kind: 'f'})
	case c == 'n':
		p.pos += 4
		return p.ms.internKey(append(p.buf[:0], 'n'), metaValue{kind: 'n'})
	default:
		start := p.pos
		for p.pos < len(p.data) && isNumberByte(p.data[p.pos]) {
			p.pos++
		}
		p.buf, _ = appendCanonicalNumber(append(p.buf[:0], '#'), p.data[start:p.pos]) // addJSON checked its grammar
		return p.ms.internKey(p.buf, metaValue{kind: '#'})
	}
}

func isNumberByte(c byte) bool {
	return isDigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// str parses the string at pos and returns its decoded bytes.
func (p *metaParser) str() []byte {
	start := p.pos
	p.pos++
	plain := true
	for p.data[p.pos] != '"' {
		if p.data[p.pos] == '\\' {
			plain = false
			p.pos++
		}
		p.pos++
	}
	p.pos++
	raw := p.data[start:p.pos]
	if plain && utf8.Valid(raw) {
		return raw[1 : len(raw)-1]
	}
	var s string
	_ = json.Unmarshal(raw, &s) // escapes and invalid UTF-8, exactly as encoding/json decodes them
	return []byte(s)
}

// object parses the object at pos; see value. The root object, the
// metadata itself, is in no field: it gets no value id (0 is returned).
func (p *metaParser) object(parent uint32, paths, root bool) uint32 {
	base := len(p.pairs)
	p.pos++ // {
	for {
		p.space()
		if p.data[p.pos] == '}' {
			p.pos++
			break
		}
		if p.data[p.pos] == ',' {
			p.pos++
			p.space()
		}
		key := p.str()
		p.space()
		p.pos++ // :
		var pid uint32
		if paths {
			pid = p.ms.path(parent, key)
		}
		from := len(p.ms.fields)
		vid := p.value(pid, paths)
		p.pairs = append(p.pairs, metaPair{key: key, path: pid, vid: vid, arrivalIdx: len(p.pairs),
			fieldsFrom: from, fieldsTo: len(p.ms.fields)})
	}
	members := p.pairs[base:]
	// Sort by key; of repeated keys the last one wins, as in encoding/json.
	slices.SortFunc(members, func(a, b metaPair) int {
		if c := compareBytes(a.key, b.key); c != 0 {
			return c
		}
		return a.arrivalIdx - b.arrivalIdx
	})
	p.dropReplaced(members)
	b := append(p.buf[:0], '{')
	for i, m := range members {
		if i+1 < len(members) && string(members[i+1].key) == string(m.key) {
			continue
		}
		if paths {
			p.ms.addField(metaField{path: m.path, value: m.vid})
		}
		if root {
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(m.key)))
		b = append(b, m.key...)
		b = binary.BigEndian.AppendUint32(b, m.vid)
	}
	p.buf = b
	p.pairs = p.pairs[:base]
	if root {
		return 0
	}
	return p.ms.internKey(p.buf, metaValue{kind: '{'})
}

// dropReplaced removes the fields added by the values of repeated keys that
// a later value replaced; members are sorted by key, then arrival.
func (p *metaParser) dropReplaced(members []metaPair) {
	var drop []metaPair
	for i, m := range members {
		if i+1 < len(members) && string(members[i+1].key) == string(m.key) && m.fieldsTo > m.fieldsFrom {
			drop = append(drop, m)
		}
	}
	if len(drop) == 0 {
		return
	}
	slices.SortFunc(drop, func(a, b metaPair) int { return a.fieldsFrom - b.fieldsFrom })
	fields := p.ms.fields
	w, r := drop[0].fieldsFrom, drop[0].fieldsFrom
	for _, d := range drop {
		w += copy(fields[w:], fields[r:d.fieldsFrom])
		r = d.fieldsTo
	}
	w += copy(fields[w:], fields[r:])
	p.ms.fields = fields[:w]
}

// array parses the array at pos. Paths do not go through arrays.
func (p *metaParser) array() uint32 {
	base := len(p.elems)
	p.pos++ // [
	for {
		p.space()
		if p.data[p.pos] == ']' {
			p.pos++
			break
		}
		if p.data[p.pos] == ',' {
			p.pos++
		}
		vid := p.value(0, false)
		p.elems = append(p.elems, vid)
	}
	elems := p.elems[base:]
	b := append(p.buf[:0], '[')
	for _, id := range elems {
		b = binary.BigEndian.AppendUint32(b, id)
	}
	p.buf = b
	id := p.ms.internKey(p.buf, metaValue{kind: '[', elems: elems})
	p.elems = p.elems[:base]
	return id
}

func compareBytes(a, b []byte) int {
	switch {
	case string(a) < string(b):
		return -1
	case string(a) > string(b):
		return 1
	}
	return 0
}
