package modbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultTimeout bounds a dial and each request of a Client when
// DialConfig.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// DialConfig configures a Client.
type DialConfig struct {
	// Address is the server's host:port.
	Address string
	// Dial opens the connection; nil uses a net.Dialer. Attacks pass a
	// guarded dialer bound to the attacker's source address.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Timeout bounds the dial and each request; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Client is a raw Modbus/TCP client: any function code, any unit id, and
// malformed frames on request. It sends one request at a time; it is safe
// for concurrent use, requests are serialised.
type Client struct {
	conn    net.Conn
	timeout time.Duration
	mu      sync.Mutex
	tid     uint16
	stream  *Stream
	rbuf    []byte
	wbuf    []byte
}

// ErrUnexpectedResponse is returned by Do when the matching response has a
// different function code than the request.
var ErrUnexpectedResponse = errors.New("modbus: response function does not match request")

// Dial connects to cfg.Address over TCP.
func Dial(ctx context.Context, cfg DialConfig) (*Client, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("modbus: negative Timeout %v", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, err := dial(dctx, "tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("modbus: dial %s: %w", cfg.Address, err)
	}
	return &Client{
		conn: conn, timeout: cfg.Timeout, stream: NewStream(4 * MaxADULen),
		rbuf: make([]byte, 2*MaxADULen), wbuf: make([]byte, 0, MaxADULen),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// LocalAddr returns the client's end of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the server's end of the connection.
func (c *Client) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Do sends req to unit with the next transaction id and waits for the response
// with the same id, skipping others. For an exception response it returns the
// exception PDU and an *ExceptionError. The returned PDU owns its data.
func (c *Client) Do(ctx context.Context, unit uint8, req PDU) (PDU, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tid++
	a := ADU{TransactionID: c.tid, UnitID: unit, PDU: req}
	c.wbuf = AppendADU(c.wbuf[:0], &a)
	defer c.guard(ctx)()
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return PDU{}, c.ioErr(ctx, err)
	}
	for {
		var r ADU
		if err := c.read(&r); err != nil {
			return PDU{}, c.ioErr(ctx, err)
		}
		if r.TransactionID != a.TransactionID {
			continue
		}
		return matchResponse(req, r.PDU)
	}
}

// Broadcast sends req to unit 0 with the next transaction id and returns
// once it is written, without waiting: no device answers a broadcast write
// (see IsBroadcast). A read sent this way is answered, and Do skips that
// answer by its transaction id; use Do to read from unit 0.
func (c *Client) Broadcast(ctx context.Context, req PDU) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tid++
	c.wbuf = AppendADU(c.wbuf[:0], &ADU{TransactionID: c.tid, UnitID: BroadcastUnit, PDU: req})
	defer c.guard(ctx)()
	if _, err := c.conn.Write(c.wbuf); err != nil {
		return c.ioErr(ctx, err)
	}
	return nil
}

// matchResponse copies resp and checks its function code against req's.
func matchResponse(req, resp PDU) (PDU, error) {
	out := PDU{Function: resp.Function, Data: append([]byte(nil), resp.Data...)}
	if resp.Function.Base() != req.Function.Base() {
		return out, fmt.Errorf("%w: sent %v, got %v", ErrUnexpectedResponse, req.Function, resp.Function)
	}
	return out, out.Err()
}

// ReadADU reads the next ADU from the server, whatever its transaction id,
// e.g. after WriteRaw. The returned ADU owns its data.
func (c *Client) ReadADU(ctx context.Context) (ADU, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.guard(ctx)()
	var r ADU
	if err := c.read(&r); err != nil {
		return ADU{}, c.ioErr(ctx, err)
	}
	r.PDU.Data = append([]byte(nil), r.PDU.Data...)
	return r, nil
}

// WriteRaw writes b to the connection as is, for deliberately malformed
// frames. It uses the client's timeout.
func (c *Client) WriteRaw(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	_, err := c.conn.Write(b)
	return err
}

// guard sets the connection deadline from the timeout and ctx, and makes a
// cancellation of ctx interrupt blocked I/O. Call the result when done.
func (c *Client) guard(ctx context.Context) func() {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.conn.SetDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = c.conn.SetDeadline(time.Unix(1, 0))
	})
	// When ctx ended, wait for its deadline to be set: set later, it would
	// break the next request's I/O.
	return func() {
		if !stop() {
			<-fired
		}
	}
}

// ioErr prefers the context's error when ctx ended the I/O: cancelled, or
// its deadline (which is the connection's deadline) passed.
func (c *Client) ioErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("modbus: %w: %w", ctx.Err(), err)
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return fmt.Errorf("modbus: %w: %w", context.DeadlineExceeded, err)
	}
	return fmt.Errorf("modbus: %w", err)
}

// read frames the next ADU from the connection; r.PDU aliases the stream.
func (c *Client) read(r *ADU) error {
	for {
		ok, err := c.stream.Next(r)
		if ok || err != nil {
			return err
		}
		n, err := c.conn.Read(c.rbuf[:min(len(c.rbuf), c.stream.Free())])
		if n > 0 {
			if werr := c.stream.Write(c.rbuf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}
