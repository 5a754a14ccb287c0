package accesslog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgusers/orgusers/internal/accesslog"
)

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		format, level string
		wantErr       string // substring; "" means success
		wantDebug     bool
		wantInfo      bool
		wantWarn      bool
	}{
		{format: "json", level: "info", wantInfo: true, wantWarn: true},
		{format: "text", level: "info", wantInfo: true, wantWarn: true},
		{format: "JSON", level: "Debug", wantDebug: true, wantInfo: true, wantWarn: true},
		{format: "text", level: "warn", wantWarn: true},
		{format: "json", level: "error"},
		{format: "xml", level: "info", wantErr: `LOG_FORMAT: "xml" is not one of json, text`},
		{format: "", level: "info", wantErr: `LOG_FORMAT: "" is not one of json, text`},
		{format: "json", level: "verbose", wantErr: `LOG_LEVEL: "verbose" is not one of debug, info, warn, error`},
		{format: "json", level: "", wantErr: "LOG_LEVEL"},
	} {
		t.Run(tc.format+"/"+tc.level, func(t *testing.T) {
			var buf strings.Builder
			logger, err := accesslog.NewLogger(tc.format, tc.level, &buf)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || logger != nil {
					t.Fatalf("NewLogger(%q, %q) = %v, %v; want nil and an error containing %q", tc.format, tc.level, logger, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			logger.Debug("d-line")
			logger.Info("i-line")
			logger.Warn("w-line")
			out := buf.String()
			for msg, want := range map[string]bool{"d-line": tc.wantDebug, "i-line": tc.wantInfo, "w-line": tc.wantWarn} {
				if got := strings.Contains(out, msg); got != want {
					t.Errorf("output contains %s: %v, want %v\n%s", msg, got, want, out)
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				isJSON := json.Valid([]byte(line))
				if isJSON != strings.EqualFold(tc.format, "json") {
					t.Errorf("format %s: line %q is JSON: %v", tc.format, line, isJSON)
				}
			}
		})
	}
}

// TestCanaries sends requests carrying a secret in every place a secret may
// travel and checks that the access log has one complete line per request
// and none of the secrets.
func TestCanaries(t *testing.T) {
	canaries := map[string]string{
		"authorization": "canaryAuthz7f3a",
		"session":       "canarySession91bc",
		"cookie":        "canaryCookie44de",
		"query":         "canaryQuery5e21",
		"path":          "canaryPath0c8f",
		"body":          "canaryBody66aa",
		"variables":     "canaryVariables3d19",
		"metadata":      "canaryMetadata8b07",
		"response":      "canaryResponse2f6e",
		"header":        "canaryHeader9a1c",
	}
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			buf := newLogBuffer()
			logger, err := accesslog.NewLogger(format, "debug", buf)
			if err != nil {
				t.Fatal(err)
			}
			route := accesslog.PathRoutes("/graphql", "/api/organization/users")
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var params struct {
					OperationName string         `json:"operationName"`
					Variables     map[string]any `json:"variables"`
				}
				body, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(body, &params)
				ctx := r.Context()
				accesslog.SetOperation(ctx, params.OperationName, "query")
				accesslog.SetCaller(ctx, "org_1", "user_1")
				accesslog.AddErrorCodes(ctx, "FORBIDDEN", "BAD_USER_INPUT", "FORBIDDEN")
				w.Header().Set("Set-Cookie", "__session="+canaries["response"])
				w.Header().Set("X-Echo", r.Header.Get("X-Custom"))
				w.WriteHeader(http.StatusOK)
				fmt.Fprintf(w, `{"data":{"echo":%q,"vars":%q}}`, body, fmt.Sprint(params.Variables))
			})
			srv := serve(t, logger, route, h)

			body := fmt.Sprintf(`{"operationName":"Members","query":"query Members { orgUsers { nodes { id } } }","variables":{"secret":%q,"filter":{"metadata":[{"path":"department","equals":%q}]}},"note":%q}`,
				canaries["variables"], canaries["metadata"], canaries["body"])
			targets := []string{
				"/graphql?token=" + canaries["query"] + "&variables=%7B%22a%22%3A%22" + canaries["variables"] + "%22%7D",
				"/api/organization/users?metadata.department=" + canaries["metadata"],
				"/" + canaries["path"] + "/x?q=" + canaries["query"],
			}
			for _, target := range targets {
				req, err := http.NewRequest(http.MethodPost, srv.URL+target, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+canaries["authorization"])
				req.Header.Set("Cookie", "__session="+canaries["session"]+"; theme="+canaries["cookie"])
				req.Header.Set("X-Custom", canaries["header"])
				req.Header.Set("Content-Type", "application/json")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(got), canaries["body"]) {
					t.Fatalf("handler did not see the body: %s", got)
				}
			}

			lines := buf.lines(t, len(targets))
			out := buf.String()
			for name, c := range canaries {
				if strings.Contains(out, c) {
					t.Errorf("the log holds the %s canary %q:\n%s", name, c, out)
				}
			}
			wantRoutes := []string{"/graphql", "/api/organization/users", accesslog.OtherRoute}
			for i, line := range lines {
				fields := parseLine(t, format, line)
				want := map[string]string{
					"msg":               "request",
					"level":             "INFO",
					"method":            "POST",
					"route":             wantRoutes[i],
					"status":            "200",
					"graphql_operation": "Members",
					"graphql_type":      "query",
					"error_codes":       "[BAD_USER_INPUT FORBIDDEN]",
					"org_id":            "org_1",
					"user_id":           "user_1",
				}
				for k, v := range want {
					if fields[k] != v {
						t.Errorf("line %d: %s = %q, want %q\n%s", i, k, fields[k], v, line)
					}
				}
				for _, k := range []string{"request_id", "duration_ms", "bytes"} {
					if fields[k] == "" || fields[k] == "0" && k == "bytes" {
						t.Errorf("line %d: %s = %q, want a value\n%s", i, k, fields[k], line)
					}
				}
			}
		})
	}
}

// parseLine returns a log line's top-level fields as strings; lists as
// "[a b]".
func parseLine(t *testing.T, format, line string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	if format == "json" {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		for k, v := range m {
			fields[k] = fmt.Sprint(v)
		}
		return fields
	}
	// slog's text format: key=value, values quoted when they need it.
	re := regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)
	for _, m := range re.FindAllStringSubmatch(line, -1) {
		v := m[2]
		if strings.HasPrefix(v, `"`) {
			if err := json.Unmarshal([]byte(v), &v); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
		}
		fields[m[1]] = v
	}
	return fields
}

func TestRequestID(t *testing.T) {
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	max := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name     string
		incoming []string
		keep     bool
	}{
		{"sane", []string{"req-1.A_b:9"}, true},
		{"128 chars", []string{max}, true},
		{"none", nil, false},
		{"empty", []string{""}, false},
		{"129 chars", []string{max + "a"}, false},
		{"space", []string{"req 1"}, false},
		{"slash", []string{"a/b"}, false},
		{"non-ASCII", []string{"réq"}, false},
		{"newline injection", []string{"abc\n{\"msg\":\"request\",\"status\":200}"}, false},
		{"CRLF injection", []string{"abc\r\nlevel=ERROR msg=forged"}, false},
		{"two headers", []string{"a", "b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, buf := newJSONLogger(t)
			var inCtx, inHeader string
			h := accesslog.Middleware(logger, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inCtx = accesslog.RequestID(r.Context())
				inHeader = w.Header().Get(accesslog.HeaderRequestID)
				_, _ = io.WriteString(w, "ok")
			}))
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			for _, v := range tc.incoming {
				req.Header.Add(accesslog.HeaderRequestID, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			id := rec.Header().Get(accesslog.HeaderRequestID)
			if tc.keep && id != tc.incoming[0] {
				t.Errorf("response id %q, want the incoming %q", id, tc.incoming[0])
			}
			if !tc.keep && !generated.MatchString(id) {
				t.Errorf("response id %q, want a generated one", id)
			}
			if inCtx != id || inHeader != id {
				t.Errorf("id in the handler's context %q and response header %q, want %q", inCtx, inHeader, id)
			}
			line := buf.jsonLines(t, 1)[0]
			if line["request_id"] != id {
				t.Errorf("logged request_id %v, want %q", line["request_id"], id)
			}
			if strings.Contains(buf.String(), "forged") {
				t.Errorf("an injected line reached the log:\n%s", buf.String())
			}
		})
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	logger, _ := newJSONLogger(t)
	h := accesslog.Middleware(logger, nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	seen := map[string]bool{}
	for range 100 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		id := rec.Header().Get(accesslog.HeaderRequestID)
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
	}
}

// TestConcurrentAnnotate annotates one request from many goroutines, as
// resolvers do; run with -race.
func TestConcurrentAnnotate(t *testing.T) {
	logger, buf := newJSONLogger(t)
	codes := []string{"FORBIDDEN", "BAD_USER_INPUT", "UPSTREAM_UNAVAILABLE", "INTERNAL_SERVER_ERROR", "NO_ACTIVE_ORGANIZATION"}
	h := accesslog.Middleware(logger, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Go(func() {
				accesslog.AddErrorCodes(ctx, codes[i%len(codes)])
				accesslog.SetOperation(ctx, "Members", "query")
				accesslog.SetCaller(ctx, "org_1", "user_1")
				accesslog.Annotate(ctx, func(e *accesslog.Entry) { e.ErrorCodes = append(e.ErrorCodes, "") })
				_ = accesslog.RequestID(ctx)
			})
		}
		wg.Wait()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	line := buf.jsonLines(t, 1)[0]
	want := []any{"BAD_USER_INPUT", "FORBIDDEN", "INTERNAL_SERVER_ERROR", "NO_ACTIVE_ORGANIZATION", "UPSTREAM_UNAVAILABLE"}
	if !reflect.DeepEqual(line["error_codes"], want) {
		t.Errorf("error_codes %v, want %v", line["error_codes"], want)
	}
	if line["graphql_operation"] != "Members" || line["org_id"] != "org_1" || line["user_id"] != "user_1" {
		t.Errorf("line %v lacks the annotations", line)
	}
}

func TestStatusAndBytes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		h          http.HandlerFunc
		wantStatus int
		wantBytes  int
	}{
		{"explicit", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "hello")
		}, 201, 5},
		{"explicit error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "nope", http.StatusForbidden)
		}, 403, len("nope\n")},
		{"implicit", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "hello")
			_, _ = io.WriteString(w, " world")
		}, 200, 11},
		{"nothing", func(http.ResponseWriter, *http.Request) {}, 200, 0},
		{"header only", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204, 0},
		{"second WriteHeader ignored", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "x")
		}, 404, 1},
		{"informational first", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, "ok")
		}, 202, 2},
		{"io.Copy (ReadFrom)", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.Copy(w, io.LimitReader(strings.NewReader(strings.Repeat("z", 100_000)), 70_000))
		}, 200, 70_000},
		{"flush only", func(w http.ResponseWriter, _ *http.Request) { w.(http.Flusher).Flush() }, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, buf := newJSONLogger(t)
			srv := serve(t, logger, nil, tc.h)
			resp, err := srv.Client().Get(srv.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || len(body) != tc.wantBytes {
				t.Fatalf("client got %d with %d bytes, want %d with %d", resp.StatusCode, len(body), tc.wantStatus, tc.wantBytes)
			}
			line := buf.jsonLines(t, 1)[0]
			if got := num(t, line, "status"); got != tc.wantStatus {
				t.Errorf("logged status %d, want %d", got, tc.wantStatus)
			}
			if got := num(t, line, "bytes"); got != tc.wantBytes {
				t.Errorf("logged bytes %d, want %d", got, tc.wantBytes)
			}
			if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
				t.Errorf("duration_ms %#v, want a non-negative number", line["duration_ms"])
			}
		})
	}
}

func TestPanicIsLoggedAndReraised(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"before writing", func(http.ResponseWriter, *http.Request) { panic(errBoom) }},
		{"after writing", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "partial")
			panic(errBoom)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, buf := newJSONLogger(t)
			h := accesslog.Middleware(logger, nil)(tc.h)
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			}()
			if recovered != errBoom {
				t.Fatalf("recovered %v, want the handler's panic value", recovered)
			}
			line := buf.jsonLines(t, 1)[0]
			if num(t, line, "status") != 500 || line["panic"] != true {
				t.Errorf("line %v, want status 500 and panic true", line)
			}
		})
	}
}

// TestPanicThroughServer checks that net/http still recovers a panic the
// middleware re-raised: the connection is dropped, the server keeps serving.
func TestPanicThroughServer(t *testing.T) {
	logger, buf := newJSONLogger(t)
	srv := serve(t, logger, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		_, _ = io.WriteString(w, "ok")
	}))
	if resp, err := srv.Client().Get(srv.URL + "/panic"); err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want the connection dropped", resp.StatusCode)
	}
	resp, err := srv.Client().Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines := buf.jsonLines(t, 2)
	if num(t, lines[0], "status") != 500 || lines[0]["panic"] != true || num(t, lines[1], "status") != 200 {
		t.Errorf("lines %v, want 500 with panic then 200", lines)
	}
}

// TestFlusherAndResponseController checks that the wrapped writer still
// streams and still reaches the connection's deadlines.
func TestFlusherAndResponseController(t *testing.T) {
	logger, buf := newJSONLogger(t)
	clientRead := make(chan struct{})
	errs := make(chan error, 1)
	srv := serve(t, logger, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errs <- func() error {
			f, ok := w.(http.Flusher)
			if !ok {
				return errors.New("the writer is not an http.Flusher")
			}
			rc := http.NewResponseController(w)
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				return fmt.Errorf("SetWriteDeadline: %w", err)
			}
			if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
				return fmt.Errorf("SetReadDeadline: %w", err)
			}
			if err := rc.EnableFullDuplex(); err != nil {
				return fmt.Errorf("EnableFullDuplex: %w", err)
			}
			_, _ = io.WriteString(w, "first\n")
			f.Flush()
			select {
			case <-clientRead: // only possible if the flush reached the client
			case <-r.Context().Done():
				return errors.New("the client never read the flushed line")
			}
			_, _ = io.WriteString(w, "second\n")
			return rc.Flush()
		}()
	}))
	resp, err := srv.Client().Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	close(clientRead)
	rest, _ := io.ReadAll(br)
	if string(rest) != "second\n" {
		t.Errorf("rest %q, want second", rest)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	line := buf.jsonLines(t, 1)[0]
	if num(t, line, "bytes") != len("first\nsecond\n") || num(t, line, "status") != 200 {
		t.Errorf("line %v, want 200 and 13 bytes", line)
	}
}

func TestWithoutMiddleware(t *testing.T) {
	ctx := context.Background()
	called := false
	accesslog.Annotate(ctx, func(*accesslog.Entry) { called = true })
	accesslog.SetOperation(ctx, "Members", "query")
	accesslog.AddErrorCodes(ctx, "FORBIDDEN")
	accesslog.SetCaller(ctx, "org_1", "user_1")
	if called {
		t.Error("Annotate called f without a record")
	}
	if id := accesslog.RequestID(ctx); id != "" {
		t.Errorf("RequestID = %q, want empty", id)
	}
}

func TestLineBounds(t *testing.T) {
	long := strings.Repeat("é", 150)
	manyCodes := make([]string, 40)
	for i := range manyCodes {
		manyCodes[i] = fmt.Sprintf("CODE_%02d", i)
	}
	for _, tc := range []struct {
		name     string
		method   string
		annotate func(context.Context)
		want     map[string]any // nil value: field absent
	}{
		{"nothing annotated", http.MethodGet, func(context.Context) {}, map[string]any{
			"graphql_operation": nil, "graphql_type": nil, "error_codes": nil, "org_id": nil, "user_id": nil,
			"route": accesslog.OtherRoute, "method": "GET",
		}},
		{"long operation name", http.MethodPost, func(ctx context.Context) { accesslog.SetOperation(ctx, long, "mutation") }, map[string]any{
			"graphql_operation": strings.Repeat("é", accesslog.MaxOperationLen), "graphql_type": "mutation",
		}},
		{"unknown operation type", http.MethodPost, func(ctx context.Context) { accesslog.SetOperation(ctx, "Op", "QUERY; drop") }, map[string]any{
			"graphql_operation": "Op", "graphql_type": nil,
		}},
		{"invalid UTF-8", http.MethodPost, func(ctx context.Context) { accesslog.SetOperation(ctx, "a\xffb", "query") }, map[string]any{
			"graphql_operation": "a\uFFFDb",
		}},
		{"many codes", http.MethodPost, func(ctx context.Context) { accesslog.AddErrorCodes(ctx, manyCodes...) }, map[string]any{
			"error_codes": toAny(manyCodes[:accesslog.MaxErrorCodes]),
		}},
		{"org-less caller", http.MethodGet, func(ctx context.Context) { accesslog.SetCaller(ctx, "", "user_1") }, map[string]any{
			"org_id": nil, "user_id": "user_1",
		}},
		{"odd method", "PROPFIND", func(context.Context) {}, map[string]any{"method": "OTHER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, buf := newJSONLogger(t)
			h := accesslog.Middleware(logger, nil)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				tc.annotate(r.Context())
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, "/graphql", nil))
			line := buf.jsonLines(t, 1)[0]
			for k, want := range tc.want {
				got, ok := line[k]
				if want == nil {
					if ok {
						t.Errorf("%s = %#v, want absent", k, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
		})
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestPathRoutes(t *testing.T) {
	route := accesslog.PathRoutes("/graphql", "/api/organization/users", "/graphiql/assets/", "/")
	for path, want := range map[string]string{
		"/graphql":                      "/graphql",
		"/graphql/":                     accesslog.OtherRoute,
		"/graphqlx":                     accesslog.OtherRoute,
		"/api/organization/users":       "/api/organization/users",
		"/api/organization/users/u_1":   accesslog.OtherRoute,
		"/graphiql/assets/app.js":       "/graphiql/assets/",
		"/graphiql/assets/":             "/graphiql/assets/",
		"/":                             "/",
		"/anything/else":                accesslog.OtherRoute,
		"/user_2abc/secret-looking-bit": accesslog.OtherRoute,
	} {
		r := httptest.NewRequest(http.MethodGet, "http://example.com"+path+"?q=1", nil)
		if got := route(r); got != want {
			t.Errorf("route(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestRouteSeesMuxPattern checks that route runs after the handler, with the
// request the handler got, so it can use the pattern a ServeMux matched.
func TestRouteSeesMuxPattern(t *testing.T) {
	logger, buf := newJSONLogger(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) {})
	route := func(r *http.Request) string {
		if r.Pattern == "" {
			return accesslog.OtherRoute
		}
		return r.Pattern
	}
	h := accesslog.Middleware(logger, route)(mux)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/items/item_secret", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	lines := buf.jsonLines(t, 2)
	if lines[0]["route"] != "GET /items/{id}" || lines[1]["route"] != accesslog.OtherRoute || num(t, lines[1], "status") != 404 {
		t.Errorf("lines %v", lines)
	}
}
