package graph

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orgusers/orgusers/internal/directory"
)

// MaxJSONDepth bounds how deeply a request's JSON (variables included) may
// nest. Legitimate filters nest at most directory.MaxFilterDepth levels, a
// few JSON levels each.
const MaxJSONDepth = 64

// MaxJSONValues bounds the values (array elements and object members) in a
// request's variables and extensions. Decoding costs per value: a megabyte
// of `[1,1,1,...]` would otherwise cost a hundred milliseconds before
// anything looked at it.
const MaxJSONValues = 10_000

// MaxVariablesBytes bounds the JSON text of the variables: a filter listing
// a few thousand user ids or emails fits.
const MaxVariablesBytes = 256 << 10

// maxOperationNameBytes and maxExtensionsBytes bound the small members.
const (
	maxOperationNameBytes = 1 << 10
	maxExtensionsBytes    = 16 << 10
)

// requestError is a problem with the request itself, found before GraphQL
// looks at it: HTTP status, extensions.code and a message that names what
// was wrong without echoing the request.
type requestError struct {
	status  int
	code    string
	message string
}

func (e *requestError) Error() string { return e.message }

// CodeBadRequest is the extensions.code of a request that is not a GraphQL
// request at all: wrong method or content type, a body that is not a JSON
// object, a body too large or too slow.
const CodeBadRequest = "BAD_REQUEST"

func badRequest(status int, format string, args ...any) *requestError {
	return &requestError{status: status, code: CodeBadRequest, message: fmt.Sprintf(format, args...)}
}

func badInput(format string, args ...any) *requestError {
	return &requestError{status: 400, code: string(directory.CodeBadUserInput), message: fmt.Sprintf(format, args...)}
}

// member is one top-level member of a JSON object: its name and its value's
// bytes.
type member struct {
	name  string
	value []byte
}

// splitObject splits a JSON object into its top-level members without
// decoding their values, in one pass that also measures how deeply the
// whole text nests. Only the names in maxLen are allowed, each value at most
// that many bytes long: the scan stops there, so a megabyte of variables
// costs no more than the bound. It checks the object's own syntax; each
// value's syntax is checked when (and if) it is decoded.
func splitObject(b []byte, maxLen map[string]int) ([]member, *requestError) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		if len(b) > 0 && b[0] == '[' {
			return nil, badRequest(400, "the body is a JSON array: batched requests are not supported; send one request per HTTP request")
		}
		return nil, badRequest(400, "the body is not a JSON object")
	}
	var members []member
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return nil, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, badRequest(400, "the body is not valid JSON: expected a member name at byte %d", i)
		}
		end := skipJSONString(b, i)
		if end < 0 {
			return nil, badRequest(400, "the body is not valid JSON: unterminated string at byte %d", i)
		}
		var name string
		if err := json.Unmarshal(b[i:end], &name); err != nil {
			return nil, badRequest(400, "the body is not valid JSON: bad member name at byte %d", i)
		}
		limit, known := maxLen[name]
		if !known {
			return nil, badRequest(400, "unknown request member %q: a GraphQL request has query, operationName, variables and extensions", truncate(name, 64))
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, badRequest(400, "the body is not valid JSON: expected ':' at byte %d", i)
		}
		i = skipSpace(b, i+1)
		start := i
		var err *requestError
		if i, err = skipJSONValue(b, i, limit); err != nil {
			switch {
			case err == errTooLong && name == "query":
				err = &requestError{status: http.StatusUnprocessableEntity, code: CodeQueryTooLarge, message: fmt.Sprintf("the query is longer than %d bytes", (limit-2)/6)}
			case err == errTooLong:
				err = badInput("%s is over %d bytes of JSON", name, limit)
			}
			return nil, err
		}
		members = append(members, member{name: name, value: b[start:i]})
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' && skipSpace(b, i+1) == len(b) {
			return members, nil
		}
		return nil, badRequest(400, "the body is not valid JSON: unexpected byte at %d", i)
	}
}

// jsonSpace and jsonStructural classify bytes for the scanning loops,
// which see every byte of a body up to a megabyte long.
var jsonSpace, jsonStructural [256]bool

func init() {
	for _, c := range " \t\n\r" {
		jsonSpace[c] = true
	}
	for _, c := range `"{}[]` {
		jsonStructural[c] = true
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space. Runs of spaces, the cheapest padding, go eight at a time.
func skipSpace(b []byte, i int) int {
	const spaces = 0x2020202020202020
	for i < len(b) {
		if i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:]) == spaces {
			i += 8
			continue
		}
		if !jsonSpace[b[i]] {
			return i
		}
		i++
	}
	return i
}

// skipJSONString returns the index past the string starting at b[i] == '"',
// or -1 when it does not end. A quote ends the string unless an odd number
// of backslashes precede it.
func skipJSONString(b []byte, i int) int {
	for j := i + 1; j < len(b); {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		q += j
		k := q
		for k > i+1 && b[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
	return -1
}

// skipJSONValue returns the index past the value starting at b[i]: a
// string, or everything up to the matching close of an object or array, or
// a scalar up to the next delimiter. Nesting deeper than MaxJSONDepth is
// refused here, before any decoder recurses into it; a value longer than
// limit returns errTooLong.
func skipJSONValue(b []byte, i, limit int) (int, *requestError) {
	truncated := len(b)-i > limit
	if truncated {
		b = b[:i+limit] // the value must end within limit bytes: read no further
	}
	end, err := skipValue(b, i)
	if truncated && (end == len(b) || err != nil && err.code == CodeBadRequest) {
		return end, errTooLong // it ran into the limit, not into an error of its own
	}
	return end, err
}

// errTooLong reports a value over its limit; callers name the value.
var errTooLong = &requestError{status: 400}

func skipValue(b []byte, i int) (int, *requestError) {
	if i >= len(b) {
		return i, badRequest(400, "the body is not valid JSON: a value is missing at byte %d", i)
	}
	switch b[i] {
	case '"':
		end := skipJSONString(b, i)
		if end < 0 {
			return i, badRequest(400, "the body is not valid JSON: unterminated string at byte %d", i)
		}
		return end, nil
	case '{', '[':
		depth, deepest := 0, 0
		for j := i; j < len(b); j++ {
			if !jsonStructural[b[j]] {
				continue
			}
			switch b[j] {
			case '"':
				end := skipJSONString(b, j)
				if end < 0 {
					return j, badRequest(400, "the body is not valid JSON: unterminated string at byte %d", j)
				}
				j = end - 1
			case '{', '[':
				depth++
				// The body's own object is one more level.
				if deepest = max(deepest, depth); deepest+1 > MaxJSONDepth {
					return j, badInput("the request JSON nests more than %d levels deep", MaxJSONDepth)
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return len(b), badRequest(400, "the body is not valid JSON: an object or array does not end")
	default:
		j := i
		for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
			j++
		}
		return j, nil
	}
}

// jsonValues counts the values in a JSON text: its elements and members,
// nested ones included (exactly, for valid JSON, up to separators).
func jsonValues(b []byte) int {
	n := 0
	for j := 0; j < len(b); j++ {
		switch b[j] {
		case '"':
			end := skipJSONString(b, j)
			if end < 0 {
				return n
			}
			j = end - 1
		case ',', '[', '{':
			n++
		}
	}
	return n
}

// decodeBody reads a POST body into RawParams: a JSON object whose members
// are query (a string), and optionally operationName (a string),
// variables and extensions (objects); null means absent. Sizes are checked
// before each member is decoded, so a megabyte costs a scan, not a decode.
func decodeBody(body []byte, maxQuery int) (*graphql.RawParams, *requestError) {
	members, err := splitObject(body, map[string]int{
		"query":         6*maxQuery + 2, // JSON escapes take at most six bytes a character
		"operationName": 6*maxOperationNameBytes + 2,
		"variables":     MaxVariablesBytes,
		"extensions":    maxExtensionsBytes,
	})
	if err != nil {
		return nil, err
	}
	raw := map[string][]byte{}
	for _, m := range members {
		if _, dup := raw[m.name]; dup {
			return nil, badRequest(400, "the request gives %s twice", m.name)
		}
		raw[m.name] = m.value
	}
	return decodeMembers(raw, maxQuery)
}

// decodeQueryString reads GET parameters into RawParams, with the same rules
// as decodeBody.
func decodeQueryString(rawQuery string, maxQuery int) (*graphql.RawParams, *requestError) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest(400, "the URL query string is malformed")
	}
	raw := map[string][]byte{}
	for name, vs := range values {
		switch name {
		case "query", "operationName":
			b, _ := json.Marshal(vs[0])
			raw[name] = b
		case "variables", "extensions":
			raw[name] = []byte(vs[0])
		default:
			return nil, badRequest(400, "unknown parameter %q: a GraphQL GET request has query, operationName, variables and extensions", truncate(name, 64))
		}
		if len(vs) > 1 {
			return nil, badRequest(400, "the request gives %s twice", name)
		}
	}
	if v := raw["variables"]; v != nil {
		if _, err := skipJSONValue(v, skipSpace(v, 0), MaxVariablesBytes); err != nil {
			if err == errTooLong {
				err = badInput("variables is over %d bytes of JSON", MaxVariablesBytes)
			}
			return nil, err
		}
	}
	return decodeMembers(raw, maxQuery)
}

func decodeMembers(raw map[string][]byte, maxQuery int) (*graphql.RawParams, *requestError) {
	p := &graphql.RawParams{}
	var err *requestError
	if p.Extensions, err = decodeObject(raw["extensions"], "extensions", maxExtensionsBytes); err != nil {
		return nil, err
	}
	q, ok := raw["query"]
	switch {
	case (!ok || isNull(q)) && p.Extensions["persistedQuery"] != nil:
		// An automatic persisted query: the text comes from its hash.
	case !ok || isNull(q):
		return nil, badRequest(400, "the request has no query")
	default:
		if p.Query, ok = jsonString(q); !ok {
			return nil, badRequest(400, "query must be a string")
		}
	}
	if b, ok := raw["operationName"]; ok && !isNull(b) {
		if len(b) > 6*maxOperationNameBytes+2 || json.Unmarshal(b, &p.OperationName) != nil {
			return nil, badRequest(400, "operationName must be a string of at most %d bytes", maxOperationNameBytes)
		}
	}
	if p.Variables, err = decodeObject(raw["variables"], "variables", MaxVariablesBytes); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeObject decodes an optional JSON object member, numbers kept exact.
func decodeObject(b []byte, name string, maxBytes int) (map[string]any, *requestError) {
	if b == nil || isNull(b) {
		return nil, nil
	}
	if len(b) > maxBytes {
		return nil, badInput("%s is %d bytes of JSON; at most %d are allowed", name, len(b), maxBytes)
	}
	if n := jsonValues(b); n > MaxJSONValues {
		return nil, badInput("%s holds %d values; at most %d are allowed", name, n, MaxJSONValues)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, badInput("%s must be a JSON object", name)
	}
	return m, nil
}

// jsonString decodes a JSON string. Most query texts have nothing to
// unescape: those are copied as they are, without a decoder's two passes.
func jsonString(b []byte) (string, bool) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		plain := true
		for _, c := range b[1 : len(b)-1] {
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				plain = false
				break
			}
		}
		if plain {
			return string(b[1 : len(b)-1]), true
		}
	}
	var s string
	return s, json.Unmarshal(b, &s) == nil
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

// truncate shortens a caller-chosen name quoted in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
