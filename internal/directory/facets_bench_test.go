package directory_test

import (
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

// BenchmarkFacets measures all four facets (two metadata facets) over
// 100,000 generated members with the filter of BenchmarkQuery's "filter"
// case, from an orgUsers page: the work the facets field adds to a request.
func BenchmarkFacets(b *testing.B) {
	snap := directory.NewSnapshot("org_bench", members(100_000), base)
	q := directory.Query{
		Filter: &directory.Filter{
			Roles:        []string{"org:member", "org:admin"},
			SignInStatus: directory.SignedIn,
			Metadata: []directory.MetadataCondition{
				{Path: "department", Op: directory.OpIn, Values: []any{"Engineering", "Sales", "Support"}},
			},
		},
		First: 100,
	}
	req := directory.FacetRequest{Roles: true, SignInStatus: true, LastSignIn: true, Metadata: []directory.MetadataFacetRequest{
		{Path: "skills", Limit: directory.DefaultFacetLimit},
		{Path: "location.country", Limit: directory.DefaultFacetLimit},
	}}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		query bool
	}{{"facets", false}, {"query+facets", true}} {
		b.Run(c.name, func(b *testing.B) {
			page, err := snap.Query(q)
			if err != nil {
				b.Fatal(err)
			}
			cpu := cpuTime()
			for b.Loop() {
				if c.query {
					if page, err = snap.Query(q); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := page.Facets(req, now); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(page.TotalCount), "matches")
		})
	}
}
