package clerksource

import (
	"bytes"

	"github.com/go-json-experiment/json/jsontext"
)

// encodingJSONGrammar makes jsontext accept what encoding/json accepts:
// invalid UTF-8 in strings and repeated names.
var encodingJSONGrammar = []jsontext.Options{jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true)}

// scanner walks a list body already found to be valid JSON (one value,
// white space around it). Validating a page of 500 users whole takes
// jsontext about a quarter of what reading it token by token took; once
// the body is known valid, a value's end is found from its quotes and
// brackets alone, and commas and colons can be passed over as white
// space. Nothing it returns fails: its input is valid.
type scanner struct {
	data []byte
	pos  int
}

// newScanner returns a scanner over body, or the syntax error that makes
// body something other than one JSON value.
func newScanner(body []byte) (*scanner, error) {
	if !jsontext.Value(body).IsValid(encodingJSONGrammar...) {
		return nil, syntaxError(body)
	}
	return &scanner{data: body}, nil
}

// syntaxError tells what is wrong with body, which is not valid JSON: the
// slow path, taken only for a broken body. A body whose first value reads
// whole has more after it.
func syntaxError(body []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(body), encodingJSONGrammar...)
	if _, err := dec.ReadValue(); err != nil {
		return err
	}
	return errTextAfterValue
}

// space passes over white space and the separators between values.
func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r', ',', ':':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the kind of what comes next, as jsontext.Kind names it
// ('}' and ']' included), or 0 at the end.
func (s *scanner) peek() jsontext.Kind {
	s.space()
	if s.pos == len(s.data) {
		return 0
	}
	switch c := s.data[s.pos]; c {
	case '"', '{', '}', '[', ']', 't', 'f', 'n':
		return jsontext.Kind(c)
	default:
		return '0'
	}
}

// delim passes over the delimiter that comes next.
func (s *scanner) delim() {
	s.space()
	s.pos++
}

// value returns the next value's text and passes over it.
func (s *scanner) value() []byte {
	s.space()
	start := s.pos
	switch s.data[s.pos] {
	case '"':
		s.pos = endOfString(s.data, s.pos)
	case '{', '[':
		s.pos = endOfContainer(s.data, s.pos)
	case 't', 'n':
		s.pos += len("true")
	case 'f':
		s.pos += len("false")
	default:
		for s.pos < len(s.data) && isNumberByte(s.data[s.pos]) {
			s.pos++
		}
	}
	return s.data[start:s.pos]
}

// endOfString returns the index just past the string that starts at b[i].
func endOfString(b []byte, i int) int {
	i++
	for {
		i += bytes.IndexByte(b[i:], '"')
		escapes := 0
		for k := i - 1; b[k] == '\\'; k-- {
			escapes++
		}
		i++
		if escapes%2 == 0 {
			return i
		}
	}
}

// endOfContainer returns the index just past the object or array that
// starts at b[i].
func endOfContainer(b []byte, i int) int {
	depth := 0
	for {
		switch b[i] {
		case '"':
			i = endOfString(b, i)
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
