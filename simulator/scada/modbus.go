package scada

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	gmodbus "github.com/goburrow/modbus"

	"github.com/otrange/otrange/protocol/modbus"
)

// Read limits of the Modbus specification, and the largest hole between two
// tags that one read still spans.
const (
	maxReadRegisters = 125
	maxReadBits      = 2000
	maxSpan          = 16
)

// block is one read request covering several tags.
type block struct {
	table      Table
	start, qty uint16
	tags       []ModbusTag
}

// modbusPoller polls one PLC.
type modbusPoller struct {
	s      *Station
	dev    ModbusDevice
	blocks []block
	tags   map[string]ModbusTag
	tr     *transporter
	cl     gmodbus.Client
	mu     sync.Mutex // one request at a time (polls and commands)
}

func newModbusPoller(s *Station, d ModbusDevice) (*modbusPoller, error) {
	if d.Interval <= 0 {
		d.Interval = time.Second
	}
	p := &modbusPoller{s: s, dev: d, tags: map[string]ModbusTag{}}
	for _, t := range d.Tags {
		if t.Table < Coil || t.Table > Holding {
			return nil, fmt.Errorf("scada: device %q tag %q: bad table", d.Name, t.Name)
		}
		p.tags[t.Name] = t
	}
	p.blocks = planBlocks(d.Tags)
	handler := gmodbus.NewTCPClientHandler(d.Addr.String())
	handler.SlaveId = d.Unit
	p.tr = &transporter{source: s.cfg.Source, target: d.Addr, timeout: s.cfg.Timeout}
	p.cl = gmodbus.NewClient2(handler, p.tr)
	return p, nil
}

// planBlocks groups tags by table into as few reads as the limits allow.
func planBlocks(tags []ModbusTag) []block {
	sorted := slices.Clone(tags)
	slices.SortFunc(sorted, func(a, b ModbusTag) int {
		if a.Table != b.Table {
			return int(a.Table) - int(b.Table)
		}
		return int(a.Address) - int(b.Address)
	})
	var out []block
	for _, t := range sorted {
		limit := maxReadRegisters
		if t.Table.bits() {
			limit = maxReadBits
		}
		width := uint16(max(t.Words, 1))
		if n := len(out); n > 0 {
			b := &out[n-1]
			end := int(b.start) + int(b.qty)
			if b.table == t.Table && int(t.Address) < end+maxSpan && int(t.Address)+int(width)-int(b.start) <= limit {
				b.qty = max(b.qty, t.Address+width-b.start)
				b.tags = append(b.tags, t)
				continue
			}
		}
		out = append(out, block{table: t.Table, start: t.Address, qty: width, tags: []ModbusTag{t}})
	}
	return out
}

func (p *modbusPoller) run(ctx context.Context) error {
	t := time.NewTicker(p.dev.Interval)
	defer t.Stop()
	for {
		if p.s.Suspended() {
			p.tr.Close()
		} else {
			values, err := p.poll()
			p.s.publish(p.dev.Name, values, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll reads every block once.
func (p *modbusPoller) poll() (map[string]float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	values := make(map[string]float64, len(p.tags))
	for _, b := range p.blocks {
		data, err := p.read(b)
		if err != nil {
			p.tr.Close() // reconnect on the next poll
			return nil, fmt.Errorf("read %s %d+%d: %w", b.table, b.start, b.qty, err)
		}
		for _, t := range b.tags {
			off := int(t.Address - b.start)
			var raw float64
			if b.table.bits() {
				raw = float64(data[off/8] >> (off % 8) & 1)
			} else if t.Words == 2 {
				r := uint32(data[2*off])<<24 | uint32(data[2*off+1])<<16 | uint32(data[2*off+2])<<8 | uint32(data[2*off+3])
				raw = float64(r)
				if t.Signed {
					raw = float64(int32(r))
				}
			} else {
				r := uint16(data[2*off])<<8 | uint16(data[2*off+1])
				raw = float64(r)
				if t.Signed {
					raw = float64(int16(r))
				}
			}
			values[t.Name] = raw / scale(t.Scale)
		}
	}
	return values, nil
}

func (p *modbusPoller) read(b block) ([]byte, error) {
	var data []byte
	var err error
	switch b.table {
	case Coil:
		data, err = p.cl.ReadCoils(b.start, b.qty)
	case Discrete:
		data, err = p.cl.ReadDiscreteInputs(b.start, b.qty)
	case Input:
		data, err = p.cl.ReadInputRegisters(b.start, b.qty)
	default:
		data, err = p.cl.ReadHoldingRegisters(b.start, b.qty)
	}
	want := 2 * int(b.qty)
	if b.table.bits() {
		want = (int(b.qty) + 7) / 8
	}
	if err == nil && len(data) < want {
		err = fmt.Errorf("short response: %d bytes, want %d", len(data), want)
	}
	return data, err
}

func (p *modbusPoller) command(_ context.Context, tag string, v float64) error {
	t := p.tags[tag]
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	switch t.Table {
	case Coil:
		var word uint16
		if v != 0 {
			word = 0xFF00
		}
		_, err = p.cl.WriteSingleCoil(t.Address, word)
	case Holding:
		if t.Words == 2 {
			return p.write32(t, v)
		}
		raw := math.Round(v * scale(t.Scale))
		lo, hi := 0.0, 65535.0
		if t.Signed {
			lo, hi = -32768, 32767
		}
		if raw < lo || raw > hi || math.IsNaN(raw) {
			return fmt.Errorf("scada: %s = %g does not fit its register", tag, v)
		}
		_, err = p.cl.WriteSingleRegister(t.Address, uint16(int32(raw)))
	default:
		return fmt.Errorf("scada: %s is a %s, which cannot be written", tag, t.Table)
	}
	if err != nil {
		p.tr.Close()
		return fmt.Errorf("scada: write %s on %s: %w", tag, p.dev.Name, err)
	}
	return nil
}

// write32 writes a 32-bit value to two holding registers with FC 16.
// Called with p.mu held.
func (p *modbusPoller) write32(t ModbusTag, v float64) error {
	raw := math.Round(v * scale(t.Scale))
	lo, hi := 0.0, float64(math.MaxUint32)
	if t.Signed {
		lo, hi = math.MinInt32, math.MaxInt32
	}
	if raw < lo || raw > hi || math.IsNaN(raw) {
		return fmt.Errorf("scada: %s = %g does not fit its registers", t.Name, v)
	}
	u := uint32(int64(raw))
	b := []byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}
	if _, err := p.cl.WriteMultipleRegisters(t.Address, 2, b); err != nil {
		p.tr.Close()
		return fmt.Errorf("scada: write %s on %s: %w", t.Name, p.dev.Name, err)
	}
	return nil
}

func (p *modbusPoller) close() { p.tr.Close() }

// transporter is goburrow's Transporter over a connection bound to the
// station's own address, so the wire shows the HMI as a distinct host.
// goburrow's TCP handler still frames requests and checks responses.
type transporter struct {
	source  netip.Addr
	target  netip.AddrPort
	timeout time.Duration

	mu   sync.Mutex
	conn net.Conn
	buf  [modbus.MaxADULen]byte
}

// Send writes one request ADU and reads one response ADU.
func (t *transporter) Send(req []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		d := net.Dialer{Timeout: t.timeout}
		if t.source.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(t.source, 0))
		}
		c, err := d.Dial("tcp", t.target.String())
		if err != nil {
			return nil, err
		}
		t.conn = c
	}
	t.conn.SetDeadline(time.Now().Add(t.timeout))
	if _, err := t.conn.Write(req); err != nil {
		return nil, err
	}
	n := 0
	for {
		var adu modbus.ADU
		size, err := modbus.DecodeADU(t.buf[:n], &adu)
		if err == nil {
			return append([]byte(nil), t.buf[:size]...), nil
		}
		if !errors.Is(err, modbus.ErrIncomplete) {
			return nil, err
		}
		m, err := t.conn.Read(t.buf[n:])
		if err != nil {
			return nil, err
		}
		n += m
	}
}

// Close drops the connection.
func (t *transporter) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}
