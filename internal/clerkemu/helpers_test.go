package clerkemu_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orgusers/orgusers/internal/clerkemu"
)

// shared is one emulator with the default dataset for tests that only read:
// generating a key per test would cost ~100ms each.
var shared struct {
	once sync.Once
	emu  *clerkemu.Emulator
	srv  *httptest.Server
	err  error
}

// readOnly returns the shared emulator and its server. Callers must not
// mutate data, faults or hidden users.
func readOnly(t *testing.T) (*clerkemu.Emulator, *httptest.Server) {
	t.Helper()
	shared.once.Do(func() {
		shared.emu, shared.err = clerkemu.New(clerkemu.Options{})
		if shared.err == nil {
			shared.srv = httptest.NewServer(shared.emu.Handler())
		}
	})
	if shared.err != nil {
		t.Fatalf("New: %v", shared.err)
	}
	return shared.emu, shared.srv
}

// fresh returns a new emulator (default dataset unless opts.Data is set)
// served on a server closed at the end of the test.
func fresh(t *testing.T, opts clerkemu.Options) (*clerkemu.Emulator, *httptest.Server) {
	t.Helper()
	emu, err := clerkemu.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(srv.Close)
	return emu, srv
}

// call sends method path (with query) and body with the emulator's key and
// returns the status, headers and body.
func call(t *testing.T, emu *clerkemu.Emulator, srv *httptest.Server, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	return callKey(t, srv, "Bearer "+emu.SecretKey(), method, path, body)
}

func callKey(t *testing.T, srv *httptest.Server, auth, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

// getJSON calls GET path, expects 200 and decodes the body into v.
func getJSON(t *testing.T, emu *clerkemu.Emulator, srv *httptest.Server, path string, v any) {
	t.Helper()
	status, _, body := call(t, emu, srv, http.MethodGet, path, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decoding: %v", path, err)
	}
}

// clerkErr is the decoded first error of a Clerk error body.
type clerkErr struct {
	Code, Param, Trace string
}

func decodeErr(t *testing.T, body []byte) clerkErr {
	t.Helper()
	var e struct {
		Errors []struct {
			Code string `json:"code"`
			Meta struct {
				ParamName string `json:"param_name"`
			} `json:"meta"`
		} `json:"errors"`
		Trace string `json:"clerk_trace_id"`
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not a Clerk error body (%v): %s", err, body)
	}
	return clerkErr{e.Errors[0].Code, e.Errors[0].Meta.ParamName, e.Trace}
}

type idOnly struct {
	ID string `json:"id"`
}

type memberList struct {
	Data []struct {
		ID             string `json:"id"`
		Role           string `json:"role"`
		CreatedAt      int64  `json:"created_at"`
		PublicUserData struct {
			UserID     string  `json:"user_id"`
			FirstName  *string `json:"first_name"`
			Identifier *string `json:"identifier"`
		} `json:"public_user_data"`
	} `json:"data"`
	TotalCount int `json:"total_count"`
}
