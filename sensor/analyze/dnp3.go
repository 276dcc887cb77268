package analyze

import (
	"net/netip"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// appPending is a DNP3 request awaiting its response, by application
// sequence number.
type appPending struct {
	used   bool
	master uint16
	frame  uint64
	ts     time.Time
}

// linkPair is the state of one pair of link addresses: a transport
// reassembler per direction and the pending requests.
type linkPair struct {
	lo, hi  uint16
	re      [2]*dnp3.Reassembler // 0: from lo to hi, 1: from hi to lo
	pending [16]appPending
}

// dnp3Conn is the DNP3 state of one connection (or UDP endpoint pair).
type dnp3Conn struct {
	framers [2]*dnp3.Framer
	pairs   []*linkPair
	frame   dnp3.Frame
}

func newDNP3Conn() *dnp3Conn { return &dnp3Conn{} }

func (d *dnp3Conn) gap(side int) {
	if fr := d.framers[side]; fr != nil {
		fr.Reset()
	}
	for _, p := range d.pairs {
		for _, re := range p.re {
			if re != nil {
				re.Reset()
			}
		}
	}
}

// pair returns the state of the link pair of src and dst addresses, nil when
// the connection already follows MaxLinkPairs pairs.
func (d *dnp3Conn) pair(a *Analyzer, x, y uint16) *linkPair {
	lo, hi := min(x, y), max(x, y)
	for _, p := range d.pairs {
		if p.lo == lo && p.hi == hi {
			return p
		}
	}
	if len(d.pairs) >= a.cfg.MaxLinkPairs {
		a.pairsDenied.Add(1)
		return nil
	}
	p := &linkPair{lo: lo, hi: hi}
	d.pairs = append(d.pairs, p)
	return p
}

// data frames the bytes of one direction of a TCP connection.
func (d *dnp3Conn) data(a *Analyzer, tr Transport, side int, src, dst netip.AddrPort, b []byte, ts time.Time, frame uint64) {
	fr := d.framers[side]
	if fr == nil {
		fr = dnp3.NewFramer(a.cfg.MaxStreamBytes)
		d.framers[side] = fr
	}
	garbageBefore := fr.Stats().GarbageBytes
	var anom Anomaly
	var detail string
	for len(b) > 0 {
		n := fr.Write(b)
		b = b[n:]
		for {
			f, err := fr.Next()
			if err != nil {
				c := AnomInvalidLength
				if errorIs(err, dnp3.ErrBadCRC) {
					c = AnomBadCRC
				}
				anom |= c
				if detail == "" {
					detail = err.Error()
				}
				continue
			}
			if f == nil {
				break
			}
			d.linkFrame(a, tr, src, dst, f, ts, frame)
		}
		if n == 0 && len(b) > 0 { // cannot happen: Next leaves room for a frame
			fr.Reset()
			anom |= AnomReassemblyOverflow
		}
	}
	if g := fr.Stats().GarbageBytes - garbageBefore; g > 0 {
		anom |= AnomNonProtocol
		a.garbage.Add(g)
		if detail == "" {
			detail = "bytes that do not start a DNP3 link frame (05 64)"
		}
		d.anomaly(a, tr, src, dst, anom, detail, int(g), ts, frame)
		return
	}
	if anom != 0 {
		d.anomaly(a, tr, src, dst, anom, detail, 0, ts, frame)
	}
}

// datagram decodes the link frames of one UDP payload.
func (d *dnp3Conn) datagram(a *Analyzer, src, dst netip.AddrPort, b []byte, ts time.Time, frame uint64) {
	err := dnp3.DecodeDatagram(b, &d.frame, func(f *dnp3.Frame) error {
		d.linkFrame(a, UDP, src, dst, f, ts, frame)
		return nil
	})
	if err == nil {
		return
	}
	c := AnomInvalidLength
	switch {
	case errorIs(err, dnp3.ErrBadCRC):
		c = AnomBadCRC
	case errorIs(err, dnp3.ErrBadStart), errorIs(err, dnp3.ErrTrailing):
		c = AnomNonProtocol
	}
	d.anomaly(a, UDP, src, dst, c, err.Error(), 0, ts, frame)
}

// anomaly emits an anomaly-only record.
func (d *dnp3Conn) anomaly(a *Analyzer, tr Transport, src, dst netip.AddrPort, c Anomaly, detail string, dropped int, ts time.Time, frame uint64) {
	r := a.begin(src, dst, tr, ProtoDNP3, Request, ts, frame)
	r.Anomalies, r.Detail, r.Dropped = c, detail, dropped
	a.emit()
}

// setLink fills the link fields of a record.
func setLink(r *Record, f *dnp3.Frame) {
	r.DNP3.LinkSrc, r.DNP3.LinkDst, r.DNP3.LinkControl = f.Source, f.Destination, uint8(f.Control)
}

// linkFrame handles one good link frame.
func (d *dnp3Conn) linkFrame(a *Analyzer, tr Transport, src, dst netip.AddrPort, f *dnp3.Frame, ts time.Time, frame uint64) {
	a.dnp3Frames.Add(1)
	if !f.Control.HasUserData() {
		dir := Response
		if f.Control.Dir() {
			dir = Request
		}
		r := a.begin(src, dst, tr, ProtoDNP3, dir, ts, frame)
		r.Valid, r.Len = true, dnp3.FrameSize(f.Length)
		setLink(r, f)
		a.emit()
		return
	}
	p := d.pair(a, f.Source, f.Destination)
	if p == nil {
		return
	}
	side := 0
	if f.Source > f.Destination {
		side = 1
	}
	re := p.re[side]
	if re == nil {
		re = dnp3.NewReassembler(a.cfg.MaxFragment)
		p.re[side] = re
	}
	frag, err := re.Push(f.UserData)
	if err != nil {
		c := AnomTransport
		if errorIs(err, dnp3.ErrTooLarge) {
			c = AnomReassemblyOverflow
		}
		r := a.begin(src, dst, tr, ProtoDNP3, Request, ts, frame)
		if !f.Control.Dir() {
			r.Dir = Response
		}
		setLink(r, f)
		r.Anomalies, r.Detail = c, err.Error()
		a.emit()
		return
	}
	if frag != nil {
		d.fragment(a, tr, src, dst, f, p, frag, ts, frame)
	}
}

// fragment decodes one application fragment and emits its record.
func (d *dnp3Conn) fragment(a *Analyzer, tr Transport, src, dst netip.AddrPort, f *dnp3.Frame, p *linkPair, frag []byte, ts time.Time, frame uint64) {
	a.dnp3Fragments.Add(1)
	fr, err := dnp3.ParseFragment(frag)
	dir := Request
	if fr.Function.IsResponse() {
		dir = Response
	}
	r := a.begin(src, dst, tr, ProtoDNP3, dir, ts, frame)
	setLink(r, f)
	r.Len = len(frag)
	if err != nil {
		r.Anomalies, r.Detail = AnomInvalidLength, err.Error()
		if !f.Control.Dir() {
			r.Dir = Response
		}
		a.emit()
		return
	}
	r.Valid = true
	df := &r.DNP3
	df.HasApp, df.AppControl, df.AppFunction, df.IIN = true, uint8(fr.Control), uint8(fr.Function), uint16(fr.IIN)
	if !fr.Function.Known() {
		r.Anomalies |= AnomUnknownFunction
	}
	d.objects(a, r, &fr)
	seq := fr.Control.Seq()
	switch {
	case fr.Function == dnp3.FuncResponse:
		pe := &p.pending[seq]
		if pe.used && pe.master == f.Destination {
			r.Matched, r.ReqFrame, r.Latency = true, pe.frame, ts.Sub(pe.ts)
			pe.used = false
		} else {
			r.Anomalies |= AnomUnmatched
			a.unmatched.Add(1)
		}
	case dir == Request && fr.Function != dnp3.FuncConfirm:
		p.pending[seq] = appPending{used: true, master: f.Source, frame: frame, ts: ts}
	}
	a.emit()
}

// objects walks the object headers into the record.
func (d *dnp3Conn) objects(a *Analyzer, r *Record, fr *dnp3.Fragment) {
	df := &r.DNP3
	it := fr.Iter()
	for it.Next() {
		df.NObjectHeaders++
		if df.NObjectHeaders > a.cfg.MaxObjects {
			r.Anomalies |= AnomTooManyObjects
			if r.Detail == "" {
				r.Detail = "more object headers than the configured maximum"
			}
			return
		}
		if df.NObjects == MaxObjects {
			df.ObjectsTruncated = true
			continue
		}
		h := it.Header()
		o := &df.Objects[df.NObjects]
		df.NObjects++
		*o = DNP3Object{Group: h.Group, Variation: h.Variation, Qualifier: uint8(h.Qualifier), Start: h.Start, Stop: h.Stop, Count: h.Count, HasData: h.HasData()}
		switch pc := h.Qualifier.PrefixCode(); {
		case h.HasData() && (pc >= 1 && pc <= 3 || pc == 0 && h.Qualifier.IsStartStop()):
			pts := h.Points()
			for pts.Next() {
				if o.NIndexes == MaxIndexes {
					o.IndexesTruncated = true
					break
				}
				o.Indexes[o.NIndexes] = pts.Index()
				o.NIndexes++
			}
		case !h.HasData() && h.Qualifier.IsStartStop():
			for i := h.Start; ; i++ {
				if o.NIndexes == MaxIndexes {
					o.IndexesTruncated = i <= h.Stop
					break
				}
				o.Indexes[o.NIndexes] = i
				o.NIndexes++
				if i == h.Stop {
					break
				}
			}
		}
	}
	if err := it.Err(); err != nil {
		if !errorIs(err, dnp3.ErrUnknownObject) {
			r.Anomalies |= AnomInvalidLength
		}
		if r.Detail == "" {
			r.Detail = err.Error()
		}
	}
}
