package graph

import (
	"context"
	"errors"
	"sync"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgusers/orgusers/graph/model"
	"github.com/orgusers/orgusers/internal/auth"
	"github.com/orgusers/orgusers/internal/directory"
	"github.com/orgusers/orgusers/internal/live"
)

// errSessionExpired is the cause of a stream's context ending when the
// session token that opened it expires.
var errSessionExpired = errors.New("the session token expired")

// sessionExpired is the error a stream ends with when its token expires.
func sessionExpired() *directory.Error {
	return directory.Errorf(directory.CodeUnauthenticated, "the session token that opened this subscription expired; subscribe again with a fresh token")
}

// orgUsersChanged subscribes the caller to the changes of their active
// organization's members that filter selects.
func (r *Resolver) orgUsersChanged(ctx context.Context, filter *model.OrgUserFilter) (<-chan *model.OrgUserChange, error) {
	if r.Live == nil {
		return nil, directory.Errorf(directory.CodeInternal, "live updates are not configured")
	}
	userID, orgID, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	f, err := toFilter(filter, "filter")
	if err != nil {
		return nil, err
	}
	sel, err := directory.NewSelector(f)
	if err != nil {
		return nil, err
	}
	sub, err := r.Live.Subscribe(ctx, orgID, orgID+"/"+userID, sel)
	if err != nil {
		return nil, err
	}
	out := make(chan *model.OrgUserChange)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					if err := sub.Err(); err != nil {
						endStream(ctx, err)
					}
					return
				}
				c := &model.OrgUserChange{Kind: changeKind(ev.Kind), UserID: ev.UserID, User: ev.Member, Version: ev.Version}
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func changeKind(k live.Kind) model.OrgUserChangeKind {
	switch k {
	case live.Added:
		return model.OrgUserChangeKindAdded
	case live.Removed:
		return model.OrgUserChangeKindRemoved
	}
	return model.OrgUserChangeKindUpdated
}

// streamEnd holds the error a stream's subscription ended with, for the
// transport to send before it completes the stream.
type streamEnd struct {
	mu  sync.Mutex
	err error
}

type streamEndKey struct{}

// webSocketKey marks the context of an operation on a WebSocket, whose
// transport takes a subscription's error with AddSubscriptionError.
type webSocketKey struct{}

// endStream records why a subscription ended for its transport.
func endStream(ctx context.Context, err error) {
	if e, _ := ctx.Value(streamEndKey{}).(*streamEnd); e != nil {
		e.mu.Lock()
		e.err = err
		e.mu.Unlock()
	}
	if ctx.Value(webSocketKey{}) != nil {
		transport.AddSubscriptionError(ctx, clientError(err))
	}
}

// ended returns the error recorded by endStream, or nil.
func (e *streamEnd) ended() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// clientError is the GraphQL error a client sees for a domain error.
func clientError(err error) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    directory.ErrorMessage(err),
		Extensions: map[string]any{"code": string(directory.ErrorCode(err))},
	}
}

// untilExpiry returns ctx ending, with cause errSessionExpired, when p's
// token expires.
func untilExpiry(ctx context.Context, p *auth.Principal) (context.Context, context.CancelFunc) {
	return context.WithDeadlineCause(ctx, p.ExpiresAt, errSessionExpired)
}
