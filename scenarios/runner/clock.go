package runner

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Clock is the exercise clock: the time since the exercise started, which
// runs real-time or faster and stops while the exercise is paused. The
// exercise server implements it over its own clock; ScaledClock is the
// stand-alone one.
type Clock interface {
	// Now returns the exercise time.
	Now() time.Duration
	// WaitUntil returns when the exercise time reaches t (at once when it
	// has), or ctx's error when ctx ends first.
	WaitUntil(ctx context.Context, t time.Duration) error
}

// ScaledClock is a Clock over the wall clock at a speed factor, with pause
// and resume. It starts at 0, running, when created. It is safe for
// concurrent use.
type ScaledClock struct {
	mu      sync.Mutex
	speed   float64
	base    time.Duration // exercise time at wallRef
	wallRef time.Time
	paused  bool
	changed chan struct{} // closed and replaced on every pause, resume or speed change
	now     func() time.Time
}

var _ Clock = (*ScaledClock)(nil)

// ErrSpeed is returned for a speed factor that is not positive.
var ErrSpeed = errors.New("runner: clock speed must be above 0 and at most 10000")

// NewClock returns a clock running at speed exercise seconds per wall second
// (1: real time; 60: a minute per second).
func NewClock(speed float64) (*ScaledClock, error) {
	if !(speed > 0 && speed <= 10000) {
		return nil, ErrSpeed
	}
	return &ScaledClock{speed: speed, wallRef: time.Now(), changed: make(chan struct{}), now: time.Now}, nil
}

// Now implements Clock.
func (c *ScaledClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *ScaledClock) nowLocked() time.Duration {
	if c.paused {
		return c.base
	}
	return c.base + time.Duration(float64(c.now().Sub(c.wallRef))*c.speed)
}

// rebase folds the time elapsed so far into base; called with mu held
// before any change.
func (c *ScaledClock) rebase() {
	c.base = c.nowLocked()
	c.wallRef = c.now()
	close(c.changed)
	c.changed = make(chan struct{})
}

// Pause stops the exercise time.
func (c *ScaledClock) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		c.rebase()
		c.paused = true
	}
}

// Resume restarts the exercise time where it stopped.
func (c *ScaledClock) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		c.rebase()
		c.paused = false
	}
}

// Paused reports whether the clock is paused.
func (c *ScaledClock) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// SetSpeed changes the speed factor from now on.
func (c *ScaledClock) SetSpeed(speed float64) error {
	if !(speed > 0 && speed <= 10000) {
		return ErrSpeed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rebase()
	c.speed = speed
	return nil
}

// Speed returns the speed factor.
func (c *ScaledClock) Speed() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.speed
}

// WaitUntil implements Clock.
func (c *ScaledClock) WaitUntil(ctx context.Context, t time.Duration) error {
	for {
		c.mu.Lock()
		now, paused, speed, changed := c.nowLocked(), c.paused, c.speed, c.changed
		c.mu.Unlock()
		if now >= t {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var timer <-chan time.Time
		var tm *time.Timer
		if !paused {
			tm = time.NewTimer(time.Duration(float64(t-now) / speed))
			timer = tm.C
		}
		select {
		case <-ctx.Done():
		case <-changed:
		case <-timer:
		}
		if tm != nil {
			tm.Stop()
		}
	}
}

// sleep waits d of exercise time on clk.
func sleep(ctx context.Context, clk Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return clk.WaitUntil(ctx, clk.Now()+d)
}
