package directory

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
)

// A cursor is the keyset position of one member in one ordering, so paging
// continues from the right place even after that member has left.
//
// Layout before base64url (no padding):
//
//	version (1 byte) | ordering code (1) | null flag (1)
//	| key: text = uvarint length + bytes; time = varint seconds + uvarint nanoseconds; absent when null
//	| uvarint length + user id | CRC-32 (IEEE, big endian) of everything before it
//
// The checksum catches tampered and truncated cursors; it is not a secret and
// not meant to be: a forged cursor can only point at another key position.

const cursorVersion = 1

var cursorEncoding = base64.RawURLEncoding.Strict()

// Error messages clients see for bad cursors.
const (
	msgInvalidCursor  = "invalid cursor"
	msgCursorMismatch = "cursor does not match orderBy"
)

// encodeCursor returns the cursor of key k in ordering o.
func encodeCursor(o order, k *sortKey) string {
	b := make([]byte, 0, 3+binary.MaxVarintLen64*2+len(k.text)+len(k.id)+4)
	b = append(b, cursorVersion, o.code())
	if k.null {
		b = append(b, 1)
	} else {
		b = append(b, 0)
		if o.field.isText() {
			b = binary.AppendUvarint(b, uint64(len(k.text)))
			b = append(b, k.text...)
		} else {
			b = binary.AppendVarint(b, k.time.sec)
			b = binary.AppendUvarint(b, uint64(k.time.nsec))
		}
	}
	b = binary.AppendUvarint(b, uint64(len(k.id)))
	b = append(b, k.id...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return cursorEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor made by encodeCursor. It returns
// BAD_USER_INPUT "invalid cursor" for anything else, whatever the input.
func decodeCursor(s string) (order, sortKey, error) {
	bad := func() (order, sortKey, error) {
		return order{}, sortKey{}, Errorf(CodeBadUserInput, msgInvalidCursor)
	}
	b, err := cursorEncoding.DecodeString(s)
	if err != nil || len(b) < 3+1+4 {
		return bad()
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum || body[0] != cursorVersion {
		return bad()
	}
	o, ok := orderFromCode(body[1])
	if !ok || body[2] > 1 {
		return bad()
	}
	k := sortKey{null: body[2] == 1}
	r := body[3:]
	if !k.null {
		if o.field.isText() {
			if k.text, r, ok = readString(r); !ok {
				return bad()
			}
		} else {
			sec, n := binary.Varint(r)
			if n <= 0 {
				return bad()
			}
			r = r[n:]
			nsec, n := binary.Uvarint(r)
			if n <= 0 || nsec >= 1e9 {
				return bad()
			}
			r = r[n:]
			k.time = tkey{sec: sec, nsec: int32(nsec)}
		}
	}
	if k.id, r, ok = readString(r); !ok || len(r) != 0 {
		return bad()
	}
	return o, k, nil
}

// readString reads a uvarint length and that many bytes from b.
func readString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", nil, false
	}
	b = b[w:]
	return string(b[:n]), b[n:], true
}
