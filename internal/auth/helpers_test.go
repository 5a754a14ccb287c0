package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

const (
	testSecret = "sk_test_auth_package" // not a real key: the fake JWKS server checks it
	testIssuer = "https://clerk.example.com"
	testAZP    = "https://app.example.com"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testKeys are RSA keys generated once per test binary run.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// signingKey is one key the tests sign with, under a kid.
type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

func key1() signingKey { return signingKey{"ins_key_1", testKeys()[0]} }
func key2() signingKey { return signingKey{"ins_key_2", testKeys()[1]} }
func key3() signingKey { return signingKey{"ins_key_3", testKeys()[2]} }

// publicPEM returns the PKIX PEM of k's public key, as Clerk shows CLERK_JWT_KEY.
func publicPEM(t testing.TB, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// jwksServer stands in for Clerk's GET /v1/jwks: it checks the secret key,
// serves the public halves of its keys and counts requests.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64

	mu   sync.Mutex
	keys []signingKey
	fail bool // answer 500
}

func newJWKSServer(t testing.TB, keys ...signingKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.Method != http.MethodGet || r.URL.Path != "/v1/jwks" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+testSecret {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "authentication_invalid", "message": "invalid secret key"}}})
		return
	}
	s.mu.Lock()
	fail := s.fail
	set := jose.JSONWebKeySet{}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"})
	}
	s.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "internal", "message": "boom"}}})
		return
	}
	json.NewEncoder(w).Encode(set)
}

func (s *jwksServer) setKeys(keys ...signingKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setFail(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

// newVerifier returns a Verifier fetching from srv, on clock, with cfg's other fields.
func newVerifier(t testing.TB, srv *jwksServer, clock *fakeClock, cfg auth.Config) *auth.Verifier {
	t.Helper()
	cfg.APIURL = srv.URL + "/v1"
	if cfg.SecretKey == "" {
		cfg.SecretKey = testSecret
	}
	cfg.HTTPClient = srv.Client()
	cfg.Now = clock.Now
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// claims are a token's claims; baseClaims is a valid v1 session without an organization.
type claims map[string]any

func baseClaims(now time.Time) claims {
	return claims{
		"iss": testIssuer,
		"sub": "user_1",
		"sid": "sess_1",
		"azp": testAZP,
		"iat": now.Add(-10 * time.Second).Unix(),
		"nbf": now.Add(-10 * time.Second).Unix(),
		"exp": now.Add(60 * time.Second).Unix(),
	}
}

// with returns a copy of c with kv set; a nil value deletes the claim.
func (c claims) with(kv ...any) claims {
	out := make(claims, len(c)+len(kv)/2)
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// sign returns the compact JWS of c signed with k under alg, with k's kid.
func sign(t testing.TB, k signingKey, c claims) string {
	t.Helper()
	return signWith(t, jose.SigningKey{Algorithm: jose.RS256, Key: k.key}, k.kid, c)
}

func signWith(t testing.TB, sk jose.SigningKey, kid string, c claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	token, err := josejwt.Signed(signer).Claims(map[string]any(c)).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// wantCode fails unless err is a *directory.Error with code and (when msg != "") message msg.
func wantCode(t testing.TB, err error, code directory.Code, msg string) {
	t.Helper()
	var de *directory.Error
	if !errors.As(err, &de) {
		t.Fatalf("error = %v (%T), want *directory.Error %s", err, err, code)
	}
	if de.Code != code || (msg != "" && de.Message != msg) {
		t.Fatalf("error = %s %q, want %s %q", de.Code, de.Message, code, msg)
	}
}
