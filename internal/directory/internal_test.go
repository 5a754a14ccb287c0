package directory

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
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

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(order{fieldEmail, false}, &sortKey{text: "a@b.c", id: "user_1"}))
	f.Add(encodeCursor(order{fieldLastSignInAt, true}, &sortKey{null: true, id: "user_2"}))
	f.Add(encodeCursor(order{fieldCreatedAt, false}, &sortKey{time: tkey{sec: 1700000000, nsec: 5}, id: "user_3"}))
	f.Add("")
	f.Add("AQA")
	f.Add("////////////////")
	f.Fuzz(func(t *testing.T, s string) {
		o, k, err := decodeCursor(s)
		if err != nil {
			if ErrorCode(err) != CodeBadUserInput || ErrorMessage(err) != msgInvalidCursor {
				t.Fatalf("decodeCursor(%q): %v", s, err)
			}
			return
		}
		// Whatever decodes must describe a key that encodes and decodes to itself.
		o2, k2, err := decodeCursor(encodeCursor(o, &k))
		if err != nil || o2 != o || k2 != k {
			t.Fatalf("decodeCursor(%q) = %+v %+v; re-encoded: %+v %+v %v", s, o, k, o2, k2, err)
		}
	})
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
	ms := newMetaStore()
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
