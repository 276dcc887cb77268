package store

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
)

func TestAppendSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "range.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		ev, err := s.Append(ctx, Event{Exercise: "x", Kind: "alert", Source: "sensor", Payload: json.RawMessage(`{"n":1}`)})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if ev.ID != int64(i+1) {
			t.Fatalf("id = %d, want %d", ev.ID, i+1)
		}
	}
	if _, err := s.Append(ctx, Event{Exercise: "x", Kind: "chat", Source: "p"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path) // migrations must be idempotent
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Events(ctx, Query{Exercise: "x", Kind: "alert", AfterID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != 2 || string(got[1].Payload) != `{"n":1}` {
		t.Fatalf("events after reopen = %+v", got)
	}
	newest, err := s.Events(ctx, Query{Exercise: "x", Limit: 1, Newest: true})
	if err != nil || len(newest) != 1 || newest[0].Kind != "chat" {
		t.Fatalf("newest = %+v, %v", newest, err)
	}
}
