package exercise

import (
	"context"
	"sync"

	"github.com/otrange/otrange/server/store"
)

// SubscriptionQueue bounds the events waiting for one subscriber. A
// subscriber that falls this far behind is cut off and resumes from the last
// event it got, so a slow browser never holds up the engine.
const SubscriptionQueue = 1024

// Subscription delivers the events of one exercise that its principal may
// see, in log order, with no gap between the backlog and the live events.
type Subscription struct {
	Principal Principal
	C         <-chan store.Event // closed when cut off or cancelled

	c      chan store.Event
	mu     sync.Mutex
	closed bool
	lagged bool
	e      *Engine
}

// Subscribe returns the events after the given id that p may see (the
// backlog, at most limit of them) and a subscription for the ones that
// follow.
func (e *Engine) Subscribe(ctx context.Context, p Principal, after int64, limit int) ([]store.Event, *Subscription, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.exercises[p.Exercise]; !ok {
		return nil, nil, ErrNotFound
	}
	// Appends hold e.mu too: nothing is appended between the backlog read and
	// the registration.
	backlog, err := e.Events(ctx, p, after, limit)
	if err != nil {
		return nil, nil, err
	}
	c := make(chan store.Event, SubscriptionQueue)
	s := &Subscription{Principal: p, C: c, c: c, e: e}
	if e.subs[p.Exercise] == nil {
		e.subs[p.Exercise] = map[*Subscription]struct{}{}
	}
	e.subs[p.Exercise][s] = struct{}{}
	return backlog, s, nil
}

// deliver is called with the engine locked.
func (s *Subscription) deliver(ev store.Event) {
	if !s.Principal.Sees(ev.Audience) {
		return
	}
	ev = Redact(ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.c <- ev:
	default:
		s.lagged, s.closed = true, true
		close(s.c)
		delete(s.e.subs[s.Principal.Exercise], s)
	}
}

// Lagged reports whether the subscription was cut off for falling behind.
func (s *Subscription) Lagged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lagged
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.e.mu.Lock()
	delete(s.e.subs[s.Principal.Exercise], s)
	s.e.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
}
