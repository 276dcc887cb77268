package dnp3

import "fmt"

// Transport-layer sizes.
const (
	// MaxSegmentPayload is the most application data one transport segment
	// carries (link user data less the transport octet).
	MaxSegmentPayload = MaxUserData - 1
	// DefaultMaxFragment is the reassembly bound used when none is given.
	DefaultMaxFragment = 2048
	// MaxFragmentLimit is the largest reassembly bound a Reassembler accepts.
	MaxFragmentLimit = 65536
)

// TransportHeader is the transport octet: FIN, FIR and a 6-bit sequence.
type TransportHeader uint8

// Transport header bits.
const (
	TransFIN TransportHeader = 0x80
	TransFIR TransportHeader = 0x40
)

// NewTransportHeader builds a transport octet.
func NewTransportHeader(fir, fin bool, seq uint8) TransportHeader {
	h := TransportHeader(seq & 0x3F)
	if fir {
		h |= TransFIR
	}
	if fin {
		h |= TransFIN
	}
	return h
}

// FIR reports the first-segment bit.
func (h TransportHeader) FIR() bool { return h&TransFIR != 0 }

// FIN reports the final-segment bit.
func (h TransportHeader) FIN() bool { return h&TransFIN != 0 }

// Seq returns the 6-bit sequence number.
func (h TransportHeader) Seq() uint8 { return uint8(h & 0x3F) }

// String formats the octet like "FIR|FIN seq=3".
func (h TransportHeader) String() string {
	s := ""
	if h.FIR() {
		s += "FIR|"
	}
	if h.FIN() {
		s += "FIN|"
	}
	return fmt.Sprintf("%sseq=%d", s, h.Seq())
}

// ReassemblyStats counts what a Reassembler did.
type ReassemblyStats struct {
	Segments  uint64 // segments pushed
	Fragments uint64 // complete fragments returned
	Discarded uint64 // segments thrown away (gap, no FIR, too large, empty)
	Aborted   uint64 // partial fragments abandoned
}

// Reassembler joins transport segments into application fragments. Its
// buffer is allocated once, at the bound given to NewReassembler.
type Reassembler struct {
	buf    []byte
	active bool
	next   uint8
	stats  ReassemblyStats
}

// NewReassembler returns a reassembler that refuses fragments larger than
// maxFragment octets (DefaultMaxFragment if <= 0, at most MaxFragmentLimit).
func NewReassembler(maxFragment int) *Reassembler {
	if maxFragment <= 0 {
		maxFragment = DefaultMaxFragment
	}
	maxFragment = min(maxFragment, MaxFragmentLimit)
	return &Reassembler{buf: make([]byte, 0, maxFragment)}
}

// Stats returns the counters.
func (r *Reassembler) Stats() ReassemblyStats { return r.stats }

// Reset drops any partial fragment.
func (r *Reassembler) Reset() {
	if r.active {
		r.stats.Aborted++
	}
	r.active = false
	r.buf = r.buf[:0]
}

// Push adds one segment (link user data: transport octet then payload). It
// returns the complete fragment when the segment carries FIN; the fragment
// aliases the reassembler's buffer and is valid until the next Push. A
// segment with FIR always starts a new fragment; a segment out of sequence
// or without FIR while idle is discarded and resets the reassembler, and the
// error says why.
func (r *Reassembler) Push(seg []byte) ([]byte, error) {
	r.stats.Segments++
	if len(seg) == 0 {
		r.stats.Discarded++
		return nil, decodeErr("transport", "header", seg, 0, ErrTruncated)
	}
	h := TransportHeader(seg[0])
	switch {
	case h.FIR():
		r.Reset()
		r.active = true
	case !r.active:
		r.stats.Discarded++
		return nil, decodeErr("transport", "FIR", seg, 0, ErrNoFirst)
	case h.Seq() != r.next:
		r.stats.Discarded++
		r.Reset()
		return nil, decodeErr("transport", "sequence", seg, 0, ErrOutOfSequence)
	}
	if len(r.buf)+len(seg)-1 > cap(r.buf) {
		r.stats.Discarded++
		r.Reset()
		return nil, decodeErr("transport", "fragment size", seg, 0, ErrTooLarge)
	}
	r.buf = append(r.buf, seg[1:]...)
	r.next = (h.Seq() + 1) & 0x3F
	if !h.FIN() {
		return nil, nil
	}
	r.active = false
	r.stats.Fragments++
	out := r.buf
	r.buf = r.buf[:0]
	return out, nil
}

// AppendAPDU splits an application fragment into transport segments, each in
// its own link frame with control c from src to dest, and appends the frames
// to dst. seq is the first transport sequence number; the next one to use is
// returned.
func AppendAPDU(dst []byte, c Control, dest, src uint16, seq uint8, apdu []byte) ([]byte, uint8) {
	var seg [MaxUserData]byte
	first := true
	for {
		n := min(len(apdu), MaxSegmentPayload)
		last := n == len(apdu)
		seg[0] = byte(NewTransportHeader(first, last, seq))
		copy(seg[1:], apdu[:n])
		dst, _ = AppendFrame(dst, c, dest, src, seg[:1+n]) // cannot exceed MaxUserData
		seq = (seq + 1) & 0x3F
		apdu = apdu[n:]
		first = false
		if last {
			return dst, seq
		}
	}
}
