package directory

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCanonicalNumber(t *testing.T) {
	same := [][]string{
		{"7", "7.0", "7e0", "70e-1", "0.7E+1", "700E-2", "007"},
		{"0", "-0", "0.0", "0e10", "-0.000e-5"},
		{"-1.5", "-15e-1", "-0.15e1"},
		{"12345678901234567890", "1234567890123456789e1", "12345678901234567890.000"},
		{"1e21", "1e+21", "1000000000000000000000"},
	}
	canon := map[number]string{}
	for _, group := range same {
		want, ok := canonicalNumber(group[0])
		if !ok {
			t.Fatalf("%q: not a number", group[0])
		}
		if other, dup := canon[want]; dup {
			t.Errorf("%q and %q share canonical form %q", group[0], other, want)
		}
		canon[want] = group[0]
		for _, s := range group[1:] {
			if got, ok := canonicalNumber(s); !ok || got != want {
				t.Errorf("canonicalNumber(%q) = %q, %v; want %q", s, got, ok, want)
			}
		}
	}
	for _, s := range []string{"", "-", "1.", ".5", "1e", "1e+", "+1", "1x", "0x10", "1.2.3", "--1", "NaN", "Infinity", " 1"} {
		if n, ok := canonicalNumber(s); ok {
			t.Errorf("canonicalNumber(%q) = %q, want not a number", s, n)
		}
	}
	// Exponents too large to normalize compare by their literal text.
	a, okA := canonicalNumber("1e99999999999999999999")
	b, okB := canonicalNumber("10e99999999999999999999")
	if !okA || !okB || a == b {
		t.Errorf("huge exponents: %q %v, %q %v", a, okA, b, okB)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	keys := []struct {
		o order
		k sortKey
	}{
		{order{fieldEmail, false}, sortKey{text: "alice@example.com", id: "user_1"}},
		{order{fieldFirstName, true}, sortKey{text: "zoë", id: "u"}},
		{order{fieldLastName, false}, sortKey{null: true, id: "user_2"}},
		{order{fieldCreatedAt, true}, sortKey{time: tkey{sec: -62135596800, nsec: 0}, id: "user_3"}},
		{order{fieldLastSignInAt, false}, sortKey{time: tkey{sec: 1740787200, nsec: 999999999}, id: ""}},
		{order{fieldJoinedAt, true}, sortKey{time: tkey{sec: 1 << 40, nsec: 1}, id: "x"}},
	}
	for _, tt := range keys {
		c := encodeCursor(tt.o, &tt.k)
		o, k, err := decodeCursor(c)
		if err != nil || o != tt.o || k != tt.k {
			t.Errorf("%+v %+v: decoded %+v %+v %v", tt.o, tt.k, o, k, err)
		}
	}
}

// checkDecodeCursor checks that decodeCursor refuses s with BAD_USER_INPUT
// "invalid cursor" or returns a key that encodes to a cursor decoding to the
// same key.
func checkDecodeCursor(t *testing.T, s string) {
	t.Helper()
	o, k, err := decodeCursor(s)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || ErrorCode(err) != CodeBadUserInput || ErrorMessage(err) != msgInvalidCursor {
			t.Fatalf("decodeCursor(%q): %v", s, err)
		}
		return
	}
	o2, k2, err := decodeCursor(encodeCursor(o, &k))
	if err != nil || o2 != o || k2 != k {
		t.Fatalf("decodeCursor(%q) = %+v %+v; re-encoded: %+v %+v %v", s, o, k, o2, k2, err)
	}
}

// sealCursor returns body with its checksum, base64url-encoded: a cursor
// that passes the checksum, so the fuzzer reaches the parser behind it.
func sealCursor(body []byte) string {
	b := binary.BigEndian.AppendUint32(append([]byte(nil), body...), crc32.ChecksumIEEE(body))
	return cursorEncoding.EncodeToString(b)
}

// FuzzCursor checks, for any input: a cursor string and a checksummed body
// decode safely (checkDecodeCursor); and the cursor encodeCursor makes for
// the ordering and key built from the other arguments, shaped as
// order.key shapes keys, decodes to exactly that ordering and key.
func FuzzCursor(f *testing.F) {
	type key struct {
		code uint8
		null bool
		text string
		sec  int64
		nsec int32
		id   string
	}
	keys := []key{
		{0, false, "alice@example.com", 0, 0, "user_1"},
		{1, false, "zoë", 0, 0, "u"},
		{2, true, "", 0, 0, "user_2"},
		{5, false, "", 0, 0, ""},
		{6, false, "", -62135596800, 0, "user_3"},
		{7, false, "", 1740787200, 999999999, "user_4"},
		{8, true, "", 0, 0, "user_5"},
		{9, false, "", -1, 1, "user_6"},
		{10, false, "", 1 << 40, 5, "x"},
		{11, false, "", math.MaxInt64, 0, "user_9f86d081884c7d65"},
		{3, false, "a\x00\xff" + strings.Repeat("ß", 200), 0, 0, strings.Repeat("\x80", 130)},
	}
	junk := []string{"", "AQA", "////////////////", "AQAAAAA", "AQABAAAAAA==", "not a cursor", "YQ", "AQ\n"}
	for i, k := range keys {
		o, sk := cursorArgs(k.code, k.null, k.text, k.sec, k.nsec, k.id)
		c := encodeCursor(o, &sk)
		raw, _ := cursorEncoding.DecodeString(c)
		f.Add(c, raw[:len(raw)-4], k.code, k.null, k.text, k.sec, k.nsec, k.id)
		f.Add(junk[i%len(junk)], raw[:len(raw)/2], k.code, !k.null, k.id, -k.sec, -k.nsec, k.text)
	}
	for _, s := range junk {
		f.Add(s, []byte(s), uint8(255), false, s, int64(math.MinInt64), int32(math.MaxInt32), s)
	}
	f.Fuzz(func(t *testing.T, cursor string, body []byte, code uint8, null bool, text string, sec int64, nsec int32, id string) {
		checkDecodeCursor(t, cursor)
		checkDecodeCursor(t, sealCursor(body))

		o, k := cursorArgs(code, null, text, sec, nsec, id)
		c := encodeCursor(o, &k)
		o2, k2, err := decodeCursor(c)
		if err != nil || o2 != o || k2 != k {
			t.Fatalf("encodeCursor(%+v, %+v) = %q, decodes to %+v %+v %v", o, k, c, o2, k2, err)
		}
	})
}

// cursorArgs builds an ordering and a key of the shape order.key gives:
// text or time by the field, neither when null, nanoseconds in [0, 1e9).
func cursorArgs(code uint8, null bool, text string, sec int64, nsec int32, id string) (order, sortKey) {
	o, _ := orderFromCode(code % uint8(numOrders))
	k := sortKey{null: null, id: id}
	switch {
	case null:
	case o.field.isText():
		k.text = text
	default:
		n := int64(nsec) % 1e9
		if n < 0 {
			n += 1e9
		}
		k.time = tkey{sec: sec, nsec: int32(n)}
	}
	return o, k
}

func BenchmarkCursor(b *testing.B) {
	o := order{fieldEmail, false}
	k := sortKey{text: "margaret.hamilton1234@mail.example.net", id: "user_9f86d081884c7d65"}
	c := encodeCursor(o, &k)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			encodeCursor(o, &k)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := decodeCursor(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// checkMetadata checks that interning raw gives what decoding it with
// encoding/json (UseNumber) and looking each path's value up gives.
func checkMetadata(t *testing.T, raw string) {
	t.Helper()
	ms := newMetaStore(0)
	err := ms.addJSON(rootUser, []byte(raw))
	off, n := ms.member(0)
	fields := ms.fields[off : off+n]

	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var tree any
	var decErr error
	if !json.Valid([]byte(raw)) {
		decErr = errors.New("invalid JSON")
	} else {
		decErr = dec.Decode(&tree)
	}
	if (err != nil) != (decErr != nil) && strings.TrimSpace(raw) != "" {
		t.Fatalf("%q: addJSON error %v, encoding/json error %v", raw, err, decErr)
	}
	if err != nil {
		return
	}
	count := 0
	var walk func(parent uint32, obj map[string]any, prefix string)
	walk = func(parent uint32, obj map[string]any, prefix string) {
		for k, v := range obj {
			count++
			pid, ok := ms.lookupPath(parent, []string{k})
			if !ok {
				t.Fatalf("%q: path %q missing", raw, prefix+k)
			}
			got, ok := value(fields, pid)
			norm, nerr := normalizeValue(v)
			want, wok := ms.lookupValue(norm)
			if !ok || nerr != nil || !wok || got != want {
				t.Fatalf("%q: path %q: id %d %v, want %d %v (%v)", raw, prefix+k, got, ok, want, wok, nerr)
			}
			if sub, isObj := v.(map[string]any); isObj {
				walk(pid, sub, prefix+k+"\x1f")
			}
		}
	}
	if obj, ok := tree.(map[string]any); ok {
		walk(rootUser, obj, "")
	}
	if count != len(fields) {
		t.Fatalf("%q: %d fields, encoding/json sees %d paths", raw, len(fields), count)
	}
}

var metadataSeeds = []string{
	`{}`, `null`, `[]`, `"x"`, `7`, ``, `  `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":1}{}`,
	`{"a":{"b":{"c":[1,2,{"d":null}]}},"e":"f","n":-0.50e+2,"t":true,"f":false}`,
	`{"dup":1,"dup":{"x":2},"dup":"last"}`, `{"dup":{"x":1},"dup":{"y":2}}`,
	`{"esc\"aped":"line\nbreak\u00e9\ud83d\ude00","\u0061":"a-escaped","a":"plain a"}`,
	`{"bad surrogate":"\ud800x","bad utf8":"` + "\xff\xfe" + `","ctl":"\u0000"}`,
	`{"big":12345678901234567890,"same":[7,7.0,70e-1],"obj":{"b":1,"a":2},"obj2":{"a":2,"b":1}}`,
	` { "spaced" : [ 1 , "two" , { } , [ ] ] } `,
	`{"":1,".":2,"a.b":3}`,
}

func TestMetadataMatchesEncodingJSON(t *testing.T) {
	for _, raw := range metadataSeeds {
		checkMetadata(t, raw)
	}
}

func FuzzMetadata(f *testing.F) {
	for _, raw := range metadataSeeds {
		f.Add(raw)
	}
	f.Fuzz(checkMetadata)
}

func TestSnapshotMemoAndPosition(t *testing.T) {
	members := []Member{{UserID: "a"}, {UserID: "b"}, {UserID: "c"}}
	s := NewSnapshot("org", members, time.Time{})
	type key struct{}
	calls := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v := s.Memo(key{}, func(*Snapshot) any { calls++; return 42 }); v != 42 {
				t.Errorf("memo = %v", v)
			}
		}()
	}
	wg.Wait()
	if calls != 1 {
		t.Fatalf("build ran %d times, want 1", calls)
	}
	for i := range s.Members() {
		if got := s.Position(&s.Members()[i]); got != i {
			t.Fatalf("Position(member %d) = %d", i, got)
		}
	}
	other := Member{UserID: "a"}
	if got := s.Position(&other); got != -1 {
		t.Fatalf("Position(foreign) = %d, want -1", got)
	}
	if got := s.Position(s.Member("b")); got != 1 {
		t.Fatalf("Position(Member(b)) = %d", got)
	}
}
