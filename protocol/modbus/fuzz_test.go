package modbus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// captureFrames are TCP payloads from the shared real captures (zeek,
// suricata-verify, icsnpp and quickdraw), including odd ones: a server id
// response, FC 8 sub-functions, exceptions, and an ADU with stray bytes.
var captureFrames = []string{
	"000000000003010715", "000000000003018001", "0000000000030a880b",
	"0000000000060a0800010000", "0000000000060a0800040000", "0000000000060a08000a0000",
	"0000000000080106000000000000", "0000000000150a111200ff57696e6770617468204c696d69746564",
	"00010000000401010101", "00010000000404010101", "00010000000600030258000a",
	"000100000008010f000000030107", "0001001000060a0100010003", "000200000004050101e9",
	"001700000005012b0e0100", "00010000000a0a2b0e040101012301010123",
}

// seedADUs returns real frames: the specification's examples wrapped in
// MBAP headers, and the capture payloads.
func seedADUs(t testing.TB) [][]byte {
	var seeds [][]byte
	for i, s := range specRequests {
		seeds = append(seeds, AppendADU(nil, &ADU{TransactionID: uint16(i), UnitID: 1, PDU: pduOf(t, s.hex)}))
	}
	for i, s := range specResponses {
		seeds = append(seeds, AppendADU(nil, &ADU{TransactionID: uint16(i), UnitID: 1, PDU: pduOf(t, s.hex)}))
	}
	for _, s := range captureFrames {
		seeds = append(seeds, hx(t, s))
	}
	return seeds
}

func FuzzDecodeADU(f *testing.F) {
	for _, s := range seedADUs(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a ADU
		n, err := DecodeADU(b, &a)
		var de *DecodeError
		switch {
		case err == nil:
			if n < MBAPLen+1 || n > MaxADULen || n > len(b) {
				t.Fatalf("n = %d for %d bytes", n, len(b))
			}
			if got := AppendADU(nil, &a); !bytes.Equal(got, b[:n]) {
				t.Fatalf("re-encoded % x, want % x", got, b[:n])
			}
		case errors.Is(err, ErrIncomplete):
			if len(b) >= MaxADULen {
				t.Fatalf("incomplete with %d bytes", len(b))
			}
		case errors.As(err, &de):
			if len(de.Snippet) > snippetLen || de.Offset < 0 || de.Offset >= len(b) {
				t.Fatalf("bad error %+v for %d bytes", de, len(b))
			}
		default:
			t.Fatalf("untyped error %v", err)
		}
	})
}

// frameAll feeds b to a Stream in chunks of size chunk and returns the ADUs
// framed (re-encoded) and the bytes dropped.
func frameAll(t *testing.T, b []byte, chunk int) (adus [][]byte, dropped uint64) {
	s := NewStream(len(b) + MaxADULen)
	for i := 0; i < len(b); i += chunk {
		if err := s.Write(b[i:min(i+chunk, len(b))]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		for {
			var a ADU
			ok, err := s.Next(&a)
			if err != nil {
				continue
			}
			if !ok {
				break
			}
			adus = append(adus, AppendADU(nil, &a))
		}
	}
	if int(s.Dropped())+s.Buffered()+totalLen(adus) != len(b) {
		t.Fatalf("bytes lost: %d dropped + %d buffered + %d framed != %d", s.Dropped(), s.Buffered(), totalLen(adus), len(b))
	}
	return adus, s.Dropped()
}

// totalLen sums the lengths of bs.
func totalLen(bs [][]byte) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

func FuzzStream(f *testing.F) {
	seeds := seedADUs(f)
	f.Add(bytes.Join(seeds, nil), uint8(1))
	f.Add(bytes.Join(seeds[:5], []byte{0xde, 0xad}), uint8(7))
	for _, s := range seeds {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		whole, dropped := frameAll(t, b, max(len(b), 1))
		split, droppedSplit := frameAll(t, b, int(chunk)+1)
		if len(whole) != len(split) || dropped != droppedSplit {
			t.Fatalf("whole: %d ADUs %d dropped; in chunks of %d: %d ADUs %d dropped", len(whole), dropped, int(chunk)+1, len(split), droppedSplit)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], split[i]) {
				t.Fatalf("ADU %d differs: % x vs % x", i, whole[i], split[i])
			}
		}
	})
}

// fuzzDevice returns a Device over a Bank with every table, files and a FIFO.
func fuzzDevice(t testing.TB) *Device {
	bank := NewBank(BankConfig{Coils: 3000, DiscreteInputs: 3000, HoldingRegisters: 300, InputRegisters: 300, Files: 3, FileRecords: 200})
	bank.SetFIFO(0x4de, []uint16{1, 2, 3})
	d, err := NewDevice(DeviceConfig{Data: bank, ServerID: []byte("fuzz"),
		Identity: Identity{VendorName: "v", ProductCode: "p", MajorMinorRevision: "1", ProductName: "n", Extended: map[uint8]string{0x80: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range specRequests {
		b := hx(f, s.hex)
		f.Add(b[0], b[1:])
	}
	d := fuzzDevice(f)
	f.Fuzz(func(t *testing.T, fc byte, data []byte) {
		p := PDU{Function: FunctionCode(fc), Data: data}
		var r Request
		err := ParseRequest(p, &r)
		var de *DecodeError
		if err != nil && (!errors.As(err, &de) || de.Exception == 0) {
			t.Fatalf("error without an exception code: %v", err)
		}
		if err != nil || p.Len() > MaxPDULen {
			return
		}
		// Whatever a valid request asks, the device answers within the
		// limits, and its answer parses and matches the request.
		resp, err := d.ServeModbus(context.Background(), 1, p)
		if err != nil {
			return
		}
		if resp.Len() > MaxPDULen {
			t.Fatalf("response of %d bytes", resp.Len())
		}
		var rr Response
		if err := ParseResponse(resp, &rr); err != nil {
			t.Fatalf("our response to % x does not parse: %v", data, err)
		}
		if err := CheckResponse(&r, &rr); err != nil {
			t.Fatalf("our response does not match: %v", err)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range specResponses {
		b := hx(f, s.hex)
		f.Add(b[0], b[1:])
	}
	f.Fuzz(func(t *testing.T, fc byte, data []byte) {
		var r Response
		if err := ParseResponse(PDU{Function: FunctionCode(fc), Data: data}, &r); err != nil {
			return
		}
		for range r.DeviceObjects {
		}
		for range r.FileRecords {
		}
		for i := range 2 * len(r.Values) {
			_ = r.Register(i)
		}
		for i := range 8 * len(r.Values) {
			_ = r.Bit(i)
		}
	})
}

func FuzzServer(f *testing.F) {
	seeds := seedADUs(f)
	f.Add(bytes.Join(seeds, nil))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add(AppendADU(nil, &ADU{UnitID: 1, PDU: Diagnostic(DiagForceListenOnlyMode, 0)}))
	s, err := NewServer(ServerConfig{Handler: fuzzDevice(f), IdleTimeout: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzServerConn(t, s, in)
		if s.Stats().Panics != 0 {
			t.Fatal("the handler panicked")
		}
	})
}

// fuzzServerConn runs one server connection over in, followed by a trailer
// that no valid header can start, so the server closes the connection once
// it has answered everything; every response must be a valid ADU.
func fuzzServerConn(t *testing.T, s *Server, in []byte) {
	srv, cli := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.active.Add(1)
		s.serveConn(context.Background(), srv)
	}()
	go func() {
		trailer := bytes.Repeat([]byte{0xff}, MaxADULen+MBAPLen)
		_, _ = cli.Write(append(append([]byte(nil), in...), trailer...))
	}()
	out, _ := io.ReadAll(cli)
	<-done
	cli.Close()
	for len(out) > 0 {
		var a ADU
		n, err := DecodeADU(out, &a)
		if err != nil {
			t.Fatalf("the server wrote a bad ADU: %v (% x)", err, out)
		}
		var r Response
		if err := ParseResponse(a.PDU, &r); err != nil {
			t.Fatalf("the server's response does not parse: %v (% x)", err, out[:n])
		}
		out = out[n:]
	}
}
