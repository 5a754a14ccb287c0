package fleet

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestNewClientKinds: one server, a Cluster by its seed nodes and a
// Sentinel deployment by its master name, each from one REDIS_URL.
func TestNewClientKinds(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:6379/0", "server"},
		{"rediss://user:pw@redis.example:6380/2", "server"},
		{"redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379", "cluster"},
		{"redis://10.0.0.1:26379?master_name=mymaster&addr=10.0.0.2:26379", "sentinel"},
	} {
		if err := ParseURL(tc.url); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		c, err := NewClient(tc.url, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		var got string
		switch c := c.(type) {
		case *redis.ClusterClient:
			got = "cluster"
		case *redis.Client:
			got = "server"
			if c.Options().Addr == "FailoverClient" { // how go-redis names a Sentinel-backed client
				got = "sentinel"
			}
		default:
			t.Fatalf("%s: a %T", tc.url, c)
		}
		if got != tc.want {
			t.Fatalf("%s: a %T, want %s", tc.url, c, tc.want)
		}
		c.Close()
	}
	for _, bad := range []string{"http://x/", "redis://h:6379?addr=a&nosuch=1", "redis://h:6379?master_name=m&nosuch=1"} {
		if ParseURL(bad) == nil {
			t.Fatalf("%s: accepted", bad)
		}
	}
}
