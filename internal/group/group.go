// Package group runs the long-running parts of a component together: each
// part is a Run(ctx) error, and the first part to end, with or without an
// error, cancels the others. It is the one supervisor the plant and the
// whole range share.
package group

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Group is a set of parts sharing one context.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// New returns a group whose parts run under a context derived from ctx.
func New(ctx context.Context) *Group {
	ctx, cancel := context.WithCancel(ctx)
	return &Group{ctx: ctx, cancel: cancel}
}

// Go starts a part. Its error, other than cancellation, is kept under its name.
func (g *Group) Go(name string, run func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer g.cancel() // one part ending ends the group
		if err := run(g.ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("%s: %w", name, err))
			g.mu.Unlock()
		}
	}()
}

// Wait waits for every part to end and returns their errors joined.
func (g *Group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return errors.Join(g.errs...)
}
