package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the JSON value model metadata conditions compare in.
//
// Both sides of a comparison are normalized to the same small set of types
// first: nil, bool, string, number, []any and map[string]any. A number is the
// canonical decimal text of its value ("7", "7.0" and 7.0 all become "7e0"),
// so numbers compare by value with plain string equality, and integers beyond
// float64 precision still compare exactly.

// number is a JSON number in canonical form; see canonicalNumber.
type number string

// decodeMetadata decodes a metadata object as stored in a Member. Empty input,
// "null" and "{}" yield nil: every path is missing, as in an empty object.
func decodeMetadata(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "{}" || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after metadata object")
	}
	return normalizeDecoded(v), nil
}

// normalizeDecoded replaces, in place, every json.Number in a value decoded
// with UseNumber by its canonical number.
func normalizeDecoded(v any) any {
	switch x := v.(type) {
	case json.Number:
		n, _ := canonicalNumber(string(x)) // the decoder only yields valid numbers
		return n
	case []any:
		for i := range x {
			x[i] = normalizeDecoded(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeDecoded(e)
		}
	}
	return v
}

// normalizeValue converts a condition operand, as handed over by a transport,
// to the normalized form. It rejects values that are not JSON values.
func normalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		n, ok := canonicalNumber(string(x))
		if !ok {
			return nil, fmt.Errorf("%q is not a JSON number", string(x))
		}
		return n, nil
	case float64:
		return floatNumber(x)
	case float32:
		return floatNumber(float64(x))
	case int:
		return intNumber(int64(x)), nil
	case int8:
		return intNumber(int64(x)), nil
	case int16:
		return intNumber(int64(x)), nil
	case int32:
		return intNumber(int64(x)), nil
	case int64:
		return intNumber(x), nil
	case uint:
		return uintNumber(uint64(x)), nil
	case uint8:
		return uintNumber(uint64(x)), nil
	case uint16:
		return uintNumber(uint64(x)), nil
	case uint32:
		return uintNumber(uint64(x)), nil
	case uint64:
		return uintNumber(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value of type %s", reflect.TypeOf(v))
}

func floatNumber(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v is not a JSON number", f)
	}
	// The shortest decimal that round-trips is the value a JSON text held
	// before it was parsed into a float64: 0.1 compares equal to "0.1".
	n, _ := canonicalNumber(strconv.FormatFloat(f, 'g', -1, 64))
	return n, nil
}

func intNumber(i int64) number {
	n, _ := canonicalNumber(strconv.FormatInt(i, 10))
	return n
}

func uintNumber(u uint64) number {
	n, _ := canonicalNumber(strconv.FormatUint(u, 10))
	return n
}

// maxExponent bounds the exponents canonicalNumber normalizes; numbers with
// larger exponents keep their literal text (equal only to the same text).
const maxExponent = 1 << 40

// canonicalNumber returns the canonical form of the number literal s:
// "[-]D+e[-]X" with D free of leading and trailing zeros, or "0" for zero.
// It accepts the JSON number grammar plus the "e+21" exponents strconv
// writes; ok is false for anything else.
func canonicalNumber(s string) (n number, ok bool) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" {
		return "", false
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fracStart:i]
		if frac == "" {
			return "", false
		}
	}
	exp := int64(0)
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expStart := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		digitsStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == digitsStart {
			return "", false
		}
		e, err := strconv.ParseInt(s[expStart:i], 10, 64)
		if err != nil || e > maxExponent || e < -maxExponent {
			if i != len(s) {
				return "", false
			}
			return number("literal:" + s), true
		}
		exp = e
	}
	if i != len(s) {
		return "", false
	}

	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= int64(len(frac))
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	if trimmed == "" {
		return "0", true // -0 is 0
	}
	var b strings.Builder
	b.Grow(len(trimmed) + 8)
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(trimmed)
	b.WriteByte('e')
	b.WriteString(strconv.FormatInt(exp, 10))
	return number(b.String()), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// jsonEqual reports whether two normalized values are equal JSON values.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case number:
		y, ok := b.(number)
		return ok && x == y
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// isScalar reports whether a normalized value is hashable (usable as a map key).
func isScalar(v any) bool {
	switch v.(type) {
	case nil, bool, string, number:
		return true
	}
	return false
}

// lookup follows path through nested objects from root. A missing key or a
// step through anything but an object means the path is missing.
func lookup(root any, path []string) (any, bool) {
	v := root
	for _, seg := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[seg]; !ok {
			return nil, false
		}
	}
	return v, true
}

// containsFold reports whether s contains lowerSub, which is already
// lowercased, ignoring case. ASCII text is searched without allocating.
func containsFold(s, lowerSub string) bool {
	if !isASCII(s) || !isASCII(lowerSub) {
		return strings.Contains(strings.ToLower(s), lowerSub)
	}
	n := len(lowerSub)
	if n == 0 {
		return true
	}
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerSub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// valueBytes approximates the heap retained by a normalized value, counting
// the interface word pair that holds it.
func valueBytes(v any) int {
	const iface = 16
	switch x := v.(type) {
	case string:
		return iface + 16 + len(x)
	case number:
		return iface + 16 + len(x)
	case []any:
		n := iface + 24
		for _, e := range x {
			n += valueBytes(e)
		}
		return n
	case map[string]any:
		// Swiss-table groups hold 8 slots of key (16) + value (16) plus a
		// control word, filled to 7/8 at most.
		groups := (len(x)*8/7 + 7) / 8
		n := iface + 48 + groups*(8+8*32)
		for k, e := range x {
			n += len(k) + valueBytes(e) - iface
		}
		return n
	}
	return iface
}
