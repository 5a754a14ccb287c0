package rest

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

type format string

const (
	formatJSON format = "json"
	formatCSV  format = "csv"
)

// query is a parsed, validated request.
type query struct {
	filter    *directory.Filter
	format    format // "" when not given as a parameter
	canonical string // the parameters in a canonical order, for cache keys
}

const metadataPrefix = "metadata."

// maxMetadataConditions is how many metadata.<path>=<value> pairs one query
// may hold: the filter itself counts as one of directory.MaxFilterConditions.
const maxMetadataConditions = directory.MaxFilterConditions - 1

// parseQuery reads the query string. Every parameter must be known and valid:
// errors are BAD_USER_INPUT naming the parameter.
func parseQuery(r *http.Request) (query, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, bad("malformed query string: %v", err)
	}
	var q query
	f := &directory.Filter{}
	filtered := false
	for _, name := range sortedKeys(values) {
		vals := values[name]
		single := func() (string, error) {
			if len(vals) != 1 {
				return "", bad("parameter %q must be given once", name)
			}
			if vals[0] == "" {
				return "", bad("parameter %q must not be empty", name)
			}
			return vals[0], nil
		}
		switch {
		case name == "role":
			for _, v := range vals {
				if v == "" {
					return query{}, bad("parameter %q must not be empty", name)
				}
			}
			f.Roles = append([]string(nil), vals...)
		case name == "signInStatus":
			v, err := single()
			if err != nil {
				return query{}, err
			}
			switch v {
			case "signed_in":
				f.SignInStatus = directory.SignedIn
			case "never_signed_in":
				f.SignInStatus = directory.NeverSignedIn
			default:
				return query{}, bad("parameter %q must be signed_in or never_signed_in, got %q", name, v)
			}
		case name == "search":
			v, err := single()
			if err != nil {
				return query{}, err
			}
			f.Search = &v
		case name == "lastSignInAfter" || name == "lastSignInBefore" || name == "createdAfter" || name == "createdBefore":
			v, err := single()
			if err != nil {
				return query{}, err
			}
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return query{}, bad("parameter %q must be an RFC 3339 timestamp such as 2026-01-31T09:30:00Z, got %q", name, v)
			}
			t = t.UTC()
			switch name {
			case "lastSignInAfter":
				f.LastSignInAfter = &t
			case "lastSignInBefore":
				f.LastSignInBefore = &t
			case "createdAfter":
				f.CreatedAfter = &t
			default:
				f.CreatedBefore = &t
			}
		case strings.HasPrefix(name, metadataPrefix):
			path := strings.TrimPrefix(name, metadataPrefix)
			if path == "" || slices.Contains(strings.Split(path, "."), "") {
				return query{}, bad("parameter %q: the metadata path must be dot-separated keys such as metadata.location.country, with no empty key", name)
			}
			for _, v := range vals {
				f.Metadata = append(f.Metadata, metadataEquals(path, v))
			}
			if len(f.Metadata) > maxMetadataConditions {
				return query{}, bad("parameter %q: a query may hold at most %d metadata conditions", name, maxMetadataConditions)
			}
		case name == "format":
			v, err := single()
			if err != nil {
				return query{}, err
			}
			switch format(v) {
			case formatJSON, formatCSV:
				q.format = format(v)
			default:
				return query{}, bad("parameter %q must be json or csv, got %q", name, v)
			}
			continue
		default:
			return query{}, bad("unknown query parameter %q", name)
		}
		filtered = true
	}
	if filtered {
		if err := f.Validate(); err != nil {
			return query{}, err
		}
		q.filter = f
	}
	delete(values, "format")
	q.canonical = values.Encode() // Encode sorts by key
	return q, nil
}

// metadataEquals is the condition of metadata.<path>=<value>: string equality
// on the value's text. A value that reads as a JSON number or boolean also
// matches that number or boolean, so metadata.vnum=7 finds 7 as well as "7".
func metadataEquals(path, v string) directory.MetadataCondition {
	c := directory.MetadataCondition{Path: path, Source: directory.MetadataUser, Op: directory.OpIn, Values: []any{v}}
	if v == "true" || v == "false" {
		c.Values = append(c.Values, v == "true")
	} else if isJSONNumber(v) {
		c.Values = append(c.Values, json.Number(v))
	}
	return c
}

// isJSONNumber reports whether v is a number in JSON's grammar, with no
// white space around it (json.Unmarshal would allow trailing white space).
func isJSONNumber(v string) bool {
	if v == "" || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) || !(v[len(v)-1] >= '0' && v[len(v)-1] <= '9') {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(v), &n) == nil
}

func bad(format string, args ...any) error {
	return directory.Errorf(directory.CodeBadUserInput, format, args...)
}

// negotiate picks the response format: the format parameter wins, then an
// Accept header naming text/csv.
func negotiate(r *http.Request, explicit format) format {
	if explicit != "" {
		return explicit
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/csv" {
			return formatCSV
		}
	}
	return formatJSON
}
