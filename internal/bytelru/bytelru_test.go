package bytelru

import (
	"fmt"
	"sync"
	"testing"
)

func TestBoundedByBytesLeastRecentlyUsedFirst(t *testing.T) {
	c := New[string, int](400)
	for i, k := range []string{"a", "b", "c", "d"} {
		c.Add(k, i, 100)
	}
	if c.Bytes() != 400 || c.Len() != 4 {
		t.Fatalf("bytes %d len %d", c.Bytes(), c.Len())
	}
	c.Get("a") // now the most recently used
	c.Add("e", 4, 100)
	if _, ok := c.Peek("b"); ok {
		t.Fatal("b, the least recently used, should have gone first")
	}
	if v, ok := c.Get("a"); !ok || v != 0 {
		t.Fatal("a was used recently and must stay")
	}
	if c.Bytes() != 400 {
		t.Fatalf("bytes = %d", c.Bytes())
	}
	// Over a quarter of the bound: not stored, nothing evicted.
	c.Add("big", 5, 101)
	if _, ok := c.Get("big"); ok || c.Len() != 4 {
		t.Fatal("an entry over a quarter of the bound was stored")
	}
}

func TestReplacingAnEntryReplacesItsSize(t *testing.T) {
	c := New[string, string](1000)
	c.Add("k", "old", 200)
	c.Add("k", "new", 50)
	if v, _ := c.Get("k"); v != "new" || c.Bytes() != 50 || c.Len() != 1 {
		t.Fatalf("%q, %d bytes, %d entries", v, c.Bytes(), c.Len())
	}
}

func TestNilHoldsNothing(t *testing.T) {
	c := New[string, int](0)
	c.Add("a", 1, 1)
	if _, ok := c.Get("a"); ok || c.Len() != 0 || c.Bytes() != 0 {
		t.Fatal("a nil cache stored an entry")
	}
}

func TestConcurrentUseStaysWithinTheBound(t *testing.T) {
	c := New[string, string](1 << 12)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := fmt.Sprint(i % 50)
				if v, ok := c.Get(k); ok && v != k {
					t.Errorf("%s holds %q", k, v)
					return
				}
				c.Add(k, k, 100+i%200)
			}
		}()
	}
	wg.Wait()
	if c.Bytes() > 1<<12 {
		t.Fatalf("bytes %d over the bound", c.Bytes())
	}
}
