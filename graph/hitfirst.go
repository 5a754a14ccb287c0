package graph

import (
	"bytes"
	"io"
	"net/http"

	"github.com/orgusers/orgusers/internal/accesslog"
	"github.com/orgusers/orgusers/internal/auth"
)

// hitFirst serves the response-cache hits of POST requests before gqlgen's
// handler.Server sees them: the Server clones every request to start an
// operation trace (four allocations and a copy of the request) that a hit
// never reads. A hit is answered exactly as httpTransport.do answers it
// (TestHitFirstAnswersAsTheTransport); every other request goes on to the
// Server, which answers it as before, with the body hitFirst read replayed
// to it (a miss then costs a copy of its body, a hit nothing).
//
// NewHandler puts it in front only without tracing: the traced transport
// opens its span around the whole answer, hits included.
// hitFirstMaxBody is the largest body hitFirst reads. The answers worth
// caching are asked for in a few hundred bytes; a large body (a hostile 1
// MiB of fragments) would be read, hashed and copied here for a lookup that
// misses, then parsed by the Server all the same, so it goes straight
// there, where the transport still serves it from the cache when it hits.
const hitFirstMaxBody = 32 << 10

type hitFirst struct {
	next http.Handler // gqlgen's Server
	t    *httpTransport
}

func (h hitFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := h.t
	ctx := r.Context()
	// Only a request the HTTP transport would take, from a caller whose
	// answers are cached, with a JSON body of a known, allowed length:
	// everything that might be refused or streamed is left to the Server,
	// unread.
	p, err := auth.FromContext(ctx)
	if err != nil || r.Method != http.MethodPost || r.ContentLength < 0 || r.ContentLength > min(t.maxBody, hitFirstMaxBody) ||
		r.Header.Get("Content-Type") != contentTypeJSON || (wsTransport{}).Supports(r) || (sseTransport{}).Supports(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	if !t.cache.caches(p) { // nothing is read for a caller never cached
		h.next.ServeHTTP(w, r)
		return
	}
	buf := bodyBuffers.Get().(*[]byte)
	raw, rerr := readAll(r.Body, (*buf)[:0], t.maxBody)
	defer func() {
		*buf = raw[:0]
		bodyBuffers.Put(buf)
	}()
	if rerr == nil {
		key, _ := t.cache.key(p, r.Method, r.Header.Get("Accept"), raw)
		if e, ok := t.cache.lookup(ctx, p, key); ok {
			// What do writes for a hit, in its order.
			hd := w.Header()
			hd["Cache-Control"] = cacheControlValue
			addVary(hd)
			accesslog.SetCaller(ctx, p.OrgID, p.UserID)
			if t.obs == nil {
				t.cache.write(ctx, w, r, &e, nil)
				return
			}
			o := outcome{typ: "unknown"}
			t.cache.write(ctx, w, r, &e, &o)
			t.obs.ObserveOperation(o.typ, o.name, "OK")
			return
		}
	}
	// Not a hit: the Server reads the same bytes, and the same error
	// after them (a slow or short body), from a copy of the request.
	replay := r.WithContext(ctx)
	replay.Body = replayBody{io.MultiReader(bytes.NewReader(raw), errReader{rerr})}
	h.next.ServeHTTP(w, replay)
}

// replayBody is a request body replaying what hitFirst read.
type replayBody struct{ io.Reader }

func (replayBody) Close() error { return nil }

// errReader returns err, or io.EOF when err is nil.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}
