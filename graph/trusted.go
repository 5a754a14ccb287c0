package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeNotInList refuses an operation a trusted-documents deployment does
// not list.
const CodeNotInList = "PERSISTED_QUERY_NOT_IN_LIST"

// TrustedDocuments is the allow-list of a locked-down deployment
// (GRAPHQL_TRUSTED_DOCUMENTS): only these operation texts run. Build it
// with ParseTrustedDocuments.
type TrustedDocuments struct {
	bodies map[string]string // sha256 hex of the text -> the text
}

// ParseTrustedDocuments reads an Apollo persisted query manifest:
// {"format": "apollo-persisted-query-manifest", "version": 1, "operations":
// [{"id": "<sha256 of body>", "name": ..., "type": ..., "body": "..."}]}.
// Errors name the operation that is wrong: an id that is not the body's
// sha256, a missing body, a duplicate id.
func ParseTrustedDocuments(r io.Reader) (*TrustedDocuments, error) {
	var m struct {
		Format     string `json:"format"`
		Version    int    `json:"version"`
		Operations []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Type string `json:"type"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not an Apollo persisted query manifest: %v", err)
	}
	if m.Format != "apollo-persisted-query-manifest" || m.Version != 1 {
		return nil, fmt.Errorf("format %q version %d: want apollo-persisted-query-manifest version 1", m.Format, m.Version)
	}
	d := &TrustedDocuments{bodies: make(map[string]string, len(m.Operations))}
	for i, op := range m.Operations {
		sum := sha256.Sum256([]byte(op.Body))
		id := strings.ToLower(op.ID)
		switch {
		case op.Body == "":
			return nil, fmt.Errorf("operation %d (%s) has no body", i, op.Name)
		case id != hex.EncodeToString(sum[:]):
			return nil, fmt.Errorf("operation %d (%s): id is not the sha256 of its body", i, op.Name)
		case d.bodies[id] != "":
			return nil, fmt.Errorf("operation %d (%s): id listed twice", i, op.Name)
		}
		d.bodies[id] = op.Body
	}
	return d, nil
}

// Len returns the number of listed operations.
func (d *TrustedDocuments) Len() int { return len(d.bodies) }

// resolve returns the text to run: a listed text sent as itself, or the
// listed text of a persisted query hash. Anything else is
// PERSISTED_QUERY_NOT_IN_LIST.
func (d *TrustedDocuments) resolve(query string, extensions map[string]any) (string, *gqlerror.Error) {
	hash := ""
	if pq, ok := extensions["persistedQuery"].(map[string]any); ok {
		hash, _ = pq["sha256Hash"].(string)
		hash = strings.ToLower(hash)
	}
	if query != "" {
		sum := sha256.Sum256([]byte(query))
		own := hex.EncodeToString(sum[:])
		if hash != "" && hash != own {
			return "", apqError(CodePersistedQueryHashMismatch, "provided sha256Hash does not match the query")
		}
		hash = own
	}
	body, ok := d.bodies[hash]
	if !ok {
		return "", apqError(CodeNotInList, "this server runs only its listed operations, and this is not one of them")
	}
	return body, nil
}
