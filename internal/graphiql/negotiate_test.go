package graphiql

import "testing"

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"br, gzip, deflate", true},
		{"gzip;q=0.5", true},
		{"gzip; q=1.0, br", true},
		{"gzip;q=0", false},
		{"gzip;q=0.000", false},
		{"gzip;q=nonsense", false},
		{"br, deflate", false},
		{"*", false},
		{"x-gzip2", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	const etag = `"abc"`
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{`"abc"`, true},
		{`W/"abc"`, true},
		{`"x", "abc"`, true},
		{`*`, true},
		{`"abcd"`, false},
		{`abc`, false},
	}
	for _, tt := range tests {
		if got := etagMatches(tt.header, etag); got != tt.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

// BenchmarkGzipFirstUse measures the one-time cost of compressing all assets,
// paid by the first gzip request for each.
func BenchmarkGzipFirstUse(b *testing.B) {
	for b.Loop() {
		for _, a := range assets {
			gzipBytes(a.body)
		}
	}
}
