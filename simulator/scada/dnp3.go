package scada

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/master"
)

type pointKey struct {
	typ   PointType
	index uint16
}

// dnp3Poller masters one outstation: it connects (enabling unsolicited
// responses when configured), runs an integrity poll at connect and on its
// interval, event polls in between, and takes unsolicited responses as they
// come.
type dnp3Poller struct {
	s      *Station
	dev    DNP3Device
	byKey  map[pointKey]DNP3Tag
	byName map[string]DNP3Tag

	mu sync.Mutex // guards m
	m  *master.Master
}

func newDNP3Poller(s *Station, d DNP3Device) (*dnp3Poller, error) {
	if d.IntegrityInterval <= 0 {
		d.IntegrityInterval = time.Minute
	}
	if d.EventInterval <= 0 {
		d.EventInterval = 5 * time.Second
	}
	p := &dnp3Poller{s: s, dev: d, byKey: map[pointKey]DNP3Tag{}, byName: map[string]DNP3Tag{}}
	for _, t := range d.Tags {
		if t.Type < BinaryInput || t.Type > AnalogOutput {
			return nil, fmt.Errorf("scada: device %q tag %q: bad point type", d.Name, t.Name)
		}
		k := pointKey{t.Type, t.Index}
		if _, dup := p.byKey[k]; dup {
			return nil, fmt.Errorf("scada: device %q: %s %d bound twice", d.Name, t.Type, t.Index)
		}
		p.byKey[k], p.byName[t.Name] = t, t
	}
	return p, nil
}

func (p *dnp3Poller) newMaster() (*master.Master, error) {
	source := p.s.cfg.Source
	return master.New(master.Config{
		Address: p.dev.Master, Outstation: p.dev.Link, Addr: p.dev.Addr.String(),
		Timeout: p.s.cfg.Timeout, EnableUnsolicited: p.dev.Unsolicited,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: p.s.cfg.Timeout}
			if source.IsValid() {
				d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
			}
			return d.DialContext(ctx, network, addr)
		},
		OnUnsolicited: func(r *master.Response) {
			if v := p.values(r); len(v) > 0 {
				p.s.publish(p.dev.Name, v, nil)
			}
		},
		Logger: p.s.log.With("device", p.dev.Name),
	})
}

func (p *dnp3Poller) run(ctx context.Context) error {
	events := time.NewTicker(p.dev.EventInterval)
	defer events.Stop()
	var lastIntegrity time.Time
	for {
		if p.s.Suspended() {
			p.disconnect()
			select {
			case <-ctx.Done():
				return nil
			case <-events.C:
			}
			continue
		}
		var v map[string]float64
		m, err := p.connect(ctx)
		if err == nil {
			var r *master.Response
			if time.Since(lastIntegrity) >= p.dev.IntegrityInterval || lastIntegrity.IsZero() {
				r, err = m.IntegrityPoll(ctx)
				if err == nil {
					lastIntegrity = time.Now()
				}
			} else {
				r, err = m.EventPoll(ctx, master.Class1|master.Class2|master.Class3)
			}
			if r != nil && r.IIN&dnp3.IINDeviceRestart != 0 && err == nil {
				err = m.ClearRestart(ctx)
				lastIntegrity = time.Time{} // re-read everything after a restart
			}
			if err != nil {
				p.disconnect()
			} else {
				v = p.values(r)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		p.s.publish(p.dev.Name, v, err)
		select {
		case <-ctx.Done():
			return nil
		case <-events.C:
		}
	}
}

// connect returns the connected master, connecting first if needed.
func (p *dnp3Poller) connect(ctx context.Context) (*master.Master, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m != nil {
		return p.m, nil
	}
	m, err := p.newMaster()
	if err != nil {
		return nil, err
	}
	if err := m.Connect(ctx); err != nil {
		m.Close()
		return nil, err
	}
	p.m = m
	return m, nil
}

func (p *dnp3Poller) disconnect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m != nil {
		p.m.Close()
		p.m = nil
	}
}

// values maps a response's points to tags.
func (p *dnp3Poller) values(r *master.Response) map[string]float64 {
	v := map[string]float64{}
	for _, pt := range r.Points {
		typ, ok := typeOfGroup(pt.Group)
		if !ok {
			continue
		}
		if pt.Index > 0xFFFF {
			continue
		}
		t, ok := p.byKey[pointKey{typ, uint16(pt.Index)}]
		if !ok {
			continue
		}
		v[t.Name] = pt.Measurement.Value / scale(t.Scale)
	}
	return v
}

func typeOfGroup(g uint8) (PointType, bool) {
	switch g {
	case 1, 2:
		return BinaryInput, true
	case 10, 11:
		return BinaryOutput, true
	case 20, 22:
		return Counter, true
	case 30, 32:
		return AnalogInput, true
	case 40, 42:
		return AnalogOutput, true
	}
	return 0, false
}

// command operates a binary output (latch on/off) or an analog output with
// select-before-operate, as operators' HMIs do.
func (p *dnp3Poller) command(ctx context.Context, tag string, v float64) error {
	t := p.byName[tag]
	m, err := p.connect(ctx)
	if err != nil {
		return fmt.Errorf("scada: %s: %w", p.dev.Name, err)
	}
	var st dnp3.CommandStatus
	switch t.Type {
	case BinaryOutput:
		op := dnp3.OpLatchOff
		if v != 0 {
			op = dnp3.OpLatchOn
		}
		st, err = m.SelectOperate(ctx, t.Index, dnp3.CROB{Code: dnp3.NewControlCode(op, dnp3.TCCNul, false), Count: 1})
	case AnalogOutput:
		st, err = m.SelectOperateAnalog(ctx, t.Index, 3, dnp3.AnalogOutput{Value: v * scale(t.Scale)})
	default:
		return fmt.Errorf("scada: %s is a %s, which cannot be commanded", tag, t.Type)
	}
	if err != nil {
		p.disconnect()
		return fmt.Errorf("scada: operate %s on %s: %w", tag, p.dev.Name, err)
	}
	if st != dnp3.StatusSuccess {
		return fmt.Errorf("scada: operate %s on %s: outstation answered %v", tag, p.dev.Name, st)
	}
	return nil
}

func (p *dnp3Poller) close() { p.disconnect() }
