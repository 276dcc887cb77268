package analyze_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
)

// seedPayloads adds the payloads of the shared captures whose name contains
// proto (when the folder is present), joined per capture, as seeds.
func seedPayloads(f *testing.F, proto string) {
	files, _ := filepath.Glob(filepath.Join(wiretest.PcapDir(f), "*"+proto+"*.pcap"))
	for _, path := range files {
		pkts, err := pcapfeed.Read(path)
		if err != nil {
			continue
		}
		var b []byte
		for _, p := range pkts {
			if len(p.Payload) > 0 && len(b) < 4096 {
				b = append(b, byte(len(p.Payload)), byte(p.Frame&1))
				b = append(b, p.Payload...)
			}
		}
		f.Add(b)
	}
}

// checkRecord asserts the record invariants every consumer relies on.
func checkRecord(t *testing.T, r *analyze.Record) {
	if r.Modbus.NValues > analyze.MaxValues || r.Modbus.NDeviceID > analyze.MaxDeviceObjects ||
		r.DNP3.NObjects > analyze.MaxObjects {
		t.Fatalf("bounds broken: %s", analyze.Format(r))
	}
	for _, o := range r.DNP3.ObjectList() {
		if o.NIndexes > analyze.MaxIndexes {
			t.Fatalf("index bound broken: %s", analyze.Format(r))
		}
	}
	if !r.Valid && r.Anomalies == 0 {
		t.Fatalf("an invalid record without an anomaly: %s", analyze.Format(r))
	}
	if r.Valid && r.Len == 0 {
		t.Fatalf("a valid record without a length: %s", analyze.Format(r))
	}
}

func fuzzConn(f *testing.F, server string) {
	f.Fuzz(func(t *testing.T, data []byte) {
		a := analyze.New(analyze.Config{MaxPending: 4, MaxFragment: 512, MaxLinkPairs: 2, MaxObjects: 8,
			Emit: func(r *analyze.Record) { checkRecord(t, r) }})
		sv := server
		if len(data) > 0 && data[0]&0x80 != 0 {
			sv = "127.0.0.2:7777" // an unknown port: detection by content
		}
		c := a.NewConn(client, netipMust(sv))
		frame := uint64(0)
		for len(data) >= 2 {
			n, dir := int(data[0]), data[1]&1
			data = data[2:]
			n = min(n, len(data))
			from := client
			if dir == 1 {
				from = netipMust(sv)
			}
			frame++
			if n == 0 && frame%7 == 0 {
				c.Gap(from)
			}
			c.Data(from, data[:n], t0, frame)
			data = data[n:]
		}
		c.Data(client, data, t0, frame+1)
	})
}

// FuzzModbusConn feeds arbitrary chunks in both directions of a Modbus
// connection.
func FuzzModbusConn(f *testing.F) {
	req := adu(1, 1, modbus.FuncWriteMultipleRegisters, 0, 1, 0, 2, 4, 0, 1, 0, 2)
	f.Add(append([]byte{byte(len(req)), 0}, req...))
	f.Add([]byte{14, 1, 0, 1, 0, 0, 0, 5, 0x0a, 0x2a, 0x0e, 0x04, 0x01, 0x01, 0x01, 0x23})
	f.Add([]byte{10, 1, 0, 1, 0, 0, 0, 4, 0x0a, 0x81, 0x06, 0x00})
	dev := adu(1, 1, modbus.FuncEncapsulatedInterface, 14, 1, 0x81, 0, 0, 2, 0, 3, 'a', 'b', 'c', 1, 1, 'x')
	f.Add(append([]byte{byte(len(dev)), 1}, dev...))
	seedPayloads(f, "modbus")
	fuzzConn(f, "127.0.0.1:502")
}

// FuzzDNP3Conn feeds arbitrary chunks in both directions of a DNP3
// connection.
func FuzzDNP3Conn(f *testing.F) {
	r := dnp3Request(1, dnp3.FuncRead, []byte{60, 2, 6, 60, 3, 6, 1, 2, 0, 3, 5}, 3, 4)
	f.Add(append([]byte{byte(len(r)), 0}, r...))
	resp := dnp3Response(1, dnp3.FuncUnsolicited, 0, []byte{2, 3, 0x28, 1, 0, 7, 0, 1, 2, 3, 4, 5, 6}, 4, 3)
	f.Add(append([]byte{byte(len(resp)), 1}, resp...))
	seedPayloads(f, "dnp3")
	fuzzConn(f, "127.0.0.1:20000")
}

// FuzzDatagram feeds arbitrary UDP payloads.
func FuzzDatagram(f *testing.F) {
	f.Add(dnp3Request(1, dnp3.FuncColdRestart, nil, 3, 4))
	f.Add(dnp3Response(1, dnp3.FuncResponse, 0, []byte{80, 1, 0, 7, 7, 0}, 4, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := analyze.New(analyze.Config{Emit: func(r *analyze.Record) { checkRecord(t, r) }})
		a.Datagram(client, outst, data, t0, 1)
		a.Datagram(outst, client, data, t0, 2)
		if s := analyze.Format(&analyze.Record{}); !strings.Contains(s, "unknown") {
			t.Fatal(s)
		}
	})
}

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
