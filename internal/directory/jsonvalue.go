package directory

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the JSON value model metadata conditions compare in.
//
// Metadata and condition operands are normalized to the same small set of
// types: nil, bool, string, number, []any and map[string]any. A number is the
// canonical decimal text of its value ("7", "7.0" and 7.0 all become "7e0"),
// so numbers compare by value with plain string equality, and integers beyond
// float64 precision still compare exactly. The metaStore then interns
// normalized values, so that JSON-equal values share one id.

// number is a JSON number in canonical form; see canonicalNumber.
type number string

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
// It accepts the JSON number grammar (leading zeros allowed) plus the
// "e+21" exponents strconv writes; ok is false for anything else.
func canonicalNumber(s string) (n number, ok bool) {
	b, ok := appendCanonicalNumber(nil, s)
	return number(b), ok
}

// appendCanonicalNumber appends the canonical form of s to dst; see canonicalNumber.
func appendCanonicalNumber[T string | []byte](dst []byte, s T) ([]byte, bool) {
	i := 0
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	nInt := i - intStart
	if nInt == 0 {
		return dst, false
	}
	fracStart, nFrac := i, 0
	if i < len(s) && s[i] == '.' {
		i++
		fracStart = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if nFrac = i - fracStart; nFrac == 0 {
			return dst, false
		}
	}
	exp := int64(0)
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		digitsStart := i
		huge := false
		for ; i < len(s) && isDigit(s[i]); i++ {
			if exp = exp*10 + int64(s[i]-'0'); exp > maxExponent {
				huge = true
				exp = maxExponent
			}
		}
		if i == digitsStart || i != len(s) {
			return dst, false
		}
		if huge {
			return append(append(dst, "literal:"...), s...), true
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return dst, false
	}

	digit := func(k int) byte {
		if k < nInt {
			return s[intStart+k]
		}
		return s[fracStart+k-nInt]
	}
	total := nInt + nFrac
	lo := 0
	for lo < total && digit(lo) == '0' {
		lo++
	}
	if lo == total {
		return append(dst, '0'), true // -0 is 0
	}
	hi := total
	for digit(hi-1) == '0' {
		hi--
	}
	exp += int64(total - hi - nFrac)
	if neg {
		dst = append(dst, '-')
	}
	for k := lo; k < hi; k++ {
		dst = append(dst, digit(k))
	}
	dst = append(dst, 'e')
	return strconv.AppendInt(dst, exp, 10), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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
