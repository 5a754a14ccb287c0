package accesslog_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/accesslog"
)

// logBuffer collects log output written from any goroutine and lets a test
// wait for lines written after the client already has its answer.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{}, 1)} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines waits until the buffer holds n lines (or fails the test after a
// generous bound) and returns them.
func (b *logBuffer) lines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s := b.String()
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if s == "" {
			lines = nil
		}
		if len(lines) >= n {
			if len(lines) > n {
				t.Fatalf("got %d log lines, want %d:\n%s", len(lines), n, s)
			}
			return lines
		}
		select {
		case <-b.changed:
		case <-deadline:
			t.Fatalf("got %d log lines, want %d:\n%s", len(lines), n, s)
		}
	}
}

// jsonLines waits for n lines and decodes each as a JSON object.
func (b *logBuffer) jsonLines(t *testing.T, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range b.lines(t, n) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

// newJSONLogger returns an info-level JSON logger writing to a new buffer.
func newJSONLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	buf := newLogBuffer()
	logger, err := accesslog.NewLogger("json", "info", buf)
	if err != nil {
		t.Fatal(err)
	}
	return logger, buf
}

// serve runs h behind Middleware on a test server; the server's own error
// log (panics) is discarded.
func serve(t *testing.T, logger *slog.Logger, route func(*http.Request) string, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(accesslog.Middleware(logger, route)(h))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// num returns a JSON number field as an int.
func num(t *testing.T, m map[string]any, key string) int {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("field %s = %#v, want a number", key, m[key])
	}
	return int(f)
}
