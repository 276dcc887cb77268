package dnp3

import (
	"encoding/binary"
	"fmt"
)

// Link-layer sizes.
const (
	// HeaderSize is the link header on the wire: start (2), length,
	// control, destination (2), source (2), CRC (2).
	HeaderSize = 10
	// MaxUserData is the most user data one link frame carries.
	MaxUserData = 250
	// MaxFrameSize is the largest link frame on the wire.
	MaxFrameSize = HeaderSize + MaxUserData + 2*((MaxUserData+15)/16)
	// minLength is the smallest valid length field (control + addresses).
	minLength = 5
	blockSize = 16
)

// Broadcast and reserved link addresses.
const (
	AddrBroadcastOptional uint16 = 0xFFFD // broadcast, application confirm optional
	AddrBroadcastConfirm  uint16 = 0xFFFE // broadcast, application confirm required
	AddrBroadcastNoAck    uint16 = 0xFFFF // broadcast, no application confirm
	AddrSelf              uint16 = 0xFFFC // self address
)

// IsBroadcast reports whether addr is one of the three broadcast addresses.
func IsBroadcast(addr uint16) bool { return addr >= AddrBroadcastOptional }

// LinkFunc is the link function code in the low four bits of the control
// octet. Its meaning depends on PRM: primary and secondary codes overlap.
type LinkFunc uint8

// Primary (PRM=1) link function codes.
const (
	LinkResetLinkStates     LinkFunc = 0
	LinkTestLinkStates      LinkFunc = 2
	LinkConfirmedUserData   LinkFunc = 3
	LinkUnconfirmedUserData LinkFunc = 4
	LinkRequestLinkStatus   LinkFunc = 9
)

// Secondary (PRM=0) link function codes.
const (
	LinkAck          LinkFunc = 0
	LinkNack         LinkFunc = 1
	LinkStatus       LinkFunc = 11
	LinkNotSupported LinkFunc = 15
)

// Control is the link control octet.
type Control uint8

// Control bits.
const (
	CtlDIR Control = 0x80 // from the master
	CtlPRM Control = 0x40 // from the primary (initiating) station
	CtlFCB Control = 0x20 // frame count bit (primary)
	CtlFCV Control = 0x10 // frame count valid (primary)
	CtlDFC Control = 0x10 // data flow control (secondary)
)

// NewControl builds a control octet. For a secondary frame (prm false) pass
// false for fcb and the DFC bit as fcv: both share bit 4.
func NewControl(dir, prm, fcb, fcv bool, fn LinkFunc) Control {
	c := Control(fn & 0x0F)
	if dir {
		c |= CtlDIR
	}
	if prm {
		c |= CtlPRM
	}
	if fcb {
		c |= CtlFCB
	}
	if fcv {
		c |= CtlFCV
	}
	return c
}

// Dir reports the DIR bit (set on frames from the master).
func (c Control) Dir() bool { return c&CtlDIR != 0 }

// Prm reports the PRM bit (set on frames from the initiating station).
func (c Control) Prm() bool { return c&CtlPRM != 0 }

// FCB reports the frame count bit (primary frames).
func (c Control) FCB() bool { return c&CtlFCB != 0 }

// FCV reports the frame count valid bit (primary frames).
func (c Control) FCV() bool { return c.Prm() && c&CtlFCV != 0 }

// DFC reports the data flow control bit (secondary frames).
func (c Control) DFC() bool { return !c.Prm() && c&CtlDFC != 0 }

// Func returns the link function code.
func (c Control) Func() LinkFunc { return LinkFunc(c & 0x0F) }

// String names the control octet, e.g. "DIR|PRM UNCONFIRMED_USER_DATA".
func (c Control) String() string {
	s := ""
	for _, b := range []struct {
		bit  Control
		name string
	}{{CtlDIR, "DIR|"}, {CtlPRM, "PRM|"}, {CtlFCB, "FCB|"}} {
		if c&b.bit != 0 {
			s += b.name
		}
	}
	if c&CtlFCV != 0 {
		if c.Prm() {
			s += "FCV|"
		} else {
			s += "DFC|"
		}
	}
	return s + c.FuncName()
}

// FuncName names the link function, taking PRM into account.
func (c Control) FuncName() string {
	fn := c.Func()
	if c.Prm() {
		switch fn {
		case LinkResetLinkStates:
			return "RESET_LINK_STATES"
		case LinkTestLinkStates:
			return "TEST_LINK_STATES"
		case LinkConfirmedUserData:
			return "CONFIRMED_USER_DATA"
		case LinkUnconfirmedUserData:
			return "UNCONFIRMED_USER_DATA"
		case LinkRequestLinkStatus:
			return "REQUEST_LINK_STATUS"
		}
	} else {
		switch fn {
		case LinkAck:
			return "ACK"
		case LinkNack:
			return "NACK"
		case LinkStatus:
			return "LINK_STATUS"
		case LinkNotSupported:
			return "NOT_SUPPORTED"
		}
	}
	return fmt.Sprintf("LINK_FUNC_%d", fn)
}

// HasUserData reports whether the link function carries user data.
func (c Control) HasUserData() bool {
	return c.Prm() && (c.Func() == LinkConfirmedUserData || c.Func() == LinkUnconfirmedUserData)
}

// LinkHeader is the decoded link header.
type LinkHeader struct {
	Length      uint8 // octets from control to the end of user data, CRCs excluded
	Control     Control
	Destination uint16
	Source      uint16
}

// FrameSize returns how many octets a frame with the given length field
// occupies on the wire, or 0 if the length is invalid.
func FrameSize(length uint8) int {
	if length < minLength {
		return 0
	}
	user := int(length) - minLength
	return HeaderSize + user + 2*((user+blockSize-1)/blockSize)
}

// ParseLinkHeader decodes and checks the first HeaderSize octets of b.
func ParseLinkHeader(b []byte) (LinkHeader, error) {
	if len(b) < HeaderSize {
		return LinkHeader{}, decodeErr("link", "header", b, 0, ErrTruncated)
	}
	if b[0] != 0x05 || b[1] != 0x64 {
		return LinkHeader{}, decodeErr("link", "start", b, 0, ErrBadStart)
	}
	if b[2] < minLength {
		return LinkHeader{}, decodeErr("link", "length", b, 2, ErrBadLength)
	}
	if !crcOK(b[:8], b[8:10]) {
		return LinkHeader{}, decodeErr("link", "header CRC", b, 8, ErrBadCRC)
	}
	return LinkHeader{
		Length:      b[2],
		Control:     Control(b[3]),
		Destination: binary.LittleEndian.Uint16(b[4:]),
		Source:      binary.LittleEndian.Uint16(b[6:]),
	}, nil
}

// Frame is a decoded link frame. UserData aliases the frame's own buffer,
// so a Frame can be reused without allocating; copy what you keep.
type Frame struct {
	LinkHeader
	UserData []byte
	buf      [MaxUserData]byte
}

// Decode decodes one link frame from the start of b, checking every CRC, and
// returns the number of octets it occupied.
func (f *Frame) Decode(b []byte) (int, error) {
	h, err := ParseLinkHeader(b)
	if err != nil {
		return 0, err
	}
	size := FrameSize(h.Length)
	if len(b) < size {
		return 0, decodeErr("link", "user data", b, HeaderSize, ErrTruncated)
	}
	f.LinkHeader = h
	n := 0
	for off := HeaderSize; off < size; {
		blk := min(blockSize, size-off-2)
		if !crcOK(b[off:off+blk], b[off+blk:off+blk+2]) {
			f.UserData = nil
			return 0, decodeErr("link", "data block CRC", b, off+blk, ErrBadCRC)
		}
		n += copy(f.buf[n:], b[off:off+blk])
		off += blk + 2
	}
	f.UserData = f.buf[:n]
	return size, nil
}

// AppendFrame appends a link frame carrying userData (at most MaxUserData
// octets) to dst, with the length field and all CRCs computed.
func AppendFrame(dst []byte, c Control, dest, src uint16, userData []byte) ([]byte, error) {
	if len(userData) > MaxUserData {
		return dst, fmt.Errorf("dnp3 link: %d octets of user data, at most %d fit: %w", len(userData), MaxUserData, ErrTooLarge)
	}
	start := len(dst)
	dst = append(dst, 0x05, 0x64, byte(minLength+len(userData)), byte(c),
		byte(dest), byte(dest>>8), byte(src), byte(src>>8))
	dst = appendCRC(dst, start)
	for len(userData) > 0 {
		blk := min(blockSize, len(userData))
		at := len(dst)
		dst = append(dst, userData[:blk]...)
		dst = appendCRC(dst, at)
		userData = userData[blk:]
	}
	return dst, nil
}
