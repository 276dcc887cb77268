package modbus

import (
	"context"
	"errors"
)

// Handler answers the requests of one or more units. The server calls it once
// per request, sequentially per connection and concurrently across
// connections. To answer with an exception, return an *ExceptionError; to
// answer nothing (listen-only mode, broadcast), return ErrNoResponse. Any
// other error is answered with ExServerDeviceFailure and logged.
type Handler interface {
	ServeModbus(ctx context.Context, unit uint8, req PDU) (PDU, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, unit uint8, req PDU) (PDU, error)

// ServeModbus implements Handler.
func (f HandlerFunc) ServeModbus(ctx context.Context, unit uint8, req PDU) (PDU, error) {
	return f(ctx, unit, req)
}

// ErrNoResponse tells the server to send no response to a request.
var ErrNoResponse = errors.New("modbus: no response")
