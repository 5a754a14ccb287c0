package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgusers/orgusers/internal/bytelru"
)

// Codes of automatic persisted queries, as Apollo's clients expect them.
const (
	CodePersistedQueryNotFound     = "PERSISTED_QUERY_NOT_FOUND"
	CodePersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED"
	CodePersistedQueryHashMismatch = "PERSISTED_QUERY_HASH_MISMATCH"
)

// DefaultPersistedQueryBytes bounds the persisted query texts kept.
const DefaultPersistedQueryBytes = 8 << 20

// persistedQueries implements Apollo's automatic persisted queries: a
// request may carry extensions.persistedQuery {version: 1, sha256Hash} and
// no query; the server answers PERSISTED_QUERY_NOT_FOUND until the client
// sends the query with its hash once, which the server checks and keeps (a
// cache bounded by bytes: any session may register texts). A nil
// *persistedQueries refuses persisted queries.
type persistedQueries struct {
	texts *bytelru.Cache[string, string]
}

// resolve returns the query text of a request, registering or looking up a
// persisted query when extensions carries one. Errors (extensions.code):
// PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_NOT_SUPPORTED (a version other
// than 1, or persisted queries off), PERSISTED_QUERY_HASH_MISMATCH,
// BAD_USER_INPUT (a malformed persistedQuery).
func (p *persistedQueries) resolve(query string, extensions map[string]any) (string, *gqlerror.Error) {
	raw, ok := extensions["persistedQuery"]
	if !ok {
		return query, nil
	}
	var pq struct {
		Version    json.Number `json:"version"`
		SHA256Hash string      `json:"sha256Hash"`
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &pq); err != nil || pq.SHA256Hash == "" {
		return "", apqError("BAD_USER_INPUT", "extensions.persistedQuery must be {version: 1, sha256Hash: \"<hex>\"}")
	}
	if p == nil {
		return "", apqError(CodePersistedQueryNotSupported, "PersistedQueryNotSupported")
	}
	if pq.Version != "1" {
		return "", apqError(CodePersistedQueryNotSupported, fmt.Sprintf("persisted query version %s is not supported: only 1", truncate(string(pq.Version), 16)))
	}
	hash := strings.ToLower(pq.SHA256Hash)
	if query == "" {
		text, ok := p.texts.Get(hash)
		if !ok {
			return "", apqError(CodePersistedQueryNotFound, "PersistedQueryNotFound")
		}
		return text, nil
	}
	sum := sha256.Sum256([]byte(query))
	if hex.EncodeToString(sum[:]) != hash {
		return "", apqError(CodePersistedQueryHashMismatch, "provided sha256Hash does not match the query")
	}
	p.texts.Add(hash, query, len(hash)+2*len(query))
	return query, nil
}

func apqError(code, msg string) *gqlerror.Error {
	err := gqlerror.Errorf("%s", msg)
	errcode.Set(err, code)
	return err
}
