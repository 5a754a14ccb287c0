package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgusers/orgusers/graph"
	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/clerkemu"
	"github.com/orgusers/orgusers/internal/loadtest"
)

// orgBig is the organization the load test adds to the default dataset to
// measure a cold load of a large organization.
const orgBig = "org_loadtest_big"

// runLoadTest starts a Clerk emulator with injected latency, the real server
// against it and a plain net/http handler serving identical bytes, all on
// loopback, then measures cold loads and warm throughput side by side.
func runLoadTest(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	duration := fs.Duration("duration", 5*time.Second, "how long each warm phase runs")
	concurrency := fs.Int("concurrency", 16, "concurrent clients in warm phases")
	latency := fs.Duration("latency", 100*time.Millisecond, "latency the Clerk emulator adds to every request")
	bigMembers := fs.Int("big", 5000, "members of the large organization used for the cold-load measurement")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server during the first round of the response-cache-off GraphQL phase to this file")
	bulk := fs.String("bulk", "", "instead of the rest: time a 1,000-member bulk role change under each of these comma-separated Clerk budgets (requests per 10 s), e.g. 100,1000")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bulk != "" {
		var budgets []int
		for _, b := range strings.Split(*bulk, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(b))
			if err != nil || n < 1 {
				return fmt.Errorf("-bulk: %q is not a positive number of requests per 10 s", b)
			}
			budgets = append(budgets, n)
		}
		return runBulkBench(ctx, out, budgets, *latency)
	}
	if *concurrency < 1 || *duration <= 0 || *bigMembers < 1 || *latency < 0 {
		return fmt.Errorf("loadtest: -concurrency, -duration and -big must be positive, -latency not negative")
	}
	// The production logger (JSON, info), writing nowhere: every request
	// pays for its access log line as it would in production.
	logger, err := accesslog.NewLogger("json", "info", io.Discard)
	if err != nil {
		return err
	}

	data := clerkemu.DefaultDataset()
	bigAdmin := addBigOrg(data, *bigMembers)
	emu, err := clerkemu.New(clerkemu.Options{Data: data})
	if err != nil {
		return err
	}
	emuURL, stopEmu, err := serveLoopback(emu.Handler())
	if err != nil {
		return err
	}
	defer stopEmu()
	emu.SetFaults(clerkemu.Fault{Latency: *latency})

	cfg := Config{SecretKey: emu.SecretKey(), APIURL: emuURL + "/v1", CacheTTL: 30 * time.Second, CacheMaxStale: 10 * time.Minute, CacheMaxOrgs: 1000, RateLimit: 900}
	// The servers answer as the environment says (GRAPHQL_FAST_PATH, on by default).
	if cfg.FastPath, err = fastPathEnv(os.Getenv("GRAPHQL_FAST_PATH")); err != nil {
		return err
	}
	newServer := func(x Extras) (string, func(), error) {
		app, err := NewApp(cfg, x, logger)
		if err != nil {
			return "", nil, err
		}
		u, stop, err := serveLoopback(app.Handler)
		return u, func() { stop(); app.Close() }, err
	}
	srvURL, stopSrv, err := newServer(Extras{})
	if err != nil {
		return err
	}
	defer stopSrv()
	noCacheURL, stopNoCache, err := newServer(Extras{DisableResponseCache: true})
	if err != nil {
		return err
	}
	defer stopNoCache()

	acmeAdmin, err := emu.SignToken(clerkemu.TokenOptions{UserID: clerkemu.UserAcmeAdmin, OrgID: clerkemu.OrgAcme, OrgSlug: clerkemu.SlugAcme, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
	if err != nil {
		return err
	}
	bigToken, err := emu.SignToken(clerkemu.TokenOptions{UserID: bigAdmin, OrgID: orgBig, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
	if err != nil {
		return err
	}
	midToken, err := emu.SignToken(clerkemu.TokenOptions{UserID: firstAdmin(data, clerkemu.OrgMid), OrgID: clerkemu.OrgMid, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
	if err != nil {
		return err
	}
	client := loadtest.NewClient(max(*concurrency, 100))
	const pageQuery = `{ orgUsers(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { ` + loadFields + ` } } }`

	// Fetch the signing keys once, so the cold loads below measure member loads only.
	for _, u := range []string{srvURL, noCacheURL} {
		if status, _, err := post(client, u, acmeAdmin, `{ viewer { userId } }`); err != nil || status != 200 {
			return fmt.Errorf("warming the session verifier: status %d, %v", status, err)
		}
	}
	smallToken, err := emu.SignToken(clerkemu.TokenOptions{UserID: firstAdmin(data, clerkemu.OrgSmall), OrgID: clerkemu.OrgSmall, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
	if err != nil {
		return err
	}
	// And answer the page query once for another, small organization: the
	// cold loads below are of cold organizations on a running server, not
	// of the process's first GraphQL answer (its first parse, plan and code
	// paths).
	emu.ClearFaults()
	if status, _, err := post(client, srvURL, smallToken, pageQuery); err != nil || status != 200 {
		return fmt.Errorf("warming the GraphQL path: status %d, %v", status, err)
	}
	emu.SetFaults(clerkemu.Fault{Latency: *latency})

	fmt.Fprintf(out, "loadtest: %s/%s, %d CPUs, GOMAXPROCS %d; Clerk emulator latency %s; warm phases %s at concurrency %d; GraphQL fast path %s\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), *latency, *duration, *concurrency, onOff(cfg.FastPath))

	// Cold loads, one at a time, with upstream latency.
	fmt.Fprintln(out, "Cold loads (Clerk emulator with injected latency):")
	for _, c := range []struct {
		name, token string
		members     int
	}{{clerkemu.OrgAcme, acmeAdmin, clerkemu.AcmeMembers}, {orgBig, bigToken, *bigMembers}} {
		emu.ResetCounters()
		t0 := time.Now()
		status, _, err := post(client, srvURL, c.token, pageQuery)
		elapsed := time.Since(t0)
		if err != nil || status != 200 {
			return fmt.Errorf("cold load of %s: status %d, %v", c.name, status, err)
		}
		fmt.Fprintf(out, "  %-22s %5d members  %8s  Clerk requests %3d (target <= %d)  %s\n", c.name, c.members,
			elapsed.Round(time.Millisecond), emu.TotalRequests(), 2*((c.members+499)/500), formatCounts(emu.Requests()))
	}

	// 100 concurrent requests for a cold organization share one load.
	emu.ResetCounters()
	var wg sync.WaitGroup
	var failed int
	var mu sync.Mutex
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _, err := post(client, srvURL, midToken, pageQuery); err != nil || status != 200 {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(out, "  100 concurrent cold requests for %s: %d failed, Clerk requests %d (one load)  %s\n\n",
		clerkemu.OrgMid, failed, emu.TotalRequests(), formatCounts(emu.Requests()))

	// Warm throughput beside a plain handler serving the same bytes.
	fmt.Fprintf(out, "Warm throughput (each beside a plain net/http handler serving identical bytes, %d interleaved rounds):\n", rounds)
	emu.ResetCounters()
	gqlBody, _ := json.Marshal(map[string]string{"query": pageQuery})
	auth := http.Header{"Authorization": {"Bearer " + acmeAdmin}, "Content-Type": {"application/json"}}
	restHeader := http.Header{"Authorization": {"Bearer " + acmeAdmin}}
	// Issue 15's case: first passed as a variable, 32 keep-alive clients.
	varBody, _ := json.Marshal(map[string]any{"query": `query Page($first: Int) { orgUsers(first: $first) { totalCount pageInfo { hasNextPage endCursor } nodes { ` + loadFields + ` } } }`,
		"variables": map[string]any{"first": 100}})
	phases := []struct {
		name    string
		target  loadtest.Target
		profile string
		clients int // 0: -concurrency
	}{
		{"graphql orgUsers(first:100)", loadtest.Target{Method: http.MethodPost, URL: srvURL + "/graphql", Header: auth, Body: gqlBody}, "", 0},
		{"graphql orgUsers(first:$first), 32 clients", loadtest.Target{Method: http.MethodPost, URL: srvURL + "/graphql", Header: auth, Body: varBody}, "", 32},
		{"graphql, response cache off", loadtest.Target{Method: http.MethodPost, URL: noCacheURL + "/graphql", Header: auth, Body: gqlBody}, *cpuProfile, 0},
		{"rest full array (1,200 rows)", loadtest.Target{URL: srvURL + "/api/organization/users", Header: restHeader}, "", 0},
	}
	for _, p := range phases {
		p.target.Name = p.name
		body, ctype, err := fetch(client, p.target)
		if err != nil {
			return fmt.Errorf("%s: %v", p.name, err)
		}
		plainURL, stopPlain, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}))
		if err != nil {
			return err
		}
		plain := loadtest.Target{Name: "  plain handler, same bytes", Method: p.target.Method, URL: plainURL, Header: p.target.Header, Body: p.target.Body}
		first := true
		clients := p.clients
		if clients == 0 {
			clients = *concurrency
		}
		r, rp, err := interleave(func() (loadtest.Result, error) {
			stopProfile := func() {}
			if first { // profile our side's first round only
				first = false
				var err error
				if stopProfile, err = startProfile(p.profile); err != nil {
					return loadtest.Result{}, err
				}
			}
			defer stopProfile()
			return loadtest.Run(ctx, client, p.target, clients, *duration/rounds), nil
		}, func() (loadtest.Result, error) {
			return loadtest.Run(ctx, client, plain, clients, *duration/rounds), nil
		})
		stopPlain()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s\n  %s\n  ratio %.1f%%  (response %d bytes)\n\n", r, rp, 100*r.RPS()/rp.RPS(), len(body))
	}
	fmt.Fprintf(out, "Clerk requests during the warm phases: %d %s\n\n", emu.TotalRequests(), formatCounts(emu.Requests()))

	// What Prometheus metrics cost: the same cached query, metrics on and off.
	metricsCfg := cfg
	metricsCfg.MetricsAddr = "127.0.0.1:0" // instruments the app; no listener is opened here
	metricsApp, err := NewApp(metricsCfg, Extras{}, logger)
	if err != nil {
		return err
	}
	metricsURL, stopMetrics, err := serveLoopback(metricsApp.Handler)
	if err != nil {
		return err
	}
	if status, _, err := post(client, metricsURL, acmeAdmin, pageQuery); err != nil || status != 200 {
		return fmt.Errorf("warming the metrics server: %d %v", status, err)
	}
	on := loadtest.Target{Name: "graphql cached, metrics on", Method: http.MethodPost, URL: metricsURL + "/graphql", Header: auth, Body: gqlBody}
	off := phases[0].target
	off.Name = "  metrics off"
	rOn, rOff, err := interleave(func() (loadtest.Result, error) {
		return loadtest.Run(ctx, client, on, *concurrency, *duration/rounds), nil
	}, func() (loadtest.Result, error) {
		return loadtest.Run(ctx, client, off, *concurrency, *duration/rounds), nil
	})
	stopMetrics()
	metricsApp.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Metrics cost (cached orgUsers(first:100)):\n  %s\n  %s\n  ratio %.1f%% (target: metrics cost under 5%%)\n\n", rOn, rOff, 100*rOn.RPS()/rOff.RPS())

	// What tracing costs: the same cached query at 1% and 100% sampling.
	if err := tracingCost(ctx, out, client, cfg, logger, phases[0].target, acmeAdmin, pageQuery, func(t loadtest.Target) loadtest.Result {
		return loadtest.Run(ctx, client, t, *concurrency, *duration/rounds)
	}); err != nil {
		return err
	}

	// The admin's cached throughput while one attacker loops the worst request.
	fmt.Fprintf(out, "Under attack (the admin's cached orgUsers(first:100) alone, then while one attacker sends the worst request in a loop):\n")
	admin := phases[0].target
	for _, a := range attacks(acmeAdmin) {
		a.target.URL = srvURL + a.target.URL
		var sent, refused int
		var last int
		alone, attacked, err := interleave(func() (loadtest.Result, error) {
			return loadtest.Run(ctx, client, admin, *concurrency, *duration/rounds), nil
		}, func() (loadtest.Result, error) {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					status, err := send(client, a.target)
					sent++
					if err == nil && status >= 400 {
						refused++
					}
					last = status
				}
			}()
			r := loadtest.Run(ctx, client, admin, *concurrency, *duration/rounds)
			close(stop)
			<-done
			return r, nil
		})
		if err != nil {
			return err
		}
		attacked.Name = "  with the attacker"
		fmt.Fprintf(out, "  %s\n  %s\n  %s: %d requests, %d refused (last status %d); throughput kept %.1f%% (target >= 90%%)\n\n",
			alone, attacked, a.name, sent, refused, last, 100*attacked.RPS()/alone.RPS())
	}
	return nil
}

// interleave runs ours and theirs for the given number of rounds each,
// alternating which goes first, each after a full GC, so that neither a slow
// moment of the shared machine nor the garbage one side leaves behind lands
// on one side only, and merges each side's results.
func interleave(ours, theirs func() (loadtest.Result, error)) (loadtest.Result, loadtest.Result, error) {
	var a, b []loadtest.Result
	run := func(f func() (loadtest.Result, error), into *[]loadtest.Result) error {
		runtime.GC()
		r, err := f()
		*into = append(*into, r)
		return err
	}
	for round := 0; round < rounds; round++ {
		first, second := ours, theirs
		firstInto, secondInto := &a, &b
		if round%2 == 1 {
			first, second, firstInto, secondInto = theirs, ours, &b, &a
		}
		if err := run(first, firstInto); err != nil {
			return loadtest.Result{}, loadtest.Result{}, err
		}
		if err := run(second, secondInto); err != nil {
			return loadtest.Result{}, loadtest.Result{}, err
		}
	}
	return loadtest.Merge(a...), loadtest.Merge(b...), nil
}

// attack is a request an attacker repeats.
type attack struct {
	name   string
	target loadtest.Target
}

// attacks are the worst requests found for the hardening work: the fragment
// fan-out that once kept a core busy for seconds, without a session and at
// the body limit, and the costliest document a session can have validated.
func attacks(token string) []attack {
	fanOut := func(depth int) string {
		var b strings.Builder
		b.WriteString("query { ...F0 }")
		for i := 0; i < depth; i++ {
			fmt.Fprintf(&b, " fragment F%d on Query { ...F%d ...F%d ...F%d ...F%d }", i, i+1, i+1, i+1, i+1)
		}
		fmt.Fprintf(&b, " fragment F%d on Query { __typename }", depth)
		return b.String()
	}
	body := func(query string, size int) []byte {
		b, _ := json.Marshal(map[string]string{"query": query})
		if pad := size - len(b); pad > 0 {
			b = append(b[:len(b)-1], append(bytes.Repeat([]byte(" "), pad), '}')...)
		}
		return b
	}
	var unknown strings.Builder
	unknown.WriteString("{")
	for i := 0; i < graph.DefaultMaxTokens-2; i++ {
		fmt.Fprintf(&unknown, " f%d", i)
	}
	unknown.WriteString(" }")
	noSession := http.Header{"Content-Type": {"application/json"}}
	withSession := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}
	return []attack{
		{"control: GET /healthz, the cheapest request", loadtest.Target{Method: http.MethodGet, URL: "/healthz"}},
		{"no session, the reproducer (fan-out depth 12, 667 bytes)", loadtest.Target{Method: http.MethodPost, URL: "/graphql", Header: noSession, Body: body(fanOut(12), 0)}},
		{"admin session, the reproducer (fan-out depth 12)", loadtest.Target{Method: http.MethodPost, URL: "/graphql", Header: withSession, Body: body(fanOut(12), 0)}},
		{"admin session, fan-out depth 40", loadtest.Target{Method: http.MethodPost, URL: "/graphql", Header: withSession, Body: body(fanOut(40), 0)}},
		{"no session, fragment fan-out depth 40, 1 MiB body", loadtest.Target{Method: http.MethodPost, URL: "/graphql", Header: noSession, Body: body(fanOut(40), maxBodyBytes-1)}},
		{"admin session, fragment fan-out depth 40, 1 MiB body", loadtest.Target{Method: http.MethodPost, URL: "/graphql", Header: withSession, Body: body(fanOut(40), maxBodyBytes-1)}},
		{fmt.Sprintf("admin session, %d unknown fields (validated)", graph.DefaultMaxTokens-2), loadtest.Target{Method: http.MethodPost, URL: "/graphql", Header: withSession, Body: body(unknown.String(), 0)}},
	}
}

// send sends t once and drains the answer.
func send(client *http.Client, t loadtest.Target) (int, error) {
	req, _ := http.NewRequest(t.Method, t.URL, bytes.NewReader(t.Body))
	req.Header = t.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// rounds is how many interleaved rounds each warm phase runs per side.
const rounds = 4

// loadFields is every OrgUser field.
const loadFields = `id email firstName lastName username imageUrl lastSignInAt publicMetadata createdAt role roleName membershipMetadata joinedAt lastActiveAt banned`

func post(client *http.Client, base, token, query string) (int, []byte, error) {
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if bytes.Contains(raw, []byte(`"errors"`)) {
		return resp.StatusCode, raw, fmt.Errorf("errors in answer: %.200s", raw)
	}
	return resp.StatusCode, raw, err
}

// fetch sends t once and returns the body and content type of a 200 answer.
func fetch(client *http.Client, t loadtest.Target) ([]byte, string, error) {
	req, _ := http.NewRequest(t.Method, t.URL, bytes.NewReader(t.Body))
	if t.Method == "" {
		req.Method = http.MethodGet
	}
	req.Header = t.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(body[:min(len(body), 64)], []byte(`"errors"`)) {
		return nil, "", fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type"), err
}

// serveLoopback serves h on a fresh 127.0.0.1 port.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func formatCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func firstAdmin(d *clerkemu.Dataset, orgID string) string {
	if ids := d.MemberIDs(orgID, clerkemu.RoleAdmin); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// addBigOrg adds an organization of n generated members to d and returns
// the user id of its admin.
func addBigOrg(d *clerkemu.Dataset, n int) string {
	const base = int64(1_700_000_000_000)
	d.Organizations = append(d.Organizations, clerkemu.Organization{ID: orgBig, Name: "Load test", Slug: "loadtest", CreatedAt: base, UpdatedAt: base})
	departments := []string{"Engineering", "Sales", "Marketing", "Finance", "Support"}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("user_lt_%06d", i)
		created := base + int64(i)*60_000
		first, last := fmt.Sprintf("First%d", i), fmt.Sprintf("Last%d", i%97)
		u := clerkemu.User{
			ID: id, FirstName: &first, LastName: &last,
			EmailAddresses:        []clerkemu.EmailAddress{{ID: "idn_lt_" + id, EmailAddress: fmt.Sprintf("member%06d@loadtest.example.com", i), Verified: true, CreatedAt: created, UpdatedAt: created}},
			PrimaryEmailAddressID: "idn_lt_" + id,
			PublicMetadata:        map[string]any{"department": departments[i%len(departments)], "vnum": i},
			PrivateMetadata:       map[string]any{"salary": 50000 + i},
			CreatedAt:             created, UpdatedAt: created,
		}
		if i%10 != 0 {
			s := created + 86_400_000
			u.LastSignInAt = &s
		}
		role := clerkemu.RoleMember
		if i == 0 {
			role = clerkemu.RoleAdmin
		}
		d.Users = append(d.Users, u)
		d.Memberships = append(d.Memberships, clerkemu.Membership{ID: "orgmem_lt_" + id, OrganizationID: orgBig, UserID: id, Role: role, CreatedAt: created, UpdatedAt: created})
	}
	return "user_lt_000000"
}

// startProfile starts a CPU profile into path ("" profiles nothing) and
// returns the function that stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// runBulkBench times updateOrgMemberRoles on 1,000 members of a 5,000-member
// organization, through the real server against the emulator with latency,
// once per Clerk budget (CLERK_RATE_LIMIT), and checks from the emulator's
// side that no 10 s window saw more requests than the budget.
func runBulkBench(ctx context.Context, out io.Writer, budgets []int, latency time.Duration) error {
	fmt.Fprintf(out, "Bulk role change of 1,000 members (5,000-member org, Clerk emulator latency %s):\n", latency)
	for _, budget := range budgets {
		data := clerkemu.DefaultDataset()
		admin := addBigOrg(data, 5000)
		emu, err := clerkemu.New(clerkemu.Options{Data: data})
		if err != nil {
			return err
		}
		emu.SetFaults(clerkemu.Fault{Latency: latency})
		var mu sync.Mutex
		var times []time.Time
		emuURL, stopEmu, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			emu.Handler().ServeHTTP(w, r)
		}))
		if err != nil {
			return err
		}
		cfg := Config{SecretKey: emu.SecretKey(), APIURL: emuURL + "/v1", CacheTTL: 10 * time.Minute, CacheMaxStale: 20 * time.Minute, CacheMaxOrgs: 10, RateLimit: budget}
		app, err := NewApp(cfg, Extras{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			stopEmu()
			return err
		}
		srvURL, stopSrv, err := serveLoopback(app.Handler)
		if err != nil {
			return err
		}
		token, err := emu.SignToken(clerkemu.TokenOptions{UserID: admin, OrgID: orgBig, OrgRole: clerkemu.RoleAdmin, TTL: time.Hour})
		if err != nil {
			return err
		}
		client := loadtest.NewClient(4)
		client.Timeout = 2 * time.Minute // a call under a small budget runs until its 50 s deadline
		var ids []string
		for _, m := range data.Memberships {
			if m.OrganizationID == orgBig && m.Role == clerkemu.RoleMember && len(ids) < 1000 {
				ids = append(ids, `"`+m.UserID+`"`)
			}
		}
		t0 := time.Now()
		if status, _, err := post(client, srvURL, token, `{ orgUsers(first: 1) { totalCount } }`); err != nil || status != 200 {
			return fmt.Errorf("warming: %d %v", status, err)
		}
		loaded := time.Since(t0)
		t1 := time.Now()
		status, body, err := post(client, srvURL, token, `mutation { updateOrgMemberRoles(input: {target: {userIds: [`+strings.Join(ids, ",")+`]}, role: "org:billing"}) { succeeded failed skipped } }`)
		took := time.Since(t1)
		stopSrv()
		app.Close()
		stopEmu()
		if err != nil || status != 200 {
			return fmt.Errorf("budget %d: %d %v %.300s", budget, status, err, body)
		}
		var res struct {
			Data struct {
				UpdateOrgMemberRoles struct{ Succeeded, Failed, Skipped int }
			}
		}
		_ = json.Unmarshal(body, &res)
		r := res.Data.UpdateOrgMemberRoles
		mu.Lock()
		peak := peakWindow(times, 10*time.Second)
		total := len(times)
		mu.Unlock()
		fmt.Fprintf(out, "  budget %4d/10s: load %s, mutation %s: %d succeeded, %d failed, %d skipped; %d Clerk requests, at most %d in any 10 s (budget %d) %s\n",
			budget, loaded.Round(time.Millisecond), took.Round(time.Millisecond), r.Succeeded, r.Failed, r.Skipped, total, peak, budget,
			map[bool]string{true: "within", false: "OVER"}[peak <= budget])
	}
	return nil
}

// peakWindow returns the most of times (in order) inside any window of d.
func peakWindow(times []time.Time, d time.Duration) int {
	peak, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= d {
			lo++
		}
		peak = max(peak, hi-lo+1)
	}
	return peak
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
