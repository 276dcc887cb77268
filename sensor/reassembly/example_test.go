package reassembly_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/otrange/otrange/sensor/reassembly"
)

// printer is an analyzer's per-stream state: here it only prints.
type printer struct{ name string }

func (p *printer) Data(b []byte, m reassembly.Meta) {
	fmt.Printf("%s %q gap=%d midstream=%v\n", p.name, b, m.Gap, m.Midstream)
}
func (p *printer) End(r reassembly.Reason) { fmt.Printf("%s end: %v\n", p.name, r) }

type analyzer struct{}

func (analyzer) Open(c reassembly.ConnInfo) (reassembly.Stream, reassembly.Stream) {
	fmt.Println("open", c.Key, "handshake", c.Handshake)
	return &printer{"request"}, &printer{"response"}
}
func (analyzer) Close(c reassembly.ConnInfo, r reassembly.Reason) { fmt.Println("close", r) }

func Example() {
	r, err := reassembly.New(reassembly.Options{MaxConns: 1024}, analyzer{})
	if err != nil {
		panic(err)
	}
	hmi := netip.MustParseAddrPort("127.10.2.10:40001")
	plc := netip.MustParseAddrPort("127.10.1.10:502")
	toPLC, toHMI := reassembly.KeyFrom(hmi, plc), reassembly.KeyFrom(plc, hmi)
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []reassembly.Packet{
		{Key: toPLC, Seq: 100, Flags: reassembly.SYN},
		{Key: toHMI, Seq: 700, Flags: reassembly.SYN | reassembly.ACK},
		{Key: toPLC, Seq: 107, Flags: reassembly.ACK, Payload: []byte("world")}, // ahead of a hole
		{Key: toPLC, Seq: 101, Flags: reassembly.ACK, Payload: []byte("hello ")},
		{Key: toHMI, Seq: 701, Flags: reassembly.ACK | reassembly.FIN, Payload: []byte("ok")},
		{Key: toPLC, Seq: 112, Flags: reassembly.ACK | reassembly.FIN},
	} {
		p.Time = t
		r.Add(&p)
	}
	fmt.Printf("%+v\n", r.Stats().DeliveredBytes)
	// Output:
	// open 127.10.2.10:40001-127.10.1.10:502 handshake true
	// request "hello " gap=0 midstream=false
	// request "world" gap=0 midstream=false
	// response "ok" gap=0 midstream=false
	// response end: fin
	// request end: fin
	// close fin
	// 13
}
