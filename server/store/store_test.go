package store

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"
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

func TestEventContractFields(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "range.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	in := Event{Exercise: "ex1", Kind: "inject", Clock: 90 * time.Second, Source: "step:s2",
		Audience: []string{"operator", "ot_engineer"}, Cause: "s2", Payload: json.RawMessage(`{}`)}
	if _, err := s.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, Event{Exercise: "ex2", Kind: "inject", Source: "facilitator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, Event{Exercise: "ex2", Kind: "x", Audience: []string{"a,b"}}); err == nil {
		t.Error("a role with a comma was stored")
	}
	all, err := s.Events(ctx, Query{Kind: "inject"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("events of every exercise = %d, want 2", len(all))
	}
	got := all[0]
	if got.Clock != in.Clock || got.Cause != "s2" || !slices.Equal(got.Audience, in.Audience) || got.Source != "step:s2" {
		t.Errorf("read back %+v, want the fields of %+v", got, in)
	}
	if all[1].Audience != nil {
		t.Errorf("empty audience read back as %q", all[1].Audience)
	}
}
