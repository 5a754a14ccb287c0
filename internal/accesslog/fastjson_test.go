package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestFastLineIsSlogsLine: the access log's direct encoder writes, byte
// for byte, the line slog's JSON handler writes for the same record, over
// generated values (control characters, quotes, non-ASCII, invalid UTF-8,
// U+2028, numbers, floats, code lists).
func TestFastLineIsSlogsLine(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	pieces := []string{"a", "Z", "9", " ", `"`, `\`, "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "<", ">", "&",
		"é", "日本", "\u2028", "\u2029", "\xff", "\xe2\x80", "🙂", "/", "'"}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(12) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	at := time.Date(2026, 12, 3, 17, 4, 5, 123456789, time.FixedZone("X", 3600))
	for i := range 2000 {
		attrs := []slog.Attr{slog.String("request_id", str()), slog.String("method", "POST"), slog.Int("status", r.IntN(600)),
			slog.Float64("duration_ms", float64(r.IntN(1e7))/1e3), slog.Int64("bytes", r.Int64N(1<<40))}
		if r.IntN(2) == 0 {
			attrs = append(attrs, slog.String(str(), str()))
		}
		if r.IntN(2) == 0 {
			attrs = append(attrs, slog.Any("error_codes", []string{str(), str()}))
		}
		if r.IntN(3) == 0 {
			attrs = append(attrs, slog.Bool("panic", true))
		}
		var want, got bytes.Buffer
		rec := slog.NewRecord(at.Add(time.Duration(i)*time.Microsecond), slog.LevelInfo, "request", 0)
		rec.AddAttrs(attrs...)
		if err := slog.NewJSONHandler(&want, nil).Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		newJSONHandler(&got, &slog.HandlerOptions{}).logLine(rec.Time, "request", attrs)
		if got.String() != want.String() {
			t.Fatalf("case %d:\n got %q\nwant %q", i, got.String(), want.String())
		}
	}
}

// TestFastLineHonoursTheLevel: at LOG_LEVEL=warn no access line is
// written; a logger derived with With is slog's, attributes and all.
func TestFastLineHonoursTheLevel(t *testing.T) {
	var buf bytes.Buffer
	warn, err := NewLogger("json", "warn", &buf)
	if err != nil {
		t.Fatal(err)
	}
	logRequest(context.Background(), warn, time.Now(), []slog.Attr{slog.String("route", "/graphql")})
	if buf.Len() != 0 {
		t.Fatalf("an info line at level warn: %s", buf.String())
	}
	info, _ := NewLogger("json", "info", &buf)
	logRequest(context.Background(), info.With("component", "x"), time.Now(), []slog.Attr{slog.String("route", "/graphql")})
	if !strings.Contains(buf.String(), `"component":"x"`) || !strings.Contains(buf.String(), `"route":"/graphql"`) {
		t.Fatalf("a derived logger's line: %s", buf.String())
	}
}

func BenchmarkAccessLine(b *testing.B) {
	attrs := []slog.Attr{slog.String("request_id", "0123456789abcdef0123456789abcdef"), slog.String("method", "POST"),
		slog.String("route", "/graphql"), slog.Int("status", 200), slog.Float64("duration_ms", 0.812), slog.Int64("bytes", 67072),
		slog.String("graphql_operation", "Page"), slog.String("graphql_type", "query"), slog.String("org_id", "org_acme"), slog.String("user_id", "user_acme_admin")}
	for _, c := range []struct {
		name   string
		logger *slog.Logger
	}{{"direct", slog.New(newJSONHandler(discard{}, &slog.HandlerOptions{}))}, {"slog", slog.New(slog.NewJSONHandler(discard{}, nil))}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				logRequest(context.Background(), c.logger, time.Now(), attrs)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A float attribute (every line's duration_ms) is written as json.Marshal
// writes it, which is what slog's JSON handler does.
func TestAppendJSONFloatIsMarshal(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.001, 0.5, 1.25, 12.345, 123456.789, 1e-6, 9.99e-7, 1e-7, 1.5e-9, 1e20, 1e21, 1.5e300, -2.5e-10,
		math.SmallestNonzeroFloat64, math.MaxFloat64, math.Round(float64(1234567)/1e3) / 1e3}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		values = append(values, math.Round(r.Float64()*1e7)/1e3, r.NormFloat64()*math.Pow(10, float64(r.IntN(60)-30)))
	}
	for _, f := range values {
		want, _ := json.Marshal(f)
		if got := appendJSONValue(nil, slog.Float64Value(f)); string(got) != string(want) {
			t.Errorf("%v: %s, want %s", f, got, want)
		}
	}
	// Not finite: as before, through json.Marshal's error.
	if got := appendJSONValue(nil, slog.Float64Value(math.Inf(1))); !strings.Contains(string(got), "unsupported value") {
		t.Errorf("+Inf: %s", got)
	}
}
