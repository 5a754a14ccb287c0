package accesslog

import (
	"io"
	"net/http"
)

// responseWriter records the status and body bytes of a response. It
// implements http.Flusher and io.ReaderFrom, and Unwrap for
// http.ResponseController (deadlines, hijacking, full duplex).
type responseWriter struct {
	http.ResponseWriter
	status int   // 0 until the final header is written
	bytes  int64 // body bytes accepted by the underlying writer
}

func (w *responseWriter) WriteHeader(code int) {
	// 1xx other than 101 are informational: the final status is still to come.
	if w.status == 0 && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the underlying writer's io.ReaderFrom (sendfile) when it has one.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

// Flush sends buffered data, as http.Flusher; a writer that cannot flush is
// left as it is.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
