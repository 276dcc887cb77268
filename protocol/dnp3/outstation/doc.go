// Package outstation is a DNP3 outstation (the device side) over TCP for the
// range's RTUs and PLCs: a point database with classes and bounded event
// buffers, class and range reads, select-before-operate with timeout and
// exact matching, direct operate, restarts that take the device away for a
// configured time, unsolicited responses with confirmation and retries,
// time synchronisation, and an ACL hook (the range's firewall).
//
// The device model (the plant) updates points through [Database] and
// answers control requests through the [Controls] interface.
package outstation
