package dnp3

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// Real frames from the shared captures (zeek-dnp3_select_operate.pcap and
// zeek-dnp3.pcap), used as fixtures and fuzz seeds.
var (
	hexSelect       = "05641ac40200030040f2c6c7030c0128010001000301640000008fda6400000000005b"
	hexSelectResp   = "05641c44030002004b91fcc78100000c0128010001000301640001a400006400000000005b"
	hexColdRestart  = "056408c40a000100fc42c0c00d9c86"
	hexWriteTime    = "056412c4040003001e7cc1c10232010701ebe45a87ff002801"
	hexDisableUnsol = "056411c4040003004eefc2c2153c02063c03063c0406b1ec"
	hexUnsolNull    = "05640a44030004007caee6f78210004fbd"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad fixture: %v", err)
	}
	return b
}

func TestCRC(t *testing.T) {
	if got := CRC([]byte("123456789")); got != 0xEA82 {
		t.Fatalf("CRC check value = %#04x, want 0xea82", got)
	}
	b := mustHex(t, hexColdRestart)
	if got := CRC(b[:8]); got != 0x42fc {
		t.Fatalf("header CRC = %#04x, want 0x42fc", got)
	}
	// The eight-at-a-time fold agrees with the bit-by-bit definition at
	// every length and alignment.
	data := make([]byte, 40)
	for i := range data {
		data[i] = byte(i*151 + 7)
	}
	for from := range 8 {
		for n := 0; from+n <= len(data); n++ {
			if got, want := CRC(data[from:from+n]), crcBitwise(data[from:from+n]); got != want {
				t.Fatalf("CRC of %d octets at %d = %#04x, bit by bit %#04x", n, from, got, want)
			}
		}
	}
}

// crcBitwise is CRC-16/DNP computed one bit at a time.
func crcBitwise(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c ^= uint16(x)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA6BC
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

func TestFrameDecodeReal(t *testing.T) {
	b := mustHex(t, hexSelect)
	var f Frame
	n, err := f.Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if n != len(b) {
		t.Fatalf("consumed %d, want %d", n, len(b))
	}
	if f.Destination != 2 || f.Source != 3 || f.Control != 0xC4 {
		t.Fatalf("header = %+v", f.LinkHeader)
	}
	if !f.Control.Dir() || !f.Control.Prm() || f.Control.Func() != LinkUnconfirmedUserData {
		t.Fatalf("control %v", f.Control)
	}
	th := TransportHeader(f.UserData[0])
	if !th.FIR() || !th.FIN() || th.Seq() != 6 {
		t.Fatalf("transport %v", th)
	}
	frag, err := ParseFragment(f.UserData[1:])
	if err != nil {
		t.Fatalf("fragment: %v", err)
	}
	if frag.Function != FuncSelect || frag.Control.Seq() != 7 || !frag.Control.FIR() || !frag.Control.FIN() {
		t.Fatalf("fragment %v %v", frag.Function, frag.Control)
	}
	it := frag.Iter()
	if !it.Next() {
		t.Fatalf("no object: %v", it.Err())
	}
	h := it.Header()
	if h.Group != 12 || h.Variation != 1 || h.Qualifier != QualIndex16Count16 || h.Count != 1 {
		t.Fatalf("header %v", h)
	}
	p := h.Points()
	if !p.Next() || p.Index() != 1 {
		t.Fatalf("point index %d", p.Index())
	}
	c, err := DecodeCROB(p.Value())
	if err != nil {
		t.Fatal(err)
	}
	want := CROB{Code: NewControlCode(OpLatchOn, TCCNul, false), Count: 1, OnTime: 100, OffTime: 100}
	if c != want {
		t.Fatalf("CROB %+v, want %+v", c, want)
	}
	if p.Next() || it.Next() || it.Err() != nil {
		t.Fatalf("extra objects or error: %v", it.Err())
	}
}

func TestCRCDetection(t *testing.T) {
	good := mustHex(t, hexSelect)
	tests := []struct {
		name    string
		flip    int // octet to corrupt, -1 none
		wantErr error
		field   string
	}{
		{"correct CRCs accepted", -1, nil, ""},
		{"header octet", 4, ErrBadCRC, "header CRC"},
		{"header CRC octet", 9, ErrBadCRC, "header CRC"},
		{"first data block", 12, ErrBadCRC, "data block CRC"},
		{"first block CRC", 26, ErrBadCRC, "data block CRC"},
		{"last block", 30, ErrBadCRC, "data block CRC"},
		{"last CRC octet", len(good) - 1, ErrBadCRC, "data block CRC"},
		{"start octet", 1, ErrBadStart, "start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			if tc.flip >= 0 {
				b[tc.flip] ^= 0x01
			}
			var f Frame
			_, err := f.Decode(b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || de.Field != tc.field || de.Layer != "link" {
					t.Fatalf("error %v: want field %q", err, tc.field)
				}
				if !strings.Contains(err.Error(), "offset") || len(de.Snippet) == 0 {
					t.Fatalf("error lacks offset or snippet: %v", err)
				}
			}
		})
	}
}

func TestAppendFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 32, 33, 249, 250} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		c := NewControl(true, true, true, true, LinkConfirmedUserData)
		b, err := AppendFrame(nil, c, 0xFFFF, 1024, data)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(b) != FrameSize(uint8(5+n)) {
			t.Fatalf("n=%d: size %d, want %d", n, len(b), FrameSize(uint8(5+n)))
		}
		var f Frame
		m, err := f.Decode(b)
		if err != nil || m != len(b) {
			t.Fatalf("n=%d: decode %d %v", n, m, err)
		}
		if !bytes.Equal(f.UserData, data) || f.Destination != 0xFFFF || f.Source != 1024 || f.Control != c {
			t.Fatalf("n=%d: round trip mismatch %+v", n, f.LinkHeader)
		}
	}
	if _, err := AppendFrame(nil, 0, 0, 0, make([]byte, 251)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("251 octets: err = %v", err)
	}
	if b := mustHex(t, hexColdRestart); true {
		out, _ := AppendFrame(nil, Control(b[3]), 10, 1, b[10:13])
		if !bytes.Equal(out, b) {
			t.Fatalf("encode real frame:\n got %x\nwant %x", out, b)
		}
	}
}

func TestControlBits(t *testing.T) {
	tests := []struct {
		c    Control
		name string
	}{
		{0xC4, "DIR|PRM|UNCONFIRMED_USER_DATA"},
		{0x44, "PRM|UNCONFIRMED_USER_DATA"},
		{0xF3, "DIR|PRM|FCB|FCV|CONFIRMED_USER_DATA"},
		{0x00, "ACK"},
		{0x0B, "LINK_STATUS"},
		{0x1B, "DFC|LINK_STATUS"},
		{0xC9, "DIR|PRM|REQUEST_LINK_STATUS"},
	}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.name {
			t.Errorf("%#02x: %q, want %q", uint8(tc.c), got, tc.name)
		}
	}
	if c := NewControl(false, false, false, true, LinkStatus); !c.DFC() || c.FCV() || c != 0x1B {
		t.Errorf("secondary DFC control = %#02x", uint8(c))
	}
}

func TestReassembler(t *testing.T) {
	seg := func(fir, fin bool, seq uint8, payload string) []byte {
		return append([]byte{byte(NewTransportHeader(fir, fin, seq))}, payload...)
	}
	type step struct {
		seg  []byte
		want string // fragment expected, "" none
		err  error
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"single", []step{{seg(true, true, 5, "abc"), "abc", nil}}},
		{"three in order with wrap", []step{
			{seg(true, false, 62, "a"), "", nil},
			{seg(false, false, 63, "b"), "", nil},
			{seg(false, true, 0, "c"), "abc", nil}}},
		{"gap resets", []step{
			{seg(true, false, 1, "a"), "", nil},
			{seg(false, true, 3, "c"), "", ErrOutOfSequence},
			{seg(false, true, 4, "d"), "", ErrNoFirst}}},
		{"FIR restarts", []step{
			{seg(true, false, 1, "a"), "", nil},
			{seg(true, true, 9, "z"), "z", nil}}},
		{"no FIR while idle", []step{{seg(false, true, 0, "x"), "", ErrNoFirst}}},
		{"duplicate segment", []step{
			{seg(true, false, 1, "a"), "", nil},
			{seg(false, false, 1, "a"), "", ErrOutOfSequence}}},
		{"too large", []step{
			{seg(true, false, 0, strings.Repeat("x", 6)), "", nil},
			{seg(false, true, 1, strings.Repeat("x", 5)), "", ErrTooLarge}}},
		{"empty", []step{{nil, "", ErrTruncated}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReassembler(10)
			if cap(r.buf) != 10 {
				t.Fatalf("bound %d", cap(r.buf))
			}
			for i, s := range tc.steps {
				got, err := r.Push(s.seg)
				if !errors.Is(err, s.err) || string(got) != s.want {
					t.Fatalf("step %d: got %q %v, want %q %v", i, got, err, s.want, s.err)
				}
			}
		})
	}
}

func TestAppendAPDUSegments(t *testing.T) {
	apdu := make([]byte, 600)
	for i := range apdu {
		apdu[i] = byte(i)
	}
	b, next := AppendAPDU(nil, NewControl(false, true, false, false, LinkUnconfirmedUserData), 1, 10, 62, apdu)
	if next != 1 {
		t.Fatalf("next seq %d, want 1", next)
	}
	fr := NewFramer(0)
	r := NewReassembler(1000)
	var got []byte
	frames := 0
	fr.Write(b)
	for {
		f, err := fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f == nil {
			break
		}
		frames++
		out, err := r.Push(f.UserData)
		if err != nil {
			t.Fatal(err)
		}
		if out != nil {
			got = bytes.Clone(out)
		}
	}
	if frames != 3 || !bytes.Equal(got, apdu) {
		t.Fatalf("frames %d, fragment equal %v", frames, bytes.Equal(got, apdu))
	}
}

func TestObjectIter(t *testing.T) {
	tests := []struct {
		name    string
		fc      FunctionCode
		objects string
		want    []string // header strings
		points  []uint32 // indexes of all points
		err     error
	}{
		{"class poll 0x06", FuncRead, "3c02063c03063c04063c0106", []string{"g60v2 q=0x06 all", "g60v3 q=0x06 all", "g60v4 q=0x06 all", "g60v1 q=0x06 all"}, nil, nil},
		{"read range 0x00", FuncRead, "0100000003", []string{"g1v0 q=0x00 [0..3]"}, nil, nil},
		{"read range 0x01", FuncRead, "1e0001feff0001", []string{"g30v0 q=0x01 [65534..256]"}, nil, ErrBadRange},
		{"read range 0x01 ok", FuncRead, "1e00010a000b00", []string{"g30v0 q=0x01 [10..11]"}, nil, nil},
		{"event count 0x07", FuncRead, "02000705", []string{"g2v0 q=0x07 count=5"}, nil, nil},
		{"event count 0x08", FuncRead, "0200080001", []string{"g2v0 q=0x08 count=256"}, nil, nil},
		{"packed g1v1", FuncResponse, "010100020a05ff", []string{"g1v1 q=0x00 [2..10]"}, []uint32{2, 3, 4, 5, 6, 7, 8, 9, 10}, nil},
		{"g2v2 0x17", FuncResponse, "0202170203810000000000000301000000000000", []string{"g2v2 q=0x17 count=2"}, []uint32{3, 3}, nil},
		{"g32v1 0x28", FuncResponse, "20012801000700010a000000", []string{"g32v1 q=0x28 count=1"}, []uint32{7}, nil},
		{"g50v1 0x07 write", FuncWrite, "32010701ebe45a87ff00", []string{"g50v1 q=0x07 count=1"}, []uint32{0}, nil},
		{"g80v1 write", FuncWrite, "500100070700", []string{"g80v1 q=0x00 [7..7]"}, []uint32{7}, nil},
		{"free format 0x5b", FuncResponse, "78015b020300aabbcc0100dd", []string{"g120v1 q=0x5b count=2"}, []uint32{0, 1}, nil},
		{"unknown object", FuncResponse, "c8010000000102", nil, nil, ErrUnknownObject},
		{"bad qualifier", FuncResponse, "0102ff", nil, nil, ErrBadQualifier},
		{"reserved range code", FuncRead, "01000a", nil, nil, ErrBadQualifier},
		{"index prefix on start-stop", FuncResponse, "011210", nil, nil, ErrBadQualifier},
		{"truncated header", FuncRead, "0102", nil, nil, ErrTruncated},
		{"truncated range", FuncRead, "010001", nil, nil, ErrTruncated},
		{"truncated data", FuncResponse, "1e010700ff", nil, nil, ErrTruncated},
		{"huge count bounded", FuncResponse, "1e0109ffffffff0000", nil, nil, ErrTruncated},
		{"all with data", FuncResponse, "1e0106", nil, nil, ErrBadQualifier},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := NewObjectIter(mustHex(t, tc.objects), tc.fc, 2)
			var got []string
			var idx []uint32
			for it.Next() {
				h := it.Header()
				got = append(got, h.String())
				for p := h.Points(); p.Next(); {
					idx = append(idx, p.Index())
				}
			}
			if !errors.Is(it.Err(), tc.err) {
				t.Fatalf("err = %v, want %v", it.Err(), tc.err)
			}
			if tc.err == nil && (strings.Join(got, ",") != strings.Join(tc.want, ",") || !equalU32(idx, tc.points)) {
				t.Fatalf("headers %q points %v, want %q %v", got, idx, tc.want, tc.points)
			}
		})
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPackedBits(t *testing.T) {
	vals := []uint8{1, 0, 1, 1, 0, 0, 0, 1, 1}
	b := AppendPacked(nil, 1, vals)
	if !bytes.Equal(b, []byte{0x8D, 0x01}) {
		t.Fatalf("packed %x", b)
	}
	obj := AppendObjectHeader(nil, ObjectHeader{Group: 1, Variation: 1, Qualifier: QualStartStop8, Start: 0, Stop: 8})
	obj = append(obj, b...)
	it := NewObjectIter(obj, FuncResponse, 0)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	var got []uint8
	h := it.Header()
	for p := h.Points(); p.Next(); {
		m, err := DecodeMeasurement(h.Group, h.Variation, p.Value(), p.Bits())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, uint8(m.Value))
	}
	if !bytes.Equal(got, vals) {
		t.Fatalf("got %v, want %v", got, vals)
	}
	if d := AppendPacked(nil, 2, []uint8{1, 2, 3, 0, 2}); !bytes.Equal(d, []byte{0x39, 0x02}) {
		t.Fatalf("double-bit packed %x", d)
	}
}

func TestMeasurementRoundTrip(t *testing.T) {
	ts := TimeOf(time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC))
	tests := []struct {
		g, v uint8
		m    Measurement
	}{
		{1, 2, Measurement{Value: 1, Flags: FlagOnline | FlagState}},
		{2, 1, Measurement{Value: 0, Flags: FlagOnline}},
		{2, 2, Measurement{Value: 1, Flags: FlagOnline | FlagState, Time: ts, HasTime: true}},
		{10, 2, Measurement{Value: 1, Flags: FlagOnline | FlagState}},
		{20, 1, Measurement{Value: 4000000000, Flags: FlagOnline}},
		{20, 6, Measurement{Value: 65535, Flags: FlagOnline}},
		{22, 5, Measurement{Value: 12, Flags: FlagOnline, Time: ts, HasTime: true}},
		{30, 1, Measurement{Value: -123456, Flags: FlagOnline}},
		{30, 2, Measurement{Value: -300, Flags: FlagOnline}},
		{30, 3, Measurement{Value: 7, Flags: FlagOnline}},
		{30, 5, Measurement{Value: 1.5, Flags: FlagOnline}},
		{30, 6, Measurement{Value: 1e100, Flags: FlagOnline}},
		{32, 3, Measurement{Value: 42, Flags: FlagOnline, Time: ts, HasTime: true}},
		{32, 8, Measurement{Value: -0.25, Flags: FlagOnline, Time: ts, HasTime: true}},
		{40, 1, Measurement{Value: 99, Flags: FlagOnline}},
		{40, 3, Measurement{Value: 2.5, Flags: FlagOnline}},
	}
	for _, tc := range tests {
		b, err := AppendMeasurement(nil, tc.g, tc.v, tc.m)
		if err != nil {
			t.Fatalf("g%dv%d: %v", tc.g, tc.v, err)
		}
		size, _, _ := ObjectSize(tc.g, tc.v)
		if len(b) != size {
			t.Fatalf("g%dv%d: %d octets, want %d", tc.g, tc.v, len(b), size)
		}
		got, err := DecodeMeasurement(tc.g, tc.v, b, 0)
		if err != nil || got != tc.m {
			t.Fatalf("g%dv%d: got %+v %v, want %+v", tc.g, tc.v, got, err, tc.m)
		}
	}
	// int16 clamps and flags over-range
	b, _ := AppendMeasurement(nil, 30, 2, Measurement{Value: 70000, Flags: FlagOnline})
	if m, _ := DecodeMeasurement(30, 2, b, 0); m.Value != 32767 || m.Flags&FlagOverRange == 0 {
		t.Fatalf("clamp: %+v", m)
	}
	if _, err := AppendMeasurement(nil, 1, 1, Measurement{}); !errors.Is(err, ErrBadObject) {
		t.Fatalf("packed via AppendMeasurement: %v", err)
	}
	if _, err := DecodeMeasurement(30, 1, []byte{1, 2}, 0); !errors.Is(err, ErrBadObject) {
		t.Fatalf("short analog: %v", err)
	}
}

func TestControlObjects(t *testing.T) {
	c := CROB{Code: NewControlCode(OpPulseOn, TCCClose, false), Count: 1, OnTime: 1000, OffTime: 500, Status: StatusNoSelect}
	b := AppendCROB(nil, c)
	if got, err := DecodeCROB(b); err != nil || got != c || len(b) != CROBSize {
		t.Fatalf("CROB %+v %v", got, err)
	}
	if c.Code.Op() != OpPulseOn || c.Code.TCC() != TCCClose || c.Code.Clear() {
		t.Fatalf("control code %#x", c.Code)
	}
	for v := uint8(1); v <= 4; v++ {
		a := AnalogOutput{Value: 1234, Status: StatusSuccess}
		b, err := AppendAnalogOutput(nil, v, a)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeAnalogOutput(v, b); err != nil || got != a {
			t.Fatalf("g41v%d: %+v %v", v, got, err)
		}
	}
	if d, err := DecodeDelay(1, AppendDelay(nil, 1, 1500*time.Millisecond)); err != nil || d != 2*time.Second {
		t.Fatalf("delay %v %v", d, err)
	}
	if d, _ := DecodeDelay(2, AppendDelay(nil, 2, 250*time.Millisecond)); d != 250*time.Millisecond {
		t.Fatalf("fine delay %v", d)
	}
	raw := mustHex(t, "ebe45a87ff00")
	tm, err := DecodeTime(raw)
	if err != nil || !bytes.Equal(AppendTime(nil, tm), raw) {
		t.Fatalf("time %v %v", tm, err)
	}
	if tm.Std().Year() != 2004 {
		t.Fatalf("time %v", tm.Std())
	}
}

func TestFragmentHeaders(t *testing.T) {
	b := AppendResponseHeader(nil, NewAppControl(true, true, true, false, 3), FuncResponse, IINDeviceRestart|IINNeedTime|IINObjectUnknown)
	if !bytes.Equal(b, []byte{0xE3, 0x81, 0x90, 0x02}) {
		t.Fatalf("response header %x", b)
	}
	f, err := ParseFragment(b)
	if err != nil || f.IIN != IINDeviceRestart|IINNeedTime|IINObjectUnknown || !f.Control.CON() {
		t.Fatalf("parse %+v %v", f, err)
	}
	if s := f.IIN.String(); s != "DEVICE_RESTART|NEED_TIME|OBJECT_UNKNOWN" {
		t.Fatalf("IIN string %q", s)
	}
	f, err = ParseFragment([]byte{0xC0, 0x99})
	if err != nil || f.Function.Known() || f.Function.String() != "UNKNOWN(153)" {
		t.Fatalf("unknown function must decode: %+v %v", f, err)
	}
	if _, err := ParseFragment([]byte{0xC0, 0x81, 0x00}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short response: %v", err)
	}
}

func TestFramer(t *testing.T) {
	a, b, c := mustHex(t, hexSelect), mustHex(t, hexColdRestart), mustHex(t, hexWriteTime)
	bad := bytes.Clone(mustHex(t, hexSelectResp))
	bad[20] ^= 0xFF // data CRC failure
	badHdr := bytes.Clone(b)
	badHdr[8] ^= 0xFF
	tests := []struct {
		name          string
		stream        []byte
		chunk         int
		frames        int
		garbage, crcs uint64
		headers       uint64
	}{
		{"byte by byte", cat(a, b, c), 1, 3, 0, 0, 0},
		{"pipelined", cat(a, b, c), 1000, 3, 0, 0, 0},
		{"garbage prefix", cat([]byte("\x00\x05\x05xyz"), a), 7, 1, 6, 0, 0},
		{"bad CRC frame skipped", cat(a, bad, b), 13, 2, 0, 1, 0},
		{"bad header resyncs", cat(badHdr, c), 5, 1, uint64(len(badHdr)) - 1, 0, 1},
		{"fake start in garbage", cat([]byte{0x05, 0x64, 0x01, 0x02}, make([]byte, 10), a), 3, 1, 13, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFramer(MaxFrameSize)
			got := 0
			for p := tc.stream; len(p) > 0; {
				n := f.Write(p[:min(tc.chunk, len(p))])
				p = p[n:]
				for {
					fr, err := f.Next()
					if fr == nil && err == nil {
						break
					}
					if fr != nil {
						got++
					}
				}
			}
			st := f.Stats()
			if got != tc.frames || st.GarbageBytes != tc.garbage || st.BadCRC != tc.crcs || st.BadHeaders != tc.headers {
				t.Fatalf("frames %d stats %+v, want %d frames garbage %d crc %d hdr %d", got, st, tc.frames, tc.garbage, tc.crcs, tc.headers)
			}
		})
	}
}

func TestFramerCapped(t *testing.T) {
	f := NewFramer(MaxFrameSize)
	junk := bytes.Repeat([]byte{0x05, 0x64, 0xFF}, 1000)
	total := 0
	for p := junk; len(p) > 0; {
		n := f.Write(p)
		if n == 0 {
			t.Fatal("framer stopped accepting bytes")
		}
		total += n
		p = p[n:]
		for {
			fr, err := f.Next()
			if fr == nil && err == nil {
				break
			}
		}
		if f.Buffered() > MaxFrameSize {
			t.Fatalf("buffered %d", f.Buffered())
		}
	}
	if len(f.buf) != MaxFrameSize || total != len(junk) {
		t.Fatalf("buffer grew to %d", len(f.buf))
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeDatagram(t *testing.T) {
	a, b := mustHex(t, hexUnsolNull), mustHex(t, hexDisableUnsol)
	var f Frame
	var fcs []uint8
	err := DecodeDatagram(cat(a, b), &f, func(f *Frame) error {
		fcs = append(fcs, f.UserData[2])
		return nil
	})
	if err != nil || !bytes.Equal(fcs, []byte{130, 21}) {
		t.Fatalf("fcs %v err %v", fcs, err)
	}
	if err := DecodeDatagram(cat(a, []byte{1, 2}), &f, func(*Frame) error { return nil }); !errors.Is(err, ErrTrailing) {
		t.Fatalf("trailing: %v", err)
	}
}
