package graph

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/orgusers/orgusers/internal/auth"
)

// BenchmarkWorstShapes measures the CPU one worst-shape request costs the
// server, from the request body to the answer, in process (no network).
// BENCHMARKS.md reports it; the target is under 1 ms for a refused shape.
func BenchmarkWorstShapes(b *testing.B) {
	h := NewHandler(Options{Directory: testDirectory()})
	shapes := worstShapes()
	names := make([]string, 0, len(shapes))
	for name := range shapes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		body := shapes[name]
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req = req.WithContext(auth.WithPrincipal(req.Context(), admin))
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
