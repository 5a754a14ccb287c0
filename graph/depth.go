package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/orgusers/orgusers/internal/directory"
)

// MaxJSONDepth bounds how deeply a request's JSON (variables included) may
// nest. The parser token limit covers only the query text; without this a
// filter nested thousands of levels deep in variables costs quadratic CPU
// before any resolver, or authorization, runs. Legitimate filters nest at
// most directory.MaxFilterDepth levels, a few JSON levels each.
const MaxJSONDepth = 64

// limitDepth answers 400 BAD_USER_INPUT for a request whose JSON body or GET
// variables nest deeper than MaxJSONDepth, before gqlgen decodes anything.
func limitDepth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var doc []byte
		switch r.Method {
		case http.MethodPost:
			body, err := io.ReadAll(r.Body)
			if err != nil {
				writeRequestError(w, http.StatusRequestEntityTooLarge, "request body could not be read: "+err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			doc = body
		case http.MethodGet:
			doc = []byte(r.URL.Query().Get("variables"))
		}
		if d := jsonDepth(doc); d > MaxJSONDepth {
			writeRequestError(w, http.StatusBadRequest, fmt.Sprintf("request JSON nests %d levels deep; at most %d are allowed", d, MaxJSONDepth))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonDepth returns the deepest nesting of objects and arrays in b, which
// need not be valid JSON (gqlgen reports syntax errors).
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// writeRequestError answers with a GraphQL error response carrying BAD_USER_INPUT.
func writeRequestError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": msg, "extensions": map[string]any{"code": string(directory.CodeBadUserInput)},
	}}})
}
