package graph

import (
	"fmt"
	"strings"
	"testing"
)

func manifest(bodies ...string) string {
	var ops []string
	for i, b := range bodies {
		ops = append(ops, fmt.Sprintf(`{"id":"%s","name":"Op%d","type":"query","body":%s}`, sha(b), i, quote(b)))
	}
	return `{"format":"apollo-persisted-query-manifest","version":1,"operations":[` + strings.Join(ops, ",") + `]}`
}

func TestTrustedDocumentsOnlyListedOperationsRun(t *testing.T) {
	const listed = `query Two { orgUsers(first: 2) { nodes { id } } }`
	docs, err := ParseTrustedDocuments(strings.NewReader(manifest(listed)))
	if err != nil || docs.Len() != 1 {
		t.Fatal(err)
	}
	u := serve(t, Options{TrustedDocuments: docs}, admin)
	if a := postQuery(t, u, listed); len(a.Errors) != 0 || !strings.Contains(string(a.Data), "user_2") {
		t.Fatalf("listed text: %s", a.raw)
	}
	ext := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%s"}}`, sha(listed))
	if a := post(t, u, `{"extensions":`+ext+`}`); len(a.Errors) != 0 || !strings.Contains(string(a.Data), "user_2") {
		t.Fatalf("listed hash alone: %s", a.raw)
	}
	for name, body := range map[string]string{
		"another text":         `{"query":"{ viewer { userId } }"}`,
		"an unlisted hash":     `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + sha("nope") + `"}}}`,
		"a text and its hash":  `{"query":"{ viewer { userId } }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + sha("{ viewer { userId } }") + `"}}}`,
		"introspection":        `{"query":"{ __schema { types { name } } }"}`,
		"the listed text plus": `{"query":` + quote(listed+" ") + `}`,
	} {
		if a := post(t, u, body); a.codes() != CodeNotInList {
			t.Errorf("%s: %s", name, a.raw)
		}
	}
	if a := post(t, u, `{"query":`+quote(listed)+`,"extensions":{"persistedQuery":{"version":1,"sha256Hash":"`+sha("other")+`"}}}`); a.codes() != CodePersistedQueryHashMismatch {
		t.Errorf("mismatched hash: %s", a.raw)
	}
}

func TestTrustedDocumentsManifestErrors(t *testing.T) {
	for name, m := range map[string]string{
		"not JSON":     `nope`,
		"wrong format": `{"format":"other","version":1,"operations":[]}`,
		"wrong id":     `{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"` + sha("a") + `","name":"A","type":"query","body":"{ b }"}]}`,
		"no body":      `{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"x","name":"A","type":"query"}]}`,
		"twice":        manifest("{ a }", "{ a }"),
	} {
		if _, err := ParseTrustedDocuments(strings.NewReader(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
