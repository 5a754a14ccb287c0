package auth

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	clerkjwt "github.com/clerk/clerk-sdk-go/v2/jwt"
	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/orgusers/orgusers/internal/directory"
)

// Defaults for the zero values of Config.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat; Clerk's own
	// SDKs allow 5s.
	DefaultLeeway = 5 * time.Second
	// DefaultJWKSRefreshInterval spaces JWKS fetches caused by unknown kids:
	// a new signing key is picked up within 10s, and a storm of forged kids
	// costs Clerk at most 6 requests a minute.
	DefaultJWKSRefreshInterval = 10 * time.Second
	// DefaultJWKSMaxAge is how long a fetched key set is trusted before it is
	// refreshed in the background (the Clerk SDK's middleware also uses 1h).
	DefaultJWKSMaxAge = time.Hour
	// DefaultCacheSize is the number of verified tokens remembered.
	DefaultCacheSize = 10000
	// DefaultCacheMaxAge is how long a verification is reused at most.
	DefaultCacheMaxAge = 60 * time.Second
	// DefaultHTTPTimeout is the timeout of the HTTP client made when Config.HTTPClient is nil.
	DefaultHTTPTimeout = 5 * time.Second
)

// maxTokenLen bounds the tokens worth hashing and parsing; Clerk session
// tokens travel in cookies and stay far below 4KiB.
const maxTokenLen = 16 << 10

// Config configures a Verifier. The zero value of every field but SecretKey
// (or JWTKeyPEM) is usable.
type Config struct {
	// APIURL is the Backend API base including /v1, e.g. "https://api.clerk.com/v1".
	// "" means https://api.clerk.com/v1.
	APIURL string
	// SecretKey authenticates the JWKS fetch. Required unless JWTKeyPEM is set.
	SecretKey string
	// HTTPClient fetches the JWKS; nil means a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// JWTKeyPEM is the instance's PEM public key (CLERK_JWT_KEY). When set,
	// tokens are verified with it alone and the JWKS is never fetched.
	// Escaped newlines ("\n" as two characters) are accepted.
	JWTKeyPEM string
	// AuthorizedParties, when non-empty, lists the accepted azp (origin)
	// values; a token whose azp is not listed is rejected.
	AuthorizedParties []string
	// Leeway is the allowed clock skew; 0 means DefaultLeeway.
	Leeway time.Duration
	// JWKSRefreshInterval is the minimum time between JWKS fetch attempts;
	// 0 means DefaultJWKSRefreshInterval.
	JWKSRefreshInterval time.Duration
	// JWKSMaxAge is how long a fetched key set is used before it is refreshed
	// in the background (removed keys then stop working); 0 means DefaultJWKSMaxAge.
	JWKSMaxAge time.Duration
	// CacheSize is the number of verified tokens remembered; 0 means
	// DefaultCacheSize and a negative value disables the cache.
	CacheSize int
	// CacheMaxAge bounds how long one verification is reused, so a rotated
	// key stops working quickly; 0 means DefaultCacheMaxAge. A cached
	// verification never outlives the token's exp.
	CacheMaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives rejections (debug) and JWKS failures (warn); nil discards.
	Logger *slog.Logger
}

// Verifier verifies Clerk session tokens. It owns its JWKS client, key set
// and verified-token cache; it touches no package-level state of the Clerk
// SDK. It is safe for concurrent use. Build one with NewVerifier.
type Verifier struct {
	pemKey  *clerk.JSONWebKey // set in networkless mode
	keys    *keySet           // set in JWKS mode
	cache   *tokenCache
	parties []string
	leeway  time.Duration
	maxAge  time.Duration
	now     func() time.Time
	clock   clerk.Clock
	log     *slog.Logger
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// NewVerifier returns a Verifier for cfg. The server wiring calls it once at
// start-up; it makes no network call. It returns a plain error (not a
// *directory.Error) naming the bad field: negative durations, an unparsable
// JWTKeyPEM or one that is not an RSA public key, a missing SecretKey, or an
// APIURL that is not an absolute http(s) URL.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Leeway < 0 || cfg.JWKSRefreshInterval < 0 || cfg.JWKSMaxAge < 0 || cfg.CacheMaxAge < 0 {
		return nil, errors.New("auth: durations in Config must not be negative")
	}
	v := &Verifier{
		parties: slices.Clone(cfg.AuthorizedParties),
		leeway:  orDefault(cfg.Leeway, DefaultLeeway),
		maxAge:  orDefault(cfg.CacheMaxAge, DefaultCacheMaxAge),
		now:     cfg.Now,
		log:     cfg.Logger,
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.clock = clockFunc(v.now)
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.CacheSize == 0:
		v.cache = newTokenCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		v.cache = newTokenCache(cfg.CacheSize)
	}

	if cfg.JWTKeyPEM != "" {
		pem := cfg.JWTKeyPEM
		if !strings.Contains(pem, "\n") {
			pem = strings.ReplaceAll(pem, `\n`, "\n")
		}
		k, err := clerk.JSONWebKeyFromPEM(pem)
		if err != nil {
			return nil, fmt.Errorf("auth: JWTKeyPEM: %w", err)
		}
		if _, ok := k.Key.(*rsa.PublicKey); !ok {
			return nil, errors.New("auth: JWTKeyPEM: not an RSA public key")
		}
		v.pemKey = k
		return v, nil
	}

	if cfg.SecretKey == "" {
		return nil, errors.New("auth: SecretKey is required to fetch the JWKS (or set JWTKeyPEM)")
	}
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = clerk.APIURL
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth: APIURL %q is not an absolute http(s) URL", apiURL)
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	secret := cfg.SecretKey
	backend := clerk.NewBackend(&clerk.BackendConfig{URL: &apiURL, Key: &secret, HTTPClient: httpClient})
	v.keys = &keySet{
		client:   &jwks.Client{Backend: backend},
		interval: orDefault(cfg.JWKSRefreshInterval, DefaultJWKSRefreshInterval),
		maxAge:   orDefault(cfg.JWKSMaxAge, DefaultJWKSMaxAge),
		now:      v.now,
		log:      v.log,
		onRemove: v.cache.purge,
	}
	return v, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Verify verifies a Clerk session token (both the v1 and the v2 claim
// formats) and returns the caller it names. Middleware calls it; so may any
// transport holding a raw token. Verified tokens are cached until
// min(exp, verification + CacheMaxAge). The returned Principal may be shared:
// treat it as read-only.
//
// Errors: *directory.Error UNAUTHENTICATED with a short safe message for a
// missing, malformed, expired or not yet valid token, an unknown key id, an
// algorithm other than the key's, a bad signature, a wrong issuer or azp, or a
// missing sub or exp (the detail is logged at debug level); UPSTREAM_UNAVAILABLE
// when the JWKS cannot be fetched.
func (v *Verifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, errMissingToken()
	}
	if len(token) > maxTokenLen {
		return nil, v.logged(ctx, reject("malformed session token", fmt.Errorf("token of %d bytes", len(token))))
	}
	now := v.now()
	sum := tokenKey(token)
	if p := v.cache.get(sum, now); p != nil {
		return p, nil
	}
	p, err := v.verify(ctx, token)
	if err != nil {
		return nil, v.logged(ctx, err)
	}
	until := now.Add(v.maxAge)
	if p.ExpiresAt.Before(until) {
		until = p.ExpiresAt
	}
	if until.After(now) {
		v.cache.put(sum, p, until)
	}
	return p, nil
}

// tokenKey is the cache key of token. Sum256 neither keeps nor modifies its
// input, so hashing the string's bytes in place is safe and spares a copy of
// the token on every request.
func tokenKey(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// logged logs why a token was rejected and returns err.
func (v *Verifier) logged(ctx context.Context, err error) error {
	if directory.ErrorCode(err) == directory.CodeUnauthenticated {
		v.log.DebugContext(ctx, "auth: session token rejected", "err", err)
	}
	return err
}

func (v *Verifier) verify(ctx context.Context, token string) (*Principal, error) {
	h, err := parseHeader(token)
	if err != nil {
		return nil, reject("malformed session token", err)
	}
	key := v.pemKey
	if key == nil {
		if h.Kid == "" {
			return nil, reject("malformed session token", errors.New("missing kid header"))
		}
		if key, err = v.keys.get(ctx, h.Kid); err != nil {
			return nil, err
		}
	}
	if h.Alg != key.Algorithm {
		return nil, reject("unsupported signing algorithm", fmt.Errorf("token alg %q, key alg %q", h.Alg, key.Algorithm))
	}
	claims, err := clerkjwt.Verify(ctx, &clerkjwt.VerifyParams{Token: token, JWK: key, Clock: v.clock, Leeway: v.leeway})
	if err != nil {
		return nil, reject(verifyMessage(err), err)
	}
	if claims.Subject == "" {
		return nil, reject("missing subject", nil)
	}
	if claims.Expiry == nil {
		return nil, reject("missing expiry", nil)
	}
	if len(v.parties) > 0 && !slices.Contains(v.parties, claims.AuthorizedParty) {
		return nil, reject("invalid authorized party", fmt.Errorf("azp %q", claims.AuthorizedParty))
	}
	perms := claims.ActiveOrganizationPermissions
	if perms == nil {
		perms = []string{}
	}
	return &Principal{
		UserID:      claims.Subject,
		SessionID:   claims.SessionID,
		OrgID:       claims.ActiveOrganizationID,
		OrgSlug:     claims.ActiveOrganizationSlug,
		OrgRole:     claims.ActiveOrganizationRole,
		Permissions: perms,
		ExpiresAt:   time.Unix(*claims.Expiry, 0),
	}, nil
}

// jwsHeader is the part of a token's header that picks the verification key.
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// parseHeader decodes the header of a compact JWS. It only chooses the key:
// the SDK parses the whole token again and checks the signature and alg
// itself, so a header this parser reads differently cannot pass as valid.
// (go-jose's full parse costs a fifth of a verification.)
func parseHeader(token string) (jwsHeader, error) {
	var h jwsHeader
	if strings.Count(token, ".") != 2 {
		return h, errors.New("not a compact JWS")
	}
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, fmt.Errorf("header: %w", err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("header: %w", err)
	}
	return h, nil
}

// verifyMessage is the client-safe message for an error of the SDK's Verify.
func verifyMessage(err error) string {
	switch {
	case errors.Is(err, josejwt.ErrExpired):
		return "session token expired"
	case errors.Is(err, josejwt.ErrNotValidYet), errors.Is(err, josejwt.ErrIssuedInTheFuture):
		return "session token not yet valid"
	case errors.Is(err, jose.ErrCryptoFailure):
		return "invalid signature"
	case strings.HasPrefix(err.Error(), "invalid issuer"):
		return "invalid issuer"
	default:
		return "invalid session token"
	}
}

// SessionCookie is the name of the cookie Clerk's browser SDKs keep the
// session token in.
const SessionCookie = "__session"

// Middleware authenticates each request and stores the Principal, or the
// *directory.Error saying why there is none, in the request context for
// FromContext; ViaCookie then tells where the credential came from. The
// server wiring wraps the GraphQL and REST handlers with it. It never rejects
// a request by itself: the transports decide how to answer.
//
// The credential is the Authorization header ("Bearer <token>", scheme
// case-insensitive) when the request has one, even an empty or malformed one,
// and otherwise the __session cookie Clerk sets for browser sessions; both
// tokens are verified alike by Verify. A request with both uses the header
// and ignores the cookie. A request with more than one Authorization header
// gets UNAUTHENTICATED "more than one Authorization header", and one without
// that header but with more than one __session cookie gets UNAUTHENTICATED
// "more than one __session cookie", even when they are equal: which one
// counts would otherwise depend on the proxies (or cookie paths) in between.
// No credential at all (an empty __session cookie counts as none) gets
// UNAUTHENTICATED "missing bearer token".
//
// Whenever the cookie was consulted (no Authorization header) Middleware adds
// "Vary: Cookie" to the response. Cookie-authenticated requests need a CSRF
// defence after this middleware (internal/browser.CSRF).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var s authState
		switch values := r.Header.Values("Authorization"); len(values) {
		case 0:
			w.Header().Add("Vary", "Cookie")
			s = v.cookieState(ctx, r)
		case 1:
			s = v.headerState(ctx, values[0])
		default:
			s = authState{err: directory.Errorf(directory.CodeUnauthenticated, "more than one Authorization header")}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, s.value())))
	})
}

// headerState authenticates the value of the one Authorization header.
func (v *Verifier) headerState(ctx context.Context, header string) authState {
	scheme, token, _ := strings.Cut(strings.TrimSpace(header), " ")
	switch {
	case scheme == "":
		return authState{err: errMissingToken()}
	case !strings.EqualFold(scheme, "Bearer"):
		return authState{err: directory.Errorf(directory.CodeUnauthenticated, "malformed authorization header")}
	}
	return v.tokenState(ctx, strings.TrimSpace(token))
}

// cookieState authenticates the __session cookie of a request without an
// Authorization header.
func (v *Verifier) cookieState(ctx context.Context, r *http.Request) authState {
	cookies := r.CookiesNamed(SessionCookie)
	var s authState
	switch {
	case len(cookies) > 1:
		s.err = directory.Errorf(directory.CodeUnauthenticated, "more than one %s cookie", SessionCookie)
	case len(cookies) == 0 || cookies[0].Value == "":
		return authState{err: errMissingToken()}
	default:
		s = v.tokenState(ctx, cookies[0].Value)
	}
	s.viaCookie = true
	return s
}

func (v *Verifier) tokenState(ctx context.Context, token string) authState {
	p, err := v.Verify(ctx, token)
	if err != nil {
		return errState(err)
	}
	return authState{p: p}
}
