package auth

// Cached reports whether v's verified-token cache would answer for token now.
func Cached(v *Verifier, token string) bool {
	return v.cache.get(tokenKey(token), v.now()) != nil
}
