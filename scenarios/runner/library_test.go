package runner

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/internal/wiretest"
	scenario "github.com/otrange/otrange/scenarios"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/simulator"
	"github.com/otrange/otrange/simulator/control"
)

// libCase is one library scenario run against the real plant.
type libCase struct {
	id string
	// setup prepares the plant before the run (as the scenario's
	// preconditions); nil: none.
	setup func(t *testing.T, p *simulator.Plant)
	// what names the expected consequence; happened checks it from the
	// plant's events and true values; window is how much process time after
	// the run it may take. what "": no process consequence (reconnaissance).
	what     string
	happened func(p *simulator.Plant, e *plantEvents) bool
	window   time.Duration
	// block is the team's action before the run in the blocked variant;
	// zero: no blocked variant (the scenario's effect does not cross the
	// plant's firewall: ransomware on the stations).
	block control.Action
	// failing are steps that fail on the wire even unblocked, because the
	// default plant refuses them.
	failing []string
}

const attacker = "127.66.0.1"

func event(name, device string) func(*simulator.Plant, *plantEvents) bool {
	return func(_ *simulator.Plant, e *plantEvents) bool { return e.has(name, device) }
}

// manualOff: the booster station was switched out of automatic (BO 2) with
// its pump commands off, so nothing runs the pumps: the reservoir drains
// (the zone runs dry hours of process time later).
func manualOff(p *simulator.Plant, _ *plantEvents) bool {
	auto, ok1 := p.Read("rtu-reservoir", "auto")
	c1, ok2 := p.Read("rtu-reservoir", "pump1.cmd")
	c2, ok3 := p.Read("rtu-reservoir", "pump2.cmd")
	return ok1 && ok2 && ok3 && auto == 0 && c1 == 0 && c2 == 0
}

var libCases = []libCase{
	{id: "ot-recon"},
	{id: "frostygoop-writes", what: "pressure low", happened: event(simulator.PressureLow, ""), window: 15 * time.Minute,
		block: control.Action{Kind: control.BlockHost, Device: "*", Source: attacker}},
	// The NaOH dose is capped by the dosing pump's rate limit: the treated
	// water's pH rises past the SIS trip (9.0) before the outlet is unsafe.
	{id: "oldsmar-setpoint", what: "sis trip", happened: event(simulator.SISTrip, "sis"), window: 10 * time.Minute,
		block: control.Action{Kind: control.SetMode, Device: "plc-treatment", Mode: "local"}},
	{id: "industroyer-dnp3", what: "booster station in manual with its pumps off", happened: manualOff, window: time.Minute,
		block: control.Action{Kind: control.BlockHost, Device: "*", Source: attacker}},
	{id: "blind-operators", what: "booster station in manual with its pumps off", happened: manualOff, window: time.Minute,
		block: control.Action{Kind: control.BlockHost, Device: "*", Source: attacker}},
	{id: "pipedream-ews", what: "sis trip", happened: event(simulator.SISTrip, "sis"), window: 10 * time.Minute,
		block: control.Action{Kind: control.BlockHost, Device: "plc-treatment", Source: "127.10.2.20"}},
	{id: "triton-sis", what: "sis trip", happened: event(simulator.SISTrip, "sis"), window: 5 * time.Minute,
		// The default SIS runs with its key switch locked (run): the
		// network may not change its mode. TRITON's controllers had the
		// switch left in PROGRAM; here it is left in remote.
		setup: func(t *testing.T, p *simulator.Plant) {
			if _, err := p.Do(context.Background(), control.Action{Kind: control.SetMode, Device: "sis", Mode: "remote"}); err != nil {
				t.Fatal(err)
			}
		},
		block: control.Action{Kind: control.BlockHost, Device: "sis", Source: "127.10.2.20"}},
	{id: "ekans-ransomware", what: "loss of view and an intake pump trip", window: 2 * time.Minute,
		happened: func(p *simulator.Plant, e *plantEvents) bool {
			return e.has(simulator.LossOfView, "hmi") && e.has(simulator.PumpTrip, "")
		}},
}

// plantSpeed is the process's acceleration in these tests; the scenario's
// clock runs faster still, so the steps come early and the test waits for
// their consequences in process time.
const (
	plantSpeed  = 300
	runnerSpeed = 1000
)

// TestLibrary runs every library scenario against the real plant with an
// accelerated clock: each step's frames must be on the wire (decoded by
// the sensor's analyzers from a capture), and its expected consequence
// must follow. The blocked variant takes the team's containing action
// first: the steps fail on the wire and the consequence does not come.
func TestLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the plant")
	}
	for _, c := range libCases {
		t.Run(c.id, func(t *testing.T) {
			runLibrary(t, c, false)
		})
		if c.block.Kind != "" {
			t.Run(c.id+"/blocked", func(t *testing.T) {
				runLibrary(t, c, true)
			})
		}
	}
}

type plantEvents struct {
	mu  sync.Mutex
	evs []simulator.Event
}

func (e *plantEvents) add(ev simulator.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *plantEvents) has(name, device string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.evs {
		if ev.Kind == "consequence" && ev.Active && ev.Name == name && (device == "" || ev.Device == device) {
			return true
		}
	}
	return false
}

func runLibrary(t *testing.T, c libCase, blocked bool) {
	sc, err := scenario.Get(c.id)
	if err != nil {
		t.Fatal(err)
	}
	evs := &plantEvents{}
	p, err := simulator.New(simulator.Config{EphemeralPorts: true, Speed: plantSpeed, OnEvent: evs.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("plant: %v", err)
		}
	})
	if c.setup != nil {
		c.setup(t, p)
	}
	if blocked {
		if _, err := p.Do(ctx, c.block); err != nil {
			t.Fatal(err)
		}
	}
	// Capture what the scenario's sources send and receive.
	srcs := map[netip.Addr]bool{sc.SourceAddr(): true}
	for _, ps := range sc.AllSteps() {
		if a, ok := stationOrAddr(p, sc.StepSource(ps.Step)); ok {
			srcs[a] = true
		}
	}
	capture := wiretest.Capture(t, func(pk gopacket.Packet) bool {
		for a := range srcs {
			if from(a)(pk) {
				return true
			}
		}
		return false
	})
	rec := &memRecorder{}
	r, err := New(Config{Scenario: sc, Plant: p.Def(), Addr: p.Addr, Guard: guard(), Control: p,
		Clock: mustClock(t, runnerSpeed), Recorder: rec, ProbeTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	if err := r.Run(rctx); err != nil {
		t.Fatal(err)
	}
	if c.what != "" {
		deadline := p.Consequences().Elapsed + c.window
		for !c.happened(p, evs) && p.Consequences().Elapsed < deadline {
			time.Sleep(20 * time.Millisecond)
		}
		got := c.happened(p, evs)
		switch {
		case !blocked && !got:
			t.Errorf("no %s within %v of process time after the run", c.what, c.window)
		case blocked && got:
			t.Errorf("%s although the attacker was contained (%s)", c.what, c.block)
		}
		t.Logf("%s: %v at %v of process time", c.what, got, p.Consequences().Elapsed)
	}
	pcap := capture.Stop()
	checkWire(t, decode(t, pcap), capture, rec, sc, blocked, c)
}

func mustClock(t *testing.T, speed float64) *ScaledClock {
	t.Helper()
	c, err := NewClock(speed)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func stationOrAddr(p *simulator.Plant, s string) (netip.Addr, bool) {
	if d, ok := p.Def().Device(s); ok {
		return d.Address, true
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// checkWire checks every executed network step against the capture: its
// frames are there, on its flows; unblocked steps succeed (unless known to
// be refused by the plant), blocked ones fail.
func checkWire(t *testing.T, ms []msg, capture *wiretest.Recorder, rec *memRecorder, sc *scenario.Scenario, blocked bool, c libCase) {
	t.Helper()
	rec.mu.Lock()
	steps := append([]exercise.StepRecord(nil), rec.steps...)
	rec.mu.Unlock()
	network := 0
	for _, s := range steps {
		switch s.Action {
		case "inject", "wait", "plant.fault", "host.down":
			if !s.Succeeded {
				t.Errorf("%s (%s) failed: %s", s.Step, s.Action, s.Error)
			}
			continue
		}
		network++
		wantOK := !blocked && !contains(c.failing, s.Step)
		if blocked && (s.Action == "net.discover" || s.Action == "dnp3.spoof_response") {
			// The devices' firewall does not stop a sweep's SYNs (the
			// kernel answers them) nor datagrams sent to the master.
			wantOK = true
		}
		if s.Succeeded != wantOK {
			t.Errorf("%s (%s): succeeded %v, error %q; want succeeded %v", s.Step, s.Action, s.Succeeded, s.Error, wantOK)
		}
		switch s.Action {
		case "net.discover":
			src := netip.MustParseAddr(s.Source)
			n := 0
			for _, k := range syns(capture.Packets(), src) {
				n += k
			}
			if n < s.Frames || s.Frames == 0 {
				t.Errorf("%s: %d SYNs from %s on the wire, %d probes recorded", s.Step, n, src, s.Frames)
			}
			continue
		}
		// Count the application requests on the step's flows.
		onFlows := 0
		for _, f := range s.Flows {
			local, remote, _ := strings.Cut(f, ">")
			for _, m := range ms {
				if m.Valid && !m.Response || s.Action == "dnp3.spoof_response" {
					if m.Src.String() == local && m.Dst.String() == remote && !(m.Proto.String() == "dnp3" && m.AppFunc == 0) {
						onFlows++
					}
				}
			}
		}
		if s.Frames == 0 {
			// Blocked: the device closed the connection before the
			// request could go; the attempt is on the wire all the same.
			dst, err := netip.ParseAddrPort(s.Destination)
			if !blocked || err != nil || syns(capture.Packets(), netip.MustParseAddr(s.Source))[dst] == 0 {
				t.Errorf("%s: no frames recorded and no connection attempt to %s on the wire", s.Step, s.Destination)
			}
		}
		// On a loaded machine the capture can lose packets: judge the count
		// only when every flow's client side was captured whole.
		switch {
		case onFlows > s.Frames:
			t.Errorf("%s (%s): %d requests on its flows %v in the capture, only %d recorded", s.Step, s.Action, onFlows, s.Flows, s.Frames)
		case onFlows < s.Frames && allComplete(capture, s.Flows, s.Action == "dnp3.spoof_response"):
			t.Errorf("%s (%s): %d requests on its flows %v in the capture, %d recorded", s.Step, s.Action, onFlows, s.Flows, s.Frames)
		case onFlows < s.Frames:
			t.Logf("%s: the capture lost packets of %v (%d of %d requests seen)", s.Step, s.Flows, onFlows, s.Frames)
		}
	}
	if network == 0 && c.id != "ekans-ransomware" {
		t.Error("no network step ran")
	}
	if !blocked {
		t.Logf("%d steps recorded, %d on the network", len(steps), network)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// allComplete reports whether the capture holds the client side of every
// flow whole: its SYN, payload segments without a hole, and its FIN (or
// RST) right after the last of them.
func allComplete(capture *wiretest.Recorder, flows []string, udp bool) bool {
	if udp {
		return true // datagrams are not followed; a lost one cannot be told
	}
	pkts := capture.Packets()
	for _, f := range flows {
		local, remote, _ := strings.Cut(f, ">")
		src, err1 := netip.ParseAddrPort(local)
		dst, err2 := netip.ParseAddrPort(remote)
		if err1 != nil || err2 != nil || !complete(pkts, src, dst) {
			return false
		}
	}
	return true
}

func complete(pkts []gopacket.Packet, src, dst netip.AddrPort) bool {
	var next uint32
	synced, closed := false, false
	for _, p := range pkts {
		v4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, ok2 := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !ok2 {
			continue
		}
		s, _ := netip.AddrFromSlice(v4.SrcIP.To4())
		d, _ := netip.AddrFromSlice(v4.DstIP.To4())
		if netip.AddrPortFrom(s, uint16(tcp.SrcPort)) != src || netip.AddrPortFrom(d, uint16(tcp.DstPort)) != dst {
			continue
		}
		if tcp.SYN {
			next, synced = tcp.Seq+1, true
			continue
		}
		if !synced {
			return false
		}
		if n := uint32(len(tcp.Payload)); n > 0 {
			if int32(tcp.Seq-next) > 0 {
				return false // a hole
			}
			if end := tcp.Seq + n; int32(end-next) > 0 {
				next = end
			}
		}
		if (tcp.FIN || tcp.RST) && tcp.Seq == next {
			closed = true
		}
	}
	return synced && closed
}
