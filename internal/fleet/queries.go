package fleet

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// QueryTTL is how long Redis keeps an automatic persisted query's text
// after it was last registered or read.
const QueryTTL = 24 * time.Hour

// Queries shares Apollo's automatic persisted queries across the fleet: a
// text registered on one replica is found by hash on every other, so a
// client behind a load balancer registers it once. Texts live under
// prefix+"apq:"+hash for QueryTTL after their last use; each is at most
// what GRAPHQL_MAX_QUERY_BYTES allows, and only texts that passed the
// limits and validation are stored. Calls go through the connection's
// deadline and circuit breaker: while Redis is down, each replica keeps
// its own texts only.
type Queries struct{ st *store }

// Queries returns the persisted-query store on this connection.
func (r *Redis) Queries() *Queries { return &Queries{st: r.st} }

func (q *Queries) key(hash string) string { return q.st.prefix + "apq:" + hash }

// Get returns the text registered under hash, if any replica did.
func (q *Queries) Get(ctx context.Context, hash string) (string, bool) {
	var text string
	err := q.st.do(ctx, func(ctx context.Context) error {
		var err error
		text, err = q.st.rdb.GetEx(ctx, q.key(hash), QueryTTL).Result()
		if errors.Is(err, redis.Nil) {
			return nil // absent is an answer, not a failure of Redis
		}
		return err
	})
	return text, err == nil && text != ""
}

// Put registers text under hash for the fleet.
func (q *Queries) Put(ctx context.Context, hash, text string) {
	_ = q.st.do(ctx, func(ctx context.Context) error {
		return q.st.rdb.Set(ctx, q.key(hash), text, QueryTTL).Err()
	})
}
