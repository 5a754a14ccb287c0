package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a delivery's svix-timestamp may be from now,
// either way, when Verifier.Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// secretPrefix starts every Svix signing secret.
const secretPrefix = "whsec_"

// ParseSecrets parses Svix signing secrets ("whsec_<base64>") separated by
// spaces, as configured for rotation, and returns their HMAC keys in order.
// server.go calls it once with the configured value. Errors (*Error) name
// which secret is wrong and how (none given, not whsec_-prefixed, not valid
// base64, empty key) without echoing any secret.
func ParseSecrets(s string) ([][]byte, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, newError("no webhook secret given")
	}
	keys := make([][]byte, 0, len(fields))
	for i, f := range fields {
		encoded, ok := strings.CutPrefix(f, secretPrefix)
		if !ok {
			return nil, newError(fmt.Sprintf("webhook secret %d of %d is not whsec_-prefixed", i+1, len(fields)))
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, newError(fmt.Sprintf("webhook secret %d of %d is not valid base64 after whsec_", i+1, len(fields)))
		}
		if len(key) == 0 {
			return nil, newError(fmt.Sprintf("webhook secret %d of %d is empty", i+1, len(fields)))
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Verifier checks that a delivery was signed by Svix with one of Secrets and
// is recent. Its zero value refuses everything (it has no secrets). It is
// safe for concurrent use once built; do not modify it afterwards.
type Verifier struct {
	// Secrets are HMAC keys, as ParseSecrets returns them; a delivery
	// signed with any of them is accepted (secret rotation).
	Secrets [][]byte
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Tolerance is how far svix-timestamp may be from Now, either way;
	// zero or negative means DefaultTolerance.
	Tolerance time.Duration
}

// Verify checks the Svix headers of one delivery against its raw body,
// exactly as received. The handler calls it before decoding anything.
// It returns nil when svix-signature holds a "v1," signature that one of
// the secrets made over svix-id, svix-timestamp and body, and svix-timestamp
// is within the tolerance of now. Otherwise it returns an *Error whose
// message is one of: "missing svix-id header", "missing svix-timestamp
// header", "missing svix-signature header", "svix-timestamp is not a Unix
// time", "timestamp too old", "timestamp too new", "no valid signature".
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")
	switch {
	case id == "":
		return newError("missing svix-id header")
	case ts == "":
		return newError("missing svix-timestamp header")
	case sigs == "":
		return newError("missing svix-signature header")
	}
	sec, ok := parseUnix(ts)
	if !ok {
		return newError("svix-timestamp is not a Unix time")
	}
	now, sent := v.now(), time.Unix(sec, 0)
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if sent.Before(now.Add(-tolerance)) {
		return newError("timestamp too old")
	}
	if sent.After(now.Add(tolerance)) {
		return newError("timestamp too new")
	}
	for _, secret := range v.Secrets {
		// The signed timestamp is the header as sent, not reformatted.
		want := []byte(sign(secret, id, ts, body))
		for _, sig := range strings.Fields(sigs) {
			if strings.HasPrefix(sig, "v1,") && hmac.Equal([]byte(sig), want) {
				return nil
			}
		}
	}
	return newError("no valid signature")
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Sign returns the svix-signature value ("v1,<base64>") that Svix would
// send for a delivery of body with the given id and timestamp, signed with
// the HMAC key secret (as ParseSecrets returns it). Tests and local tools
// call it to build deliveries that Verify accepts.
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	return sign(secret, id, strconv.FormatInt(ts.Unix(), 10), body)
}

// sign computes the v1 signature of id.ts.body.
func sign(secret []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseUnix parses a Unix time in seconds written as decimal digits only
// (no sign, no spaces), as Svix sends it.
func parseUnix(s string) (int64, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
