package main

import (
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

// BenchmarkColdFirstAnswer is issue 15's end-to-end cold figure: a server
// that has never loaded the organization gets the load test's first
// GraphQL request for it (orgUsers(first: 100), every OrgUser field) and
// answers it: two waves of Clerk requests, decoding, the join, the
// snapshot, the first index and the answer. Each iteration starts a new
// server (not timed) that has answered the same query for a small
// organization, so its session verifier holds the signing keys and its
// GraphQL path has run: a cold organization, not a cold process. A full
// GC (not timed) before each cold answer collects the earlier iterations'
// garbage, as the load test's warm rounds do: otherwise whether a GC cycle
// or fresh heap pages (page faults cost ~10 µs each on this VM) fall in an
// iteration moved it by 15 ms.
// latency=0 is the CPU cost alone.
func BenchmarkColdFirstAnswer(b *testing.B) {
	data := clerkemu.DefaultDataset()
	bigAdmin := addBigOrg(data, 5000)
	emu, emuURL, tokens := newEmulator(b, data)
	acmeToken, err := emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgAcme, OrgSlug: clerkemu.SlugAcme, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	smallToken, err := emu.SignToken(clerkemu.TokenOptions{UserID: firstAdmin(data, clerkemu.OrgSmall), OrgID: clerkemu.OrgSmall, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	bigToken, err := emu.SignToken(clerkemu.TokenOptions{UserID: bigAdmin, OrgID: orgBig, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const query = `{ orgUsers(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { ` + loadFields + ` } } }`
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, latency := range []time.Duration{0, 100 * time.Millisecond} {
		for _, org := range []struct{ name, token string }{{"1200", acmeToken}, {"5000", bigToken}} {
			b.Run("latency="+latency.String()+"/members="+org.name, func(b *testing.B) {
				client := &http.Client{}
				for b.Loop() {
					b.StopTimer()
					emu.ClearFaults()
					s := startServer(b, emu, emuURL, tokens, Extras{}, logger)
					if status, _, err := post(client, s.url, smallToken, query); err != nil || status != 200 {
						b.Fatalf("warming the server: %d %v", status, err)
					}
					emu.SetFaults(clerkemu.Fault{Latency: latency})
					runtime.GC() // the earlier iterations' garbage is not this one's
					b.StartTimer()
					if status, body, err := post(client, s.url, org.token, query); err != nil || status != 200 {
						b.Fatalf("first answer: %d %v %.200s", status, err, body)
					}
				}
				emu.ClearFaults()
			})
		}
	}
}
