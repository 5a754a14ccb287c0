package graph

import (
	"net/http"
	"slices"
	"sync"
	"testing"
)

// operations records what the transport tells its Observer.
type operations struct {
	mu  sync.Mutex
	got []string // "type name code"
}

var _ Observer = (*operations)(nil)

func (o *operations) ObserveOperation(typ, name, code string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, typ+" "+name+" "+code)
}

func TestObserverHearsEachRequestOnce(t *testing.T) {
	obs := &operations{}
	url := serve(t, Options{Observer: obs}, admin)
	for _, body := range []string{
		`{"query":"query Q { viewer { userId } }"}`,                     // OK
		`{"query":"{ viewer { userId } }"}`,                             // anonymous
		`{"query":"query Q { viewer { userId } }"}`,                     // a response cache hit
		`{"query":"mutation M { nope }"}`,                               // refused in validation
		`{"query":"query A { viewer { userId } }","operationName":"B"}`, // names no operation
		`{"query":"{"}`, // does not parse
		`not json`,      // not a GraphQL request
	} {
		do(t, postRequest(t, url, body))
	}
	do(t, mustRequest(t, http.MethodGet, url+"?query="+urlEncode("mutation M { __typename }"), ""))
	want := []string{
		"query Q OK",
		"query  OK",
		"query Q OK",
		"unknown  GRAPHQL_VALIDATION_FAILED",
		"unknown  GRAPHQL_VALIDATION_FAILED",
		"unknown  GRAPHQL_PARSE_FAILED",
		"unknown  BAD_REQUEST",
		"mutation M BAD_REQUEST",
	}
	if !slices.Equal(obs.got, want) {
		t.Fatalf("observed\n%q\nwant\n%q", obs.got, want)
	}
}
