package clerksource

import (
	"bytes"
	"io"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// TestScannerFindsWhatJSONTextFinds: over valid JSON, the scanner's
// values are the ones jsontext reads, however strings hide quotes,
// backslashes and brackets.
func TestScannerFindsWhatJSONTextFinds(t *testing.T) {
	for _, body := range []string{
		`[]`, ` [ 1 , -2.5e+3 , 0 , true , false , null ] `,
		`["", "a\"b", "a\\", "a\\\"b\\\\", "\\\\\\\"", "]}[{", "\u0022\"", "é\ud83d\ude00"]`,
		`[{"k\"}":"v]\\","n":[1,[2,{"x":"}"}]],"e":{}},[[],[[]]],"tail"]`,
		"[\"\xff\xfe\", {\"dup\":1,\"dup\":2}]",
		"[\n\t1\r\n,\n{ \"a\" : [ ] , \"b\" : { } }\n]",
	} {
		s, err := newScanner([]byte(body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		dec := jsontext.NewDecoder(bytes.NewReader([]byte(body)), encodingJSONGrammar...)
		if _, err := dec.ReadToken(); err != nil {
			t.Fatal(err)
		}
		s.delim()
		for dec.PeekKind() != ']' {
			want, err := dec.ReadValue()
			if err != nil {
				t.Fatal(err)
			}
			if k := s.peek(); k != want.Kind() {
				t.Fatalf("%q: kind %q, want %q", body, k, want.Kind())
			}
			if got := s.value(); !bytes.Equal(got, want) {
				t.Fatalf("%q: value %q, want %q", body, got, want)
			}
		}
		if k := s.peek(); k != ']' {
			t.Fatalf("%q: %q after the elements, want ]", body, k)
		}
		s.delim()
		if s.space(); s.pos != len(s.data) {
			t.Fatalf("%q: not at the end", body)
		}
		if _, err := dec.ReadToken(); err != nil {
			t.Fatal(err)
		}
		if _, err := dec.ReadToken(); err != io.EOF {
			t.Fatal(err)
		}
	}
	for _, body := range []string{``, `[`, `[1,]`, `{"a"}`, `[1] [2]`, `"\x01"`, `[01]`, `"\q"`} {
		if _, err := newScanner([]byte(body)); err == nil {
			t.Errorf("%q: accepted, but it is not JSON", body)
		}
	}
}
