package modbus

import "context"

// BroadcastUnit is the unit id of a broadcast request.
const BroadcastUnit uint8 = 0

// IsBroadcast reports whether a request to unit is a broadcast: unit id 0
// and a function that may be broadcast (see Broadcastable). Such a request
// is executed by every device that receives it and answered by none.
//
// Unit 0 with any other function (a read) is not a broadcast: on Modbus/TCP
// the device is addressed by its IP address and the unit id matters only
// behind a gateway, so the Server answers such a request like one to any
// other unit, as the Modbus Messaging on TCP/IP Implementation Guide's
// practice for directly connected devices is and as common TCP devices do
// (a Mux gives it to the handler of unit 0, or the default handler).
func IsBroadcast(unit uint8, req PDU) bool {
	return unit == BroadcastUnit && Broadcastable(req)
}

type broadcastKey struct{}

// withBroadcast marks ctx as carrying a broadcast request.
func withBroadcast(ctx context.Context) context.Context {
	return context.WithValue(ctx, broadcastKey{}, true)
}

// BroadcastRequest reports whether the Server handles the request of ctx
// as a broadcast: it sends no response whatever the Handler returns. A Mux
// then hands the request to every unit, and a Device records a broadcast
// receive event and a no-response.
func BroadcastRequest(ctx context.Context) bool {
	b, _ := ctx.Value(broadcastKey{}).(bool)
	return b
}

// Broadcastable reports whether a request may be broadcast under the serial
// line rules that Modbus/TCP gateways carry over: the write functions (5,
// 6, 15, 16, 21, 22) and the Diagnostics sub-functions that act on every
// device without returning data (Restart Communications, Force Listen Only
// Mode, Clear Counters, Clear Overrun Counter). Reads, including Read/Write
// Multiple Registers (23), need an answer and are never broadcast.
func Broadcastable(req PDU) bool {
	switch req.Function {
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils,
		FuncWriteMultipleRegisters, FuncWriteFileRecord, FuncMaskWriteRegister:
		return true
	case FuncDiagnostics:
		if len(req.Data) < 2 {
			return false
		}
		switch be16(req.Data, 0) {
		case DiagRestartCommunications, DiagForceListenOnlyMode, DiagClearCounters, DiagClearOverrunCounterAndFlag:
			return true
		}
	}
	return false
}
