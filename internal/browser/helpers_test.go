package browser_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/browser"
)

// testKey is an RSA key generated once per test binary run.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// newVerifier returns a networkless Verifier trusting testKey.
func newVerifier(t testing.TB) *auth.Verifier {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&testKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// token returns a session token for user signed with testKey, valid for a minute.
func token(t testing.TB, user string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: testKey()}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := josejwt.Signed(signer).Claims(map[string]any{
		"iss": "https://clerk.example.com", "sub": user, "sid": "sess_1",
		"iat": now.Add(-10 * time.Second).Unix(), "nbf": now.Add(-10 * time.Second).Unix(), "exp": now.Add(time.Minute).Unix(),
	}).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// reached is what the innermost handler saw of a request that got through.
type reached struct {
	user      string // "" without a principal
	viaCookie bool
}

// stack builds the chain the server wiring uses, CORS outermost and CSRF
// inside the session middleware, around a handler that answers 200 and
// records what it saw in *got (nil when it was not reached).
func stack(t testing.TB, allowed []string, ownOrigin func(*http.Request) string, got **reached) http.Handler {
	t.Helper()
	cors, err := browser.CORS(allowed)
	if err != nil {
		t.Fatal(err)
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reached{viaCookie: auth.ViaCookie(r.Context())}
		if p, err := auth.FromContext(r.Context()); err == nil {
			rc.user = p.UserID
		}
		*got = rc
		w.WriteHeader(http.StatusOK)
	})
	return cors(newVerifier(t).Middleware(browser.CSRF(allowed, ownOrigin)(inner)))
}

// serve runs req through h and returns the recorded answer.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// errorBody is either shape of a refusal.
type errorBody struct {
	Error  string `json:"error"`
	Code   string `json:"code"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

// wantRejected fails unless rec is a 403 CSRF_REJECTED in the shape of
// graphQL (or REST) whose message contains msg.
func wantRejected(t testing.TB, rec *httptest.ResponseRecorder, graphQL bool, msg string) {
	t.Helper()
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403; body %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	var code, message string
	if graphQL {
		if len(b.Errors) != 1 || b.Error != "" {
			t.Fatalf("body %s, want GraphQL-shaped errors", rec.Body)
		}
		code, message = b.Errors[0].Extensions.Code, b.Errors[0].Message
	} else {
		if len(b.Errors) != 0 {
			t.Fatalf("body %s, want REST-shaped error", rec.Body)
		}
		code, message = b.Code, b.Error
	}
	if code != "CSRF_REJECTED" || !strings.Contains(message, msg) {
		t.Fatalf("code %q message %q, want CSRF_REJECTED with %q", code, message, msg)
	}
}
