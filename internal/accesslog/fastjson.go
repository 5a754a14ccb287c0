package accesslog

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// jsonHandler is slog's JSON handler, which every other log line goes
// through, with a direct encoder for the access log line: one line per
// request is the logger's hottest path, and slog's general handler spends
// more on it than a response-cache hit spends on everything else. The line
// is the same JSON object slog would write (time in RFC 3339 with
// nanoseconds, level, msg, then the attributes in order); a logger derived
// with With or WithGroup is plain slog again.
type jsonHandler struct {
	slog.Handler
	w  io.Writer
	mu sync.Mutex
}

func newJSONHandler(w io.Writer, opts *slog.HandlerOptions) *jsonHandler {
	return &jsonHandler{Handler: slog.NewJSONHandler(w, opts), w: w}
}

func (h *jsonHandler) WithAttrs(attrs []slog.Attr) slog.Handler { return h.Handler.WithAttrs(attrs) }
func (h *jsonHandler) WithGroup(name string) slog.Handler       { return h.Handler.WithGroup(name) }

var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// logLine writes one Info line with msg and attrs, as slog's JSON handler
// would.
func (h *jsonHandler) logLine(t time.Time, msg string, attrs []slog.Attr) {
	bp := lineBuffers.Get().(*[]byte)
	b := append((*bp)[:0], `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":`...)
	b = appendJSONString(b, msg)
	for _, a := range attrs {
		b = append(b, ',')
		b = appendJSONString(b, a.Key)
		b = append(b, ':')
		b = appendJSONValue(b, a.Value)
	}
	b = append(b, "}\n"...)
	h.mu.Lock()
	_, _ = h.w.Write(b)
	h.mu.Unlock()
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		lineBuffers.Put(bp)
	}
}

func appendJSONValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendJSONString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindFloat64:
		// Every line's duration_ms: written here as json.Marshal writes a
		// float64, without boxing it and copying Marshal's output.
		if f := v.Float64(); !math.IsInf(f, 0) && !math.IsNaN(f) {
			return appendJSONFloat(b, f)
		}
	}
	if ss, ok := v.Any().([]string); ok {
		b = append(b, '[')
		for i, s := range ss {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	}
	out, err := json.Marshal(v.Any()) // floats and anything else, as slog does
	if err != nil {
		return appendJSONString(b, err.Error())
	}
	return append(b, out...)
}

// appendJSONFloat appends a finite f as encoding/json writes a float64:
// the shortest representation, in exponent form (with a one-digit
// negative exponent written without its leading zero) below 1e-6 and from
// 1e21 up.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString appends s as a JSON string, escaped as slog escapes
// it: quotes, backslashes and control characters; invalid UTF-8 as
// U+FFFD; U+2028 and U+2029, which some JavaScript parsers take for line
// ends.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// logRequest writes the access log line, dated now, through h's direct
// encoder when logger is NewLogger's JSON logger, else through slog (which
// dates it itself), with ctx without
// its cancellation (the line is written whether or not the client went
// away). The direct encoder does not look at ctx: slog's own handler's
// Enabled reads only the level, and the context.WithoutCancel wrapper is
// an allocation the line does not need.
func logRequest(ctx context.Context, logger *slog.Logger, now time.Time, attrs []slog.Attr) {
	if h, ok := logger.Handler().(*jsonHandler); ok {
		if h.Enabled(ctx, slog.LevelInfo) {
			h.logLine(now, "request", attrs)
		}
		return
	}
	logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "request", attrs...)
}
