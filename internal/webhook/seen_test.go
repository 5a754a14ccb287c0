package webhook

import (
	"strconv"
	"testing"
	"time"
)

func TestSeenSetForgetsOldestPastMax(t *testing.T) {
	s := newSeenSet(3, time.Hour)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		s.add(strconv.Itoa(i), t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(5 * time.Second)
	for i, want := range []bool{false, false, true, true, true} {
		if got := s.contains(strconv.Itoa(i), now); got != want {
			t.Errorf("contains(%d) = %v, want %v", i, got, want)
		}
	}
	if len(s.added) != 3 || len(s.order) != 3 {
		t.Fatalf("holds %d ids in %d entries, want 3 and 3", len(s.added), len(s.order))
	}
}

func TestSeenSetForgetsAfterTTL(t *testing.T) {
	s := newSeenSet(100, time.Hour)
	t0 := time.Unix(1_700_000_000, 0)
	s.add("a", t0)
	s.add("b", t0.Add(30*time.Minute))
	if !s.contains("a", t0.Add(59*time.Minute)) {
		t.Fatal("a forgotten before its hour")
	}
	if s.contains("a", t0.Add(time.Hour)) {
		t.Fatal("a remembered after its hour")
	}
	// Adding later drops the expired entries.
	s.add("c", t0.Add(61*time.Minute))
	if len(s.added) != 2 || s.contains("a", t0.Add(61*time.Minute)) || !s.contains("b", t0.Add(61*time.Minute)) {
		t.Fatalf("after expiry holds %v, want b and c", s.added)
	}
}

func TestSeenSetReaddAfterExpiry(t *testing.T) {
	s := newSeenSet(2, time.Hour)
	t0 := time.Unix(1_700_000_000, 0)
	s.add("a", t0)
	s.add("a", t0.Add(2*time.Hour)) // expired, applied again
	s.add("b", t0.Add(2*time.Hour+time.Second))
	now := t0.Add(2*time.Hour + 2*time.Second)
	if !s.contains("a", now) || !s.contains("b", now) {
		t.Fatalf("holds %v, want a (re-added) and b", s.added)
	}
	// A third id pushes out the oldest live one, a.
	s.add("c", now)
	if s.contains("a", now) || !s.contains("b", now) || !s.contains("c", now) {
		t.Fatalf("holds %v, want b and c", s.added)
	}
}
