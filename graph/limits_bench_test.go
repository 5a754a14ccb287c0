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
// server, from the request body to the answer, in process (no network), as
// an org admin. "uncached" runs without the query cache, so every request
// is prepared from scratch, as an attacker varying the text gets it;
// "repeated" sends the same request again with the cache, as an attacker
// looping one request gets it. BENCHMARKS.md reports both; the target is
// under 1 ms for a refused request.
func BenchmarkWorstShapes(b *testing.B) {
	shapes := worstShapes()
	names := make([]string, 0, len(shapes))
	for name := range shapes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, mode := range []struct {
		name       string
		cacheBytes int
	}{{"uncached", -1}, {"repeated", 0}} {
		h := NewHandler(Options{Directory: testDirectory(), QueryCacheBytes: mode.cacheBytes})
		for _, name := range names {
			body := shapes[name]
			b.Run(mode.name+"/"+strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
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
}
