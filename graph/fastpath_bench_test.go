package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

// benchMembers returns n realistic members (as internal/directory's
// benchmarks generate them): ASCII and accented names, a few absent
// fields, metadata with department, location and skills.
func benchMembers(n int) []directory.Member {
	r := rand.New(rand.NewPCG(7, 0x5eed))
	firsts := []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Édouard", "Zoë", "Priya", "Wei", "Sofía"}
	lasts := []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Okafor", "Chen", "García"}
	depts := []string{"Engineering", "Sales", "Marketing", "Support", "Finance"}
	cities := []string{"Berlin", "Austin", "Paris", "Pune", "São Paulo", "Tokyo"}
	skills := []string{"go", "sql", "graphql", "k8s", "excel", "figma"}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	maybe := func(p float64, v string) *string {
		if r.Float64() < p {
			return nil
		}
		return &v
	}
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]directory.Member, n)
	for i := range out {
		first, last := pick(firsts), pick(lasts)
		created := base.Add(time.Duration(r.IntN(1500*24)) * time.Hour)
		joined := created.Add(time.Duration(r.IntN(200*24)) * time.Hour)
		var signIn *time.Time
		if r.IntN(7) != 0 {
			t := joined.Add(time.Duration(r.IntN(300*24*3600)) * time.Second)
			signIn = &t
		}
		var sk []string
		for range r.IntN(4) {
			sk = append(sk, pick(skills))
		}
		public, _ := json.Marshal(map[string]any{"department": pick(depts), "vnum": r.IntN(1000),
			"location": map[string]any{"city": pick(cities)}, "skills": sk})
		membership, _ := json.Marshal(map[string]any{"team": pick(depts), "level": 1 + r.IntN(5)})
		role := "org:member"
		if r.IntN(20) == 0 {
			role = "org:admin"
		}
		out[i] = directory.Member{
			UserID:    fmt.Sprintf("user_%016x", r.Uint64()),
			Email:     maybe(0.03, strings.ToLower(first+"."+last)+fmt.Sprint(i)+"@example.com"),
			FirstName: maybe(0.1, first), LastName: maybe(0.1, last),
			Username: maybe(0.5, strings.ToLower(first)+fmt.Sprint(i)), ImageURL: maybe(0.2, fmt.Sprintf("https://img.example.com/%d.png", i)),
			LastSignInAt: signIn, LastActiveAt: signIn, CreatedAt: created, JoinedAt: joined,
			PublicMetadata: public, MembershipMetadata: membership, Role: role, RoleName: strings.TrimPrefix(role, "org:"),
		}
	}
	return out
}

// benchLoadFields is every OrgUser field, as the load test asks them.
const benchLoadFields = `id email firstName lastName username imageUrl lastSignInAt publicMetadata createdAt role roleName membershipMetadata joinedAt lastActiveAt banned`

// BenchmarkUncachedOrgUsers measures the CPU of one uncached answer (the
// response cache off, the query cache on, as for a warm dashboard whose
// snapshot keeps changing) to orgUsers(first: 100) and (first: 1000) with
// every member field, over 5,000 members, in process, by gqlgen's executor
// and by the fast path. cpu-ms/1k-answers is the process's CPU time
// (getrusage: every goroutine and the GC included) per 1,000 answers;
// fragment-B/member is the memory the fast path's encoded members add.
func BenchmarkUncachedOrgUsers(b *testing.B) {
	members := benchMembers(5000)
	snap := directory.NewSnapshot("org_1", members, time.Now())
	src := &fakeSource{members: func(context.Context, string) (*directory.Snapshot, error) { return snap, nil }}
	for _, first := range []int{100, 1000} {
		body := fmt.Sprintf(`{"query":"{ orgUsers(first: %d) { totalCount pageInfo { hasNextPage endCursor } nodes { %s } } }"}`, first, benchLoadFields)
		var want []byte
		for _, fast := range []bool{false, true} {
			name := fmt.Sprintf("first=%d/executor", first)
			if fast {
				name = fmt.Sprintf("first=%d/fastpath", first)
			}
			h, tr := buildHandler(Options{Directory: &directory.Service{Source: src}, ResponseCacheBytes: -1}, fast)
			b.Run(name, func(b *testing.B) {
				serve := func() []byte {
					req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req = req.WithContext(auth.WithPrincipal(req.Context(), admin))
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					return w.Body.Bytes()
				}
				got := serve() // warm: the plan, the sort index, the encoded members
				if want == nil {
					want = got
				} else if string(got) != string(want) {
					b.Fatalf("the fast path's answer differs from the executor's")
				}
				if fast && tr.fast.answered.Load() == 0 {
					b.Fatal("the fast path did not answer")
				}
				b.ReportAllocs()
				cpu0 := cpuTime()
				n := 0
				for b.Loop() {
					serve()
					n++
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-ms/1k-answers")
				if fast {
					b.ReportMetric(float64(encodedMembers(snap).bytes())/float64(snap.Len()), "fragment-B/member")
				}
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEncodeMembers measures what the fast path pays, at most once
// per member and snapshot version, when answers have shown every member:
// encoding every member's fields (5,000 members). The first answer after a
// load pays only for its page.
func BenchmarkEncodeMembers(b *testing.B) {
	members := benchMembers(5000)
	b.ReportAllocs()
	var enc *memberJSON
	for b.Loop() {
		b.StopTimer()
		snap := directory.NewSnapshot("org_bench", members, time.Time{})
		b.StartTimer()
		enc = encodeMembers(snap)
	}
	b.ReportMetric(float64(enc.bytes())/float64(len(members)), "B/member")
}
