package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	coderws "github.com/coder/websocket"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
)

// closeForbidden is graphql-ws's close code for a connection the server
// refuses: connection_init without a valid session, or a session token
// that expired while the connection was open.
const closeForbidden = 4403

// WebSocket timings: how long a client has to send connection_init, and
// how often the server pings (graphql-transport-ws; a client that does
// not answer with a pong within two intervals is dropped) or sends a
// keep-alive (the older graphql-ws subprotocol).
const (
	wsInitTimeout  = 10 * time.Second
	wsPingInterval = 20 * time.Second
)

// wsTransport is GraphQL over WebSocket: the graphql-transport-ws
// subprotocol (graphql-ws: what Apollo Client and urql use), and the older
// graphql-ws subprotocol, by gqlgen's transport. Before the upgrade, the
// Origin must be allowed (cross-site WebSocket hijacking). The session comes
// from connection_init's payload ({"authorization": "Bearer ..."}), else
// from the upgrade request's Authorization header or __session cookie;
// without a valid one the connection is closed with 4403. The connection is
// closed with 4403 too when that session's token expires: clients reconnect
// and send a fresh one.
type wsTransport struct {
	inner  transport.Websocket
	origin func(*http.Request) string // why an upgrade is refused, or ""
}

var _ graphql.Transport = wsTransport{}

// wsState is one connection's session, shared by its InitFunc and its
// connection wrapper (which closes with 4403 once it expired).
type wsState struct {
	mu      sync.Mutex
	session context.Context // set by InitFunc
	cancel  context.CancelFunc
}

type wsStateKey struct{}

func (s *wsState) expired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session != nil && context.Cause(s.session) == errSessionExpired
}

func (s *wsState) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
}

// newWSTransport returns the WebSocket transport. verify checks a token
// from connection_init (nil: only the upgrade request's session counts);
// origin checks the upgrade's Origin (nil: any).
func newWSTransport(verify func(context.Context, string) (*auth.Principal, error), origin func(*http.Request) string, maxMessage int64) wsTransport {
	if origin == nil {
		origin = func(*http.Request) string { return "" }
	}
	return wsTransport{origin: origin, inner: transport.Websocket{
		Implementation:        wsImplementation{},
		InitTimeout:           wsInitTimeout,
		KeepAlivePingInterval: wsPingInterval,
		PingPongInterval:      wsPingInterval,
		PayloadReadLimit:      &maxMessage,
		InitFunc: func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			p, err := wsPrincipal(ctx, payload, verify)
			if err != nil {
				reason := "Forbidden: " + directory.ErrorMessage(err)
				if len(reason) > 120 { // a close reason is at most 123 bytes
					reason = reason[:120]
				}
				ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, closeForbidden), reason)
				return ctx, nil, errors.New(directory.ErrorMessage(err))
			}
			st, _ := ctx.Value(wsStateKey{}).(*wsState)
			if st == nil {
				return ctx, nil, errors.New("the connection was not opened by wsTransport")
			}
			ctx = context.WithValue(auth.WithPrincipal(ctx, p), webSocketKey{}, true)
			ctx, cancel := untilExpiry(ctx, p)
			st.mu.Lock()
			st.session, st.cancel = ctx, cancel
			st.mu.Unlock()
			return ctx, nil, nil
		},
	}}
}

// wsPrincipal verifies the session of a connection: the token in
// connection_init's payload, else the upgrade request's.
func wsPrincipal(ctx context.Context, payload transport.InitPayload, verify func(context.Context, string) (*auth.Principal, error)) (*auth.Principal, error) {
	a := payload.Authorization()
	if a == "" {
		return auth.FromContext(ctx)
	}
	token, ok := strings.CutPrefix(a, "Bearer ")
	if !ok || token == "" {
		return nil, directory.Errorf(directory.CodeUnauthenticated, `connectionParams.authorization must be "Bearer <session token>"`)
	}
	if verify == nil {
		return nil, directory.Errorf(directory.CodeUnauthenticated, "connectionParams.authorization is not accepted here: authenticate the upgrade request")
	}
	return verify(ctx, token)
}

func (wsTransport) Supports(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if msg := t.origin(r); msg != "" {
		writeError(w, http.StatusForbidden, "CSRF_REJECTED", msg)
		return
	}
	st := &wsState{}
	defer st.stop()
	t.inner.Do(w, r.WithContext(context.WithValue(r.Context(), wsStateKey{}, st)), exec)
}

// wsImplementation is gqlgen's coder/websocket adapter with the Origin
// left to wsTransport (which allows CORS_ALLOWED_ORIGINS too, where
// coder/websocket allows only the same host), and connections that close
// with 4403 once their session expired.
type wsImplementation struct{}

func (wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	impl := transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{InsecureSkipVerify: true}}
	conn, err := impl.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	st, _ := r.Context().Value(wsStateKey{}).(*wsState)
	return &wsConn{WebsocketConn: conn, st: st}, nil
}

// wsConn closes with 4403 and says why when its session expired: gqlgen
// closes a connection whose context ended with 1000.
type wsConn struct {
	transport.WebsocketConn
	st *wsState
}

func (c *wsConn) WriteClose(code int, msg string) error {
	if c.st != nil && c.st.expired() {
		code, msg = closeForbidden, "Forbidden: the session token expired; reconnect with a fresh token"
	}
	return c.WebsocketConn.WriteClose(code, msg)
}

func (c *wsConn) SetReadLimit(n int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(n)
	}
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}
