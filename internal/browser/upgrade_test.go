package browser

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestUpgradeOrigin(t *testing.T) {
	check := UpgradeOrigin([]string{"https://app.example.com"}, nil)
	for _, tc := range []struct {
		name    string
		origins []string
		refused string
	}{
		{"a program sends none", nil, ""},
		{"the server's own page", []string{"http://api.example.com:8080"}, ""},
		{"an allowed origin", []string{"https://app.example.com"}, ""},
		{"another site", []string{"https://evil.example"}, `Origin "https://evil.example" is not an allowed origin`},
		{"the allowed host over http", []string{"http://app.example.com"}, "is not an allowed origin"},
		{"two origins", []string{"https://app.example.com", "https://evil.example"}, "more than one Origin"},
	} {
		r := httptest.NewRequest("GET", "http://api.example.com:8080/graphql", nil)
		for _, o := range tc.origins {
			r.Header.Add("Origin", o)
		}
		got := check(r)
		if (tc.refused == "") != (got == "") || !strings.Contains(got, tc.refused) {
			t.Errorf("%s: %q, want refusal containing %q", tc.name, got, tc.refused)
		}
	}
}
