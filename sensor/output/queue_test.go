package output

import (
	"testing"

	"github.com/otrange/otrange/sensor/alert"
)

func TestQueue(t *testing.T) {
	q := NewQueue(2)
	for i := range 3 {
		q.Put(alert.Alert{ID: string(rune('a' + i))})
	}
	if len(q.C) != 2 || q.Dropped() != 1 {
		t.Fatalf("after 3 puts into 2 places: %d queued, %d dropped; want 2, 1", len(q.C), q.Dropped())
	}
	if got := (<-q.C).ID; got != "a" {
		t.Errorf("first out %q, want a", got)
	}
	if !q.Close() {
		t.Error("first Close reported the queue closed before")
	}
	if q.Close() {
		t.Error("second Close reported closing the queue")
	}
	q.Put(alert.Alert{ID: "late"})
	if len(q.C) != 1 || q.Dropped() != 2 {
		t.Errorf("put after close: %d queued, %d dropped; want 1, 2", len(q.C), q.Dropped())
	}
}
