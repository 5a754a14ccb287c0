package graph

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// heapAfterGC returns the live heap.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestQueryCacheIsBoundedByBytes prepares 1,500 distinct 26 KB documents,
// which once grew the process by gigabytes: the cache keeps what fits its
// byte bound, and the heap grows by no more than that.
func TestQueryCacheIsBoundedByBytes(t *testing.T) {
	p := newTestPreparer(DefaultQueryCacheBytes)
	pad := strings.Repeat("x", 26<<10)
	before := heapAfterGC()
	for i := 0; i < 1500; i++ {
		q := fmt.Sprintf(`{ orgUsers(filter: {search: "%d%s"}) { totalCount nodes { id email } } }`, i, pad)
		if _, errs := p.prepare(q); errs != nil {
			t.Fatal(errs)
		}
	}
	grown := int64(heapAfterGC()) - int64(before)
	if p.docs.Bytes() > DefaultQueryCacheBytes || p.docs.Len() == 0 || p.docs.Len() >= 1500 {
		t.Fatalf("cache holds %d documents, %d bytes", p.docs.Len(), p.docs.Bytes())
	}
	if grown > 2*DefaultQueryCacheBytes {
		t.Fatalf("the heap grew by %d bytes for a %d-byte cache", grown, DefaultQueryCacheBytes)
	}
	t.Logf("%d documents cached in %d estimated bytes; heap grew %d", p.docs.Len(), p.docs.Bytes(), grown)
}

// TestQueryCacheEstimateCoversTheHeap holds bytesPerToken to what parsed,
// validated documents of several shapes really keep on the heap.
func TestQueryCacheEstimateCoversTheHeap(t *testing.T) {
	shapes := map[string]func(i int) string{
		"short tokens": func(i int) string {
			return fmt.Sprintf("{ a%d: viewer { userId } %s }", i, strings.Repeat("viewer { userId permissions } ", 9))
		},
		"a full page": func(i int) string {
			return fmt.Sprintf("{ a%d: orgUsers(first: 10) { nodes { %s } edges { cursor node { id } } } }", i, allMemberFields)
		},
		"fragments": func(i int) string {
			return fmt.Sprintf("{ a%d: orgUsers { ...C } } fragment C on OrgUserConnection { nodes { ...M } } fragment M on OrgUser { id email role }", i)
		},
		"filter literal": func(i int) string {
			return fmt.Sprintf(`{ orgUsers(filter: {and: [{roles: ["org:admin", "r%d"]}, {metadata: [{path: "a.b", in: [1, 2, 3]}]}, {not: {search: "q"}}]}) { totalCount } }`, i)
		},
		"introspection": func(i int) string {
			return strings.Replace(graphiqlIntrospection, "IntrospectionQuery", fmt.Sprintf("Q%d", i), 1)
		},
	}
	const n = 300
	for name, gen := range shapes {
		t.Run(name, func(t *testing.T) {
			p := newTestPreparer(1 << 30)
			p.suggestions = true
			before := heapAfterGC()
			estimate := 0
			for i := 0; i < n; i++ {
				q := gen(i)
				if _, errs := p.prepare(q); errs != nil {
					t.Fatal(errs)
				}
				estimate = p.docs.Bytes()
			}
			grown := int(heapAfterGC() - before)
			runtime.KeepAlive(p)
			if grown > estimate {
				t.Fatalf("%d documents keep %d bytes of heap; the cache estimated %d", n, grown, estimate)
			}
			t.Logf("heap %d, estimate %d (%.1fx)", grown/n, estimate/n, float64(estimate)/float64(grown))
		})
	}
}

// TestRefusalsAreCachedAndShared: a refused text is refused from the cache
// the second time, and callers get copies of its errors to change.
func TestRefusalsAreCachedAndShared(t *testing.T) {
	p := newTestPreparer(DefaultQueryCacheBytes)
	q := distinct(DefaultMaxTokens-2, 1)
	var first, second work
	_, errs1 := p.prepareCounting(q, &first)
	_, errs2 := p.prepareCounting(q, &second)
	if first.fromQueryCache || !second.fromQueryCache || second.parsedTokens != 0 {
		t.Fatalf("work %+v then %+v", first, second)
	}
	if len(errs1) != MaxValidationErrors || len(errs2) != len(errs1) || errs1[0] == errs2[0] || errs1[0].Message != errs2[0].Message {
		t.Fatalf("%d and %d errors", len(errs1), len(errs2))
	}
	errs2[0].Message = "changed"
	errs2[0].Extensions["code"] = "changed"
	_, errs3 := p.prepare(q)
	if errs3[0].Message == "changed" || errs3[0].Extensions["code"] == "changed" {
		t.Fatal("a caller changed the cached error")
	}
}

// TestCachedRefusalsUnderConcurrentRequests runs one refused document from
// many clients at once (the race detector watches the shared errors).
func TestCachedRefusalsUnderConcurrentRequests(t *testing.T) {
	url := serve(t, Options{}, admin)
	body := `{"query":"{ orgUsers(fist: 1) { totalCount } }"}`
	done := make(chan string)
	for g := 0; g < 8; g++ {
		go func() {
			var last string
			defer func() { done <- last }() // also when post fails the test
			for i := 0; i < 20; i++ {
				a := post(t, url, body)
				last = string(a.raw)
			}
		}()
	}
	want := ""
	for g := 0; g < 8; g++ {
		got := <-done
		if want == "" {
			want = got
		}
		if got != want || strings.Contains(got, "Did you mean") || !strings.Contains(got, "GRAPHQL_VALIDATION_FAILED") {
			t.Fatalf("%s / %s", got, want)
		}
	}
}
