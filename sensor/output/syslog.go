package output

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otrange/otrange/sensor/alert"
)

// SyslogConfig configures a CEF-over-syslog sink.
type SyslogConfig struct {
	Network string // "udp" or "tcp"
	Addr    string // host:port of the collector

	Hostname string // RFC 5424 HOSTNAME; "" means os.Hostname()
	AppName  string // RFC 5424 APP-NAME; "" means "otrange-sensor"
	Facility int    // 0–23; 0 means 16 (local0) — kern (0) is not for applications
	Version  string // CEF device version; "" means "0"

	QueueSize    int           // alerts waiting for the writer; <= 0 means 4096
	MaxMessage   int           // bytes per syslog message; <= 0 means 2048 on UDP, 8192 on TCP; at least 480
	DialTimeout  time.Duration // <= 0 means 5s
	WriteTimeout time.Duration // <= 0 means 5s
	BackoffMin   time.Duration // first wait after a failed TCP dial or write; <= 0 means 100ms
	BackoffMax   time.Duration // <= 0 means 10s
	CloseTimeout time.Duration // how long Close keeps flushing; <= 0 means 5s

	Logger *slog.Logger // nil means discard
}

// SyslogStats are a syslog sink's counters.
type SyslogStats struct {
	Queued     int    // alerts waiting now
	Sent       uint64 // messages handed to the network
	Dropped    uint64 // alerts refused because the queue was full or the sink closed
	Failed     uint64 // alerts lost after they were queued: UDP send errors, abandoned at the Close deadline
	Truncated  uint64 // messages cut to MaxMessage
	Dials      uint64 // successful TCP connections, the first one included
	DialErrors uint64
	WriteErrs  uint64 // failed writes (each failed TCP write is retried on a new connection)
	Connected  bool   // a TCP connection is up (UDP: always true once open)
}

// Lost is every alert that was emitted but will never reach the collector
// from this sink: dropped at the queue plus failed after it.
func (s SyslogStats) Lost() uint64 { return s.Dropped + s.Failed }

// Syslog sends alerts as CEF records in RFC 5424 syslog messages. Over UDP
// each message is one datagram of at most MaxMessage bytes. Over TCP messages
// are framed by octet counting (RFC 6587 §3.4.1); a broken connection is
// redialled with exponential backoff and the message whose write failed is
// sent again on the new connection. TCP syslog has no acknowledgements, so
// messages the kernel accepted just before the collector vanished can still
// be lost: use RELP or the SQLite sink where every alert must survive.
type Syslog struct {
	cfg SyslogConfig
	log *slog.Logger

	queue *Queue
	stop  chan struct{} // Close was called: flush and exit
	abort chan struct{} // the flush deadline passed: give up
	done  chan struct{} // writer goroutine ended

	connMu sync.Mutex
	conn   net.Conn

	sent, failed, truncated, dials, dialErrs, writeErrs atomic.Uint64
	connected                                           atomic.Bool

	// Writer goroutine only.
	buf   []byte
	frame []byte
	pid   string
}

var _ alert.Sink = (*Syslog)(nil)

// NewSyslog validates cfg and starts the writer. A UDP sink is usable at once;
// a TCP sink dials in the background, so a collector that is down at start
// does not stop the sensor.
func NewSyslog(cfg SyslogConfig) (*Syslog, error) {
	switch cfg.Network {
	case "udp", "udp4", "udp6", "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("syslog output: network %q: want udp or tcp", cfg.Network)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("syslog output: address %q: %w", cfg.Addr, err)
	}
	if cfg.Facility < 0 || cfg.Facility > 23 {
		return nil, fmt.Errorf("syslog output: facility %d out of 0–23", cfg.Facility)
	}
	if cfg.Facility == 0 {
		cfg.Facility = 16
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	cfg.Hostname = headerToken(cfg.Hostname, 255)
	if cfg.AppName == "" {
		cfg.AppName = "otrange-sensor"
	}
	cfg.AppName = headerToken(cfg.AppName, 48)
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 8192
		if isUDP(cfg.Network) {
			cfg.MaxMessage = 2048
		}
	}
	if cfg.MaxMessage < 480 {
		return nil, fmt.Errorf("syslog output: max message %d bytes is below the 480 every receiver must accept", cfg.MaxMessage)
	}
	if isUDP(cfg.Network) && cfg.MaxMessage > 65507 {
		return nil, fmt.Errorf("syslog output: max message %d bytes does not fit a UDP datagram", cfg.MaxMessage)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.DialTimeout, 5*time.Second)
	def(&cfg.WriteTimeout, 5*time.Second)
	def(&cfg.BackoffMin, 100*time.Millisecond)
	def(&cfg.BackoffMax, 10*time.Second)
	def(&cfg.CloseTimeout, 5*time.Second)
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Syslog{
		cfg:   cfg,
		log:   log.With("output", "syslog", "network", cfg.Network, "addr", cfg.Addr),
		queue: NewQueue(cfg.QueueSize),
		stop:  make(chan struct{}),
		abort: make(chan struct{}),
		done:  make(chan struct{}),
		pid:   strconv.Itoa(os.Getpid()),
	}
	if isUDP(cfg.Network) {
		c, err := net.DialTimeout(cfg.Network, cfg.Addr, cfg.DialTimeout)
		if err != nil {
			return nil, fmt.Errorf("syslog output: %w", err)
		}
		s.conn = c
		s.dials.Add(1)
		s.connected.Store(true)
	}
	go s.run()
	return s, nil
}

func isUDP(network string) bool { return network[:3] == "udp" }

// Emit queues a for sending. It never blocks: when the queue is full, or the
// sink is closed, the alert is dropped and counted. The sink keeps a until it
// is sent, so the caller must not change its slices or pointers afterwards.
func (s *Syslog) Emit(a alert.Alert) {
	s.queue.Put(a)
}

// Close stops accepting alerts and sends what is queued, for at most
// CloseTimeout; what is still queued then is counted as failed. It returns
// an error when alerts were abandoned.
func (s *Syslog) Close() error {
	if !s.queue.Close() {
		<-s.done
		return nil
	}
	close(s.stop)

	t := time.NewTimer(s.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		close(s.abort)
		s.dropConn() // unblocks a write in progress
		<-s.done
	}
	s.dropConn()
	select {
	case <-s.abort:
		return errors.New("syslog output: close deadline passed with alerts unsent")
	default:
		return nil
	}
}

// Stats returns the counters so far.
func (s *Syslog) Stats() SyslogStats {
	return SyslogStats{
		Queued:     len(s.queue.C),
		Sent:       s.sent.Load(),
		Dropped:    s.queue.Dropped(),
		Failed:     s.failed.Load(),
		Truncated:  s.truncated.Load(),
		Dials:      s.dials.Load(),
		DialErrors: s.dialErrs.Load(),
		WriteErrs:  s.writeErrs.Load(),
		Connected:  s.connected.Load(),
	}
}

// run is the writer goroutine: it encodes and delivers queued alerts in order.
func (s *Syslog) run() {
	defer close(s.done)
	for {
		select {
		case a := <-s.queue.C:
			s.deliver(&a)
		case <-s.stop:
			for {
				select {
				case a := <-s.queue.C:
					s.deliver(&a)
				default:
					return
				}
			}
		}
	}
}

// deliver sends one alert. Over TCP it retries until the message is written
// or the close deadline passes.
func (s *Syslog) deliver(a *alert.Alert) {
	select {
	case <-s.abort:
		s.failed.Add(1)
		return
	default:
	}
	msg := s.encode(a)
	if isUDP(s.cfg.Network) {
		s.connMu.Lock()
		c := s.conn
		s.connMu.Unlock()
		if c == nil {
			s.failed.Add(1)
			return
		}
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := c.Write(msg); err != nil {
			s.writeErrs.Add(1)
			s.failed.Add(1)
			s.log.Debug("send failed", "err", err)
			return
		}
		s.sent.Add(1)
		return
	}
	s.frame = strconv.AppendInt(s.frame[:0], int64(len(msg)), 10)
	s.frame = append(s.frame, ' ')
	s.frame = append(s.frame, msg...)
	backoff := s.cfg.BackoffMin
	for {
		c, err := s.connect()
		if err == nil {
			_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if _, err = c.Write(s.frame); err == nil {
				s.sent.Add(1)
				return
			}
			s.writeErrs.Add(1)
			s.log.Warn("write failed; reconnecting", "err", err)
			s.closeConn(c)
		}
		// Wait, then try again, unless the close deadline passes first.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-s.abort:
			t.Stop()
			s.failed.Add(1)
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.BackoffMax)
	}
}

// connect returns the TCP connection, dialling when there is none.
func (s *Syslog) connect() (net.Conn, error) {
	s.connMu.Lock()
	c := s.conn
	s.connMu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := net.DialTimeout(s.cfg.Network, s.cfg.Addr, s.cfg.DialTimeout)
	if err != nil {
		s.dialErrs.Add(1)
		s.log.Debug("dial failed", "err", err)
		return nil, err
	}
	s.connMu.Lock()
	select {
	case <-s.abort:
		s.connMu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	default:
	}
	s.conn = c
	s.connMu.Unlock()
	s.dials.Add(1)
	s.connected.Store(true)
	s.log.Info("connected")
	// A syslog collector never talks back: a read that returns means the
	// peer closed or reset the connection. Noticing it here, rather than on
	// the next write, keeps the next alert off a dead socket.
	go func() {
		var b [64]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				break
			}
		}
		s.closeConn(c)
	}()
	return c, nil
}

// closeConn closes c and forgets it if it is still the current connection.
func (s *Syslog) closeConn(c net.Conn) {
	s.connMu.Lock()
	if s.conn == c {
		s.conn = nil
		s.connected.Store(false)
	}
	s.connMu.Unlock()
	c.Close()
}

func (s *Syslog) dropConn() {
	s.connMu.Lock()
	c := s.conn
	s.conn = nil
	s.connMu.Unlock()
	s.connected.Store(false)
	if c != nil {
		c.Close()
	}
}

// encode builds the RFC 5424 message for a in the writer's buffer.
func (s *Syslog) encode(a *alert.Alert) []byte {
	b := AppendSyslog(s.buf[:0], a, s.cfg.Facility, s.cfg.Hostname, s.cfg.AppName, s.pid, s.cfg.Version)
	if len(b) > s.cfg.MaxMessage {
		b = trimEscaped(b, s.cfg.MaxMessage)
		s.truncated.Add(1)
	}
	s.buf = b
	return b
}

// SyslogSeverity maps an alert severity onto a syslog severity: critical 2
// (crit), high 3 (err), medium 4 (warning), low and unknown 5 (notice).
func SyslogSeverity(s alert.Severity) int {
	switch s {
	case alert.Critical:
		return 2
	case alert.High:
		return 3
	case alert.Medium:
		return 4
	}
	return 5
}

// AppendSyslog appends an RFC 5424 message carrying the CEF record of a:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID alert - CEF:0|...
//
// PRI is facility*8 plus SyslogSeverity. TIMESTAMP is the alert's time in UTC
// with microseconds ("-" when unset or outside years 0–9999). hostname,
// appName and procID must already be printable ASCII without spaces ("" is
// written "-"). The message carries no BOM: CEF receivers do not expect one.
func AppendSyslog(dst []byte, a *alert.Alert, facility int, hostname, appName, procID, version string) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(facility*8+SyslogSeverity(a.Severity)), 10)
	dst = append(dst, ">1 "...)
	if t := a.Time.UTC(); !a.Time.IsZero() && t.Year() >= 0 && t.Year() <= 9999 {
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	} else {
		dst = append(dst, '-')
	}
	for _, f := range [...]string{hostname, appName, procID, "alert", "-"} {
		dst = append(dst, ' ')
		if f == "" {
			f = "-"
		}
		dst = append(dst, f...)
	}
	dst = append(dst, ' ')
	return AppendCEF(dst, a, version)
}

// headerToken makes s a valid RFC 5424 header field: printable US-ASCII
// without spaces, at most n bytes.
func headerToken(s string, n int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b = append(b, c)
		}
	}
	return string(b)
}
