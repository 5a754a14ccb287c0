package graph

import (
	"context"
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
	// shared, when set, is the fleet's store: texts any replica
	// registered (internal/fleet.Queries).
	shared SharedQueries
}

// SharedQueries is a second tier of persisted query texts shared by every
// replica (the fleet tier's Redis): Get finds a text by its hash, Put
// registers one. Both must be bounded in time and fail quietly: a replica
// that cannot reach it keeps its own texts.
type SharedQueries interface {
	Get(ctx context.Context, hash string) (string, bool)
	Put(ctx context.Context, hash, text string)
}

// share registers text under hash with the fleet, when there is one and
// hash is not "".
func (p *persistedQueries) share(ctx context.Context, hash, text string) {
	if p != nil && p.shared != nil && hash != "" {
		p.shared.Put(ctx, hash, text)
	}
}

// resolve returns the query text of a request, registering or looking up a
// persisted query when extensions carries one; a text missing here is
// looked up in the fleet's store (and checked against its hash). share is
// the hash of a text the request registered, which the caller hands to
// share once the text proved valid. Errors (extensions.code):
// PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_NOT_SUPPORTED (a version other
// than 1, or persisted queries off), PERSISTED_QUERY_HASH_MISMATCH,
// BAD_USER_INPUT (a malformed persistedQuery).
func (p *persistedQueries) resolve(ctx context.Context, query string, extensions map[string]any) (text, share string, err *gqlerror.Error) {
	raw, ok := extensions["persistedQuery"]
	if !ok {
		return query, "", nil
	}
	var pq struct {
		Version    json.Number `json:"version"`
		SHA256Hash string      `json:"sha256Hash"`
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &pq); err != nil || pq.SHA256Hash == "" {
		return "", "", apqError("BAD_USER_INPUT", "extensions.persistedQuery must be {version: 1, sha256Hash: \"<hex>\"}")
	}
	if p == nil {
		return "", "", apqError(CodePersistedQueryNotSupported, "PersistedQueryNotSupported")
	}
	if pq.Version != "1" {
		return "", "", apqError(CodePersistedQueryNotSupported, fmt.Sprintf("persisted query version %s is not supported: only 1", truncate(string(pq.Version), 16)))
	}
	hash := strings.ToLower(pq.SHA256Hash)
	if query == "" {
		if text, ok := p.texts.Get(hash); ok {
			return text, "", nil
		}
		if p.shared != nil && len(hash) == sha256.Size*2 {
			// Another replica's registration; checked, as anything read
			// from outside the process.
			if text, ok := p.shared.Get(ctx, hash); ok && hashOf(text) == hash {
				p.texts.Add(hash, text, len(hash)+2*len(text))
				return text, "", nil
			}
		}
		return "", "", apqError(CodePersistedQueryNotFound, "PersistedQueryNotFound")
	}
	if hashOf(query) != hash {
		return "", "", apqError(CodePersistedQueryHashMismatch, "provided sha256Hash does not match the query")
	}
	p.texts.Add(hash, query, len(hash)+2*len(query))
	return query, hash, nil
}

// hashOf is the hex SHA-256 of text, as Apollo's clients send it.
func hashOf(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

func apqError(code, msg string) *gqlerror.Error {
	err := gqlerror.Errorf("%s", msg)
	errcode.Set(err, code)
	return err
}
