package analyze

import (
	"fmt"
	"strings"
)

// Format renders a record on one line, for golden files, logs and
// debugging: frame, flow, protocol, direction, then the protocol fields that
// are set, the match and the anomalies.
func Format(r *Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s %s %s", r.Frame, r.Flow.ID(), r.Protocol, r.Dir, r.Time.UTC().Format("15:04:05.000000"))
	if r.Valid {
		switch r.Protocol {
		case ProtoModbus:
			formatModbus(&b, &r.Modbus)
		case ProtoDNP3:
			formatDNP3(&b, &r.DNP3)
		}
		fmt.Fprintf(&b, " len=%d", r.Len)
	} else if r.Protocol == ProtoDNP3 && (r.DNP3.LinkSrc != 0 || r.DNP3.LinkDst != 0) {
		fmt.Fprintf(&b, " link=%d>%d", r.DNP3.LinkSrc, r.DNP3.LinkDst)
	}
	if r.Matched {
		fmt.Fprintf(&b, " req=%d latency=%s", r.ReqFrame, r.Latency)
	}
	if r.Anomalies != 0 {
		fmt.Fprintf(&b, " anomalies=%s", r.Anomalies)
		if r.Dropped > 0 {
			fmt.Fprintf(&b, " dropped=%d", r.Dropped)
		}
		if r.Detail != "" {
			fmt.Fprintf(&b, " detail=%q", r.Detail)
		}
	}
	return b.String()
}

func formatModbus(b *strings.Builder, m *ModbusFields) {
	fmt.Fprintf(b, " tid=%d unit=%d fc=%d", m.TransactionID, m.UnitID, m.Func())
	if m.IsException() {
		fmt.Fprintf(b, " exception=%d", m.Exception)
	}
	if m.HasSubFunction {
		fmt.Fprintf(b, " sub=%d", m.SubFunction)
	}
	if m.Address != 0 || m.Quantity != 0 {
		fmt.Fprintf(b, " addr=%d qty=%d", m.Address, m.Quantity)
	}
	if m.WriteQuantity != 0 {
		fmt.Fprintf(b, " waddr=%d wqty=%d", m.WriteAddress, m.WriteQuantity)
	}
	if m.NValues > 0 {
		fmt.Fprintf(b, " values=%v", m.ValueList())
		if m.ValuesTruncated {
			b.WriteString("+")
		}
	}
	if m.MEIType != 0 {
		fmt.Fprintf(b, " mei=%d code=%d", m.MEIType, m.ReadDeviceIDCode)
	}
	for _, o := range m.DeviceID[:m.NDeviceID] {
		fmt.Fprintf(b, " obj%d=%q", o.ID, o.Value)
	}
}

func formatDNP3(b *strings.Builder, d *DNP3Fields) {
	fmt.Fprintf(b, " link=%d>%d ctl=0x%02x", d.LinkSrc, d.LinkDst, d.LinkControl)
	if !d.HasApp {
		return
	}
	fmt.Fprintf(b, " fc=%d seq=%d", d.AppFunction, d.Seq())
	for _, f := range []struct {
		on   bool
		name string
	}{{d.FIR(), "FIR"}, {d.FIN(), "FIN"}, {d.CON(), "CON"}, {d.UNS(), "UNS"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	if d.AppFunction >= 129 && d.AppFunction <= 131 {
		fmt.Fprintf(b, " iin=0x%04x", d.IIN)
	}
	for _, o := range d.ObjectList() {
		fmt.Fprintf(b, " [%s", o)
		if o.NIndexes > 0 {
			fmt.Fprintf(b, " idx=%v", o.IndexList())
			if o.IndexesTruncated {
				b.WriteString("+")
			}
		}
		b.WriteString("]")
	}
	if d.ObjectsTruncated {
		fmt.Fprintf(b, " objects=%d", d.NObjectHeaders)
	}
}
