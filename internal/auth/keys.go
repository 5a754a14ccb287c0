package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"golang.org/x/sync/singleflight"

	"github.com/orgusers/orgusers/internal/directory"
)

// fetchTimeout bounds one JWKS fetch. Fetches are shared by many requests, so
// they run detached from any single request's context.
const fetchTimeout = 10 * time.Second

// signingAlgs are the algorithms a JWKS key may declare. Symmetric algorithms
// (HS*) and "none" are never accepted: a public key must not become an HMAC secret.
var signingAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// keySet is a Verifier's own copy of Clerk's JWKS (kid -> key). It fetches the
// set when a token names an unknown kid, at most once per interval however many
// requests miss (concurrent misses share one fetch), and refreshes it in the
// background once it is older than maxAge, so keys Clerk removed stop working.
type keySet struct {
	client   *jwks.Client
	interval time.Duration
	maxAge   time.Duration
	now      func() time.Time
	log      *slog.Logger
	onRemove func() // called after a fetch that dropped a previously known kid
	sf       singleflight.Group

	mu        sync.RWMutex
	keys      map[string]*clerk.JSONWebKey
	fetchedAt time.Time // last successful fetch
	attemptAt time.Time // last fetch attempt, successful or not
	lastErr   error     // error of the last attempt; nil when it succeeded
}

// get returns the key kid. Errors: UNAUTHENTICATED when Clerk does not list kid,
// UPSTREAM_UNAVAILABLE when the JWKS could not be fetched.
func (s *keySet) get(ctx context.Context, kid string) (*clerk.JSONWebKey, error) {
	now := s.now()
	s.mu.RLock()
	k := s.keys[kid]
	refresh := now.Sub(s.fetchedAt) >= s.maxAge && s.dueLocked(now)
	s.mu.RUnlock()
	if k != nil {
		if refresh {
			s.sf.DoChan("jwks", s.fetch) // refresh in the background; k stays valid meanwhile
		}
		return k, nil
	}
	// Join the fetch in flight, or start one; fetch itself returns at once when
	// the last attempt was less than an interval ago.
	select {
	case <-s.sf.DoChan("jwks", s.fetch):
	case <-ctx.Done():
		return nil, directory.Wrap(directory.CodeUpstreamUnavailable, ctx.Err(), "authentication keys unavailable")
	}
	s.mu.RLock()
	k, err, have := s.keys[kid], s.lastErr, s.keys != nil
	s.mu.RUnlock()
	switch {
	case k != nil:
		return k, nil
	case err != nil || !have:
		return nil, directory.Wrap(directory.CodeUpstreamUnavailable, err, "authentication keys unavailable")
	default:
		return nil, reject("unknown signing key", fmt.Errorf("kid %q is not in the JWKS", kid))
	}
}

// dueLocked reports whether a fetch may start at now. Callers hold s.mu.
func (s *keySet) dueLocked(now time.Time) bool {
	return s.attemptAt.IsZero() || now.Sub(s.attemptAt) >= s.interval
}

// fetch loads the JWKS from Clerk unless another fetch started less than an
// interval ago. It runs inside the singleflight group; its result is in s.
func (s *keySet) fetch() (any, error) {
	now := s.now()
	s.mu.Lock()
	if !s.dueLocked(now) {
		s.mu.Unlock()
		return nil, nil
	}
	s.attemptAt = now
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	set, err := s.client.Get(ctx, &jwks.GetParams{})
	var keys map[string]*clerk.JSONWebKey
	if err == nil {
		keys = usableKeys(set)
	}

	s.mu.Lock()
	s.lastErr = err
	removed := false
	if err == nil {
		for kid := range s.keys {
			if keys[kid] == nil {
				removed = true
			}
		}
		s.keys, s.fetchedAt = keys, now
	}
	s.mu.Unlock()

	if err != nil {
		s.log.Warn("auth: fetching Clerk JWKS failed", "err", err)
		return nil, nil
	}
	s.log.Debug("auth: fetched Clerk JWKS", "keys", len(keys))
	if removed && s.onRemove != nil {
		s.onRemove()
	}
	return nil, nil
}

// usableKeys indexes the signing keys of set by kid, skipping keys that are
// not asymmetric public signing keys.
func usableKeys(set *clerk.JSONWebKeySet) map[string]*clerk.JSONWebKey {
	keys := make(map[string]*clerk.JSONWebKey)
	if set == nil {
		return keys
	}
	for _, k := range set.Keys {
		if k == nil || k.KeyID == "" || k.Use == "enc" || !signingAlgs[k.Algorithm] {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys[k.KeyID] = k
		}
	}
	return keys
}

// reject returns the UNAUTHENTICATED error for a rejected token: msg is safe
// for clients, detail is only logged.
func reject(msg string, detail error) error {
	if detail == nil {
		detail = errors.New(msg)
	}
	return directory.Wrap(directory.CodeUnauthenticated, detail, msg)
}
