// Package scalar implements the GraphQL scalars Time and JSON for gqlgen.
//
// Time is an RFC 3339 timestamp, always written in UTC. JSON is any JSON
// value; on output it is written verbatim from the stored raw JSON, so
// metadata is never decoded and re-encoded per request.
package scalar

import (
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/orgusers/orgusers/internal/directory"
)

// MarshalTime writes t as an RFC 3339 string in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [40]byte
		b := append(buf[:0], '"')
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		_, _ = w.Write(b)
	})
}

// UnmarshalTime reads an RFC 3339 string. Errors: BAD_USER_INPUT.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, directory.Errorf(directory.CodeBadUserInput, "Time must be an RFC 3339 string, got %T", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, directory.Errorf(directory.CodeBadUserInput, "Time must be RFC 3339 (e.g. 2026-01-31T09:30:00Z), got %s", strconv.Quote(s))
	}
	return t.UTC(), nil
}

// MarshalJSON writes raw JSON as is; empty means null.
func MarshalJSON(raw json.RawMessage) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if len(raw) == 0 {
			_, _ = io.WriteString(w, "null")
			return
		}
		_, _ = w.Write(raw)
	})
}

// UnmarshalJSON accepts any JSON value given as an argument and re-encodes it.
// Errors: BAD_USER_INPUT when the value cannot be encoded as JSON.
func UnmarshalJSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, directory.Errorf(directory.CodeBadUserInput, "invalid JSON value")
	}
	return b, nil
}
