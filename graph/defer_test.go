package graph

import (
	"strings"
	"testing"
)

// TestDeferIsNotAdvertised: answers are never sent incrementally, so the
// schema does not offer @defer and a query using it is refused.
func TestDeferIsNotAdvertised(t *testing.T) {
	url := serve(t, Options{Introspection: true}, admin)
	a := postQuery(t, url, `{ __schema { directives { name } } }`)
	if !strings.Contains(string(a.raw), `"include"`) || strings.Contains(string(a.raw), `"defer"`) {
		t.Fatalf("%s", a.raw)
	}
	a = postQuery(t, url, `{ ... @defer { viewer { userId } } }`)
	if a.codes() != "GRAPHQL_VALIDATION_FAILED" {
		t.Fatalf("%s", a.raw)
	}
}
