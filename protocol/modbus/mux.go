package modbus

import (
	"context"
	"sync"
)

// Mux dispatches requests by unit id, as a Modbus/TCP gateway does for the
// devices behind it. A unit with no handler is answered, like a gateway does,
// with ExGatewayPathUnavailable unless a default handler is set. It is safe
// for concurrent use; handlers can be changed while serving.
type Mux struct {
	mu       sync.RWMutex
	units    map[uint8]Handler
	fallback Handler
}

var _ Handler = (*Mux)(nil)

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{units: make(map[uint8]Handler)} }

// Handle sets the handler of unit; nil removes it.
func (m *Mux) Handle(unit uint8, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h == nil {
		delete(m.units, unit)
		return
	}
	m.units[unit] = h
}

// HandleDefault sets the handler of every unit without its own; nil removes it.
func (m *Mux) HandleDefault(h Handler) {
	m.mu.Lock()
	m.fallback = h
	m.mu.Unlock()
}

// ServeModbus implements Handler. A broadcast (see BroadcastRequest)
// goes to every unit's handler, as a gateway repeats it on its serial line,
// and to the default handler when no unit has one; it returns ErrNoResponse.
func (m *Mux) ServeModbus(ctx context.Context, unit uint8, req PDU) (PDU, error) {
	if BroadcastRequest(ctx) {
		m.broadcast(ctx, req)
		return PDU{}, ErrNoResponse
	}
	m.mu.RLock()
	h, ok := m.units[unit]
	if !ok {
		h = m.fallback
	}
	m.mu.RUnlock()
	if h == nil {
		return PDU{}, Exception(req.Function, ExGatewayPathUnavailable)
	}
	return h.ServeModbus(ctx, unit, req)
}

// broadcast hands req to every unit's handler (in no fixed order), or to the
// default handler when there is no unit. Their answers are dropped.
func (m *Mux) broadcast(ctx context.Context, req PDU) {
	m.mu.RLock()
	hs := make([]Handler, 0, len(m.units)+1)
	for _, h := range m.units {
		hs = append(hs, h)
	}
	if len(hs) == 0 && m.fallback != nil {
		hs = append(hs, m.fallback)
	}
	m.mu.RUnlock()
	for _, h := range hs {
		h.ServeModbus(ctx, BroadcastUnit, req)
	}
}
