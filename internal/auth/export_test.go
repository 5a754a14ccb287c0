package auth

import "crypto/sha256"

// Cached reports whether v's verified-token cache would answer for token now.
func Cached(v *Verifier, token string) bool {
	return v.cache.get(sha256.Sum256([]byte(token)), v.now()) != nil
}
