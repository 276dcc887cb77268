package outstation

import (
	"testing"

	"github.com/otrange/otrange/protocol/dnp3"
)

type fuzzControls struct{}

func (fuzzControls) OperateCROB(Op, uint16, dnp3.CROB) dnp3.CommandStatus { return dnp3.StatusSuccess }
func (fuzzControls) OperateAnalog(Op, uint16, dnp3.AnalogOutput) dnp3.CommandStatus {
	return dnp3.StatusSuccess
}

// FuzzHandleRequest feeds any request fragment to the outstation's handler:
// it must not panic, and the response must fit the fragment bound and parse.
func FuzzHandleRequest(f *testing.F) {
	seeds := [][]byte{
		{0xC0, 0x01, 60, 2, 6, 60, 3, 6, 60, 4, 6, 60, 1, 6},                     // integrity poll
		{0xC1, 0x01, 30, 0, 0, 0, 2},                                             // range read
		{0xC2, 0x03, 12, 1, 0x28, 1, 0, 1, 0, 3, 1, 100, 0, 0, 0, 0, 0, 0, 0, 0}, // select
		{0xC3, 0x04, 12, 1, 0x28, 1, 0, 1, 0, 3, 1, 100, 0, 0, 0, 0, 0, 0, 0, 0}, // operate
		{0xC4, 0x05, 41, 3, 0x17, 1, 0, 0, 0, 0x28, 0x42, 0},                     // direct operate g41v3
		{0xC5, 0x02, 80, 1, 0, 7, 7, 0},                                          // clear restart
		{0xC6, 0x02, 50, 1, 7, 1, 1, 2, 3, 4, 5, 6},                              // write time
		{0xC7, 0x14, 60, 2, 6, 60, 3, 6},                                         // enable unsolicited
		{0xC8, 0x16, 60, 3, 6, 1, 0, 6, 30, 0, 0, 0, 1},                          // assign class
		{0xC9, 0x17}, {0xCA, 0x18}, {0xCB, 0x12}, {0xCC, 0x0D}, {0xCD, 0x99},
		{0xC1, 0x01, 2, 0, 7, 3, 32, 0, 0x08, 1, 0},
		{0xC1, 0x01, 1, 1, 0, 0, 3, 10, 1, 6},
		{0xC1, 0x07, 20, 0, 6}, {0xC2, 0x09, 20, 0, 0, 0, 0}, {0xC3, 0x08, 20, 0, 1, 0, 0, 0, 0}, // freezes
		{0xC4, 0x01, 21, 0, 6, 23, 0, 6}, {0xC5, 0x01, 21, 5, 0, 0, 0, 23, 5, 7, 2}, // frozen counters and events
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := New(Config{Unsolicited: true, Controls: fuzzControls{}, EventBufferSize: 8,
			Points: Points{BinaryInputs: make([]PointConfig, 3), BinaryOutputs: make([]PointConfig, 2),
				Counters: []PointConfig{{Class: 2}}, AnalogInputs: []PointConfig{{Class: 3}, {Class: 1}},
				AnalogOutputs: make([]PointConfig, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			o.db.SetValue(AnalogInput, i%2, float64(i))
		}
		frag, err := dnp3.ParseFragment(b)
		if err != nil {
			return
		}
		s := &session{o: o, notify: make(chan struct{}, 1)}
		for range 2 { // twice: the second sees the first's select and claims
			res := o.handle(s, frag, nil, false)
			if len(res.apdu) > o.cfg.MaxFragment {
				t.Fatalf("response %d octets over %d", len(res.apdu), o.cfg.MaxFragment)
			}
			resp, err := dnp3.ParseFragment(res.apdu)
			if err != nil || resp.Function != dnp3.FuncResponse {
				t.Fatalf("bad response %x: %v", res.apdu, err)
			}
			it := resp.Iter()
			for it.Next() {
			}
			if it.Err() != nil {
				t.Fatalf("response objects do not parse: %v\nrequest %x\nresponse %x", it.Err(), b, res.apdu)
			}
		}
	})
}
