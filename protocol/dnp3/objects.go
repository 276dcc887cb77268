package dnp3

import (
	"encoding/binary"
	"fmt"
)

// Qualifier is the object header's qualifier octet: an object prefix code
// (bits 4-6) and a range specifier code (bits 0-3).
type Qualifier uint8

// Common qualifiers.
const (
	QualStartStop8     Qualifier = 0x00 // 1-octet start and stop indexes
	QualStartStop16    Qualifier = 0x01 // 2-octet start and stop indexes
	QualStartStop32    Qualifier = 0x02
	QualAll            Qualifier = 0x06 // all objects, no range field
	QualCount8         Qualifier = 0x07 // 1-octet count
	QualCount16        Qualifier = 0x08 // 2-octet count
	QualCount32        Qualifier = 0x09
	QualIndex8Count8   Qualifier = 0x17 // 1-octet count, 1-octet index before each object
	QualIndex16Count16 Qualifier = 0x28 // 2-octet count, 2-octet index before each object
	QualIndex32Count32 Qualifier = 0x39
	QualFreeFormat16   Qualifier = 0x5B // 1-octet count, 2-octet size before each object
)

// PrefixCode returns the object prefix code (0 none, 1-3 index of 1/2/4
// octets, 4-6 object size of 1/2/4 octets).
func (q Qualifier) PrefixCode() uint8 { return uint8(q>>4) & 7 }

// RangeCode returns the range specifier code.
func (q Qualifier) RangeCode() uint8 { return uint8(q) & 0x0F }

// IsStartStop reports whether the range field holds start and stop indexes.
func (q Qualifier) IsStartStop() bool { return q.RangeCode() <= 5 }

// IsCount reports whether the range field holds a count of objects.
func (q Qualifier) IsCount() bool {
	rc := q.RangeCode()
	return rc >= 7 && rc <= 9 || rc == 0x0B
}

// prefixLen returns the length of the per-object prefix.
func (q Qualifier) prefixLen() int {
	switch q.PrefixCode() {
	case 1, 4:
		return 1
	case 2, 5:
		return 2
	case 3, 6:
		return 4
	}
	return 0
}

// rangeLen returns the length of the range field, or -1 if the code is reserved.
func (q Qualifier) rangeLen() int {
	switch q.RangeCode() {
	case 0, 3:
		return 2
	case 1, 4:
		return 4
	case 2, 5:
		return 8
	case 6:
		return 0
	case 7, 0x0B:
		return 1
	case 8:
		return 2
	case 9:
		return 4
	}
	return -1
}

// ObjectSize returns how an object of group g, variation v is sized: size
// octets each, or packed at bits per object (bits > 0). ok is false for
// objects this package cannot size (they can still be walked when the
// qualifier gives a size prefix). Variation 0 ("any") and group 60 have no
// data: size 0.
func ObjectSize(g, v uint8) (size, bits int, ok bool) {
	if v == 0 {
		return 0, 0, true
	}
	switch g {
	case 1, 10, 80:
		if v == 1 {
			return 0, 1, true
		}
		if v == 2 && g != 80 {
			return 1, 0, true
		}
	case 3:
		if v == 1 {
			return 0, 2, true
		}
		if v == 2 {
			return 1, 0, true
		}
	case 12:
		if v == 3 {
			return 0, 1, true
		}
		if v <= 2 {
			return 11, 0, true
		}
	case 60:
		if v <= 4 {
			return 0, 0, true
		}
	case 110, 111, 112, 113:
		return int(v), 0, true
	}
	if v < 16 && fixedSizes[g][v] > 0 {
		return int(fixedSizes[g][v]) - 1, 0, true
	}
	return 0, 0, false
}

// fixedSizes holds size+1 of fixed-size objects by group and variation
// (0: unknown); an array, not a map, to keep the decode path fast.
var fixedSizes = func() *[256][16]uint8 {
	m := new([256][16]uint8)
	add := func(g uint8, sizes ...int) {
		for i, s := range sizes {
			m[g][i+1] = uint8(s + 1)
		}
	}
	add(2, 1, 7, 3)                               // binary input events
	add(4, 1, 7, 3)                               // double-bit events
	add(11, 1, 7)                                 // binary output events
	add(13, 1, 7)                                 // binary output command events
	add(20, 5, 3, 5, 3, 4, 2, 4, 2)               // counters
	add(21, 5, 3, 5, 3, 11, 9, 11, 9, 4, 2, 4, 2) // frozen counters
	add(22, 5, 3, 5, 3, 11, 9, 11, 9)             // counter events
	add(23, 5, 3, 5, 3, 11, 9, 11, 9)             // frozen counter events
	add(30, 5, 3, 4, 2, 5, 9)                     // analog inputs
	add(31, 5, 3, 11, 9, 4, 2, 5, 9)              // frozen analog inputs
	add(32, 5, 3, 11, 9, 5, 9, 11, 15)            // analog input events
	add(33, 5, 3, 11, 9, 5, 9, 11, 15)            // frozen analog events
	add(34, 2, 4, 4)                              // analog deadbands
	add(40, 5, 3, 5, 9)                           // analog output status
	add(41, 5, 3, 5, 9)                           // analog output blocks
	add(42, 5, 3, 11, 9, 5, 9, 11, 15)            // analog output events
	add(43, 5, 3, 11, 9, 5, 9, 11, 15)            // analog output command events
	add(50, 6, 10, 6, 11)                         // time and date
	add(51, 6, 6)                                 // common time of occurrence
	add(52, 2, 2)                                 // time delays
	return m
}()

// ObjectHeader is one decoded object header and the objects that follow it.
type ObjectHeader struct {
	Group     uint8
	Variation uint8
	Qualifier Qualifier
	Start     uint32 // first index, for start-stop ranges
	Stop      uint32 // last index, for start-stop ranges
	Count     uint32 // number of objects; 0 for QualAll
	Offset    int    // offset of the header from the start of the fragment
	Data      []byte // the objects, prefixes included; nil when none follow
	size      int
	bits      int
}

// HasData reports whether objects follow the header.
func (h *ObjectHeader) HasData() bool { return h.Data != nil }

// String formats the header like "g1v2 q=0x00 [0..7]".
func (h *ObjectHeader) String() string {
	switch {
	case h.Qualifier.RangeCode() == 6:
		return fmt.Sprintf("g%dv%d q=0x%02x all", h.Group, h.Variation, uint8(h.Qualifier))
	case h.Qualifier.IsStartStop():
		return fmt.Sprintf("g%dv%d q=0x%02x [%d..%d]", h.Group, h.Variation, uint8(h.Qualifier), h.Start, h.Stop)
	}
	return fmt.Sprintf("g%dv%d q=0x%02x count=%d", h.Group, h.Variation, uint8(h.Qualifier), h.Count)
}

// ObjectIter walks the object headers of a fragment without allocating.
//
//	it := frag.Iter()
//	for it.Next() { h := it.Header(); ... }
//	if err := it.Err(); err != nil { ... }
type ObjectIter struct {
	b           []byte
	off         int
	base        int
	headersOnly bool
	hdr         ObjectHeader
	err         error
}

// NewObjectIter returns an iterator over objects, the object part of a
// fragment with function fc; base is the objects' offset in the fragment,
// used in error offsets.
func NewObjectIter(objects []byte, fc FunctionCode, base int) ObjectIter {
	return ObjectIter{b: objects, base: base, headersOnly: fc.HeadersOnly()}
}

// Header returns the current header. After Next returns false with an
// error, it holds what was decoded of the failing header.
func (it *ObjectIter) Header() *ObjectHeader { return &it.hdr }

// Err returns the error that stopped the iteration, if any.
func (it *ObjectIter) Err() error { return it.err }

// fail records an error at offset off of the object area and returns false.
func (it *ObjectIter) fail(field string, off int, err error) bool {
	e := decodeErr("object", field, it.b, off, err).(*DecodeError)
	e.Offset += it.base
	it.err = e
	return false
}

// Next decodes the next object header and checks that its objects fit.
func (it *ObjectIter) Next() bool {
	if it.err != nil || it.off >= len(it.b) {
		return false
	}
	b, o := it.b, it.off
	if len(b)-o < 3 {
		return it.fail("object header", o, ErrTruncated)
	}
	h := ObjectHeader{Group: b[o], Variation: b[o+1], Qualifier: Qualifier(b[o+2]), Offset: it.base + o}
	it.hdr = h
	p, ok := it.parseRange(&it.hdr, o+3)
	if !ok {
		return false
	}
	end, ok := it.parseData(&it.hdr, p)
	if !ok {
		return false
	}
	it.off = end
	return true
}

// parseRange decodes the qualifier's range field at p into h.
func (it *ObjectIter) parseRange(h *ObjectHeader, p int) (int, bool) {
	q := h.Qualifier
	rl := q.rangeLen()
	pc := q.PrefixCode()
	if q&0x80 != 0 || rl < 0 || pc == 7 ||
		(pc != 0 && !q.IsCount()) || (pc == 0 && q.RangeCode() == 0x0B) {
		return 0, it.fail("qualifier", p-1, ErrBadQualifier)
	}
	if len(it.b)-p < rl {
		return 0, it.fail("range", p, ErrTruncated)
	}
	r := it.b[p : p+rl]
	switch rl {
	case 2:
		if q.IsStartStop() {
			h.Start, h.Stop = uint32(r[0]), uint32(r[1])
		} else {
			h.Count = uint32(binary.LittleEndian.Uint16(r))
		}
	case 1:
		h.Count = uint32(r[0])
	case 4:
		if q.IsStartStop() {
			h.Start, h.Stop = uint32(binary.LittleEndian.Uint16(r)), uint32(binary.LittleEndian.Uint16(r[2:]))
		} else {
			h.Count = binary.LittleEndian.Uint32(r)
		}
	case 8:
		h.Start, h.Stop = binary.LittleEndian.Uint32(r), binary.LittleEndian.Uint32(r[4:])
	}
	if q.IsStartStop() {
		if h.Stop < h.Start || h.Stop-h.Start == 0xFFFFFFFF {
			return 0, it.fail("range", p, ErrBadRange)
		}
		h.Count = h.Stop - h.Start + 1
	}
	return p + rl, true
}

// parseData finds the end of the objects after the header at p.
func (it *ObjectIter) parseData(h *ObjectHeader, p int) (int, bool) {
	size, bits, known := ObjectSize(h.Group, h.Variation)
	h.size, h.bits = size, bits
	q := h.Qualifier
	pc, pl := q.PrefixCode(), q.prefixLen()
	rest := uint64(len(it.b) - p)
	switch {
	case it.headersOnly || (known && size == 0 && bits == 0 && pc < 4):
		return p, true
	case pc >= 4: // size-prefixed objects: walk them
		end := p
		for range h.Count {
			if len(it.b)-end < pl {
				return 0, it.fail("object size prefix", end, ErrTruncated)
			}
			n := uint64(readUint(it.b[end:], pl))
			if uint64(len(it.b)-end-pl) < n {
				return 0, it.fail("object", end, ErrTruncated)
			}
			end += pl + int(n)
		}
		h.Data = it.b[p:end]
		return end, true
	case !known:
		return 0, it.fail(fmt.Sprintf("g%dv%d", h.Group, h.Variation), h.Offset-it.base, ErrUnknownObject)
	case q.RangeCode() == 6:
		return 0, it.fail("qualifier", h.Offset-it.base+2, ErrBadQualifier)
	case bits > 0 && pc != 0:
		return 0, it.fail("qualifier", h.Offset-it.base+2, ErrBadQualifier)
	}
	var n uint64
	if bits > 0 {
		n = (uint64(h.Count)*uint64(bits) + 7) / 8
	} else {
		n = uint64(h.Count) * uint64(size+pl)
	}
	if n > rest {
		return 0, it.fail("objects", p, ErrTruncated)
	}
	h.Data = it.b[p : p+int(n)]
	return p + int(n), true
}

// readUint reads an n-octet (1, 2 or 4) little-endian integer.
func readUint(b []byte, n int) uint32 {
	switch n {
	case 1:
		return uint32(b[0])
	case 2:
		return uint32(binary.LittleEndian.Uint16(b))
	}
	return binary.LittleEndian.Uint32(b)
}

// PointIter walks the objects of one header: index and object octets (or
// packed bits). It allocates nothing.
type PointIter struct {
	h     ObjectHeader
	i     uint32
	off   int
	index uint32
	value []byte
	bits  uint8
}

// Points returns an iterator over the header's objects. A header without
// data (a READ range) yields nothing: its range is in Start and Stop, which
// may span four billion indexes, so callers intersect it with what they have.
func (h *ObjectHeader) Points() PointIter { return PointIter{h: *h} }

// Next advances to the next object.
func (p *PointIter) Next() bool {
	h := &p.h
	if p.i >= h.Count {
		return false
	}
	if h.Data == nil {
		return false
	}
	pc, pl := h.Qualifier.PrefixCode(), h.Qualifier.prefixLen()
	switch {
	case h.bits > 0:
		bit := uint64(p.i) * uint64(h.bits)
		p.bits = h.Data[bit/8] >> (bit % 8) & (1<<h.bits - 1)
		p.value = nil
	case pc >= 4:
		n := int(readUint(h.Data[p.off:], pl))
		p.value = h.Data[p.off+pl : p.off+pl+n]
		p.off += pl + n
	default:
		p.value = h.Data[p.off+pl : p.off+pl+h.size]
		if pc != 0 {
			p.index = readUint(h.Data[p.off:], pl)
		}
		p.off += pl + h.size
	}
	if pc == 0 || pc >= 4 {
		p.index = h.Start + p.i
	}
	p.i++
	return true
}

// Index returns the current object's point index (start+position for
// ranges, the prefix for index-prefixed objects, the position otherwise).
func (p *PointIter) Index() uint32 { return p.index }

// Value returns the current object's octets (nil for packed bits).
func (p *PointIter) Value() []byte { return p.value }

// Bits returns the current packed value (1 bit for g1v1, g10v1, g12v3 and
// g80v1; 2 bits for g3v1).
func (p *PointIter) Bits() uint8 { return p.bits }

// AppendObjectHeader appends group, variation, qualifier and the range field
// (Start/Stop for start-stop qualifiers, Count for count qualifiers). The
// caller appends the objects, with their prefixes, after it.
func AppendObjectHeader(dst []byte, h ObjectHeader) []byte {
	q := h.Qualifier
	dst = append(dst, h.Group, h.Variation, byte(q))
	switch q.rangeLen() {
	case 2:
		if q.IsStartStop() {
			return append(dst, byte(h.Start), byte(h.Stop))
		}
		return binary.LittleEndian.AppendUint16(dst, uint16(h.Count))
	case 1:
		return append(dst, byte(h.Count))
	case 4:
		if q.IsStartStop() {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(h.Start))
			return binary.LittleEndian.AppendUint16(dst, uint16(h.Stop))
		}
		return binary.LittleEndian.AppendUint32(dst, h.Count)
	case 8:
		dst = binary.LittleEndian.AppendUint32(dst, h.Start)
		return binary.LittleEndian.AppendUint32(dst, h.Stop)
	}
	return dst
}

// AppendIndex appends an index prefix of the width qualifier q uses.
func AppendIndex(dst []byte, q Qualifier, index uint32) []byte {
	switch q.prefixLen() {
	case 1:
		return append(dst, byte(index))
	case 2:
		return binary.LittleEndian.AppendUint16(dst, uint16(index))
	case 4:
		return binary.LittleEndian.AppendUint32(dst, index)
	}
	return dst
}
