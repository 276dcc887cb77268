package outstation_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/dnp3/internal/dnp3test"
	"github.com/otrange/otrange/protocol/dnp3/master"
	"github.com/otrange/otrange/protocol/dnp3/outstation"
)

// plant records control calls and answers with a fixed status.
type plant struct {
	mu       sync.Mutex
	calls    []string
	status   dnp3.CommandStatus
	restarts []bool
}

func (p *plant) OperateCROB(op outstation.Op, index uint16, c dnp3.CROB) dnp3.CommandStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, op.String())
	return p.status
}

func (p *plant) OperateAnalog(op outstation.Op, index uint16, a dnp3.AnalogOutput) dnp3.CommandStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, op.String()+" analog")
	return p.status
}

func (p *plant) Restart(cold bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.restarts = append(p.restarts, cold)
}

func (p *plant) ApplicationStopped(bool) {}

func (p *plant) Restarts() []bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]bool(nil), p.restarts...)
}

func (p *plant) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

func points(n int, class uint8) []outstation.PointConfig {
	out := make([]outstation.PointConfig, n)
	for i := range out {
		out[i].Class = class
	}
	return out
}

type rig struct {
	o     *outstation.Outstation
	p     *plant
	clock *dnp3test.Clock
	addr  string
	m     *master.Master
}

// start serves an outstation on a fresh loopback address and connects a
// master to it.
func start(t *testing.T, mod func(*outstation.Config)) *rig {
	t.Helper()
	r := &rig{p: &plant{}, clock: dnp3test.NewClock()}
	cfg := outstation.Config{
		Address: 1024,
		Points: outstation.Points{
			BinaryInputs: points(4, 1), BinaryOutputs: points(2, 0), Counters: points(2, 2),
			AnalogInputs: points(3, 3), AnalogOutputs: points(2, 0),
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
	l := dnp3test.Listen(t, 20000)
	r.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	r.m = r.dial(t, nil)
	return r
}

// dial connects a master (mod may change its config).
func (r *rig) dial(t *testing.T, mod func(*master.Config)) *master.Master {
	t.Helper()
	cfg := master.Config{Address: 1, Outstation: 1024, Addr: r.addr, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	m, err := master.New(cfg)
	dnp3test.Must(t, err, "new master")
	dnp3test.Must(t, m.Connect(context.Background()), "connect")
	t.Cleanup(func() { m.Close() })
	return m
}

// expectRefused checks that a new connection is dropped before any request
// is answered (the dial itself may already see the reset).
func (r *rig) expectRefused(t *testing.T) {
	t.Helper()
	m, err := master.New(master.Config{Address: 1, Outstation: 1024, Addr: r.addr, Timeout: 2 * time.Second})
	dnp3test.Must(t, err, "new master")
	if err := m.Connect(context.Background()); err != nil {
		return
	}
	defer m.Close()
	if _, err := m.EventPoll(context.Background(), master.Class0); !errors.Is(err, master.ErrClosed) {
		t.Fatalf("poll on a refused connection: %v, want ErrClosed", err)
	}
}

func TestIntegrityPollAndEvents(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	db := r.o.Database()
	dnp3test.Must(t, db.SetBool(outstation.BinaryInput, 2, true), "set")
	dnp3test.Must(t, db.SetValue(outstation.AnalogInput, 1, 12.5), "set")
	dnp3test.Must(t, db.SetValue(outstation.Counter, 0, 7), "set")
	if db.Events() != 3 {
		t.Fatalf("events %d, want 3", db.Events())
	}
	resp, err := r.m.IntegrityPoll(ctx)
	dnp3test.Must(t, err, "integrity poll")
	if resp.IIN&dnp3.IINDeviceRestart == 0 || resp.IIN&dnp3.IINNeedTime == 0 {
		t.Fatalf("fresh outstation IIN %v lacks DEVICE_RESTART|NEED_TIME", resp.IIN)
	}
	if !resp.Control.CON() {
		t.Fatalf("response with events must ask for confirmation: %v", resp.Control)
	}
	got := map[uint8]int{}
	for _, p := range resp.Points {
		got[p.Group]++
	}
	want := map[uint8]int{2: 1, 22: 1, 32: 1, 1: 4, 10: 2, 20: 2, 30: 3, 40: 2}
	for g, n := range want {
		if got[g] != n {
			t.Fatalf("group %d: %d points, want %d (all %v)", g, got[g], n, got)
		}
	}
	if ai := resp.Find(30); ai[1].Measurement.Value != 12.5 || ai[1].Index != 1 {
		t.Fatalf("analog 1 = %+v", ai[1])
	}
	if bi := resp.Find(2); bi[0].Index != 2 || !bi[0].Measurement.Bool() || !bi[0].Measurement.HasTime {
		t.Fatalf("binary event %+v", bi[0])
	}
	// the master confirmed: events leave the buffer
	dnp3test.Eventually(t, 2*time.Second, "events confirmed", func() bool { return db.Events() == 0 })
	resp, err = r.m.EventPoll(ctx, master.Class1|master.Class2|master.Class3)
	dnp3test.Must(t, err, "event poll")
	if len(resp.Points) != 0 || resp.IIN&(dnp3.IINClass1Events|dnp3.IINClass2Events|dnp3.IINClass3Events) != 0 {
		t.Fatalf("after confirm: %d points, IIN %v", len(resp.Points), resp.IIN)
	}
	// a range read with an explicit variation
	resp, err = r.m.Read(ctx, dnp3.ObjectHeader{Group: 30, Variation: 2, Qualifier: dnp3.QualStartStop8, Start: 1, Stop: 2})
	dnp3test.Must(t, err, "range read")
	if pts := resp.Find(30); len(pts) != 2 || pts[0].Index != 1 || pts[0].Measurement.Value != 13 || pts[0].Variation != 2 {
		t.Fatalf("range read %+v", pts)
	}
	// out of range: PARAMETER_ERROR
	_, err = r.m.Read(ctx, dnp3.ObjectHeader{Group: 1, Variation: 0, Qualifier: dnp3.QualStartStop8, Start: 0, Stop: 9})
	var iinErr *master.IINError
	if !errors.As(err, &iinErr) || iinErr.IIN&dnp3.IINParameterError == 0 {
		t.Fatalf("out of range read: %v", err)
	}
}

func TestUnconfirmedEventsStay(t *testing.T) {
	r := start(t, nil)
	db := r.o.Database()
	db.SetBool(outstation.BinaryInput, 0, true)
	// a raw read whose response we never confirm: send, then start another request
	m := r.m
	req := m.NewRequest(dnp3.FuncRead, []byte{60, 2, 6})
	req.NoResponse = true
	_, err := m.Do(context.Background(), req)
	dnp3test.Must(t, err, "raw read")
	resp, err := m.EventPoll(context.Background(), master.Class1)
	dnp3test.Must(t, err, "event poll")
	if len(resp.Find(2)) != 1 {
		t.Fatalf("unconfirmed event must be sent again, got %+v", resp.Points)
	}
}

func TestSelectBeforeOperate(t *testing.T) {
	crob := dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOn, dnp3.TCCNul, false), Count: 1, OnTime: 100}
	other := crob
	other.OnTime = 200
	tests := []struct {
		name      string
		run       func(r *rig) (dnp3.CommandStatus, error)
		want      dnp3.CommandStatus
		wantCalls []string
	}{
		{"select then operate", func(r *rig) (dnp3.CommandStatus, error) {
			return r.m.SelectOperate(context.Background(), 1, crob)
		}, dnp3.StatusSuccess, []string{"SELECT", "OPERATE"}},
		{"operate without select", func(r *rig) (dnp3.CommandStatus, error) {
			return r.m.Operate(context.Background(), 1, crob)
		}, dnp3.StatusNoSelect, nil},
		{"operate differs from select", func(r *rig) (dnp3.CommandStatus, error) {
			r.m.Select(context.Background(), 1, crob)
			return r.m.Operate(context.Background(), 1, other)
		}, dnp3.StatusNoSelect, []string{"SELECT"}},
		{"operate on another index", func(r *rig) (dnp3.CommandStatus, error) {
			r.m.Select(context.Background(), 1, crob)
			return r.m.Operate(context.Background(), 0, crob)
		}, dnp3.StatusNoSelect, []string{"SELECT"}},
		{"operate after timeout", func(r *rig) (dnp3.CommandStatus, error) {
			r.m.Select(context.Background(), 1, crob)
			r.clock.Advance(5*time.Second + time.Millisecond)
			return r.m.Operate(context.Background(), 1, crob)
		}, dnp3.StatusTimeout, []string{"SELECT"}},
		{"operate just in time", func(r *rig) (dnp3.CommandStatus, error) {
			r.m.Select(context.Background(), 1, crob)
			r.clock.Advance(5 * time.Second)
			return r.m.Operate(context.Background(), 1, crob)
		}, dnp3.StatusSuccess, []string{"SELECT", "OPERATE"}},
		{"request between select and operate", func(r *rig) (dnp3.CommandStatus, error) {
			r.m.Select(context.Background(), 1, crob)
			r.m.EventPoll(context.Background(), master.Class1)
			return r.m.Operate(context.Background(), 1, crob)
		}, dnp3.StatusNoSelect, []string{"SELECT"}},
		{"operate from another connection", func(r *rig) (dnp3.CommandStatus, error) {
			r.m.Select(context.Background(), 1, crob)
			return r.dial(nil, nil).Operate(context.Background(), 1, crob)
		}, dnp3.StatusNoSelect, []string{"SELECT"}},
		{"index out of range", func(r *rig) (dnp3.CommandStatus, error) {
			return r.m.SelectOperate(context.Background(), 7, crob)
		}, dnp3.StatusNotSupported, nil},
		{"direct operate", func(r *rig) (dnp3.CommandStatus, error) {
			return r.m.DirectOperate(context.Background(), 0, crob)
		}, dnp3.StatusSuccess, []string{"DIRECT_OPERATE"}},
		{"analog select operate", func(r *rig) (dnp3.CommandStatus, error) {
			return r.m.SelectOperateAnalog(context.Background(), 1, 3, dnp3.AnalogOutput{Value: 42.5})
		}, dnp3.StatusSuccess, []string{"SELECT analog", "OPERATE analog"}},
		{"analog direct operate", func(r *rig) (dnp3.CommandStatus, error) {
			return r.m.DirectOperateAnalog(context.Background(), 0, 1, dnp3.AnalogOutput{Value: 9})
		}, dnp3.StatusSuccess, []string{"DIRECT_OPERATE analog"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, nil)
			if tc.name == "operate from another connection" {
				m2 := r.dial(t, nil)
				tc.run = func(r *rig) (dnp3.CommandStatus, error) {
					r.m.Select(context.Background(), 1, crob)
					return m2.Operate(context.Background(), 1, crob)
				}
			}
			st, err := tc.run(r)
			dnp3test.Must(t, err, "control")
			if st != tc.want {
				t.Fatalf("status %v, want %v", st, tc.want)
			}
			if calls := r.p.Calls(); len(calls) != len(tc.wantCalls) || (len(calls) > 0 && calls[len(calls)-1] != tc.wantCalls[len(tc.wantCalls)-1]) {
				t.Fatalf("device saw %v, want %v", calls, tc.wantCalls)
			}
		})
	}
}

func TestOperateMirrorsOutputs(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	on := dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOn, dnp3.TCCNul, false), Count: 1}
	if st, err := r.m.DirectOperate(ctx, 1, on); err != nil || st != dnp3.StatusSuccess {
		t.Fatalf("direct operate %v %v", st, err)
	}
	if m, _ := r.o.Database().Get(outstation.BinaryOutput, 1); !m.Bool() {
		t.Fatalf("binary output 1 not latched on: %+v", m)
	}
	dnp3test.Must(t, r.m.DirectOperateNR(ctx, 1, dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOff, dnp3.TCCNul, false), Count: 1}), "NR")
	dnp3test.Eventually(t, 2*time.Second, "latch off by DIRECT_OPERATE_NR", func() bool {
		m, _ := r.o.Database().Get(outstation.BinaryOutput, 1)
		return !m.Bool()
	})
	r.p.status = dnp3.StatusHardwareError
	if st, _ := r.m.DirectOperate(ctx, 1, on); st != dnp3.StatusHardwareError {
		t.Fatalf("device status not echoed: %v", st)
	}
}

func TestRestartTakesDeviceAway(t *testing.T) {
	for _, cold := range []bool{true, false} {
		name := map[bool]string{true: "cold", false: "warm"}[cold]
		t.Run(name, func(t *testing.T) {
			r := start(t, func(c *outstation.Config) {
				c.ColdRestartDelay = 30 * time.Second
				c.WarmRestartDelay = 1500 * time.Millisecond
			})
			ctx := context.Background()
			dnp3test.Must(t, r.m.ClearRestart(ctx), "clear restart")
			resp, err := r.m.EventPoll(ctx, master.Class0)
			dnp3test.Must(t, err, "poll")
			if resp.IIN&dnp3.IINDeviceRestart != 0 {
				t.Fatalf("DEVICE_RESTART not cleared: %v", resp.IIN)
			}
			r.o.Database().SetBool(outstation.BinaryInput, 0, true)
			var delay time.Duration
			if cold {
				delay, err = r.m.ColdRestart(ctx)
			} else {
				delay, err = r.m.WarmRestart(ctx)
			}
			dnp3test.Must(t, err, "restart")
			want := map[bool]time.Duration{true: 30 * time.Second, false: 1500 * time.Millisecond}[cold]
			if delay != want {
				t.Fatalf("announced delay %v, want %v", delay, want)
			}
			// the connection is gone and the device refuses new ones
			if _, err := r.m.EventPoll(ctx, master.Class0); !errors.Is(err, master.ErrClosed) {
				t.Fatalf("poll after restart: %v, want ErrClosed", err)
			}
			if !r.o.Down() {
				t.Fatal("outstation not down during restart")
			}
			r.expectRefused(t)
			if r.o.Stats().WhileDown == 0 {
				t.Fatal("connection during restart not counted")
			}
			r.clock.Advance(want)
			m3 := r.dial(t, nil)
			resp, err = m3.EventPoll(ctx, master.Class1|master.Class0)
			dnp3test.Must(t, err, "poll after restart")
			if resp.IIN&dnp3.IINDeviceRestart == 0 || resp.IIN&dnp3.IINNeedTime == 0 {
				t.Fatalf("IIN after restart %v, want DEVICE_RESTART|NEED_TIME", resp.IIN)
			}
			events := len(resp.Find(2))
			if cold && events != 0 || !cold && events != 1 {
				t.Fatalf("%s restart: %d buffered events survived", name, events)
			}
			if restarts := r.p.Restarts(); len(restarts) != 1 || restarts[0] != cold {
				t.Fatalf("device model told %v", restarts)
			}
		})
	}
}

// rawConn is a hand-driven master connection for unsolicited tests.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	fr *dnp3.Framer
	re *dnp3.Reassembler
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	dnp3test.Must(t, err, "dial")
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, fr: dnp3.NewFramer(0), re: dnp3.NewReassembler(0)}
}

// request sends a request fragment from master 1 to outstation 1024 and
// returns the octets sent.
func (rc *rawConn) request(seq uint8, fc dnp3.FunctionCode, objects []byte) []byte {
	apdu := append(dnp3.AppendRequestHeader(nil, dnp3.NewAppControl(true, true, false, false, seq), fc), objects...)
	b, _ := dnp3.AppendAPDU(nil, dnp3.NewControl(true, true, false, false, dnp3.LinkUnconfirmedUserData), 1024, 1, 0, apdu)
	_, err := rc.c.Write(b)
	dnp3test.Must(rc.t, err, "write")
	return b
}

// next returns the next application fragment (copied), or nil after wait.
func (rc *rawConn) next(wait time.Duration) []byte {
	buf := make([]byte, 1024)
	deadline := time.Now().Add(wait)
	for {
		for {
			f, err := rc.fr.Next()
			if f == nil && err == nil {
				break
			}
			if f != nil {
				if frag, _ := rc.re.Push(f.UserData); frag != nil {
					return append([]byte(nil), frag...)
				}
			}
		}
		rc.c.SetReadDeadline(deadline)
		n, err := rc.c.Read(buf)
		if err != nil {
			return nil
		}
		rc.fr.Write(buf[:n])
	}
}

func TestUnsolicitedConfirmAndRetry(t *testing.T) {
	r := start(t, func(c *outstation.Config) {
		c.Unsolicited = true
		c.UnsolConfirmTimeout = 30 * time.Millisecond
		c.UnsolRetries = 2
	})
	rc := dialRaw(t, r.addr)
	// null unsolicited response, retried identically, then given up
	var seen [][]byte
	for range 3 {
		frag := rc.next(2 * time.Second)
		if frag == nil {
			t.Fatalf("got %d unsolicited responses, want 3", len(seen))
		}
		seen = append(seen, frag)
	}
	f, _ := dnp3.ParseFragment(seen[0])
	if f.Function != dnp3.FuncUnsolicited || !f.Control.UNS() || !f.Control.CON() || len(f.Objects) != 0 {
		t.Fatalf("null unsolicited: %v %v %x", f.Function, f.Control, f.Objects)
	}
	for _, s := range seen[1:] {
		if string(s) != string(seen[0]) {
			t.Fatalf("retry differs: %x vs %x", s, seen[0])
		}
	}
	if extra := rc.next(150 * time.Millisecond); extra != nil {
		t.Fatalf("sent after retries ran out: %x", extra)
	}
	dnp3test.Eventually(t, time.Second, "failure counted", func() bool { return r.o.Stats().UnsolFailures == 1 })

	// a master that confirms: null first, then events once enabled
	var got atomic.Int32
	var lastIndex atomic.Uint32
	m := r.dial(t, func(c *master.Config) {
		c.OnUnsolicited = func(resp *master.Response) {
			for _, p := range resp.Find(32) {
				lastIndex.Store(p.Index)
			}
			got.Add(1)
		}
	})
	dnp3test.Eventually(t, 2*time.Second, "null unsolicited", func() bool { return got.Load() == 1 })
	_, err := m.EnableUnsolicited(context.Background(), master.Class3)
	dnp3test.Must(t, err, "enable unsolicited")
	r.o.Database().SetValue(outstation.AnalogInput, 2, 99)
	dnp3test.Eventually(t, 2*time.Second, "unsolicited event", func() bool { return got.Load() == 2 })
	if lastIndex.Load() != 2 {
		t.Fatalf("unsolicited event index %d, want 2", lastIndex.Load())
	}
	dnp3test.Eventually(t, 2*time.Second, "event confirmed and removed", func() bool { return r.o.Database().Events() == 0 })
	// class 1 is not enabled: its events wait for a poll
	r.o.Database().SetBool(outstation.BinaryInput, 1, true)
	resp, err := m.EventPoll(context.Background(), master.Class1)
	dnp3test.Must(t, err, "poll")
	if len(resp.Find(2)) != 1 || got.Load() != 2 {
		t.Fatalf("class 1 event: polled %d, unsolicited count %d", len(resp.Find(2)), got.Load())
	}
	_, err = m.DisableUnsolicited(context.Background(), master.Class3)
	dnp3test.Must(t, err, "disable")
	r.o.Database().SetValue(outstation.AnalogInput, 0, 5)
	resp, err = m.EventPoll(context.Background(), master.Class3)
	dnp3test.Must(t, err, "poll")
	if len(resp.Find(32)) != 1 || got.Load() != 2 {
		t.Fatalf("after disable: polled %d, unsolicited %d", len(resp.Find(32)), got.Load())
	}
}

func TestEventBufferBounded(t *testing.T) {
	r := start(t, func(c *outstation.Config) { c.EventBufferSize = 5 })
	db := r.o.Database()
	for i := range 20 {
		db.SetValue(outstation.AnalogInput, 0, float64(i+1))
	}
	if db.Events() != 5 || db.Dropped() != 15 {
		t.Fatalf("events %d dropped %d, want 5 and 15", db.Events(), db.Dropped())
	}
	resp, err := r.m.EventPoll(context.Background(), master.Class3)
	dnp3test.Must(t, err, "poll")
	if resp.IIN&dnp3.IINEventBufferOverflow == 0 {
		t.Fatalf("IIN %v lacks EVENT_BUFFER_OVERFLOW", resp.IIN)
	}
	pts := resp.Find(32)
	if len(pts) != 5 || pts[0].Measurement.Value != 16 || pts[4].Measurement.Value != 20 {
		t.Fatalf("kept events %+v, want the newest 16..20", pts)
	}
	resp, err = r.m.EventPoll(context.Background(), master.Class3)
	dnp3test.Must(t, err, "poll")
	if resp.IIN&dnp3.IINEventBufferOverflow != 0 || len(resp.Points) != 0 {
		t.Fatalf("after confirm IIN %v points %d", resp.IIN, len(resp.Points))
	}
}

func TestTimeSync(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	set := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	dnp3test.Must(t, r.m.WriteTime(ctx, set), "write time")
	r.clock.Advance(1500 * time.Millisecond)
	got, err := r.m.ReadTime(ctx)
	dnp3test.Must(t, err, "read time")
	if !got.Equal(set.Add(1500 * time.Millisecond)) {
		t.Fatalf("time %v, want %v", got, set.Add(1500*time.Millisecond))
	}
	resp, _ := r.m.EventPoll(ctx, master.Class0)
	if resp.IIN&dnp3.IINNeedTime != 0 {
		t.Fatalf("NEED_TIME still set: %v", resp.IIN)
	}
}

func TestRequestErrors(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	tests := []struct {
		name string
		fc   dnp3.FunctionCode
		obj  []byte
		want dnp3.IIN
	}{
		{"unknown function", dnp3.FunctionCode(0x77), nil, dnp3.IINNoFuncCodeSupport},
		{"file function", dnp3.FuncOpenFile, nil, dnp3.IINNoFuncCodeSupport},
		{"unknown object", dnp3.FuncRead, []byte{99, 1, 6}, dnp3.IINObjectUnknown},
		{"bad qualifier", dnp3.FuncRead, []byte{1, 0, 0x0A}, dnp3.IINParameterError},
		{"write unknown", dnp3.FuncWrite, []byte{30, 1, 0, 0, 0, 1, 0, 0, 0, 0}, dnp3.IINObjectUnknown},
		{"unsolicited not configured", dnp3.FuncEnableUnsolicited, []byte{60, 2, 6}, dnp3.IINNoFuncCodeSupport},
		{"control on analog input", dnp3.FuncSelect, []byte{30, 1, 0x17, 1, 0, 1, 0, 0, 0, 0}, dnp3.IINObjectUnknown},
		{"freeze at time", dnp3.FuncFreezeAtTime, []byte{20, 0, 6}, dnp3.IINNoFuncCodeSupport},
		{"freeze analog", dnp3.FuncImmedFreeze, []byte{30, 0, 6}, dnp3.IINObjectUnknown},
		{"freeze counter out of range", dnp3.FuncFreezeClear, []byte{20, 0, 0, 0, 5}, dnp3.IINParameterError},
		{"freeze with a variation", dnp3.FuncImmedFreeze, []byte{20, 1, 6}, dnp3.IINObjectUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := r.m.Do(ctx, r.m.NewRequest(tc.fc, tc.obj))
			dnp3test.Must(t, err, "request")
			if resp.IIN&tc.want == 0 {
				t.Fatalf("IIN %v lacks %v", resp.IIN, tc.want)
			}
			if len(resp.Points) != 0 {
				t.Fatalf("failed request answered with objects %+v", resp.Points)
			}
		})
	}
	if got := r.o.Stats().Unsupported; got != 4 {
		t.Fatalf("unsupported requests counted %d, want 4", got)
	}
}

// TestUnknownFunctionsAnswered sends every function code a master may not
// send to the outstation: each is decoded and answered NO_FUNC_CODE_SUPPORT
// with no objects, none is dropped, and the connection stays up.
func TestUnknownFunctionsAnswered(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	var n uint64
	for fc := range 256 {
		f := dnp3.FunctionCode(fc)
		if f.Known() && f != dnp3.FuncFreezeAtTime && (f < dnp3.FuncInitializeData || f > dnp3.FuncAuthRequestNoAck || f == dnp3.FuncStopAppl || f == dnp3.FuncStartAppl ||
			(f >= dnp3.FuncEnableUnsolicited && f <= dnp3.FuncRecordCurrentTime)) || f.IsResponse() {
			continue // implemented, or a response (never answered)
		}
		if f == dnp3.FuncAuthRequestNoAck || f == dnp3.FuncEnableUnsolicited || f == dnp3.FuncDisableUnsolicited {
			continue // no response by design; unsolicited is covered in TestRequestErrors
		}
		n++
		resp, err := r.m.Do(ctx, r.m.NewRequest(f, []byte{60, 1, 6}))
		dnp3test.Must(t, err, "function %v", f)
		if resp.IIN&dnp3.IINNoFuncCodeSupport == 0 || len(resp.Points) != 0 || resp.Function != dnp3.FuncResponse {
			t.Fatalf("%v answered %v with IIN %v and %d points", f, resp.Function, resp.IIN, len(resp.Points))
		}
	}
	if got := r.o.Stats().Unsupported; got != n || n < 100 {
		t.Fatalf("unsupported counted %d, sent %d", got, n)
	}
	if _, err := r.m.IntegrityPoll(ctx); err != nil {
		t.Fatalf("poll after unknown functions: %v", err)
	}
}

func TestFreezeCounters(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	db := r.o.Database()
	dnp3test.Must(t, db.SetValue(outstation.Counter, 0, 7), "set")
	dnp3test.Must(t, db.SetValue(outstation.Counter, 1, 3), "set")
	_, err := r.m.EventPoll(ctx, master.Class2) // take the counter events away
	dnp3test.Must(t, err, "poll")
	frozen := func() []float64 {
		t.Helper()
		pts, err := r.m.ReadFrozenCounters(ctx)
		dnp3test.Must(t, err, "read frozen counters")
		var v []float64
		for i, p := range pts {
			if p.Variation != 1 || p.Index != uint32(i) {
				t.Fatalf("frozen counter %d: %+v", i, p)
			}
			v = append(v, p.Measurement.Value)
		}
		return v
	}
	if v := frozen(); len(v) != 2 || v[0] != 0 || v[1] != 0 {
		t.Fatalf("before any freeze: %v", v)
	}
	r.clock.Advance(time.Minute)
	frozeAt := r.clock.Now()
	dnp3test.Must(t, r.m.ImmedFreeze(ctx), "immediate freeze")
	dnp3test.Must(t, db.SetValue(outstation.Counter, 0, 9), "set")
	if v := frozen(); v[0] != 7 || v[1] != 3 {
		t.Fatalf("after freeze: %v, want [7 3]", v)
	}
	// the freeze time, in g21v5
	resp, err := r.m.Read(ctx, dnp3.ObjectHeader{Group: 21, Variation: 5, Qualifier: dnp3.QualStartStop8, Start: 0, Stop: 1})
	dnp3test.Must(t, err, "read g21v5")
	if pts := resp.Find(21); len(pts) != 2 || !pts[1].Measurement.HasTime || !pts[1].Measurement.Time.Std().Equal(frozeAt) {
		t.Fatalf("g21v5 %+v, want time %v", pts, frozeAt)
	}
	// frozen counter events (g23, class 2 like their counters), then the counter event
	resp, err = r.m.EventPoll(ctx, master.Class2)
	dnp3test.Must(t, err, "event poll")
	if ev := resp.Find(23); len(ev) != 2 || ev[0].Measurement.Value != 7 || ev[1].Index != 1 || ev[0].Variation != 5 {
		t.Fatalf("frozen counter events %+v", ev)
	}
	if ev := resp.Find(22); len(ev) != 1 || ev[0].Measurement.Value != 9 {
		t.Fatalf("counter events %+v", ev)
	}
	// freeze and clear counter 0 only
	dnp3test.Must(t, r.m.FreezeClear(ctx, master.CounterRange(0, 0)), "freeze clear")
	if v := frozen(); v[0] != 9 || v[1] != 3 {
		t.Fatalf("after freeze-clear: %v, want [9 3]", v)
	}
	if c0, _ := db.Get(outstation.Counter, 0); c0.Value != 0 {
		t.Fatalf("counter 0 not cleared: %v", c0.Value)
	}
	if c1, _ := db.Get(outstation.Counter, 1); c1.Value != 3 {
		t.Fatalf("counter 1 cleared too: %v", c1.Value)
	}
	// the no-response forms act without answering
	dnp3test.Must(t, db.SetValue(outstation.Counter, 1, 5), "set")
	dnp3test.Must(t, r.m.ImmedFreezeNR(ctx, master.CounterRange(1, 1)), "freeze NR")
	dnp3test.Eventually(t, 2*time.Second, "IMMED_FREEZE_NR", func() bool {
		m, _ := db.Get(outstation.FrozenCounter, 1)
		return m.Value == 5
	})
	dnp3test.Must(t, r.m.FreezeClearNR(ctx), "freeze clear NR")
	dnp3test.Eventually(t, 2*time.Second, "FREEZE_CLEAR_NR", func() bool {
		m, _ := db.Get(outstation.Counter, 1)
		return m.Value == 0
	})
	before := r.o.Stats().Requests
	if _, err := r.m.EventPoll(ctx, master.Class0); err != nil {
		t.Fatalf("poll after NR freezes: %v", err)
	}
	if r.o.Stats().Requests != before+1 {
		t.Fatalf("requests %d, want %d", r.o.Stats().Requests, before+1)
	}
}

// TestRepeatedRequest checks IEEE 1815's rule for a request repeated with
// the same sequence number and octets: the previous response again, the
// request not executed twice.
func TestRepeatedRequest(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	crob := dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpPulseOn, dnp3.TCCNul, false), Count: 1, OnTime: 100}
	send := func(fc dnp3.FunctionCode, seq uint8, objects []byte) *master.Response {
		t.Helper()
		req := r.m.NewRequest(fc, objects)
		req.Control, req.SetControl = dnp3.NewAppControl(true, true, false, false, seq), true
		resp, err := r.m.Do(ctx, req)
		dnp3test.Must(t, err, "%v seq %d", fc, seq)
		return resp
	}
	obj := master.CROBObjects(1, crob)
	first := send(dnp3.FuncDirectOperate, 3, obj)
	again := send(dnp3.FuncDirectOperate, 3, obj)
	if calls := r.p.Calls(); len(calls) != 1 {
		t.Fatalf("a repeated DIRECT_OPERATE reached the device: %v", calls)
	}
	if first.Points[0].CROB != again.Points[0].CROB || again.Control.Seq() != 3 {
		t.Fatalf("repeat answered %+v, first %+v", again.Points, first.Points)
	}
	if r.o.Stats().Repeats != 1 {
		t.Fatalf("repeats %d", r.o.Stats().Repeats)
	}
	// another sequence number, or other octets, is a new request
	send(dnp3.FuncDirectOperate, 4, obj)
	send(dnp3.FuncDirectOperate, 4, master.CROBObjects(0, crob))
	if calls := r.p.Calls(); len(calls) != 3 {
		t.Fatalf("new requests not executed: %v", calls)
	}
	// select, operate, operate again: one operation
	send(dnp3.FuncSelect, 5, obj)
	send(dnp3.FuncOperate, 6, obj)
	if resp := send(dnp3.FuncOperate, 6, obj); resp.Points[0].CROB.Status != dnp3.StatusSuccess {
		t.Fatalf("repeated OPERATE answered %v", resp.Points[0].CROB.Status)
	}
	if calls := r.p.Calls(); len(calls) != 5 || calls[4] != "OPERATE" {
		t.Fatalf("device saw %v, want one SELECT and one OPERATE more", calls)
	}
	// a repeated READ is read again (static data may have changed)...
	db := r.o.Database()
	read := []byte{30, 1, 0, 0, 0}
	send(dnp3.FuncRead, 7, read)
	db.SetValue(outstation.AnalogInput, 0, 42)
	if resp := send(dnp3.FuncRead, 7, read); resp.Find(30)[0].Measurement.Value != 42 {
		t.Fatalf("repeated READ not read again: %+v", resp.Points)
	}
	// ...unless its events still await confirmation: then the same events
	// again (a raw master that does not confirm)
	rc := dialRaw(t, r.addr)
	poll := rc.request(9, dnp3.FuncRead, []byte{60, 4, 6})
	resp1 := rc.next(2 * time.Second)
	db.SetValue(outstation.AnalogInput, 1, 43) // a second event, not in the first response
	rc.c.Write(poll)
	resp2 := rc.next(2 * time.Second)
	if f, _ := dnp3.ParseFragment(resp1); resp1 == nil || !f.Control.CON() || string(resp2) != string(resp1) {
		t.Fatalf("repeated event READ answered\n%x\nfirst\n%x", resp2, resp1)
	}
	// a new sequence number reads again: both events, the first not yet confirmed
	rc.request(10, dnp3.FuncRead, []byte{60, 4, 6})
	f, _ := dnp3.ParseFragment(rc.next(2 * time.Second))
	it := f.Iter()
	if !it.Next() || it.Header().Group != 32 || it.Header().Count != 2 {
		t.Fatalf("new READ: %+v", it.Header())
	}
	if r.o.Stats().Repeats != 3 {
		t.Fatalf("repeats %d, want 3", r.o.Stats().Repeats)
	}
}

func TestBroadcast(t *testing.T) {
	r := start(t, nil)
	ctx := context.Background()
	req := r.m.NewRequest(dnp3.FuncDirectOperate, master.CROBObjects(0, dnp3.CROB{Code: dnp3.NewControlCode(dnp3.OpLatchOn, 0, false), Count: 1}))
	req.To, req.From = dnp3.AddrBroadcastNoAck, 0x0BAD
	resp, err := r.m.Do(ctx, req)
	if err != nil || resp != nil {
		t.Fatalf("broadcast: %v %v", resp, err)
	}
	dnp3test.Eventually(t, 2*time.Second, "broadcast operate", func() bool {
		m, _ := r.o.Database().Get(outstation.BinaryOutput, 0)
		return m.Bool()
	})
	resp, err = r.m.EventPoll(ctx, master.Class0)
	dnp3test.Must(t, err, "poll")
	if resp.IIN&dnp3.IINBroadcast == 0 {
		t.Fatalf("IIN %v lacks BROADCAST", resp.IIN)
	}
	resp, _ = r.m.EventPoll(ctx, master.Class0)
	if resp.IIN&dnp3.IINBroadcast != 0 {
		t.Fatalf("BROADCAST reported twice")
	}
	// a frame to another outstation is ignored
	req = r.m.NewRequest(dnp3.FuncRead, []byte{60, 1, 6})
	req.To = 77
	req.NoResponse = true
	r.m.Do(ctx, req)
	dnp3test.Eventually(t, 2*time.Second, "ignored frame counted", func() bool { return r.o.Stats().Ignored > 0 })
}

func TestLinkServices(t *testing.T) {
	r := start(t, nil)
	c, err := r.m.LinkStatus(context.Background(), 1024)
	dnp3test.Must(t, err, "link status")
	if c.Func() != dnp3.LinkStatus || c.Prm() || c.Dir() {
		t.Fatalf("link status reply %v", c)
	}
	c, err = r.m.LinkService(context.Background(), dnp3.LinkResetLinkStates, 1024, 1)
	dnp3test.Must(t, err, "reset link")
	if c.Func() != dnp3.LinkAck {
		t.Fatalf("reset reply %v", c)
	}
}

func TestACL(t *testing.T) {
	var allow atomic.Bool
	allow.Store(true)
	var seen atomic.Value
	r := start(t, func(c *outstation.Config) {
		c.Allow = func(a netip.Addr) bool { seen.Store(a); return allow.Load() }
	})
	_, err := r.m.EventPoll(context.Background(), master.Class0)
	dnp3test.Must(t, err, "allowed poll")
	if a, _ := seen.Load().(netip.Addr); !a.IsLoopback() {
		t.Fatalf("Allow saw %v", a)
	}
	allow.Store(false) // the firewall rule lands mid-session
	if _, err := r.m.EventPoll(context.Background(), master.Class0); !errors.Is(err, master.ErrClosed) {
		t.Fatalf("poll after deny: %v", err)
	}
	r.expectRefused(t)
	if r.o.Stats().Denied < 2 {
		t.Fatalf("denied %d", r.o.Stats().Denied)
	}
}

func TestMaxClientsAndIdle(t *testing.T) {
	r := start(t, func(c *outstation.Config) { c.MaxClients = 1; c.IdleTimeout = 200 * time.Millisecond })
	r.expectRefused(t)
	if r.o.Stats().Rejected != 1 {
		t.Fatalf("rejected %d", r.o.Stats().Rejected)
	}
	// the first client goes idle and is closed, which frees the slot
	dnp3test.Eventually(t, 3*time.Second, "idle close", func() bool { return r.o.Stats().Active == 0 })
	if _, err := r.m.EventPoll(context.Background(), master.Class0); !errors.Is(err, master.ErrClosed) {
		t.Fatalf("idle client still served: %v", err)
	}
	if _, err := r.dial(t, nil).EventPoll(context.Background(), master.Class0); err != nil {
		t.Fatalf("slot not freed: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  outstation.Config
	}{
		{"broadcast address", outstation.Config{Address: 0xFFFF}},
		{"class out of range", outstation.Config{Points: outstation.Points{BinaryInputs: []outstation.PointConfig{{Class: 4}}}}},
		{"class 0 too big", outstation.Config{MaxFragment: 300, Points: outstation.Points{AnalogInputs: points(100, 0)}}},
		{"tiny fragment", outstation.Config{MaxFragment: 10}},
	}
	for _, tc := range tests {
		if _, err := outstation.New(tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestRestartClosesInOrder checks how the connection ends after a restart
// response: the response with its g52 delay, then an orderly end of stream
// (FIN), never a reset that could destroy the response before the master
// reads it.
func TestRestartClosesInOrder(t *testing.T) {
	for _, fc := range []dnp3.FunctionCode{dnp3.FuncColdRestart, dnp3.FuncWarmRestart} {
		t.Run(fc.String(), func(t *testing.T) {
			r := start(t, nil)
			rc := dialRaw(t, r.addr)
			rc.request(5, fc, nil)
			raw := rc.next(2 * time.Second)
			if raw == nil {
				t.Fatal("no restart response")
			}
			frag, err := dnp3.ParseFragment(raw)
			dnp3test.Must(t, err, "parse")
			it := frag.Iter()
			if frag.Function != dnp3.FuncResponse || frag.Control.Seq() != 5 || !it.Next() || it.Header().Group != 52 {
				t.Fatalf("restart response %x", raw)
			}
			// then the end of the stream, with nothing else before it
			rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := rc.c.Read(make([]byte, 64))
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("after the restart response: %d octets, %v; want an orderly end of stream", n, err)
			}
		})
	}
}
