package master

import (
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
)

// Point is one object of a response, decoded by its group: Measurement for
// binaries, counters and analogs; CROB for g12; Output for g41; Time for
// g50/g51; Delay for g52. Raw holds the object octets (nil for packed bits).
type Point struct {
	Group, Variation uint8
	Index            uint32
	Measurement      dnp3.Measurement
	CROB             dnp3.CROB
	Output           dnp3.AnalogOutput
	Time             dnp3.Time
	Delay            time.Duration
	Raw              []byte
}

// Response is a decoded response: all fragments of a solicited response, or
// one unsolicited fragment.
type Response struct {
	Function  dnp3.FunctionCode
	Control   dnp3.AppControl // of the last fragment
	IIN       dnp3.IIN        // all fragments' bits together
	Fragments int
	Headers   []dnp3.ObjectHeader // copies, Data cleared
	Points    []Point
	Err       error // the first object decoding error, if any
}

// add decodes one fragment into r.
func (r *Response) add(f dnp3.Fragment) {
	r.Function, r.Control = f.Function, f.Control
	r.IIN |= f.IIN
	r.Fragments++
	it := f.Iter()
	for it.Next() {
		h := *it.Header()
		for p := h.Points(); p.Next(); {
			r.Points = append(r.Points, decodePoint(&h, &p))
		}
		h.Data = nil
		r.Headers = append(r.Headers, h)
	}
	if it.Err() != nil && r.Err == nil {
		r.Err = it.Err()
	}
}

// decodePoint decodes the current object of p.
func decodePoint(h *dnp3.ObjectHeader, p *dnp3.PointIter) Point {
	pt := Point{Group: h.Group, Variation: h.Variation, Index: p.Index()}
	if v := p.Value(); v != nil {
		pt.Raw = append([]byte(nil), v...)
	}
	switch h.Group {
	case 12:
		pt.CROB, _ = dnp3.DecodeCROB(pt.Raw)
	case 41:
		pt.Output, _ = dnp3.DecodeAnalogOutput(h.Variation, pt.Raw)
	case 50, 51:
		pt.Time, _ = dnp3.DecodeTime(pt.Raw)
	case 52:
		pt.Delay, _ = dnp3.DecodeDelay(h.Variation, pt.Raw)
	default:
		pt.Measurement, _ = dnp3.DecodeMeasurement(h.Group, h.Variation, pt.Raw, p.Bits())
	}
	return pt
}

// Check returns an *IINError when the response reports a failed request.
func (r *Response) Check() error {
	if r.IIN&iinFailures != 0 {
		return &IINError{IIN: r.IIN}
	}
	return nil
}

// Find returns the points of group g (any variation), in order.
func (r *Response) Find(g uint8) []Point {
	var out []Point
	for _, p := range r.Points {
		if p.Group == g {
			out = append(out, p)
		}
	}
	return out
}
