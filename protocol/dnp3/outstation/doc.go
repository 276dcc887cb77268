// Package outstation is a DNP3 outstation (the device side) over TCP
// ([Outstation.Serve]) and UDP ([Outstation.ServeUDP]) for the range's RTUs
// and PLCs: a point database with classes and bounded event buffers, class
// and range reads, select-before-operate with timeout and exact matching,
// direct operate, counter freezes (IMMED_FREEZE, FREEZE_CLEAR and their _NR
// forms) into frozen counters (g21) with frozen counter events (g23),
// restarts that take the device away for a configured time, unsolicited
// responses with confirmation and retries, time synchronisation, and an ACL
// hook (the range's firewall).
//
// Requests follow IEEE 1815's application rules: a function the outstation
// does not implement (or does not know) is answered with IIN2.0
// NO_FUNC_CODE_SUPPORT and counted; a request repeated with the same
// sequence number and octets gets the previous response again and is not
// executed twice (a repeated READ is read again unless its response still
// awaits confirmation). After answering COLD_RESTART or WARM_RESTART the
// outstation closes that connection in an orderly way (the response, then
// FIN) and drops the others with a reset, as a device that vanished.
//
// The device model (the plant) updates points through [Database] and
// answers control requests through the [Controls] interface.
package outstation
