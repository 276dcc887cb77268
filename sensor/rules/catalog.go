package rules

import (
	"fmt"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
)

// Rule ids.
const (
	ModbusReadUnauthorized  = "modbus.read.unauthorized"
	ModbusWriteUnauthorized = "modbus.write.unauthorized"
	ModbusMiscUnauthorized  = "modbus.misc.unauthorized"
	ModbusFunctionScan      = "modbus.scan.function_code"
	ModbusPointsScan        = "modbus.scan.points"
	ModbusListenOnly        = "modbus.diag.listen_only"
	ModbusRestartComms      = "modbus.diag.restart_comms"
	ModbusClearCounters     = "modbus.diag.clear_counters"
	ModbusDeviceID          = "modbus.devid.read"
	ModbusServerID          = "modbus.server_id.report"
	ModbusIllegalSize       = "modbus.size.illegal"
	ModbusIncorrectLength   = "modbus.length.incorrect"
	ModbusNonModbus         = "modbus.port.non_modbus"
	ModbusBusyStorm         = "modbus.exception.busy"
	ModbusAckStorm          = "modbus.exception.ack"

	DNP3ReadUnauthorized  = "dnp3.read.unauthorized"
	DNP3WriteUnauthorized = "dnp3.write.unauthorized"
	DNP3MiscUnauthorized  = "dnp3.misc.unauthorized"
	DNP3ColdRestart       = "dnp3.restart.cold"
	DNP3WarmRestart       = "dnp3.restart.warm"
	DNP3StopApp           = "dnp3.app.stop"
	DNP3DisableUnsol      = "dnp3.unsolicited.disable"
	DNP3UnsolStorm        = "dnp3.unsolicited.storm"
	DNP3Broadcast         = "dnp3.broadcast"
	DNP3FileOperation     = "dnp3.file.operation"
	DNP3TimeChange        = "dnp3.time.change"
	DNP3NonDNP3           = "dnp3.port.non_dnp3"
	DNP3Scan              = "dnp3.scan.objects"

	NetScan = "net.scan"

	AnomalyCRC        = "anomaly.crc"
	AnomalyLength     = "anomaly.length"
	AnomalyFunction   = "anomaly.function"
	AnomalyObjects    = "anomaly.objects"
	AnomalyReassembly = "anomaly.reassembly"

	PolicyFunction   = "policy.function.denied"
	PolicyWriteRange = "policy.write.range"
	PolicyWriteValue = "policy.write.value"
)

// v19 maps the ATT&CK for ICS ids that the April 2026 (v19) revision
// replaced with sub-techniques of new techniques, as confirmed on
// attack.mitre.org (T1691 Block Operational Technology Message, T1692
// Unauthorized Message, both created 20 April 2026). Other ids are kept as
// established: no change to them could be confirmed.
var v19 = map[string]string{
	"T0803": "T1691.001", // Block Command Message → Block OT Message: Command Message
	"T0804": "T1691.002", // Block Reporting Message → Block OT Message: Reporting Message
	"T0855": "T1692.001", // Unauthorized Command Message → Unauthorized Message: Command Message
	"T0856": "T1692.002", // Spoof Reporting Message → Unauthorized Message: Reporting Message
}

// techniques lists ids, each followed by its v19 replacement if any.
func techniques(ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, id)
		if n, ok := v19[id]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Thresholds used by several rules.
var (
	oncePerMinute = &Threshold{Count: 1, Window: time.Minute, Track: ByPair}
	storm5        = &Threshold{Count: 5, Window: time.Minute, Track: ByPair}
)

func modbusReq(r *analyze.Record) bool {
	return r.Valid && r.Protocol == analyze.ProtoModbus && r.Dir == analyze.Request
}

func modbusResp(r *analyze.Record) bool {
	return r.Valid && r.Protocol == analyze.ProtoModbus && r.Dir == analyze.Response
}

func dnp3Req(r *analyze.Record) bool {
	return r.Valid && r.Protocol == analyze.ProtoDNP3 && r.Dir == analyze.Request && r.DNP3.HasApp
}

func dnp3Resp(r *analyze.Record) bool {
	return r.Valid && r.Protocol == analyze.ProtoDNP3 && r.Dir == analyze.Response && r.DNP3.HasApp
}

func modbusRead(fc uint8) bool {
	switch fc {
	case 1, 2, 3, 4, 20, 24:
		return true
	}
	return false
}

func modbusWrite(fc uint8) bool {
	switch fc {
	case 5, 6, 15, 16, 21, 22, 23:
		return true
	}
	return false
}

// modbusMisc: a Modbus function that neither reads nor writes data.
func modbusMisc(fc uint8) bool { return !modbusRead(fc) && !modbusWrite(fc) }

func dnp3Write(fc uint8) bool { return fc >= 2 && fc <= 6 }

// dnp3Misc: a DNP3 request function other than CONFIRM, READ, a write or a
// control.
func dnp3Misc(fc uint8) bool {
	return fc != uint8(dnp3.FuncConfirm) && fc != uint8(dnp3.FuncRead) && !dnp3Write(fc)
}

// isException: a Modbus exception response's function code.
func isException(fc uint8) bool { return fc&0x80 != 0 }

// allowedExplicitly reports a request whose function the policy lists for
// its pair: routine engineering (identification reads from the engineering
// workstation) that the owner declared is not reported.
func (e *Engine) allowedExplicitly(r *analyze.Record, proto string, fc uint8) bool {
	q := e.policy.PairFor(proto, r.Flow.Src.Addr(), r.Flow.Dst.Addr())
	return q != nil && q.Functions != nil && q.Allows(fc)
}

// unauthorized reports a request from a host the policy does not list.
func (e *Engine) unauthorized(r *analyze.Record) bool {
	return e.policy.HasMasters() && !e.policy.IsMaster(r.Flow.Src.Addr())
}

func mbName(fc uint8) string { return modbus.FunctionCode(fc).String() }

func dnName(fc uint8) string { return dnp3.FunctionCode(fc).String() }

// modbusDiag returns a matcher for a FC 8 sub-function request.
func modbusDiag(sub uint16, what string) matcher {
	return matcher{onRequests(codes(uint8(modbus.FuncDiagnostics))), func(_ *Engine, r *analyze.Record) (string, bool) {
		m := &r.Modbus
		if !modbusReq(r) || m.Function != 8 || !m.HasSubFunction || m.SubFunction != sub {
			return "", false
		}
		return fmt.Sprintf("%s asked unit %d at %s to %s (Modbus diagnostics sub-function %d)",
			r.Flow.Src.Addr(), m.UnitID, r.Flow.Dst, what, sub), true
	}}
}

// modbusExceptions returns a matcher for exception responses with code ex.
func modbusExceptions(ex modbus.ExceptionCode, what string) matcher {
	return matcher{onResponses(isException), func(_ *Engine, r *analyze.Record) (string, bool) {
		m := &r.Modbus
		if !modbusResp(r) || !m.IsException() || m.Exception != uint8(ex) {
			return "", false
		}
		return fmt.Sprintf("%s answered %s with repeated %s exceptions (%s): %s",
			r.Flow.Src, r.Flow.Dst.Addr(), ex, mbName(m.Func()), what), true
	}}
}

// dnp3Func returns a matcher for requests with application function fc.
func dnp3Func(fc dnp3.FunctionCode, what string) matcher {
	return matcher{onRequests(codes(uint8(fc))), func(_ *Engine, r *analyze.Record) (string, bool) {
		if !dnp3Req(r) || r.DNP3.AppFunction != uint8(fc) {
			return "", false
		}
		return fmt.Sprintf("%s (link %d) sent %s to outstation %d at %s: %s",
			r.Flow.Src.Addr(), r.DNP3.LinkSrc, fc, r.DNP3.LinkDst, r.Flow.Dst, what), true
	}}
}

// anomaly returns a matcher for records carrying anomaly a.
func anomaly(a analyze.Anomaly, what string) matcher {
	return matcher{onAnomalies, func(_ *Engine, r *analyze.Record) (string, bool) {
		if !r.Anomalies.Has(a) {
			return "", false
		}
		return fmt.Sprintf("%s from %s to %s: %s (%s)", r.Protocol, r.Flow.Src, r.Flow.Dst, what, r.Detail), true
	}}
}

// catalog is every rule, in the order `rules list` prints them.
var catalog = []rule{
	// --- Modbus: Quickdraw equivalents -----------------------------------
	{Info{ID: ModbusReadUnauthorized, Name: "Modbus read from unauthorized host", Severity: alert.Medium,
		Description: "A host that the policy does not list as a master reads coils, inputs, registers, file records or a FIFO.",
		Techniques:  techniques("T0801", "T0861"), Protocol: "modbus", Threshold: oncePerMinute, NeedsPolicy: true,
		Quickdraw: "Modbus TCP - Unauthorized Read Request to a PLC"},
		matcher{onRequests(modbusRead), func(e *Engine, r *analyze.Record) (string, bool) {
			if !modbusReq(r) || !modbusRead(r.Modbus.Function) || !e.unauthorized(r) {
				return "", false
			}
			return fmt.Sprintf("%s sent %s (address %d, quantity %d) to unit %d at %s; it is not an authorized master",
				r.Flow.Src.Addr(), mbName(r.Modbus.Function), r.Modbus.Address, r.Modbus.Quantity, r.Modbus.UnitID, r.Flow.Dst), true
		}}},
	{Info{ID: ModbusWriteUnauthorized, Name: "Modbus write from unauthorized host", Severity: alert.High,
		Description: "A host that the policy does not list as a master writes coils, registers or file records. Every write alerts.",
		Techniques:  techniques("T0836", "T0855"), Protocol: "modbus", NeedsPolicy: true,
		Quickdraw: "Modbus TCP - Unauthorized Write Request to a PLC"},
		matcher{onRequests(modbusWrite), func(e *Engine, r *analyze.Record) (string, bool) {
			m := &r.Modbus
			if !modbusReq(r) || !modbusWrite(m.Function) || !e.unauthorized(r) {
				return "", false
			}
			if m.Function == 6 && m.NValues > 0 {
				return fmt.Sprintf("%s wrote %d to holding register %d of unit %d at %s; it is not an authorized master",
					r.Flow.Src.Addr(), m.Values[0], m.Address, m.UnitID, r.Flow.Dst), true
			}
			return fmt.Sprintf("%s sent %s (address %d, quantity %d) to unit %d at %s; it is not an authorized master",
				r.Flow.Src.Addr(), mbName(m.Function), m.Address, m.Quantity, m.UnitID, r.Flow.Dst), true
		}}},
	{Info{ID: ModbusMiscUnauthorized, Name: "Modbus miscellaneous request from unauthorized host", Severity: alert.Medium,
		Description: "A host that the policy does not list as a master sends a request that neither reads nor writes data (diagnostics, identification, event counters, unknown functions).",
		Techniques:  techniques("T0888", "T0855"), Protocol: "modbus", Threshold: oncePerMinute, NeedsPolicy: true,
		Quickdraw: "Modbus TCP - Unauthorized Miscellaneous Request to a PLC"},
		matcher{onRequests(modbusMisc), func(e *Engine, r *analyze.Record) (string, bool) {
			fc := r.Modbus.Function
			if !modbusReq(r) || modbusRead(fc) || modbusWrite(fc) || !e.unauthorized(r) {
				return "", false
			}
			return fmt.Sprintf("%s sent %s to unit %d at %s; it is not an authorized master",
				r.Flow.Src.Addr(), mbName(fc), r.Modbus.UnitID, r.Flow.Dst), true
		}}},
	{Info{ID: ModbusFunctionScan, Name: "Modbus function code scan", Severity: alert.Medium,
		Description: "A server answers one client with Illegal Function exceptions at least 10 times in a minute: the client is probing which function codes the device supports.",
		Techniques:  techniques("T0888", "T0846"), Protocol: "modbus", Threshold: &Threshold{Count: 10, Window: time.Minute, Track: ByPair},
		Quickdraw: "Modbus TCP - Function Code Scan"},
		modbusExceptions(modbus.ExIllegalFunction, "the client is probing function codes")},
	{Info{ID: ModbusPointsScan, Name: "Modbus points list scan", Severity: alert.Medium,
		Description: "A server answers one client with Illegal Data Address exceptions at least 5 times in a minute: the client is probing which addresses exist.",
		Techniques:  techniques("T0861", "T0846"), Protocol: "modbus", Threshold: storm5,
		Quickdraw: "Modbus TCP - Points List Scan"},
		modbusExceptions(modbus.ExIllegalDataAddress, "the client is probing addresses")},
	{Info{ID: ModbusListenOnly, Name: "Modbus force listen only mode", Severity: alert.High,
		Description: "A Diagnostics (FC 8) Force Listen Only Mode request: the device stops answering until it is restarted.",
		Techniques:  techniques("T0814", "T0804"), Protocol: "modbus",
		Quickdraw: "Modbus TCP - Force Listen Only Mode"},
		modbusDiag(modbus.DiagForceListenOnlyMode, "stop answering (force listen only mode)")},
	{Info{ID: ModbusRestartComms, Name: "Modbus restart communications", Severity: alert.High,
		Description: "A Diagnostics (FC 8) Restart Communications Option request: the device restarts its communications port.",
		Techniques:  techniques("T0816", "T0814"), Protocol: "modbus",
		Quickdraw: "Modbus TCP - Restart Communications Option"},
		modbusDiag(modbus.DiagRestartCommunications, "restart its communications")},
	{Info{ID: ModbusClearCounters, Name: "Modbus clear counters and diagnostic register", Severity: alert.Medium,
		Description: "A Diagnostics (FC 8) Clear Counters and Diagnostic Register request: the device's error counters are wiped.",
		Techniques:  techniques("T0872"), Protocol: "modbus",
		Quickdraw: "Modbus TCP - Clear Counters and Diagnostic Registers"},
		modbusDiag(modbus.DiagClearCounters, "clear its counters and diagnostic register")},
	{Info{ID: ModbusDeviceID, Name: "Modbus read device identification", Severity: alert.Low,
		Description: "An Encapsulated Interface Transport (FC 43) Read Device Identification request, unless the policy explicitly allows function 43 for the pair (an engineering workstation's routine): vendor, product and version are read.",
		Techniques:  techniques("T0888"), Protocol: "modbus",
		Quickdraw: "Modbus TCP - Read Device Identification"},
		matcher{onRequests(codes(43)), func(e *Engine, r *analyze.Record) (string, bool) {
			m := &r.Modbus
			if !modbusReq(r) || m.Function != 43 || m.MEIType != modbus.MEIReadDeviceID || e.allowedExplicitly(r, "modbus", 43) {
				return "", false
			}
			return fmt.Sprintf("%s read the device identification (code %d) of unit %d at %s",
				r.Flow.Src.Addr(), m.ReadDeviceIDCode, m.UnitID, r.Flow.Dst), true
		}}},
	{Info{ID: ModbusServerID, Name: "Modbus report server information", Severity: alert.Low,
		Description: "A Report Server ID (FC 17) request, unless the policy explicitly allows function 17 for the pair: the device's identity and run state are read.",
		Techniques:  techniques("T0888"), Protocol: "modbus",
		Quickdraw: "Modbus TCP - Report Server Information"},
		matcher{onRequests(codes(17)), func(e *Engine, r *analyze.Record) (string, bool) {
			if !modbusReq(r) || r.Modbus.Function != 17 || e.allowedExplicitly(r, "modbus", 17) {
				return "", false
			}
			return fmt.Sprintf("%s asked unit %d at %s to report its server id",
				r.Flow.Src.Addr(), r.Modbus.UnitID, r.Flow.Dst), true
		}}},
	{Info{ID: ModbusIllegalSize, Name: "Modbus illegal packet size", Severity: alert.Medium,
		Description: "A Modbus segment over 300 bytes, or an MBAP length beyond the largest ADU, that does not frame: a possible denial-of-service or overflow attempt.",
		Techniques:  techniques("T0814"), Protocol: "modbus", Threshold: oncePerMinute,
		Quickdraw: "Modbus TCP - Illegal Packet Size, Possible DOS Attack"},
		anomaly(analyze.AnomIllegalSize, "oversized Modbus frame")},
	{Info{ID: ModbusIncorrectLength, Name: "Modbus incorrect MBAP length", Severity: alert.Medium,
		Description: "Bytes follow an ADU in the same segment that do not start another one: the MBAP length disagrees with the segment.",
		Techniques:  techniques("T0814"), Protocol: "modbus", Threshold: oncePerMinute,
		Quickdraw: "Modbus TCP - Incorrect Packet Length, Possible DOS Attack"},
		anomaly(analyze.AnomIncorrectLength, "MBAP length disagrees with the segment")},
	{Info{ID: ModbusNonModbus, Name: "Non-Modbus traffic on a Modbus port", Severity: alert.Medium,
		Description: "Bytes on a Modbus port that are not Modbus/TCP (protocol id other than 0): a tunnel or another protocol hiding on an allowed port.",
		Techniques:  techniques("T0885"), Protocol: "modbus", Threshold: oncePerMinute,
		Quickdraw: "Modbus TCP - Non-Modbus Communication on TCP Port 502"},
		anomaly(analyze.AnomNonProtocol, "not Modbus/TCP")},
	{Info{ID: ModbusBusyStorm, Name: "Modbus slave device busy exception storm", Severity: alert.Medium,
		Description: "A server answers one client with Server Device Busy exceptions at least 5 times in a minute: the device is overloaded or being flooded.",
		Techniques:  techniques("T0814"), Protocol: "modbus", Threshold: storm5,
		Quickdraw: "Modbus TCP - Slave Device Busy Exception Code Delay"},
		modbusExceptions(modbus.ExServerDeviceBusy, "the device is overloaded")},
	{Info{ID: ModbusAckStorm, Name: "Modbus acknowledge exception storm", Severity: alert.Medium,
		Description: "A server answers one client with Acknowledge exceptions at least 5 times in a minute: long-running commands are being piled up.",
		Techniques:  techniques("T0814"), Protocol: "modbus", Threshold: storm5,
		Quickdraw: "Modbus TCP - Acknowledge Exception Code Delay"},
		modbusExceptions(modbus.ExAcknowledge, "long-running commands are piling up")},

	// --- DNP3: Quickdraw equivalents -------------------------------------
	{Info{ID: DNP3ReadUnauthorized, Name: "DNP3 read from unauthorized host", Severity: alert.Medium,
		Description: "A host that the policy does not list as a master sends a DNP3 READ.",
		Techniques:  techniques("T0801", "T0861"), Protocol: "dnp3", Threshold: oncePerMinute, NeedsPolicy: true,
		Quickdraw: "DNP3 - Unauthorized Read Request to a PLC"},
		matcher{onRequests(codes(uint8(dnp3.FuncRead))), func(e *Engine, r *analyze.Record) (string, bool) {
			if !dnp3Req(r) || r.DNP3.AppFunction != uint8(dnp3.FuncRead) || !e.unauthorized(r) {
				return "", false
			}
			return fmt.Sprintf("%s read outstation %d at %s; it is not an authorized master", r.Flow.Src.Addr(), r.DNP3.LinkDst, r.Flow.Dst), true
		}}},
	{Info{ID: DNP3WriteUnauthorized, Name: "DNP3 write or control from unauthorized host", Severity: alert.High,
		Description: "A host that the policy does not list as a master sends WRITE, SELECT, OPERATE or DIRECT OPERATE. Every request alerts.",
		Techniques:  techniques("T0836", "T0855"), Protocol: "dnp3", NeedsPolicy: true,
		Quickdraw: "DNP3 - Unauthorized Write Request to a PLC"},
		matcher{onRequests(dnp3Write), func(e *Engine, r *analyze.Record) (string, bool) {
			if !dnp3Req(r) || !dnp3Write(r.DNP3.AppFunction) || !e.unauthorized(r) {
				return "", false
			}
			return fmt.Sprintf("%s sent %s to outstation %d at %s; it is not an authorized master",
				r.Flow.Src.Addr(), dnName(r.DNP3.AppFunction), r.DNP3.LinkDst, r.Flow.Dst), true
		}}},
	{Info{ID: DNP3MiscUnauthorized, Name: "DNP3 miscellaneous request from unauthorized host", Severity: alert.Medium,
		Description: "A host that the policy does not list as a master sends a request other than READ, a write, a control or a confirmation (restarts, freezes, unsolicited control, files, ...).",
		Techniques:  techniques("T0855"), Protocol: "dnp3", Threshold: oncePerMinute, NeedsPolicy: true,
		Quickdraw: "DNP3 - Unauthorized Miscellaneous Request to a PLC"},
		matcher{onRequests(dnp3Misc), func(e *Engine, r *analyze.Record) (string, bool) {
			fc := r.DNP3.AppFunction
			if !dnp3Req(r) || fc == uint8(dnp3.FuncConfirm) || fc == uint8(dnp3.FuncRead) || dnp3Write(fc) || !e.unauthorized(r) {
				return "", false
			}
			return fmt.Sprintf("%s sent %s to outstation %d at %s; it is not an authorized master",
				r.Flow.Src.Addr(), dnName(fc), r.DNP3.LinkDst, r.Flow.Dst), true
		}}},
	{Info{ID: DNP3ColdRestart, Name: "DNP3 cold restart", Severity: alert.High,
		Description: "A COLD_RESTART request: the outstation reboots completely and stops serving the process meanwhile.",
		Techniques:  techniques("T0816"), Protocol: "dnp3", Quickdraw: "DNP3 - Cold Restart From Unauthorized Client"},
		dnp3Func(dnp3.FuncColdRestart, "the outstation reboots")},
	{Info{ID: DNP3WarmRestart, Name: "DNP3 warm restart", Severity: alert.High,
		Description: "A WARM_RESTART request: the outstation restarts its application.",
		Techniques:  techniques("T0816"), Protocol: "dnp3", Quickdraw: "DNP3 - Warm Restart From Unauthorized Client"},
		dnp3Func(dnp3.FuncWarmRestart, "the outstation restarts its application")},
	{Info{ID: DNP3StopApp, Name: "DNP3 stop application", Severity: alert.High,
		Description: "A STOP_APPL request: an application on the outstation is stopped.",
		Techniques:  techniques("T0881"), Protocol: "dnp3", Quickdraw: "DNP3 - Stop Application"},
		dnp3Func(dnp3.FuncStopAppl, "an application on the outstation stops")},
	{Info{ID: DNP3DisableUnsol, Name: "DNP3 disable unsolicited responses", Severity: alert.High,
		Description: "A DISABLE_UNSOLICITED request: the outstation stops reporting events on its own, so operators may not see changes.",
		Techniques:  techniques("T0804", "T0878"), Protocol: "dnp3", Quickdraw: "DNP3 - Disable Unsolicited Responses"},
		dnp3Func(dnp3.FuncDisableUnsolicited, "event reporting is switched off")},
	{Info{ID: DNP3UnsolStorm, Name: "DNP3 unsolicited response storm", Severity: alert.Medium,
		Description: "An outstation sends at least 10 unsolicited responses to one master within 30 seconds.",
		Techniques:  techniques("T0814"), Protocol: "dnp3", Threshold: &Threshold{Count: 10, Window: 30 * time.Second, Track: ByPair},
		Quickdraw: "DNP3 - Unsolicited Response Storm"},
		matcher{onResponses(codes(uint8(dnp3.FuncUnsolicited))), func(_ *Engine, r *analyze.Record) (string, bool) {
			if !dnp3Resp(r) || r.DNP3.AppFunction != uint8(dnp3.FuncUnsolicited) {
				return "", false
			}
			return fmt.Sprintf("outstation %d at %s sent a burst of unsolicited responses to %s",
				r.DNP3.LinkSrc, r.Flow.Src, r.Flow.Dst.Addr()), true
		}}},
	{Info{ID: DNP3Broadcast, Name: "DNP3 broadcast request", Severity: alert.Medium,
		Description: "A request to a broadcast link address (0xFFFD-0xFFFF): every outstation on the link acts on it.",
		Techniques:  techniques("T0855"), Protocol: "dnp3", Quickdraw: "DNP3 - Broadcast Request"},
		matcher{onRequests(nil), func(_ *Engine, r *analyze.Record) (string, bool) {
			if !dnp3Req(r) || !r.DNP3.IsBroadcast() {
				return "", false
			}
			return fmt.Sprintf("%s sent %s to broadcast address %d via %s",
				r.Flow.Src.Addr(), dnName(r.DNP3.AppFunction), r.DNP3.LinkDst, r.Flow.Dst), true
		}}},
	{Info{ID: DNP3FileOperation, Name: "DNP3 file operation", Severity: alert.High,
		Description: "A file function (OPEN, CLOSE, DELETE, GET_FILE_INFO, AUTHENTICATE, ABORT) or file-control object (group 70): files move to or from the outstation.",
		Techniques:  techniques("T0843", "T0845"), Protocol: "dnp3", Quickdraw: "DNP3 - File Operations"},
		matcher{onRequests(nil), func(_ *Engine, r *analyze.Record) (string, bool) {
			if !dnp3Req(r) {
				return "", false
			}
			d := &r.DNP3
			file := d.AppFunction >= uint8(dnp3.FuncOpenFile) && d.AppFunction <= uint8(dnp3.FuncAbortFile)
			for _, o := range d.ObjectList() {
				file = file || o.Group == 70
			}
			if !file {
				return "", false
			}
			return fmt.Sprintf("%s sent %s with file objects to outstation %d at %s",
				r.Flow.Src.Addr(), dnName(d.AppFunction), d.LinkDst, r.Flow.Dst), true
		}}},
	{Info{ID: DNP3TimeChange, Name: "DNP3 time change", Severity: alert.Medium,
		Description: "A WRITE of time and date (group 50) by a host that is not an authorized master, or by anyone when the policy lists no masters: the outstation's clock, and so its event timestamps, change.",
		Techniques:  techniques("T0855"), Protocol: "dnp3", Quickdraw: "DNP3 - Time Change Attempt"},
		matcher{onRequests(codes(uint8(dnp3.FuncWrite))), func(e *Engine, r *analyze.Record) (string, bool) {
			if !dnp3Req(r) || r.DNP3.AppFunction != uint8(dnp3.FuncWrite) {
				return "", false
			}
			if e.policy.HasMasters() && e.policy.IsMaster(r.Flow.Src.Addr()) {
				return "", false
			}
			for _, o := range r.DNP3.ObjectList() {
				if o.Group == 50 {
					return fmt.Sprintf("%s set the clock of outstation %d at %s (g50v%d)",
						r.Flow.Src.Addr(), r.DNP3.LinkDst, r.Flow.Dst, o.Variation), true
				}
			}
			return "", false
		}}},
	{Info{ID: DNP3NonDNP3, Name: "Non-DNP3 traffic on a DNP3 port", Severity: alert.Medium,
		Description: "Bytes on a DNP3 port that do not start a DNP3 link frame (0x05 0x64).",
		Techniques:  techniques("T0885"), Protocol: "dnp3", Threshold: oncePerMinute,
		Quickdraw: "DNP3 - Non-DNP3 Communication on a DNP3 Port"},
		anomaly(analyze.AnomNonProtocol, "not DNP3")},
	{Info{ID: DNP3Scan, Name: "DNP3 object or function scan", Severity: alert.Medium,
		Description: "An outstation answers one master with function-not-supported, object-unknown or parameter-error indications (IIN2.0-2.2) at least 5 times in a minute: the master is probing what the outstation supports.",
		Techniques:  techniques("T0861", "T0888"), Protocol: "dnp3", Threshold: storm5},
		matcher{onResponses(nil), func(_ *Engine, r *analyze.Record) (string, bool) {
			iin := dnp3.IIN(r.DNP3.IIN)
			if !dnp3Resp(r) || iin&(dnp3.IINNoFuncCodeSupport|dnp3.IINObjectUnknown|dnp3.IINParameterError) == 0 {
				return "", false
			}
			return fmt.Sprintf("outstation %d at %s keeps refusing requests from %s (%s)",
				r.DNP3.LinkSrc, r.Flow.Src, r.Flow.Dst.Addr(), iin), true
		}}},

	// --- Network ---------------------------------------------------------
	{Info{ID: NetScan, Name: "TCP sweep", Severity: alert.Medium,
		Description: "One host's TCP connection attempts to at least 10 different addresses or ports in a minute are refused or never answered: it is sweeping the network for hosts and services.",
		Techniques:  techniques("T0846", "T0840"), Protocol: "any",
		Threshold: &Threshold{Count: 10, Window: time.Minute, Track: BySrc, Distinct: true}},
		matcher{onAnomalies, func(_ *Engine, r *analyze.Record) (string, bool) {
			if !r.Anomalies.Has(analyze.AnomRefused) {
				return "", false
			}
			return fmt.Sprintf("%s is sweeping: connection attempts refused or unanswered, the latest to %s (%s)",
				r.Flow.Src.Addr(), r.Flow.Dst, r.Detail), true
		}}},

	// --- Protocol anomalies ----------------------------------------------
	{Info{ID: AnomalyCRC, Name: "DNP3 bad CRC", Severity: alert.Low,
		Description: "A DNP3 link header or data block whose CRC is wrong: corruption, a broken device, or fuzzing.",
		Techniques:  techniques("T0814"), Protocol: "any", Threshold: oncePerMinute},
		anomaly(analyze.AnomBadCRC, "bad CRC")},
	{Info{ID: AnomalyLength, Name: "Invalid length field", Severity: alert.Medium,
		Description: "A length, byte count or quantity that disagrees with the data or the specification: malformed or crafted messages.",
		Techniques:  techniques("T0814", "T0866"), Protocol: "any", Threshold: oncePerMinute},
		anomaly(analyze.AnomInvalidLength, "invalid length")},
	{Info{ID: AnomalyFunction, Name: "Unknown function code", Severity: alert.Medium,
		Description: "A function code the protocol does not define.",
		Techniques:  techniques("T0888"), Protocol: "any", Threshold: oncePerMinute},
		anomaly(analyze.AnomUnknownFunction, "unknown function code")},
	{Info{ID: AnomalyObjects, Name: "Too many DNP3 objects", Severity: alert.Medium,
		Description: "A DNP3 fragment with more object headers than the analyzer's bound.",
		Techniques:  techniques("T0814"), Protocol: "any", Threshold: oncePerMinute},
		anomaly(analyze.AnomTooManyObjects, "too many objects")},
	{Info{ID: AnomalyReassembly, Name: "Reassembly overflow", Severity: alert.Medium,
		Description: "A DNP3 fragment beyond the reassembly bound, or a stream buffer overflow.",
		Techniques:  techniques("T0814"), Protocol: "any", Threshold: oncePerMinute},
		anomaly(analyze.AnomReassemblyOverflow, "reassembly overflow")},

	// --- Policy ----------------------------------------------------------
	{Info{ID: PolicyFunction, Name: "Function code not allowed for this pair", Severity: alert.High,
		Description: "A master sends a device a function code that the policy does not allow for that pair (DNP3 CONFIRM is always allowed).",
		Techniques:  techniques("T0855"), Protocol: "any", Threshold: oncePerMinute, NeedsPolicy: true},
		matcher{onRequests(nil), func(e *Engine, r *analyze.Record) (string, bool) {
			var fc uint8
			switch {
			case modbusReq(r):
				fc = r.Modbus.Function
			case dnp3Req(r) && r.DNP3.AppFunction != uint8(dnp3.FuncConfirm):
				fc = r.DNP3.AppFunction
			default:
				return "", false
			}
			q := e.policy.PairFor(r.Protocol.String(), r.Flow.Src.Addr(), r.Flow.Dst.Addr())
			if q == nil || q.Allows(fc) {
				return "", false
			}
			return fmt.Sprintf("%s sent %s function %d to %s; the policy (line %d) allows %v",
				r.Flow.Src.Addr(), r.Protocol, fc, r.Flow.Dst, q.Line, q.Functions), true
		}}},
	{Info{ID: PolicyWriteRange, Name: "Write outside the writable registers", Severity: alert.High,
		Description: "A Modbus write to a register or coil outside the ranges the policy declares writable for that pair.",
		Techniques:  techniques("T0836"), Protocol: "modbus", NeedsPolicy: true},
		matcher{onRequests(modbusWrite), func(e *Engine, r *analyze.Record) (string, bool) {
			q, coils, from, n, ok := e.writeTarget(r)
			if !ok {
				return "", false
			}
			for i := 0; i < n; i++ {
				if q.findWritable(coils, from+uint16(i)) == nil {
					return fmt.Sprintf("%s wrote %s %d of unit %d at %s, outside the writable ranges of the policy (line %d)",
						r.Flow.Src.Addr(), table(coils), from+uint16(i), r.Modbus.UnitID, r.Flow.Dst, q.Line), true
				}
			}
			return "", false
		}}},
	{Info{ID: PolicyWriteValue, Name: "Written value outside limits", Severity: alert.High,
		Description: "A Modbus register write whose value is outside the min/max the policy sets for that register.",
		Techniques:  techniques("T0836", "T0831"), Protocol: "modbus", NeedsPolicy: true},
		matcher{onRequests(modbusWrite), func(e *Engine, r *analyze.Record) (string, bool) {
			q, coils, from, _, ok := e.writeTarget(r)
			m := &r.Modbus
			if !ok || coils || m.Func() == 22 {
				return "", false
			}
			for i, v := range m.ValueList() {
				w := q.findWritable(false, from+uint16(i))
				if w == nil {
					continue
				}
				val := int(v)
				if w.HasMin && w.Min < 0 {
					val = int(int16(v))
				}
				if w.HasMin && val < w.Min || w.HasMax && val > w.Max {
					return fmt.Sprintf("%s wrote %d to holding register %d of unit %d at %s; the policy allows %d..%d",
						r.Flow.Src.Addr(), val, from+uint16(i), m.UnitID, r.Flow.Dst, w.Min, w.Max), true
				}
			}
			return "", false
		}}},
}

func table(coils bool) string {
	if coils {
		return "coil"
	}
	return "holding register"
}

// writeTarget returns the pair with writable ranges that governs a Modbus
// write request, and what it writes: coils or registers, from which address,
// how many.
func (e *Engine) writeTarget(r *analyze.Record) (q *Pair, coils bool, from uint16, n int, ok bool) {
	m := &r.Modbus
	if !modbusReq(r) || !modbusWrite(m.Function) || len(e.policy.Pairs) == 0 {
		return nil, false, 0, 0, false
	}
	q = e.policy.PairFor("modbus", r.Flow.Src.Addr(), r.Flow.Dst.Addr())
	if q == nil || len(q.Writable) == 0 {
		return nil, false, 0, 0, false
	}
	switch m.Function {
	case 5:
		return q, true, m.Address, 1, true
	case 15:
		return q, true, m.Address, int(m.Quantity), true
	case 6, 22:
		return q, false, m.Address, 1, true
	case 16:
		return q, false, m.Address, int(m.Quantity), true
	case 23:
		return q, false, m.WriteAddress, int(m.WriteQuantity), true
	}
	return nil, false, 0, 0, false
}
