package outstation_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/internal/dnp3test"
	"github.com/otrange/otrange/protocol/dnp3/master"
	"github.com/otrange/otrange/protocol/dnp3/outstation"
)

// startUDP serves an outstation over UDP on a fresh loopback address.
func startUDP(t *testing.T, mod func(*outstation.Config)) *rig {
	t.Helper()
	r := &rig{p: &plant{}, clock: dnp3test.NewClock()}
	cfg := outstation.Config{
		Address: 1024,
		Points: outstation.Points{
			BinaryInputs: points(4, 1), BinaryOutputs: points(2, 0), Counters: points(2, 2),
			AnalogInputs: points(100, 3), AnalogOutputs: points(2, 0),
		},
		Controls: r.p,
		Now:      r.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	o, err := outstation.New(cfg)
	dnp3test.Must(t, err, "new outstation")
	r.o = o
	pc := dnp3test.ListenUDP(t, 20000)
	r.addr = pc.LocalAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.ServeUDP(ctx, pc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve UDP: %v", err)
		}
	})
	r.m = r.dial(t, func(c *master.Config) { c.Network = "udp" })
	return r
}

func TestUDPSession(t *testing.T) {
	var unsol atomic.Int32
	r := startUDP(t, func(c *outstation.Config) { c.Unsolicited = true })
	ctx := context.Background()
	m := r.dial(t, func(c *master.Config) {
		c.Network = "udp"
		c.OnUnsolicited = func(*master.Response) { unsol.Add(1) }
	})
	// the first datagram makes the session, which sends its null unsolicited
	_, err := m.EventPoll(ctx, master.Class1)
	dnp3test.Must(t, err, "first poll")
	dnp3test.Eventually(t, 2*time.Second, "null unsolicited over UDP", func() bool { return unsol.Load() == 1 })
	db := r.o.Database()
	for i := range 100 {
		db.SetValue(outstation.AnalogInput, i, float64(i)+0.5)
	}
	// a response of several link frames (about 1.5 kB) in one datagram
	resp, err := m.IntegrityPoll(ctx)
	dnp3test.Must(t, err, "integrity poll")
	if ai := resp.Find(30); len(ai) != 100 || ai[99].Measurement.Value != 99.5 {
		t.Fatalf("class 0 over UDP: %d analogs", len(ai))
	}
	if ev := resp.Find(32); len(ev) != 100 {
		t.Fatalf("events over UDP: %d", len(ev))
	}
	dnp3test.Eventually(t, 2*time.Second, "events confirmed over UDP", func() bool { return db.Events() == 0 })
	crob := dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOn, dnp3.TCCNul, false), Count: 1}
	if st, err := m.SelectOperate(ctx, 1, crob); err != nil || st != dnp3.StatusSuccess {
		t.Fatalf("select/operate over UDP: %v %v", st, err)
	}
	_, err = m.EnableUnsolicited(ctx, master.Class1)
	dnp3test.Must(t, err, "enable unsolicited")
	db.SetBool(outstation.BinaryInput, 3, true)
	dnp3test.Eventually(t, 2*time.Second, "unsolicited event over UDP", func() bool { return unsol.Load() == 2 })
	// two masters, two sessions (each its own source port)
	_, err = r.m.EventPoll(ctx, master.Class0)
	dnp3test.Must(t, err, "poll from the other master")
	if st := r.o.Stats(); st.Accepted != 2 || st.Active != 2 {
		t.Fatalf("sessions accepted %d active %d, want 2 and 2", st.Accepted, st.Active)
	}
	if r.o.Stats().Overruns != 0 {
		t.Fatalf("overruns %d", r.o.Stats().Overruns)
	}
}

// TestUDPDatagrams sends hand-made datagrams: two requests in one datagram
// are both answered; a datagram with a bad CRC or trailing octets is dropped
// from the bad frame on and counted.
func TestUDPDatagrams(t *testing.T) {
	r := startUDP(t, nil)
	c, err := net.Dial("udp", r.addr)
	dnp3test.Must(t, err, "dial")
	defer c.Close()
	ctl := dnp3.NewControl(true, true, false, false, dnp3.LinkUnconfirmedUserData)
	frames := func(reqs ...[]byte) []byte {
		var b []byte
		for _, apdu := range reqs {
			b, _ = dnp3.AppendAPDU(b, ctl, 1024, 1, 0, apdu)
		}
		return b
	}
	read := func(seq uint8) []byte {
		return append(dnp3.AppendRequestHeader(nil, dnp3.NewAppControl(true, true, false, false, seq), dnp3.FuncRead), 60, 1, 6)
	}
	recv := func() []uint8 {
		t.Helper()
		var seqs []uint8
		re := dnp3.NewReassembler(0)
		var fr dnp3.Frame
		buf := make([]byte, 65535)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		dnp3test.Must(t, err, "read")
		err = dnp3.DecodeDatagram(buf[:n], &fr, func(f *dnp3.Frame) error {
			if frag, _ := re.Push(f.UserData); frag != nil {
				pf, _ := dnp3.ParseFragment(frag)
				seqs = append(seqs, pf.Control.Seq())
			}
			return nil
		})
		dnp3test.Must(t, err, "response datagram")
		return seqs
	}
	link := dnp3.NewControl(true, true, false, false, dnp3.LinkRequestLinkStatus)
	two := frames(read(1), read(2))
	two, _ = dnp3.AppendFrame(two, link, 1024, 1, nil)
	_, err = c.Write(two)
	dnp3test.Must(t, err, "write")
	// one response per datagram: seq 1, seq 2, then the link status
	if s := recv(); len(s) != 1 || s[0] != 1 {
		t.Fatalf("first response %v", s)
	}
	if s := recv(); len(s) != 1 || s[0] != 2 {
		t.Fatalf("second response %v", s)
	}
	if s := recv(); len(s) != 0 {
		t.Fatalf("link status answered with a fragment %v", s)
	}
	ignored := r.o.Stats().Ignored
	bad := frames(read(3))
	bad[len(bad)-1] ^= 0xFF
	c.Write(bad)
	c.Write(append(frames(read(4)), 0x05, 0x64, 0x05)) // whole frame, then a stray partial header
	if s := recv(); len(s) != 1 || s[0] != 4 {
		t.Fatalf("after a bad datagram: %v, want seq 4", s)
	}
	dnp3test.Eventually(t, 2*time.Second, "bad datagrams counted", func() bool { return r.o.Stats().Ignored >= ignored+2 })
}

func TestUDPRestartAndLimits(t *testing.T) {
	r := startUDP(t, func(c *outstation.Config) {
		c.WarmRestartDelay = 3 * time.Second
		c.MaxClients = 1
		c.IdleTimeout = 300 * time.Millisecond
	})
	ctx := context.Background()
	_, err := r.m.EventPoll(ctx, master.Class0)
	dnp3test.Must(t, err, "poll")
	// a second source address and port is over the limit: no answer
	m2 := r.dial(t, func(c *master.Config) { c.Network = "udp"; c.Timeout = 200 * time.Millisecond })
	if _, err := m2.EventPoll(ctx, master.Class0); !errors.Is(err, master.ErrTimeout) {
		t.Fatalf("second UDP master: %v, want a timeout", err)
	}
	dnp3test.Eventually(t, 2*time.Second, "over-limit datagram counted", func() bool { return r.o.Stats().Rejected > 0 })
	// the first goes idle and frees the slot
	dnp3test.Eventually(t, 3*time.Second, "idle UDP session ends", func() bool { return r.o.Stats().Active == 0 })
	_, err = m2.EventPoll(ctx, master.Class0)
	dnp3test.Must(t, err, "poll after the slot freed")

	dnp3test.Must(t, m2.ClearRestart(ctx), "clear restart")
	delay, err := m2.WarmRestart(ctx)
	dnp3test.Must(t, err, "warm restart over UDP")
	if delay != 3*time.Second {
		t.Fatalf("delay %v", delay)
	}
	if _, err := m2.EventPoll(ctx, master.Class0); !errors.Is(err, master.ErrTimeout) {
		t.Fatalf("poll of a restarting device: %v, want a timeout", err)
	}
	dnp3test.Eventually(t, 2*time.Second, "datagram while down counted", func() bool { return r.o.Stats().WhileDown > 0 })
	r.clock.Advance(3 * time.Second)
	resp, err := m2.EventPoll(ctx, master.Class0)
	dnp3test.Must(t, err, "poll after restart")
	if resp.IIN&dnp3.IINDeviceRestart == 0 {
		t.Fatalf("IIN after restart %v", resp.IIN)
	}
}

// TestUDPMasterSurvivesAbsentOutstation polls over UDP an address where
// nothing listens yet (the kernel answers port unreachable): the master
// times out but keeps its socket, and polls the outstation once it serves.
func TestUDPMasterSurvivesAbsentOutstation(t *testing.T) {
	pc := dnp3test.ListenUDP(t, 20000)
	addr := pc.LocalAddr().String()
	pc.Close()
	m, err := master.New(master.Config{Address: 1, Outstation: 1024, Addr: addr, Network: "udp", Timeout: 200 * time.Millisecond})
	dnp3test.Must(t, err, "new master")
	dnp3test.Must(t, m.Connect(context.Background()), "connect")
	defer m.Close()
	ctx := context.Background()
	for range 2 {
		if _, err := m.EventPoll(ctx, master.Class0); !errors.Is(err, master.ErrTimeout) {
			t.Fatalf("poll with nobody listening: %v, want a timeout", err)
		}
	}
	o, err := outstation.New(outstation.Config{Address: 1024, Points: outstation.Points{Counters: points(1, 0)}})
	dnp3test.Must(t, err, "new outstation")
	pc2, err := net.ListenPacket("udp4", addr)
	dnp3test.Must(t, err, "listen again")
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- o.ServeUDP(sctx, pc2) }()
	defer func() { cancel(); <-done }()
	resp, err := m.EventPoll(ctx, master.Class0)
	dnp3test.Must(t, err, "poll once the outstation serves")
	if len(resp.Find(20)) != 1 {
		t.Fatalf("poll answered %+v", resp.Points)
	}
}
