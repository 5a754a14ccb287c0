package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGraphQLOverHTTPAudit runs the graphql-http server audit against the
// server on loopback, as an org admin, introspection on (the audit's
// requests use __type): every audit, MUST, SHOULD and MAY, must pass. It needs Node.js and graphql-http installed beside
// .ci/graphql-http-audit.mjs in $GRAPHQL_HTTP_AUDIT_DIR, as .ci/run does:
//
//	npm install --prefix DIR graphql-http@1.23.1 graphql@16.11.0
//	cp .ci/graphql-http-audit.mjs DIR/ && GRAPHQL_HTTP_AUDIT_DIR=DIR go test -run Audit .
func TestGraphQLOverHTTPAudit(t *testing.T) {
	dir := os.Getenv("GRAPHQL_HTTP_AUDIT_DIR")
	if dir == "" {
		t.Skip("GRAPHQL_HTTP_AUDIT_DIR is unset: .ci/run installs graphql-http there (see this test's comment)")
	}
	// The audit's requests query __type: introspection must be on, as in -demo.
	s := newStack(t, Extras{}, "GRAPHQL_INTROSPECTION", "true")
	out, err := exec.Command("node", filepath.Join(dir, "graphql-http-audit.mjs"), s.url+"/graphql", s.tokens.Admin).Output()
	if err != nil {
		t.Fatalf("the audit did not run: %v", err)
	}
	var results []struct{ ID, Name, Status, Reason string }
	if err := json.Unmarshal(out, &results); err != nil || len(results) == 0 {
		t.Fatalf("audit output %q: %v", out, err)
	}
	for _, r := range results {
		if r.Status != "ok" {
			t.Errorf("%s %s: %s: %s", r.ID, r.Status, r.Name, r.Reason)
		}
	}
	t.Logf("%d audits passed", len(results))
}
