package group

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestFirstEndCancelsOthersAndErrorsAreNamed(t *testing.T) {
	g := New(context.Background())
	g.Go("waiter", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	g.Go("failer", func(context.Context) error { return errors.New("boom") })
	err := g.Wait()
	if err == nil || err.Error() != "failer: boom" {
		t.Fatalf("Wait = %v, want only the failer's error (cancellation is not an error)", err)
	}
}

func TestCleanEndStopsTheGroup(t *testing.T) {
	g := New(context.Background())
	g.Go("a", func(ctx context.Context) error { <-ctx.Done(); return nil })
	g.Go("b", func(context.Context) error { return nil })
	if err := g.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g = New(ctx)
	g.Go("c", func(ctx context.Context) error { <-ctx.Done(); return errors.New("x: " + ctx.Err().Error()) })
	cancel()
	if err := g.Wait(); err == nil || !strings.HasPrefix(err.Error(), "c: x:") {
		t.Fatalf("Wait = %v", err)
	}
}
