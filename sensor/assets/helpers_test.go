package assets_test

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
)

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// collector is a sink that keeps alerts.
type collector struct {
	mu     sync.Mutex
	alerts []alert.Alert
}

func (c *collector) Emit(a alert.Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
}

func (c *collector) rules() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.alerts {
		out = append(out, a.RuleID)
	}
	return out
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// mbReq returns a Modbus request record from client to server.
func mbReq(at time.Duration, client, server string, unit, fc uint8, addr, qty uint16) *analyze.Record {
	r := &analyze.Record{Time: t0.Add(at), Frame: 1, Protocol: analyze.ProtoModbus, Dir: analyze.Request, Valid: true, Len: 12,
		Flow: analyze.Flow{Src: ap(client), Dst: ap(server)}}
	r.Modbus.UnitID, r.Modbus.Function, r.Modbus.Address, r.Modbus.Quantity = unit, fc, addr, qty
	return r
}

// mbResp returns the response to req.
func mbResp(req *analyze.Record, exception uint8) *analyze.Record {
	r := *req
	r.Dir = analyze.Response
	r.Flow.Src, r.Flow.Dst = req.Flow.Dst, req.Flow.Src
	r.Time = req.Time.Add(5 * time.Millisecond)
	r.Matched = true
	if exception != 0 {
		r.Modbus.Function |= 0x80
		r.Modbus.Exception = exception
	}
	return &r
}

// dnpReq returns a DNP3 request from master to outstation.
func dnpReq(at time.Duration, master, outstation string, src, dst uint16, fc uint8) *analyze.Record {
	r := &analyze.Record{Time: t0.Add(at), Frame: 1, Protocol: analyze.ProtoDNP3, Dir: analyze.Request, Valid: true, Len: 20,
		Flow: analyze.Flow{Src: ap(master), Dst: ap(outstation)}}
	r.DNP3.LinkSrc, r.DNP3.LinkDst, r.DNP3.HasApp, r.DNP3.AppFunction = src, dst, true, fc
	r.DNP3.LinkControl = 0xC4
	r.DNP3.Objects[0] = analyze.DNP3Object{Group: 60, Variation: 1, Qualifier: 0x06}
	r.DNP3.NObjects, r.DNP3.NObjectHeaders = 1, 1
	return r
}

func dnpResp(req *analyze.Record, fc uint8) *analyze.Record {
	r := *req
	r.Dir = analyze.Response
	r.Flow.Src, r.Flow.Dst = req.Flow.Dst, req.Flow.Src
	r.DNP3.LinkSrc, r.DNP3.LinkDst = req.DNP3.LinkDst, req.DNP3.LinkSrc
	r.DNP3.AppFunction = fc
	r.Time = req.Time.Add(10 * time.Millisecond)
	return &r
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}
