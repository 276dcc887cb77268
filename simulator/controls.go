package simulator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/simulator/firewall"
	"github.com/otrange/otrange/simulator/logic"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/water"
)

var _ control.Controller = (*Plant)(nil)

// Do carries out a range action.
func (p *Plant) Do(_ context.Context, a control.Action) (control.Result, error) {
	if err := a.Validate(); err != nil {
		return control.Result{}, err
	}
	switch a.Kind {
	case control.BlockHost, control.UnblockHost:
		src, err := firewall.ParseSource(a.Source)
		if err != nil {
			return control.Result{}, fmt.Errorf("%w: %v", control.ErrInvalid, err)
		}
		var changed bool
		if a.Kind == control.BlockHost {
			changed, err = p.fw.Block(a.Device, src, a.Reason)
		} else {
			changed, err = p.fw.Unblock(a.Device, src)
		}
		if err != nil {
			return control.Result{}, fmt.Errorf("%w: %v", control.ErrInvalid, err)
		}
		if !changed {
			return control.Result{Message: "no change: " + a.String()}, nil
		}
		return control.Result{Message: a.String()}, nil
	case control.InjectFault:
		kind, err := water.ParseFaultKind(strings.ReplaceAll(a.Fault, "_", "-"))
		if err != nil {
			return control.Result{}, fmt.Errorf("%w: %v", control.ErrInvalid, err)
		}
		p.mu.Lock()
		err = p.water.InjectFault(water.Fault{Kind: kind, Tag: a.Target})
		p.mu.Unlock()
		if err != nil {
			return control.Result{}, fmt.Errorf("%w: %v", control.ErrInvalid, err)
		}
		return control.Result{Message: a.String()}, nil
	case control.ClearFaults:
		p.mu.Lock()
		p.water.ClearFaults()
		p.mu.Unlock()
		return control.Result{Message: "faults cleared"}, nil
	case control.ResetPlant:
		p.Reset()
		return control.Result{Message: "plant reset to its initial state"}, nil
	case control.RestartDevice:
		return p.restart(a)
	}
	f, ok := p.byName[a.Device]
	if !ok {
		return control.Result{}, fmt.Errorf("%w: %q is not a PLC, RTU or SIS", control.ErrInvalid, a.Device)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch a.Kind {
	case control.SetMode:
		m, err := logic.ParseMode(a.Mode)
		if err != nil {
			return control.Result{}, fmt.Errorf("%w: %v", control.ErrInvalid, err)
		}
		if err := f.prog.SetMode(m); err != nil {
			return control.Result{}, err
		}
	case control.RestoreProgram:
		f.prog.RestoreKnownGood()
	case control.RestoreSetpoints:
		f.prog.RestoreSetpoints()
	}
	f.publish()
	return control.Result{Message: a.String()}, nil
}

// restart takes a device off the network for its restart time. A field
// device's program stops scanning meanwhile (its outputs hold); an HMI
// stops polling (loss of view).
func (p *Plant) restart(a control.Action) (control.Result, error) {
	if f, ok := p.byName[a.Device]; ok {
		d := a.For
		if d == 0 {
			d = f.def.RestartTime
		}
		if err := f.station.Restart(d); err != nil {
			return control.Result{}, err
		}
		f.down.Store(true)
		time.AfterFunc(d, func() { f.down.Store(false) })
		return control.Result{Message: fmt.Sprintf("%s restarting, back in %v", a.Device, d)}, nil
	}
	h, ok := p.def.Device(a.Device)
	if !ok {
		return control.Result{}, fmt.Errorf("%w: no device %q", control.ErrInvalid, a.Device)
	}
	d := a.For
	if d == 0 {
		d = h.RestartTime
	}
	if d == 0 {
		d = 30 * time.Second
	}
	switch h.Kind {
	case plantdef.KindHMI:
		if p.scada == nil {
			return control.Result{}, fmt.Errorf("%w: the HMI is not running", control.ErrInvalid)
		}
		p.scada.Suspend(time.Now().Add(d))
	case plantdef.KindEWS:
		p.hostDowns.set(plantdef.KindEWS, time.Now().Add(d))
	case plantdef.KindHistorian:
		p.hostDowns.set(plantdef.KindHistorian, time.Now().Add(d))
	}
	return control.Result{Message: fmt.Sprintf("%s off the network for %v", a.Device, d)}, nil
}

// Reset puts the process and every program back to their initial state and
// clears the firewall.
func (p *Plant) Reset() {
	p.fw.Reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.water.Reset()
	for _, f := range p.fields {
		f.prog.Reset()
		f.publish()
	}
	p.states.reset()
}
