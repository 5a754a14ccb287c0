package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

func TestVerifyClaimFormats(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, key1())
	v := newVerifier(t, srv, clock, auth.Config{AuthorizedParties: []string{testAZP}})
	base := baseClaims(t0)
	exp := time.Unix(base["exp"].(int64), 0)

	tests := []struct {
		name   string
		claims claims
		want   auth.Principal
	}{
		{
			name: "v1 with organization",
			claims: base.with("org_id", "org_1", "org_slug", "acme", "org_role", "org:admin",
				"org_permissions", []string{"org:sys_memberships:read", "org:sys_memberships:manage"}),
			want: auth.Principal{UserID: "user_1", SessionID: "sess_1", OrgID: "org_1", OrgSlug: "acme", OrgRole: "org:admin",
				Permissions: []string{"org:sys_memberships:read", "org:sys_memberships:manage"}, ExpiresAt: exp},
		},
		{
			name:   "v1 without organization",
			claims: base,
			want:   auth.Principal{UserID: "user_1", SessionID: "sess_1", Permissions: []string{}, ExpiresAt: exp},
		},
		{
			name: "v2 with organization",
			claims: base.with("v", 2, "fea", "o:members,o:settings", "o", map[string]any{
				"id": "org_2", "slg": "globex", "rol": "admin", "per": "read,manage", "fpm": "3,1",
			}),
			want: auth.Principal{UserID: "user_1", SessionID: "sess_1", OrgID: "org_2", OrgSlug: "globex", OrgRole: "org:admin",
				Permissions: []string{"org:members:read", "org:members:manage", "org:settings:read"}, ExpiresAt: exp},
		},
		{
			name: "v2 member role",
			claims: base.with("v", 2, "fea", "o:members", "o", map[string]any{
				"id": "org_2", "slg": "globex", "rol": "member", "per": "read", "fpm": "1",
			}),
			want: auth.Principal{UserID: "user_1", SessionID: "sess_1", OrgID: "org_2", OrgSlug: "globex", OrgRole: "org:member",
				Permissions: []string{"org:members:read"}, ExpiresAt: exp},
		},
		{
			name:   "v2 without organization",
			claims: base.with("v", 2, "fea", "u:profile"),
			want:   auth.Principal{UserID: "user_1", SessionID: "sess_1", Permissions: []string{}, ExpiresAt: exp},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), sign(t, key1(), tt.claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(*p, tt.want) {
				t.Errorf("principal = %+v, want %+v", *p, tt.want)
			}
		})
	}
}

// unsigned returns header.payload. with an empty signature, as an attacker would send "alg": "none".
func unsigned(t *testing.T, header, payload map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(payload) + "."
}

func TestVerifyRejects(t *testing.T) {
	base := baseClaims(t0)
	k1 := key1()
	const unauth = directory.CodeUnauthenticated

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		wantMsg string // "" accepts any message
	}{
		{"empty", func(*testing.T) string { return "" }, "missing bearer token"},
		{"garbage", func(*testing.T) string { return "not-a-jwt" }, "malformed session token"},
		{"three garbage parts", func(*testing.T) string { return "a.b.c" }, "malformed session token"},
		{"too long", func(t *testing.T) string { return sign(t, k1, base.with("pad", strings.Repeat("x", 20<<10))) }, "malformed session token"},
		{"JSON serialization", func(t *testing.T) string {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k1.key}, (&jose.SignerOptions{}).WithHeader("kid", k1.kid))
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(base)
			jws, err := signer.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			return jws.FullSerialize()
		}, "malformed session token"},
		{"expired", func(t *testing.T) string {
			return sign(t, k1, base.with("exp", t0.Add(-time.Minute).Unix(), "iat", t0.Add(-2*time.Minute).Unix(), "nbf", t0.Add(-2*time.Minute).Unix()))
		}, "session token expired"},
		{"not yet valid", func(t *testing.T) string { return sign(t, k1, base.with("nbf", t0.Add(time.Minute).Unix())) }, "session token not yet valid"},
		{"issued in the future", func(t *testing.T) string { return sign(t, k1, base.with("iat", t0.Add(time.Minute).Unix())) }, "session token not yet valid"},
		{"signed by another key under a known kid", func(t *testing.T) string {
			return sign(t, signingKey{k1.kid, key2().key}, base)
		}, "invalid signature"},
		{"payload swapped after signing", func(t *testing.T) string {
			good := strings.Split(sign(t, k1, base), ".")
			evil := strings.Split(unsigned(t, map[string]any{}, base.with("org_id", "org_victim", "org_role", "org:admin")), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}, "invalid signature"},
		{"alg none", func(t *testing.T) string {
			return unsigned(t, map[string]any{"alg": "none", "typ": "JWT", "kid": k1.kid}, base)
		}, ""},
		{"HS256 with the RSA public key PEM as secret", func(t *testing.T) string {
			return signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte(publicPEM(t, k1.key))}, k1.kid, base)
		}, "unsupported signing algorithm"},
		{"RS512 under an RS256 key", func(t *testing.T) string {
			return signWith(t, jose.SigningKey{Algorithm: jose.RS512, Key: k1.key}, k1.kid, base)
		}, "unsupported signing algorithm"},
		{"unknown kid", func(t *testing.T) string { return sign(t, signingKey{"ins_unknown", k1.key}, base) }, "unknown signing key"},
		{"missing kid", func(t *testing.T) string { return sign(t, signingKey{"", k1.key}, base) }, "malformed session token"},
		{"wrong azp", func(t *testing.T) string { return sign(t, k1, base.with("azp", "https://evil.example.com")) }, "invalid authorized party"},
		{"missing azp", func(t *testing.T) string { return sign(t, k1, base.with("azp", nil)) }, "invalid authorized party"},
		{"missing sub", func(t *testing.T) string { return sign(t, k1, base.with("sub", nil)) }, "missing subject"},
		{"missing exp", func(t *testing.T) string { return sign(t, k1, base.with("exp", nil)) }, "missing expiry"},
		{"issuer not Clerk", func(t *testing.T) string { return sign(t, k1, base.with("iss", "https://evil.example.com")) }, "invalid issuer"},
		{"missing issuer", func(t *testing.T) string { return sign(t, k1, base.with("iss", nil)) }, "invalid issuer"},
	}
	clock := newClock()
	srv := newJWKSServer(t, k1)
	v := newVerifier(t, srv, clock, auth.Config{AuthorizedParties: []string{testAZP}})
	if _, err := v.Verify(context.Background(), sign(t, k1, base)); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tt.token(t))
			if p != nil {
				t.Fatalf("accepted: %+v", p)
			}
			wantCode(t, err, unauth, tt.wantMsg)
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	base := baseClaims(t0)
	tests := []struct {
		name   string
		claims claims
		leeway time.Duration
		ok     bool
	}{
		{"expired within default leeway", base.with("exp", t0.Add(-3*time.Second).Unix()), 0, true},
		{"expired beyond default leeway", base.with("exp", t0.Add(-6*time.Second).Unix()), 0, false},
		{"nbf within default leeway", base.with("nbf", t0.Add(3*time.Second).Unix(), "iat", t0.Unix()), 0, true},
		{"nbf beyond default leeway", base.with("nbf", t0.Add(6*time.Second).Unix(), "iat", t0.Unix()), 0, false},
		{"expired within a configured leeway", base.with("exp", t0.Add(-20*time.Second).Unix()), 30 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, key1())
			v := newVerifier(t, srv, newClock(), auth.Config{Leeway: tt.leeway})
			_, err := v.Verify(context.Background(), sign(t, key1(), tt.claims))
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok {
				wantCode(t, err, directory.CodeUnauthenticated, "")
			}
		})
	}
}

// verifyAll verifies tokens concurrently and returns their errors in order.
func verifyAll(v *auth.Verifier, tokens []string) []error {
	errs := make([]error, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tok) })
	}
	wg.Wait()
	return errs
}

func TestJWKSFetchedOnceForManyTokens(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, key1())
	v := newVerifier(t, srv, clock, auth.Config{})
	var tokens []string
	for i := range 20 {
		tokens = append(tokens, sign(t, key1(), baseClaims(t0).with("sid", fmt.Sprintf("sess_%d", i))))
	}
	for round := range 3 {
		for i, err := range verifyAll(v, tokens) {
			if err != nil {
				t.Fatalf("round %d token %d: %v", round, i, err)
			}
		}
		clock.Advance(20 * time.Second) // past the refresh interval: known kids still cause no fetch
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("JWKS requests = %d, want 1", n)
	}
}

func TestUnknownKidStormFetchesAtMostOncePerInterval(t *testing.T) {
	const interval = 30 * time.Second
	clock := newClock()
	srv := newJWKSServer(t, key1())
	v := newVerifier(t, srv, clock, auth.Config{JWKSRefreshInterval: interval})
	if _, err := v.Verify(context.Background(), sign(t, key1(), baseClaims(t0))); err != nil {
		t.Fatal(err)
	}
	storm := func(round int) {
		t.Helper()
		var tokens []string
		for i := range 40 {
			tokens = append(tokens, sign(t, signingKey{fmt.Sprintf("ins_forged_%d_%d", round, i), key2().key}, baseClaims(t0)))
		}
		for _, err := range verifyAll(v, tokens) {
			wantCode(t, err, directory.CodeUnauthenticated, "unknown signing key")
		}
	}
	steps := []struct {
		advance      time.Duration
		wantRequests int64
	}{
		{0, 1},              // the first fetch was less than an interval ago
		{interval / 2, 1},   // still within the interval
		{interval / 2, 2},   // one interval after the first fetch: exactly one refetch
		{interval - 1e9, 2}, // just short of the next interval
		{time.Second, 3},    // next interval: one more
		{3 * interval, 4},   // a long quiet time still allows only one
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		storm(i)
		if n := srv.requests.Load(); n != s.wantRequests {
			t.Fatalf("step %d: JWKS requests = %d, want %d", i, n, s.wantRequests)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	const interval = 10 * time.Second
	clock := newClock()
	srv := newJWKSServer(t, key1())
	v := newVerifier(t, srv, clock, auth.Config{JWKSRefreshInterval: interval})
	ctx := context.Background()
	long := func(c claims) claims { return c.with("exp", t0.Add(time.Hour).Unix()) }

	old := sign(t, key1(), long(baseClaims(t0)))
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}

	// Clerk adds a key; tokens signed with it verify once an interval has passed.
	srv.setKeys(key1(), key2())
	clock.Advance(interval)
	if p, err := v.Verify(ctx, sign(t, key2(), long(baseClaims(clock.Now())).with("sub", "user_2"))); err != nil || p.UserID != "user_2" {
		t.Fatalf("new key: %v, %v", p, err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("JWKS requests = %d, want 2", n)
	}

	// Clerk drops the old key; the next fetch (any unknown kid) revokes it, cached verifications included.
	srv.setKeys(key2(), key3())
	clock.Advance(interval)
	if _, err := v.Verify(ctx, sign(t, key3(), long(baseClaims(clock.Now())))); err != nil {
		t.Fatalf("third key: %v", err)
	}
	if auth.Cached(v, old) {
		t.Error("a token signed with a removed key is still cached")
	}
	_, err := v.Verify(ctx, old)
	wantCode(t, err, directory.CodeUnauthenticated, "unknown signing key")
}

func TestStaleKeySetRefreshedInBackground(t *testing.T) {
	clock := newClock()
	srv := newJWKSServer(t, key1())
	v := newVerifier(t, srv, clock, auth.Config{JWKSMaxAge: time.Minute, CacheSize: -1})
	ctx := context.Background()
	token := sign(t, key1(), baseClaims(t0).with("exp", t0.Add(time.Hour).Unix()))
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}
	srv.setKeys(key2())
	clock.Advance(2 * time.Minute)
	// The stale set still answers while a refresh runs in the background.
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("stale key set: %v", err)
	}
	var err error
	for range 500 { // wait for the background refresh: the outcome, not its speed
		if _, err = v.Verify(ctx, token); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantCode(t, err, directory.CodeUnauthenticated, "unknown signing key")
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("JWKS requests = %d, want 2", n)
	}
}

func TestPEMModeNeverFetches(t *testing.T) {
	srv := newJWKSServer(t, key1())
	pem := publicPEM(t, key1().key)
	tests := []struct {
		name    string
		pem     string
		token   string
		wantErr string
	}{
		{"signed with the key", pem, sign(t, key1(), baseClaims(t0)), ""},
		{"no kid", pem, sign(t, signingKey{"", key1().key}, baseClaims(t0)), ""},
		{"any kid", pem, sign(t, signingKey{"ins_other", key1().key}, baseClaims(t0)), ""},
		{"escaped newlines", strings.ReplaceAll(pem, "\n", `\n`), sign(t, key1(), baseClaims(t0)), ""},
		{"signed with another key", pem, sign(t, key2(), baseClaims(t0)), "invalid signature"},
		{"HS256 with the PEM as secret", pem, signWith(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte(pem)}, "", baseClaims(t0)), "unsupported signing algorithm"},
		{"expired", pem, sign(t, key1(), baseClaims(t0.Add(-time.Hour))), "session token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, srv, newClock(), auth.Config{JWTKeyPEM: tt.pem})
			p, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr == "" {
				if err != nil || p.UserID != "user_1" {
					t.Fatalf("Verify = %+v, %v", p, err)
				}
				return
			}
			wantCode(t, err, directory.CodeUnauthenticated, tt.wantErr)
		})
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("JWKS requests in PEM mode = %d, want 0", n)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	const interval = 10 * time.Second
	ctx := context.Background()
	token := sign(t, key1(), baseClaims(t0).with("exp", t0.Add(time.Hour).Unix()))

	t.Run("server error, then recovery", func(t *testing.T) {
		clock := newClock()
		srv := newJWKSServer(t, key1())
		srv.setFail(true)
		v := newVerifier(t, srv, clock, auth.Config{JWKSRefreshInterval: interval})
		for range 3 {
			_, err := v.Verify(ctx, token)
			wantCode(t, err, directory.CodeUpstreamUnavailable, "authentication keys unavailable")
		}
		if n := srv.requests.Load(); n != 1 {
			t.Fatalf("JWKS requests = %d, want 1 (failures are rate limited too)", n)
		}
		srv.setFail(false)
		clock.Advance(interval)
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})
	t.Run("wrong secret key", func(t *testing.T) {
		srv := newJWKSServer(t, key1())
		v := newVerifier(t, srv, newClock(), auth.Config{SecretKey: "sk_test_wrong"})
		_, err := v.Verify(ctx, token)
		wantCode(t, err, directory.CodeUpstreamUnavailable, "authentication keys unavailable")
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := newJWKSServer(t, key1())
		srv.Close()
		v := newVerifier(t, srv, newClock(), auth.Config{})
		_, err := v.Verify(ctx, token)
		wantCode(t, err, directory.CodeUpstreamUnavailable, "authentication keys unavailable")
	})
	t.Run("failed refresh keeps known keys", func(t *testing.T) {
		clock := newClock()
		srv := newJWKSServer(t, key1())
		v := newVerifier(t, srv, clock, auth.Config{JWKSRefreshInterval: interval, CacheSize: -1})
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
		srv.setFail(true)
		clock.Advance(interval)
		_, err := v.Verify(ctx, sign(t, key2(), baseClaims(clock.Now())))
		wantCode(t, err, directory.CodeUpstreamUnavailable, "")
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatalf("known key after failed refresh: %v", err)
		}
	})
}

func TestVerifiedTokenCache(t *testing.T) {
	ctx := context.Background()
	t.Run("not honoured after exp", func(t *testing.T) {
		clock := newClock()
		v := newVerifier(t, newJWKSServer(t, key1()), clock, auth.Config{CacheMaxAge: time.Hour})
		token := sign(t, key1(), baseClaims(t0).with("exp", t0.Add(30*time.Second).Unix()))
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
		clock.Advance(29 * time.Second)
		if !auth.Cached(v, token) {
			t.Fatal("not cached before exp")
		}
		clock.Advance(time.Second) // exp
		if auth.Cached(v, token) {
			t.Fatal("cached at exp")
		}
		clock.Advance(6 * time.Second) // beyond the leeway
		_, err := v.Verify(ctx, token)
		wantCode(t, err, directory.CodeUnauthenticated, "session token expired")
	})
	t.Run("reverified after CacheMaxAge", func(t *testing.T) {
		clock := newClock()
		v := newVerifier(t, newJWKSServer(t, key1()), clock, auth.Config{CacheMaxAge: time.Minute})
		token := sign(t, key1(), baseClaims(t0).with("exp", t0.Add(time.Hour).Unix()))
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
		clock.Advance(59 * time.Second)
		if !auth.Cached(v, token) {
			t.Fatal("not cached within CacheMaxAge")
		}
		clock.Advance(time.Second)
		if auth.Cached(v, token) {
			t.Fatal("cached after CacheMaxAge")
		}
		if _, err := v.Verify(ctx, token); err != nil || !auth.Cached(v, token) {
			t.Fatalf("reverify: err %v, cached %v", err, auth.Cached(v, token))
		}
	})
	t.Run("least recently used is evicted", func(t *testing.T) {
		v := newVerifier(t, newJWKSServer(t, key1()), newClock(), auth.Config{CacheSize: 2})
		tok := func(sid string) string { return sign(t, key1(), baseClaims(t0).with("sid", sid)) }
		a, b, c := tok("a"), tok("b"), tok("c")
		for _, token := range []string{a, b, a, c} {
			if _, err := v.Verify(ctx, token); err != nil {
				t.Fatal(err)
			}
		}
		if got := []bool{auth.Cached(v, a), auth.Cached(v, b), auth.Cached(v, c)}; !reflect.DeepEqual(got, []bool{true, false, true}) {
			t.Errorf("cached a, b, c = %v, want [true false true]", got)
		}
	})
	t.Run("rejections are not cached", func(t *testing.T) {
		v := newVerifier(t, newJWKSServer(t, key1()), newClock(), auth.Config{})
		token := sign(t, key2(), baseClaims(t0).with("sid", "x"))
		_, err := v.Verify(ctx, token)
		wantCode(t, err, directory.CodeUnauthenticated, "unknown signing key")
		if auth.Cached(v, token) {
			t.Error("rejected token cached")
		}
	})
}

func TestNewVerifierErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.Config
	}{
		{"no secret key and no PEM", auth.Config{}},
		{"relative API URL", auth.Config{SecretKey: testSecret, APIURL: "api.clerk.com/v1"}},
		{"bad PEM", auth.Config{JWTKeyPEM: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"}},
		{"private key PEM", auth.Config{JWTKeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}},
		{"negative leeway", auth.Config{SecretKey: testSecret, Leeway: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := auth.NewVerifier(tt.cfg); err == nil {
				t.Fatalf("NewVerifier = %v, want error", v)
			}
		})
	}
	if _, err := auth.NewVerifier(auth.Config{SecretKey: testSecret}); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func benchmarkVerify(b *testing.B, cacheSize int) {
	srv := newJWKSServer(b, key1())
	v := newVerifier(b, srv, newClock(), auth.Config{CacheSize: cacheSize})
	token := sign(b, key1(), baseClaims(t0).with("org_id", "org_1", "org_role", "org:admin", "org_slug", "acme"))
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil { // warm the key set
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures a full verification (cache disabled, keys fetched).
func BenchmarkVerify(b *testing.B) { benchmarkVerify(b, -1) }

// BenchmarkVerifyCached measures a verification answered by the token cache.
func BenchmarkVerifyCached(b *testing.B) { benchmarkVerify(b, 0) }

// BenchmarkVerifyCachedParallel measures cache hits from concurrent requests.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	srv := newJWKSServer(b, key1())
	v := newVerifier(b, srv, newClock(), auth.Config{})
	token := sign(b, key1(), baseClaims(t0))
	if _, err := v.Verify(context.Background(), token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(context.Background(), token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestRejectionDetailGoesToLogOnly(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v := newVerifier(t, newJWKSServer(t, key1()), newClock(), auth.Config{Logger: logger, AuthorizedParties: []string{testAZP}})
	_, err := v.Verify(context.Background(), sign(t, key1(), baseClaims(t0).with("azp", "https://evil.example.com")))
	if msg := directory.ErrorMessage(err); msg != "invalid authorized party" {
		t.Errorf("client message = %q", msg)
	}
	if !strings.Contains(logs.String(), "evil.example.com") || !strings.Contains(logs.String(), "level=DEBUG") {
		t.Errorf("log lacks the detail at debug level:\n%s", logs.String())
	}
}
