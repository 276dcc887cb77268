package sensor

import (
	"context"
	"net/netip"
	"testing"

	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
)

// FuzzPackets feeds arbitrary frames, one after another on the same sensor,
// through the whole pipeline: nothing may panic and counters stay consistent.
func FuzzPackets(f *testing.F) {
	a := netip.MustParseAddrPort("127.66.0.9:40000")
	p := netip.MustParseAddrPort("127.10.1.10:502")
	f.Add(segment(f, a, p, 1, true, nil), segment(f, a, p, 2, false, adu(1, modbus.WriteSingleRegister(1, 5))))
	f.Add(segment(f, a, p, 9, false, adu(1, modbus.WriteMultipleRegisters(0, []uint16{1, 2, 3}))[:9]), segment(f, a, p, 18, false, []byte{0, 1, 2}))
	f.Add([]byte{0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		s, err := New(Config{Sink: alert.SinkFunc(func(alert.Alert) {}), MaxFlows: 4})
		if err != nil {
			t.Fatal(err)
		}
		s.Run(context.Background(), &frames{data: [][]byte{first, second, first}})
		st := s.Stats()
		if st.Packets != 3 {
			t.Fatalf("counted %d packets of 3", st.Packets)
		}
	})
}
