package fleet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orgusers/orgusers/internal/directory"
)

// redisURL returns REDIS_URL, or skips the test without one.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("needs Redis: run with REDIS_URL=redis://127.0.0.1:6379/0 (.ci/run starts a throwaway redis-server and sets it)")
	}
	return u
}

// newRedis returns a client for REDIS_URL and a key prefix of this test's
// own, whose keys are deleted when the test ends.
func newRedis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	rdb, err := NewClient(redisURL(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "test:" + strings.ReplaceAll(t.Name(), "/", "_") + ":" + randomToken()[:8] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// fakeSource is an inner source that counts loads; each load takes delay
// and returns the org's members as set by members (genMembers(n) by default).
type fakeSource struct {
	loads   atomic.Int64
	delay   time.Duration
	n       int
	mu      sync.Mutex
	fail    error
	members map[string][]directory.Member
	now     func() time.Time // stamps LoadedAt; nil means time.Now
}

func (f *fakeSource) Members(ctx context.Context, orgID string) (*directory.Snapshot, error) {
	f.loads.Add(1)
	started := time.Now()
	if f.now != nil {
		started = f.now()
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if ms, ok := f.members[orgID]; ok {
		return directory.NewSnapshot(orgID, ms, started), nil
	}
	n := f.n
	if n == 0 {
		n = 20
	}
	return directory.NewSnapshot(orgID, genMembers(n, 1), started), nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newReplica returns a Source over inner sharing rdb and prefix, closed
// when the test ends.
func newReplica(t testing.TB, rdb redis.UniversalClient, prefix string, inner directory.Source, cfg Config) *Source {
	t.Helper()
	cfg.Client, cfg.Prefix = rdb, prefix
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	s := New(inner, cfg)
	t.Cleanup(s.Close)
	return s
}

// proxy is a TCP proxy to Redis that a test takes down and brings back on
// the same address, to see a replica lose Redis and rejoin it.
type proxy struct {
	t        testing.TB
	addr     string
	upstream string
	mu       sync.Mutex
	ln       net.Listener
	conns    []net.Conn
}

func newProxy(t testing.TB, upstream string) *proxy {
	p := &proxy{t: t, upstream: upstream}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// down closes the listener and every connection: Redis is "gone".
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// up listens on the same address again.
func (p *proxy) up() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatal(err)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errBoom = errors.New("boom")
