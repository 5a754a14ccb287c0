package graph

import (
	"os"
	"strings"
	"testing"
)

// TestMain runs the package's tests with the fast path on (every handler
// the tests build, whatever its Options say), or off with
// GRAPHQL_FAST_PATH=off (or false or 0, as the server reads it), so that
// CI runs them against both executors.
func TestMain(m *testing.M) {
	on := true
	switch strings.ToLower(strings.TrimSpace(os.Getenv("GRAPHQL_FAST_PATH"))) {
	case "off", "false", "0":
		on = false
	}
	fastPathTest = &on
	os.Exit(m.Run())
}
