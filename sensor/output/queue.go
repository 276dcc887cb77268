package output

import (
	"sync"
	"sync/atomic"

	"github.com/otrange/otrange/sensor/alert"
)

// Queue is the bounded queue between a sink's Emit and the goroutine that
// writes its alerts out. Put never blocks: an alert that finds the queue
// full, or closed, is dropped and counted, so a slow or absent destination
// never holds up the sensor.
type Queue struct {
	C chan alert.Alert // the writer receives from C

	mu      sync.RWMutex // guards closed against Put
	closed  bool
	dropped atomic.Uint64
}

// NewQueue returns a queue holding up to size alerts.
func NewQueue(size int) *Queue { return &Queue{C: make(chan alert.Alert, size)} }

// Put queues a, or drops and counts it when the queue is full or closed.
func (q *Queue) Put(a alert.Alert) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.dropped.Add(1)
		return
	}
	select {
	case q.C <- a:
	default:
		q.dropped.Add(1)
	}
}

// Close refuses further alerts. It reports whether this call closed the
// queue (false: it was closed before). Once it returns, no Put sends on C,
// so the caller that closed the queue may close C.
func (q *Queue) Close() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed = true
	return true
}

// Dropped is how many alerts Put refused.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }
