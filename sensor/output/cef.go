package output

import (
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/otrange/otrange/sensor/alert"
)

// CEF header constants: who produced the event.
const (
	CEFVendor  = "otrange"
	CEFProduct = "sensor"
)

// Labels of the custom extension fields, written next to each value so that a
// SIEM shows what the field holds.
const (
	LabelTechniques = "ATT&CK for ICS techniques"
	LabelRuleID     = "Rule ID"
	LabelFunction   = "Function"
	LabelFlowID     = "Flow ID"
	LabelFrames     = "Frames"
	LabelUnit       = "Unit ID"
	LabelAddress    = "Address"
	LabelValue      = "Value"
	LabelSrcIPv6    = "Source IPv6 Address"
	LabelDstIPv6    = "Destination IPv6 Address"
)

// CEFSeverity maps an alert severity onto CEF's 0–10 scale: low 3, medium 5,
// high 8, critical 10. An unknown severity is 5, so that it is neither lost
// in the noise nor paged as an emergency.
func CEFSeverity(s alert.Severity) int {
	switch s {
	case alert.Low:
		return 3
	case alert.Medium:
		return 5
	case alert.High:
		return 8
	case alert.Critical:
		return 10
	}
	return 5
}

// AppendCEF appends the CEF record of a to dst and returns the extended
// slice. The record is one line: no byte of it is '\n' or '\r', whatever the
// alert holds. version is the header's device version ("" writes "0").
//
// Header fields escape '\' and '|' with a backslash; extension values escape
// '\' and '=' with a backslash and write newline and carriage return as the
// two characters \n and \r. Header fields use the same \n and \r escapes,
// which the CEF specification leaves undefined, so that the record stays on
// one line. The message (msg) is the last extension, so that a record cut to
// fit a syslog datagram loses the end of the prose, not the structured fields.
func AppendCEF(dst []byte, a *alert.Alert, version string) []byte {
	if version == "" {
		version = "0"
	}
	dst = append(dst, "CEF:0|"...)
	dst = append(dst, CEFVendor...)
	dst = append(dst, '|')
	dst = append(dst, CEFProduct...)
	dst = append(dst, '|')
	dst = appendHeader(dst, version)
	dst = append(dst, '|')
	dst = appendHeader(dst, a.RuleID)
	dst = append(dst, '|')
	dst = appendHeader(dst, a.RuleName)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(CEFSeverity(a.Severity)), 10)
	dst = append(dst, '|')

	e := ext{dst: dst}
	if !a.Time.IsZero() {
		e.int("rt", a.Time.UnixMilli())
	}
	e.str("externalId", a.ID)
	e.str("dvchost", a.Sensor)
	e.addr("src", "shost", "c6a2", LabelSrcIPv6, a.SrcAddr)
	if a.SrcPort != 0 {
		e.int("spt", int64(a.SrcPort))
	}
	e.addr("dst", "dhost", "c6a3", LabelDstIPv6, a.DstAddr)
	if a.DstPort != 0 {
		e.int("dpt", int64(a.DstPort))
	}
	e.str("app", a.Protocol)
	e.str("act", "alert")
	if len(a.Techniques) > 0 {
		e.key("cs1")
		for i, t := range a.Techniques {
			if i > 0 {
				e.dst = append(e.dst, ',')
			}
			e.dst = appendExtValue(e.dst, t)
		}
		e.str("cs1Label", LabelTechniques)
	}
	if a.RuleID != "" {
		e.str("cs2", a.RuleID)
		e.str("cs2Label", LabelRuleID)
	}
	if a.Function != "" {
		e.str("cs3", a.Function)
		e.str("cs3Label", LabelFunction)
	}
	if a.Evidence.FlowID != "" {
		e.str("cs4", a.Evidence.FlowID)
		e.str("cs4Label", LabelFlowID)
	}
	if len(a.Evidence.Frames) > 0 {
		e.key("cs5")
		for i, f := range a.Evidence.Frames {
			if i > 0 {
				e.dst = append(e.dst, ',')
			}
			e.dst = strconv.AppendUint(e.dst, f, 10)
		}
		e.str("cs5Label", LabelFrames)
	}
	e.num("cn1", "cn1Label", LabelUnit, a.Unit)
	e.num("cn2", "cn2Label", LabelAddress, a.Address)
	e.num("cn3", "cn3Label", LabelValue, a.Value)
	e.str("msg", a.Message)
	return e.dst
}

// ext appends "key=value" pairs separated by single spaces.
type ext struct {
	dst []byte
	n   int
}

func (e *ext) key(k string) {
	if e.n > 0 {
		e.dst = append(e.dst, ' ')
	}
	e.n++
	e.dst = append(e.dst, k...)
	e.dst = append(e.dst, '=')
}

// str writes k=v unless v is empty.
func (e *ext) str(k, v string) {
	if v == "" {
		return
	}
	e.key(k)
	e.dst = appendExtValue(e.dst, v)
}

func (e *ext) int(k string, v int64) {
	e.key(k)
	e.dst = strconv.AppendInt(e.dst, v, 10)
}

func (e *ext) num(k, labelKey, label string, v *int) {
	if v == nil {
		return
	}
	e.int(k, int64(*v))
	e.str(labelKey, label)
}

// addr writes an IPv4 address under v4Key, an IPv6 address under v6Key with
// its label (CEF's src and dst hold IPv4 only), and anything else, such as a
// host name, under hostKey.
func (e *ext) addr(v4Key, hostKey, v6Key, v6Label, s string) {
	if s == "" {
		return
	}
	ip, err := netip.ParseAddr(s)
	var buf [64]byte
	canonical := err == nil && string(ip.AppendTo(buf[:0])) == s
	switch {
	case canonical && ip.Is4():
		e.str(v4Key, s)
	case canonical && ip.Is6() && !ip.Is4In6():
		e.str(v6Key, s)
		e.str(v6Key+"Label", v6Label)
	default:
		e.str(hostKey, s)
	}
}

// appendHeader escapes a header field: \ → \\, | → \|, newline → \n,
// carriage return → \r.
func appendHeader(dst []byte, s string) []byte { return appendEscaped(dst, s, '|') }

// appendExtValue escapes an extension value: \ → \\, = → \=, newline → \n,
// carriage return → \r.
func appendExtValue(dst []byte, s string) []byte { return appendEscaped(dst, s, '=') }

// appendEscaped appends s with backslash, sep, newline and carriage return
// escaped, copying the runs between them in one piece.
func appendEscaped(dst []byte, s string, sep byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' && c != sep && c != '\n' && c != '\r' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', c)
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// trimEscaped cuts b to at most n bytes without splitting a UTF-8 sequence or
// a backslash escape, so that a truncated record still parses.
func trimEscaped(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	// Back off a partial UTF-8 sequence at the end.
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if p := len(b) - i; utf8.RuneStart(b[p]) {
			if !utf8.FullRune(b[p:]) {
				b = b[:p]
			}
			break
		}
	}
	// An odd run of trailing backslashes is half an escape.
	k := 0
	for k < len(b) && b[len(b)-1-k] == '\\' {
		k++
	}
	if k%2 == 1 {
		b = b[:len(b)-1]
	}
	return b
}
