package directory_test

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/directory"
)

var benchSizes = []int{1_000, 10_000, 100_000}

// benchMembers caches generated members per size across benchmarks.
var benchMembers = map[int][]directory.Member{}

func members(n int) []directory.Member {
	if m, ok := benchMembers[n]; ok {
		return m
	}
	m := genMembers(n, 7)
	benchMembers[n] = m
	return m
}

// BenchmarkNewSnapshot measures building a snapshot (keys, decoded
// metadata, version; sort indexes are lazy) and reports its estimated size
// (B/member, from SizeBytes) next to the heap it actually retains
// (heapB/member, with all 12 indexes built).
func BenchmarkNewSnapshot(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ms := members(n)
			var snap *directory.Snapshot
			cpu := cpuTime()
			for b.Loop() {
				snap = directory.NewSnapshot("org_bench", ms, base)
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(snap.SizeBytes())/float64(n), "B/member")
			b.ReportMetric(retainedPerMember(ms), "heapB/member")
		})
	}
}

// retainedPerMember measures the heap a snapshot of ms retains, members included.
func retainedPerMember(ms []directory.Member) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	copied := genMembers(len(ms), 7)
	snap := directory.NewSnapshot("org_bench", copied, base)
	for _, o := range allOrders() {
		if _, err := snap.Query(directory.Query{Order: o, First: 1}); err != nil {
			panic(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(snap)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(len(ms))
}

// BenchmarkFirstQuery measures a query on a fresh snapshot: building one
// ordering's sort index, then the page.
func BenchmarkFirstQuery(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ms := members(n)
			q := directory.Query{Order: directory.Order{Field: directory.OrderLastName, Direction: directory.Desc}, First: 100}
			for b.Loop() {
				b.StopTimer()
				snap := directory.NewSnapshot("org_bench", ms, base)
				b.StartTimer()
				if _, err := snap.Query(q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuery measures warm queries (index built): filter, sort and a
// page of 100, the work behind every orgUsers request.
func BenchmarkQuery(b *testing.B) {
	queries := map[string]directory.Query{
		"nofilter": {Order: directory.Order{Field: directory.OrderEmail}, First: 100},
		"filter": {
			Filter: &directory.Filter{
				Roles:        []string{"org:member", "org:admin"},
				SignInStatus: directory.SignedIn,
				Metadata: []directory.MetadataCondition{
					{Path: "department", Op: directory.OpIn, Values: []any{"Engineering", "Sales"}},
					{Path: "location.country", Op: directory.OpEquals, Value: "DE", Source: directory.MetadataUser},
				},
			},
			Order: directory.Order{Field: directory.OrderLastName, Direction: directory.Desc},
			First: 100,
		},
		"search": {
			Filter: &directory.Filter{Search: ptr("smith"), Or: []directory.Filter{
				{Metadata: []directory.MetadataCondition{{Path: "skills", Op: directory.OpIncludes, Value: "go"}}},
				{Metadata: []directory.MetadataCondition{{Path: "role", Op: directory.OpContains, Value: "ENG"}}},
			}},
			Order: directory.Order{Field: directory.OrderLastSignInAt, Direction: directory.Asc},
			First: 100,
		},
	}
	for _, n := range benchSizes {
		snap := directory.NewSnapshot("org_bench", members(n), base)
		for name, q := range queries {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				first, err := snap.Query(q) // builds the index
				if err != nil {
					b.Fatal(err)
				}
				// Also page from the middle, as a later page would.
				mid := q
				if len(first.Cursors) > 0 {
					mid.After = first.Cursors[len(first.Cursors)/2]
				}
				cpu := cpuTime()
				for b.Loop() {
					if _, err := snap.Query(mid); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, cpu)
				b.ReportMetric(float64(first.TotalCount), "matches")
			})
		}
	}
}

// cpuTime returns the CPU time the process has used so far. The machine
// benchmarks run on may be shared, so wall-clock ns/op can overstate cost;
// reportCPU adds CPU time per op (all goroutines, GC included) beside it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
