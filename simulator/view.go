package simulator

import (
	"time"

	"github.com/otrange/otrange/simulator/firewall"
	"github.com/otrange/otrange/simulator/logic"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/scada"
	"github.com/otrange/otrange/simulator/water"
)

// View is the live picture of the plant the HMI and the device view show:
// values as the HMI polled them (stale or missing when a device is off),
// and each device's state as the range knows it.
type View struct {
	Time         time.Time          `json:"time"`
	Plant        string             `json:"plant"`
	Devices      []DeviceView       `json:"devices"`
	Tags         []TagView          `json:"tags"`
	Values       map[string]float64 `json:"values"`
	Alarms       []activeAlarm      `json:"alarms"`
	Consequences water.Consequences `json:"consequences"`
	Firewall     []firewall.Rule    `json:"firewall"`
}

// DeviceView is one device's state.
type DeviceView struct {
	Name              string     `json:"name"`
	Kind              string     `json:"kind"`
	Protocol          string     `json:"protocol,omitempty"`
	Address           string     `json:"address"`
	Online            bool       `json:"online"` // the HMI reaches it
	Error             string     `json:"error,omitempty"`
	Up                bool       `json:"up"` // on the network (not restarting)
	BackAt            *time.Time `json:"back_at,omitempty"`
	Mode              string     `json:"mode,omitempty"`
	Checksum          uint32     `json:"checksum,omitempty"`
	KnownGoodChecksum uint32     `json:"known_good_checksum,omitempty"`
}

// TagView describes one HMI tag ("device:name").
type TagView struct {
	Key          string  `json:"key"`
	Device       string  `json:"device"`
	Name         string  `json:"name"`
	Unit         string  `json:"unit,omitempty"`
	Writable     bool    `json:"writable"`
	Bool         bool    `json:"bool"`
	Min          float64 `json:"min"`
	Max          float64 `json:"max"`
	Description  string  `json:"description,omitempty"`
	HistorianTag string  `json:"historian_tag,omitempty"` // trend it with this name
}

// View returns the plant's live picture.
func (p *Plant) View() View {
	v := View{Time: time.Now(), Plant: p.def.Meta.Name, Values: map[string]float64{}, Firewall: p.fw.Rules()}
	status := map[string]scada.DeviceStatus{}
	if p.scada != nil && !p.scada.Suspended() {
		v.Values = p.scada.Values()
		for _, s := range p.scada.Status() {
			status[s.Name] = s
		}
	}
	hist := map[string]bool{}
	if h, ok := p.hostOf(plantdef.KindHistorian); ok {
		for _, t := range h.Tags {
			hist[t] = true
		}
	}
	p.mu.Lock()
	for _, f := range p.fields {
		d := DeviceView{Name: f.def.Name, Kind: string(f.def.Kind), Address: f.station.AddrPort().String(),
			Mode: f.prog.Mode().String(), Checksum: f.prog.Checksum()}
		d.KnownGoodChecksum = f.knownSum
		if f.def.Modbus != nil {
			d.Protocol = "modbus"
		} else {
			d.Protocol = "dnp3"
		}
		up, back := f.station.Up()
		d.Up = up
		if !up {
			d.BackAt = &back
		}
		if s, ok := status[f.def.Name]; ok {
			d.Online, d.Error = s.Online, s.Error
		}
		v.Devices = append(v.Devices, d)
		infos := f.prog.Vars()
		add := func(b *binding) {
			t := TagView{Key: f.def.Name + ":" + b.src.name, Device: f.def.Name, Name: b.src.name, Writable: b.writable}
			if b.src.isTag {
				info, _ := p.water.Info(b.src.tag)
				t.Unit, t.Bool, t.Min, t.Max, t.Description = info.Unit, info.Bool, info.Min, info.Max, info.Description
				if hist[info.Name] {
					t.HistorianTag = info.Name
				}
			} else {
				info := infos[b.src.v]
				t.Unit, t.Bool, t.Min, t.Max, t.Description = info.Unit, info.Type == logic.Bool, info.Min, info.Max, info.Description
			}
			v.Tags = append(v.Tags, t)
		}
		for i := range f.regs {
			add(&f.regs[i])
		}
		for i := range f.pts {
			add(&f.pts[i])
		}
	}
	v.Alarms = p.states.activeAlarms(p)
	v.Consequences = p.water.Consequences()
	p.mu.Unlock()
	for _, kind := range []plantdef.Kind{plantdef.KindHMI, plantdef.KindEWS, plantdef.KindHistorian} {
		if h, ok := p.hostOf(kind); ok {
			d := DeviceView{Name: h.Name, Kind: string(kind), Address: h.Address.String(), Up: !p.hostDown(kind), Online: true}
			d.Online = d.Up
			v.Devices = append(v.Devices, d)
		}
	}
	return v
}
