// Package attack holds the single attack actions that scenarios are made of.
// Every action dials through the range's guard (internal/rangenet): a target
// outside the range is refused before any packet leaves.
package attack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/protocol/modbus"
)

// DefaultSource is the attacker's address in the range.
var DefaultSource = netip.MustParseAddr("127.66.0.1")

// WriteSetpoint tampers with a PLC setpoint: one Modbus FC 6 (write single
// register) from the attacker's host. ATT&CK for ICS T0836 Modify Parameter,
// T0855 Unauthorized Command Message.
type WriteSetpoint struct {
	Target   string     // host:port of the PLC
	Source   netip.Addr // attacker address; invalid: DefaultSource
	Unit     uint8
	Register uint16
	Value    uint16
	Timeout  time.Duration // <= 0: 5 s
}

// Result is the ground truth of one executed action.
type Result struct {
	Start, End time.Time
	Source     string // ip:port the frames left from
	Target     string
	Frames     int  // requests sent
	Succeeded  bool // the device accepted the write
	Response   string
}

// Run performs the write. It returns an error wrapping rangenet.ErrOutsideRange,
// having sent nothing, when the target is not a range address.
func (w WriteSetpoint) Run(ctx context.Context, guard *rangenet.Guard) (Result, error) {
	if guard == nil {
		return Result{}, errors.New("attack: a range guard is required")
	}
	src := w.Source
	if !src.IsValid() {
		src = DefaultSource
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	res := Result{Start: time.Now(), Target: w.Target}
	// Check before anything else, so a refusal never depends on the dialer.
	if _, err := guard.ResolveAddrPort(ctx, w.Target); err != nil {
		return res, fmt.Errorf("attack refused: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := modbus.Dial(ctx, modbus.DialConfig{Address: w.Target, Dial: guard.Dialer(src), Timeout: timeout})
	if err != nil {
		return res, fmt.Errorf("attack: connect %s: %w", w.Target, err)
	}
	defer c.Close()
	res.Source = c.LocalAddr().String()
	resp, err := c.Do(ctx, w.Unit, modbus.WriteSingleRegister(w.Register, w.Value))
	res.Frames = 1
	res.End = time.Now()
	var ex *modbus.ExceptionError
	switch {
	case errors.As(err, &ex):
		res.Response = ex.Error()
		return res, nil
	case err != nil:
		return res, fmt.Errorf("attack: write: %w", err)
	}
	res.Succeeded = true
	res.Response = fmt.Sprintf("%s % x", resp.Function, resp.Data)
	return res, nil
}
