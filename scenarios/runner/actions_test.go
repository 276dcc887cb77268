package runner

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/server/exercise"
)

// actionCase is one action run against the test devices, checked from the
// capture (decoded by the sensor's own analyzers) and the step's record.
type actionCase struct {
	name   string
	step   string // YAML of the step, without id/name/at
	frames int    // frames the record must count
	fail   bool   // the step must fail on the wire
	check  func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord)
}

// wantReqs checks that the requests among the messages decoded from the
// capture are exactly
// want (formatted by describe), all from src to the device.
func wantReqs(t *testing.T, reqs []msg, src netip.Addr, dst netip.AddrPort, describe func(msg) string, want ...string) {
	t.Helper()
	var got []string
	for _, m := range requests(reqs) {
		if m.Src.Addr() != src || m.Dst != dst {
			t.Errorf("request %v: want it from %v to %v", m, src, dst)
		}
		got = append(got, describe(m))
	}
	if !slices.Equal(got, want) {
		t.Errorf("requests on the wire:\n got %q\nwant %q", got, want)
	}
}

func mb(m msg) string {
	s := fmt.Sprintf("u%d fc%d @%d", m.Unit, m.Func, m.Address)
	if m.Func == 8 {
		s = fmt.Sprintf("u%d fc8 sub%d", m.Unit, m.Sub)
	}
	if m.Func == 43 {
		s = fmt.Sprintf("u%d fc43/%d code%d", m.Unit, m.MEI, m.Code)
	}
	if len(m.Values) > 0 && (m.Func == 5 || m.Func == 6 || m.Func == 15 || m.Func == 16) {
		s += fmt.Sprintf(" %v", m.Values)
	}
	return s
}

func dn(m msg) string {
	return fmt.Sprintf("fc%d %d>%d %s", m.AppFunc, m.LinkSrc, m.LinkDst, strings.Join(m.Objects, ","))
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

var actionCases = []actionCase{
	{name: "modbus.read", step: "action: modbus.read\ntarget: plc-intake\nparams: {table: input, address: 0, count: 8, repeat: 2, interval: 1s}", frames: 2,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-intake"], mb, "u1 fc4 @0", "u1 fc4 @0")
		}},
	{name: "modbus.write single", step: "action: modbus.write\ntarget: plc-treatment\nparams: {address: 3, values: [11100]}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-treatment"], mb, "u1 fc6 @3 [11100]")
			if v := d.banks["plc-treatment"].Holding(3); v != 11100 {
				t.Errorf("holding 3 = %d, want 11100", v)
			}
		}},
	{name: "modbus.write multiple", step: "action: modbus.write\ntarget: plc-distribution\nparams: {address: 1, values: [150, 400], function: multiple}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-distribution"], mb, "u1 fc16 @1 [150 400]")
		}},
	{name: "modbus.write coils", step: "action: modbus.write\ntarget: plc-intake\nparams: {table: coil, address: 1, values: [0, 1]}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-intake"], mb, "u1 fc15 @1 [0 1]")
			if !d.banks["plc-intake"].Coil(2) {
				t.Error("coil 2 not set")
			}
		}},
	{name: "modbus.write refused", step: "action: modbus.write\ntarget: plc-intake\nparams: {address: 500, values: [1]}", frames: 1, fail: true,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-intake"], mb, "u1 fc6 @500 [1]")
			if !strings.Contains(rec.Error, "refused") {
				t.Errorf("error %q, want the exception as a refusal", rec.Error)
			}
		}},
	{name: "modbus.scan.units", step: "action: modbus.scan.units\ntarget: sis\nparams: {from: 1, to: 4}", frames: 4,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["sis"], mb, "u1 fc3 @0", "u2 fc3 @0", "u3 fc3 @0", "u4 fc3 @0")
		}},
	{name: "modbus.scan.functions", step: "action: modbus.scan.functions\ntarget: plc-treatment\nparams: {codes: [1, 3, 6, 8, 16, 43, 90]}", frames: 7,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			fc := func(m msg) string { return fmt.Sprint(m.Func) }
			wantReqs(t, reqs, src, d.addrs["plc-treatment"], fc, "1", "3", "6", "8", "16", "43", "90")
			for a := range uint16(100) {
				if d.banks["plc-treatment"].Holding(a) != 0 {
					t.Errorf("the function scan wrote holding register %d", a)
				}
			}
		}},
	{name: "modbus.scan.addresses", step: "action: modbus.scan.addresses\ntarget: plc-treatment\nparams: {from: 0, to: 249, block: 100}", frames: 3,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-treatment"], mb, "u1 fc3 @0", "u1 fc3 @100", "u1 fc3 @200")
			if r := requests(reqs); len(r) == 3 && r[2].Quantity != 50 {
				t.Errorf("last block reads %d registers, want 50", reqs[2].Quantity)
			}
		}},
	{name: "modbus.diagnostic", step: "action: modbus.diagnostic\ntarget: plc-treatment\nparams: {sub: restart_communications}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-treatment"], mb, "u1 fc8 sub1")
		}},
	{name: "modbus.diagnostic listen only", step: "action: modbus.diagnostic\ntarget: plc-distribution\nparams: {sub: force_listen_only}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-distribution"], mb, "u1 fc8 sub4")
		}},
	{name: "modbus.identify", step: "action: modbus.identify\ntarget: plc-distribution\nparams: {level: regular}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-distribution"], mb, "u1 fc43/14 code2")
		}},
	{name: "modbus.flood", step: "action: modbus.flood\ntarget: plc-intake\nparams: {rate: 200, duration: 1s, connections: 2, address: 5, count: 2}", frames: 200,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-intake"], mb, repeat("u1 fc3 @5", 200)...)
			if len(rec.Flows) != 2 {
				t.Errorf("flows %v, want 2 connections", rec.Flows)
			}
		}},
	{name: "dnp3.read", step: "action: dnp3.read\ntarget: rtu-reservoir\nparams: {kind: integrity}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc1 1>10 g60v2,g60v3,g60v4,g60v1")
		}},
	{name: "dnp3.operate select", step: "action: dnp3.operate\ntarget: rtu-reservoir\nparams: {point: crob, mode: select_operate, index: 0, last: 1, op: latch_off}", frames: 4,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc3 1>10 g12v1", "fc4 1>10 g12v1", "fc3 1>10 g12v1", "fc4 1>10 g12v1")
			crobs, _ := d.ctl.log()
			want := []string{"SELECT 0 op4", "OPERATE 0 op4", "SELECT 1 op4", "OPERATE 1 op4"}
			if !slices.Equal(crobs, want) {
				t.Errorf("outstation saw %q, want %q", crobs, want)
			}
		}},
	{name: "dnp3.operate brute force", step: "action: dnp3.operate\ntarget: rtu-reservoir\nparams: {point: crob, mode: direct, index: 2, last: 5, op: toggle, count: 2, interval: 1s}", frames: 8,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, repeat("fc5 1>10 g12v1", 8)...)
			crobs, _ := d.ctl.log()
			want := []string{"DIRECT_OPERATE 2 op3", "DIRECT_OPERATE 3 op3", "DIRECT_OPERATE 2 op4", "DIRECT_OPERATE 3 op4"}
			if !slices.Equal(crobs, want) {
				t.Errorf("outstation saw %q, want %q", crobs, want)
			}
		}},
	{name: "dnp3.operate analog", step: "action: dnp3.operate\ntarget: rtu-reservoir\nparams: {point: analog, mode: direct, index: 1, value: 2.5}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc5 1>10 g41v3")
			if _, an := d.ctl.log(); !slices.Equal(an, []string{"DIRECT_OPERATE 1 2.5"}) {
				t.Errorf("outstation saw %q", an)
			}
		}},
	{name: "dnp3.restart", step: "action: dnp3.restart\ntarget: rtu-reservoir\nparams: {kind: cold}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc13 1>10 ")
		}},
	{name: "dnp3.stop_application", step: "action: dnp3.stop_application\ntarget: rtu-reservoir", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			// The analyzer keeps no object for g90 (it does not know its size).
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc18 1>10 ")
		}},
	{name: "dnp3.unsolicited", step: "action: dnp3.unsolicited\ntarget: rtu-reservoir\nparams: {mode: disable, classes: [1, 2, 3], master: 7}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc21 7>10 g60v2,g60v3,g60v4")
		}},
	{name: "dnp3.broadcast", step: "action: dnp3.broadcast\ntarget: rtu-reservoir\nparams: {request: disable_unsolicited, address: 65535}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc21 1>65535 g60v2,g60v3,g60v4")
		}},
	{name: "dnp3.spoof_response", step: "action: dnp3.spoof_response\ntarget: rtu-reservoir\nparams: {points: [{type: analog_input, index: 0, value: 4}, {type: binary_input, index: 0, value: 1}], count: 2, interval: 1s}", frames: 2,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			hmi := netip.MustParseAddrPort("127.10.2.10:20000")
			n := 0
			for _, m := range reqs {
				if m.Proto.String() != "dnp3" {
					continue
				}
				n++
				if !m.UDP || m.Src.Addr() != src || m.Dst != hmi || m.AppFunc != 130 || !m.UNS || m.LinkSrc != 10 || m.LinkDst != 1 ||
					!slices.Equal(m.Objects, []string{"g2v1", "g32v1"}) {
					t.Errorf("spoofed response %v: want an unsolicited response 10>1 with g2v1,g32v1 over UDP from %v to %v", m, src, hmi)
				}
			}
			if n != 2 {
				t.Errorf("%d spoofed responses on the wire, want 2", n)
			}
			if rec.Destination != hmi.String() {
				t.Errorf("destination %s, want the HMI %s", rec.Destination, hmi)
			}
		}},
	{name: "plant.mode", step: "action: plant.mode\ntarget: plc-treatment\nparams: {mode: program}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-treatment"], mb, "u1 fc6 @0 [3]")
		}},
	{name: "plant.program", step: "action: plant.program\ntarget: plc-treatment\nparams: {program: treatment, parameters: {cl.dose: 0.2, naoh.dose: 45, ph.low: 6.5}, restart: true}", frames: 3,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["plc-treatment"], mb, "u1 fc16 @3 [45 20]", "u1 fc16 @17 [650]", "u1 fc6 @0 [1]")
		}},
	{name: "plant.program sis", step: "action: plant.program\ntarget: sis\nparams: {program: sis, parameters: {raw.level.hh: 0.5}}", frames: 1,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["sis"], mb, "u1 fc16 @1 [500]")
		}},
	{name: "plant.mode rtu", step: "action: plant.mode\ntarget: rtu-reservoir\nparams: {mode: local}", frames: 2,
		check: func(t *testing.T, d *devices, src netip.Addr, reqs []msg, rec exercise.StepRecord) {
			wantReqs(t, reqs, src, d.addrs["rtu-reservoir"], dn, "fc3 1>10 g41v1", "fc4 1>10 g41v1")
			if _, an := d.ctl.log(); !slices.Equal(an, []string{"SELECT 2 4", "OPERATE 2 4"}) {
				t.Errorf("outstation saw %q", an)
			}
		}},
}

// TestActions runs each action against the test devices from its own
// attacker address and checks the frames on the wire and the record.
func TestActions(t *testing.T) {
	for i, c := range actionCases {
		t.Run(c.name, func(t *testing.T) {
			d := startDevices(t)
			src := netip.AddrFrom4([4]byte{127, 66, 7, byte(10 + i)})
			sc := parse(t, src.String(), indent("- id: s\n  name: step\n  at: 1s\n"+indentStep(c.step)))
			rec := &memRecorder{}
			capture := wiretest.Capture(t, from(src))
			r, err := New(Config{Scenario: sc, Plant: d.plant, Addr: d.addr, Guard: guard(), Clock: fastClock(t), Recorder: rec})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := r.Run(ctx); err != nil {
				t.Fatal(err)
			}
			pcap := capture.Stop()
			all := decode(t, pcap)
			sr := rec.step(t, "s")
			if sr.Succeeded == c.fail {
				t.Errorf("succeeded = %v (error %q), want %v", sr.Succeeded, sr.Error, !c.fail)
			}
			if sr.Frames != c.frames {
				t.Errorf("frames = %d, want %d", sr.Frames, c.frames)
			}
			if sr.Source != src.String() {
				t.Errorf("source = %q, want %s", sr.Source, src)
			}
			if len(sr.Flows) == 0 || !strings.HasPrefix(sr.Flows[0], src.String()+":") {
				t.Errorf("flows %v, want connections from %s", sr.Flows, src)
			}
			if sr.End.Before(sr.Start) || sr.EndClock < sr.StartClock || sr.StartClock < time.Second {
				t.Errorf("times %v..%v, clock %v..%v", sr.Start, sr.End, sr.StartClock, sr.EndClock)
			}
			c.check(t, d, src, all, sr)
		})
	}
}

// indentStep indents a step body under its list item.
func indentStep(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// TestDiscover sweeps the plant's field network for the Modbus and DNP3
// ports: one SYN per host and port from the attacker, the devices found
// where they really listen.
func TestDiscover(t *testing.T) {
	d := startDevices(t)
	src := netip.MustParseAddr("127.66.8.1")
	sc := parse(t, src.String(), indent(`- id: sweep
  name: sweep
  at: 1s
  action: net.discover
  target: 127.10.1.0/24
  params: {ports: [502, 20000], rate: 2000, timeout: 300ms}`))
	rec := &memRecorder{}
	capture := wiretest.Capture(t, from(src))
	r, err := New(Config{Scenario: sc, Plant: d.plant, Addr: d.addr, Guard: guard(), Clock: fastClock(t), Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	capture.Stop()
	got := syns(capture.Packets(), src)
	total := 0
	for _, n := range got {
		total += n
	}
	if total < 254*2 {
		t.Errorf("%d SYNs from %s, want at least %d (254 hosts × 2 ports)", total, src, 254*2)
	}
	for _, name := range []string{"plc-intake", "plc-treatment", "plc-distribution", "sis", "rtu-reservoir"} {
		if got[d.addrs[name]] == 0 {
			t.Errorf("no probe reached %s at %v", name, d.addrs[name])
		}
	}
	sr := rec.step(t, "sweep")
	if !sr.Succeeded || sr.Frames != 508 {
		t.Errorf("record: succeeded %v frames %d error %q, want 508 probes", sr.Succeeded, sr.Frames, sr.Error)
	}
	if len(sr.Flows) != 5 {
		t.Errorf("flows %v: want the 5 open devices", sr.Flows)
	}
}

// TestOutsideRange aims steps outside the range (as a file that escaped the
// linter could): each fails with ErrOutsideRange and nothing leaves.
func TestOutsideRange(t *testing.T) {
	d := startDevices(t)
	src := netip.MustParseAddr("127.66.8.2")
	sc := parse(t, src.String(), indent(`- id: write
  name: write
  at: 1s
  action: modbus.write
  target: plc-intake
  params: {address: 1, values: [1]}
- id: read
  name: read
  at: 1s
  action: dnp3.read
  target: rtu-reservoir
- id: sweep
  name: sweep
  at: 1s
  action: net.discover
  target: 127.10.1.0/30
- id: spoof
  name: spoof
  at: 1s
  action: dnp3.spoof_response
  target: rtu-reservoir
  params: {points: [{type: counter, index: 0, value: 1}]}`))
	// What the linter refuses, the runner must refuse too.
	sc.Phases[0].Steps[0].Target = "10.0.0.5"
	sc.Phases[0].Steps[1].Target = "10.0.0.5:20000"
	sc.Phases[0].Steps[2].Target = "10.0.0.0/24"
	sc.Phases[0].Steps[3].Target = "10.0.0.5"
	rec := &memRecorder{}
	capture := wiretest.Capture(t, func(p gopacket.Packet) bool { return from(src)(p) || from(netip.MustParseAddr("10.0.0.5"))(p) })
	r, err := New(Config{Scenario: sc, Plant: d.plant, Addr: d.addr, Guard: guard(), Clock: fastClock(t), Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	capture.Stop()
	if n := len(capture.Packets()); n != 0 {
		t.Errorf("%d packets on the wire, want none", n)
	}
	for _, id := range []string{"write", "read", "sweep", "spoof"} {
		sr := rec.step(t, id)
		if sr.Succeeded || sr.Frames != 0 || len(sr.Flows) != 0 || !strings.Contains(sr.Error, ErrOutsideRange.Error()) {
			t.Errorf("%s: succeeded %v frames %d flows %v error %q: want a refusal", id, sr.Succeeded, sr.Frames, sr.Flows, sr.Error)
		}
	}
	// The source is checked too.
	sc2 := parse(t, src.String(), indent("- id: w\n  name: w\n  at: 0s\n  action: modbus.read\n  target: plc-intake"))
	sc2.Source = "192.0.2.1"
	rec2 := &memRecorder{}
	r2, _ := New(Config{Scenario: sc2, Plant: d.plant, Addr: d.addr, Guard: guard(), Clock: fastClock(t), Recorder: rec2})
	if err := r2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sr := rec2.step(t, "w"); sr.Succeeded || !strings.Contains(sr.Error, ErrOutsideRange.Error()) {
		t.Errorf("source outside the range: succeeded %v error %q", sr.Succeeded, sr.Error)
	}
	for _, o := range r.Outcomes() {
		if !errors.Is(o.Err, ErrOutsideRange) {
			t.Errorf("%s: error %v, want ErrOutsideRange", o.Step, o.Err)
		}
	}
}

// TestBlocked blocks the attacker at every device first: each step fails
// on the wire (the device closes the connection) and changes nothing.
func TestBlocked(t *testing.T) {
	d := startDevices(t)
	src := netip.MustParseAddr("127.66.8.3")
	d.block(src)
	d.banks["plc-treatment"].SetHolding(3, 8)
	sc := parse(t, src.String(), indent(`- id: write
  name: write
  at: 1s
  action: modbus.write
  target: plc-treatment
  params: {address: 3, values: [11100]}
- id: operate
  name: operate
  at: 1s
  action: dnp3.operate
  target: rtu-reservoir
  params: {point: crob, mode: direct, index: 0, op: latch_off}`))
	rec := &memRecorder{}
	capture := wiretest.Capture(t, from(src))
	r, err := New(Config{Scenario: sc, Plant: d.plant, Addr: d.addr, Guard: guard(), Clock: fastClock(t), Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	capture.Stop()
	for _, id := range []string{"write", "operate"} {
		sr := rec.step(t, id)
		if sr.Succeeded || sr.Error == "" {
			t.Errorf("%s: succeeded %v error %q, want a failure on the wire", id, sr.Succeeded, sr.Error)
		}
	}
	if got := syns(capture.Packets(), src); len(got) != 2 {
		t.Errorf("connection attempts %v: want one per device", got)
	}
	if v := d.banks["plc-treatment"].Holding(3); v != 8 {
		t.Errorf("holding 3 = %d: the blocked write got through", v)
	}
	if crobs, _ := d.ctl.log(); len(crobs) != 0 {
		t.Errorf("blocked control reached the outstation: %q", crobs)
	}
}
