package validate

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otrange/otrange/sensor"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/capture"
	"github.com/otrange/otrange/server/exercise"
)

// Margins of a step's packets around its recorded window: the clocks of
// the runner and of the capture differ by a little, and a connection's last
// packets (the server's FIN, the final ACK) follow the step's end.
const (
	frameLead = 10 * time.Millisecond
	frameTail = 500 * time.Millisecond
)

// network reports whether an action puts traffic on the wire.
func network(action string) bool {
	switch action {
	case "inject", "wait", "plant.fault", "host.down":
		return false
	}
	return true
}

// label fills run.Steps from the runner's records and the run's capture:
// each step's frames, and whether the capture holds every request the
// attacker wrote.
func label(dir string, run *Run, recs []exercise.StepRecord) error {
	slices.SortStableFunc(recs, func(a, b exercise.StepRecord) int { return a.Start.Compare(b.Start) })
	path := filepath.Join(dir, run.Capture)
	pkts, err := readPackets(path, 0)
	if err != nil {
		return err
	}
	var reqs []request
	if _, err := sensorPass(path, run, func(r *analyze.Record) {
		if !r.Valid || (r.Protocol == analyze.ProtoDNP3 && r.DNP3.AppFunction == 0) {
			return
		}
		reqs = append(reqs, request{src: r.Flow.Src, dst: r.Flow.Dst, response: r.Dir == analyze.Response, t: r.Time})
	}); err != nil {
		return err
	}
	// The recorded flows of every step: a sweep's window may hold the next
	// steps' connections between the same hosts, which are theirs.
	var exact stepFlows
	for _, rec := range recs {
		if rec.Action != "net.discover" {
			exact.pairs = append(exact.pairs, flowsOf(&StepLabel{Flows: rec.Flows, Action: rec.Action}).pairs...)
		}
	}
	run.Steps = make([]StepLabel, 0, len(recs))
	for _, rec := range recs {
		s := StepLabel{Step: rec.Step, Name: rec.Name, Phase: rec.Phase, Action: rec.Action, Target: rec.Target,
			Techniques: rec.Techniques, Source: rec.Source, Dest: rec.Destination, Start: rec.Start, End: rec.End,
			StartClock: rec.StartClock, EndClock: rec.EndClock, Flows: rec.Flows, Succeeded: rec.Succeeded,
			Error: rec.Error, Network: network(rec.Action), Requests: rec.Frames, Frames: []uint64{}}
		if s.Network {
			labelStep(&s, pkts, reqs, &exact)
		} else {
			s.Complete = true
		}
		run.Steps = append(run.Steps, s)
	}
	return nil
}

// request is an application message decoded from a capture.
type request struct {
	src, dst netip.AddrPort
	response bool
	t        time.Time
}

// labelStep finds the step's frames and requests; a sweep leaves the
// frames on other steps' recorded flows (others) to them.
func labelStep(s *StepLabel, pkts []packet, reqs []request, others *stepFlows) {
	f := flowsOf(s)
	from, to := s.Start.Add(-frameLead), s.End.Add(frameTail)
	for _, p := range pkts {
		if p.Time.Before(from) || p.Time.After(to) || !p.Src.IsValid() {
			continue
		}
		if !f.match(p.Src.Addr(), p.Src.Port(), p.Dst.Addr(), p.Dst.Port()) {
			continue
		}
		if f.wide && others.match(p.Src.Addr(), p.Src.Port(), p.Dst.Addr(), p.Dst.Port()) {
			continue
		}
		if len(s.Frames) >= MaxStepFrames {
			s.FramesDropped++
		} else {
			s.Frames = append(s.Frames, p.Frame)
		}
		if s.Action == "net.discover" && p.Transport == "tcp" && p.SYN && !p.ACK && p.Src.Addr() == f.src {
			s.Seen++
		}
	}
	if s.Action != "net.discover" {
		spoof := s.Action == "dnp3.spoof_response"
		for _, r := range reqs {
			if (r.response && !spoof) || r.t.Before(from) || r.t.After(to) {
				continue
			}
			for _, p := range f.pairs {
				if r.src == p.a && r.dst == p.b {
					s.Seen++
					break
				}
			}
		}
	}
	s.Complete = s.Seen >= s.Requests
}

// endpoints is one recorded flow: the attacker's side a, the target's b.
type endpoints struct{ a, b netip.AddrPort }

// stepFlows says which traffic belongs to a step: its recorded flows, and
// for a sweep or a step whose connections never opened, anything between
// its source and its destination (an address, address:port or prefix).
type stepFlows struct {
	pairs   []endpoints
	wide    bool
	src     netip.Addr
	dst     netip.Prefix
	dstPort uint16
}

func flowsOf(s *StepLabel) stepFlows {
	var f stepFlows
	for _, fl := range s.Flows {
		a, b, ok := strings.Cut(fl, ">")
		if !ok {
			continue
		}
		ap, err1 := netip.ParseAddrPort(a)
		bp, err2 := netip.ParseAddrPort(b)
		if err1 == nil && err2 == nil {
			f.pairs = append(f.pairs, endpoints{ap, bp})
		}
	}
	if s.Action != "net.discover" && len(f.pairs) > 0 {
		return f
	}
	src, err := netip.ParseAddr(s.Source)
	if err != nil {
		return f
	}
	switch d := s.Dest; {
	case d == "":
		return f
	case strings.Contains(d, "/"):
		p, err := netip.ParsePrefix(d)
		if err != nil {
			return f
		}
		f.dst = p.Masked()
	default:
		if ap, err := netip.ParseAddrPort(d); err == nil {
			f.dst, f.dstPort = netip.PrefixFrom(ap.Addr(), ap.Addr().BitLen()), ap.Port()
		} else if a, err := netip.ParseAddr(d); err == nil {
			f.dst = netip.PrefixFrom(a, a.BitLen())
		} else {
			return f
		}
	}
	if s.Action == "net.discover" {
		f.dstPort = 0 // probes go to several ports
	}
	f.wide, f.src = true, src
	return f
}

// portOK compares a port with a wanted one; 0 on either side is unknown
// and matches.
func portOK(got, want uint16) bool { return got == 0 || want == 0 || got == want }

// match reports whether traffic between (src, sport) and (dst, dport), in
// either direction, belongs to the step. Ports 0 are unknown.
func (f *stepFlows) match(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) bool {
	ok, _ := f.matchExact(src, sport, dst, dport)
	return ok
}

// matchExact is match, and says whether the match is exact: on one of the
// step's recorded flows with both ports known.
func (f *stepFlows) matchExact(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) (ok, exact bool) {
	src, dst = src.Unmap(), dst.Unmap()
	known := sport != 0 && dport != 0
	for _, p := range f.pairs {
		if src == p.a.Addr() && dst == p.b.Addr() && portOK(sport, p.a.Port()) && portOK(dport, p.b.Port()) {
			return true, known
		}
		if dst == p.a.Addr() && src == p.b.Addr() && portOK(dport, p.a.Port()) && portOK(sport, p.b.Port()) {
			return true, known
		}
	}
	if f.wide {
		if src == f.src && f.dst.Contains(dst) && portOK(dport, f.dstPort) {
			return true, false
		}
		if dst == f.src && f.dst.Contains(src) && portOK(sport, f.dstPort) {
			return true, false
		}
	}
	return false, false
}

// sensorPass runs otrange's sensor over a run's capture with the run's
// policy and ports; obs (may be nil) sees every decoded record.
func sensorPass(path string, run *Run, obs func(*analyze.Record)) ([]alert.Alert, error) {
	src, err := capture.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var alerts []alert.Alert
	cfg := sensor.Config{
		ModbusPorts: run.Plant.ModbusPorts,
		DNP3Ports:   run.Plant.DNP3Ports,
		Policy:      run.Policy,
		Sink:        alert.SinkFunc(func(a alert.Alert) { alerts = append(alerts, a) }),
	}
	if obs != nil {
		cfg.Observers = []sensor.Observer{sensor.ObserverFunc(func(r *analyze.Record, _ sensor.Link) { obs(r) })}
	}
	s, err := sensor.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Run(context.Background(), src); err != nil {
		return nil, err
	}
	return alerts, nil
}
