package reassembly

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unsafe"
)

// Options bound what a Reassembler holds. The zero value of each field means
// its default.
type Options struct {
	// MaxConns is the number of connections tracked at once (default 65536).
	// A new connection beyond it evicts the least recently used one,
	// preferring those not yet seen in both directions.
	MaxConns int
	// IdleTimeout forgets a connection with no packet for this long, in
	// capture time (default 5 minutes).
	IdleTimeout time.Duration
	// GapTimeout is how long out-of-order data waits for the hole before it
	// to fill (a retransmission) before the hole is skipped (default 2 s).
	GapTimeout time.Duration
	// MaxStreamBytes bounds the memory one direction holds for out-of-order
	// data, counting each buffer's capacity (default 256 KiB).
	MaxStreamBytes int
	// MaxStreamSegments bounds the out-of-order segments one direction holds
	// (default 512).
	MaxStreamSegments int
	// MaxBufferedBytes bounds the out-of-order memory of all streams together
	// (default 64 MiB).
	MaxBufferedBytes int64
	// MaxBufferedSegments bounds the out-of-order segments of all streams
	// together (default 65536).
	MaxBufferedSegments int
	// Logger receives rare events (a bound first reached); nil discards.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultMaxConns            = 65536
	DefaultIdleTimeout         = 5 * time.Minute
	DefaultGapTimeout          = 2 * time.Second
	DefaultMaxStreamBytes      = 256 << 10
	DefaultMaxStreamSegments   = 512
	DefaultMaxBufferedBytes    = 64 << 20
	DefaultMaxBufferedSegments = 65536
)

// mapEntryBytes is what one entry of the connection index costs, generously:
// key and value, control byte, load factor, growth headroom, and the
// deleted slots of churn between two rebuilds (measured: under 100 B just
// after a rebuild, about 210 B after a million inserts and deletes without).
const mapEntryBytes = 192

func (o *Options) setDefaults() error {
	if o.MaxConns < 0 || o.IdleTimeout < 0 || o.GapTimeout < 0 || o.MaxStreamBytes < 0 ||
		o.MaxStreamSegments < 0 || o.MaxBufferedBytes < 0 || o.MaxBufferedSegments < 0 {
		return errors.New("reassembly: negative bound in options")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxConns, DefaultMaxConns)
	def(&o.MaxStreamBytes, DefaultMaxStreamBytes)
	def(&o.MaxStreamSegments, DefaultMaxStreamSegments)
	def(&o.MaxBufferedSegments, DefaultMaxBufferedSegments)
	if o.MaxBufferedBytes == 0 {
		o.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.GapTimeout == 0 {
		o.GapTimeout = DefaultGapTimeout
	}
	if o.MaxConns > 1<<30 {
		return fmt.Errorf("reassembly: MaxConns %d over %d", o.MaxConns, 1<<30)
	}
	if int64(o.MaxStreamBytes) > o.MaxBufferedBytes {
		return fmt.Errorf("reassembly: MaxStreamBytes %d over MaxBufferedBytes %d", o.MaxStreamBytes, o.MaxBufferedBytes)
	}
	if o.MaxStreamSegments > o.MaxBufferedSegments {
		return fmt.Errorf("reassembly: MaxStreamSegments %d over MaxBufferedSegments %d", o.MaxStreamSegments, o.MaxBufferedSegments)
	}
	return nil
}

// chunkLen is how many connection slots are allocated at once.
func (o *Options) chunkLen() int {
	n := 1
	for n < o.MaxConns && n < 1024 {
		n <<= 1
	}
	return n
}

// freeMax bounds the bytes kept in the buffer pool for reuse.
func (o *Options) freeMax() int64 { return max(o.MaxBufferedBytes/8, 64<<10) }

// MemoryBound is the most memory a Reassembler built with these options
// holds by its own accounting (Stats.MemoryBytes): the connection table
// full, every out-of-order buffer full, and the buffer pool full. Options
// not yet defaulted are defaulted first.
func (o Options) MemoryBound() int64 {
	if err := o.setDefaults(); err != nil {
		return 0
	}
	cl := o.chunkLen()
	slots := (o.MaxConns + cl - 1) / cl * cl
	return int64(slots)*int64(unsafe.Sizeof(conn{})) + int64(o.MaxConns)*mapEntryBytes +
		o.MaxBufferedBytes + o.freeMax()
}
