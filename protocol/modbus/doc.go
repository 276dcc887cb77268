// Package modbus implements Modbus/TCP as the range speaks it: a codec for the
// MBAP header and every public function code, stream framing for ADUs that
// arrive split across or packed into TCP segments, a device side (Server,
// Device, Bank) and a raw Client for attacks and tests.
//
// The codec is made of pure functions over byte slices: DecodeADU, AppendADU,
// ParseRequest and ParseResponse allocate nothing on success and alias the
// input, so the sensor can decode every packet into reused structs. Every
// length field is checked against the limits of the specification (MODBUS
// Application Protocol Specification V1.1b3 and MODBUS Messaging on TCP/IP
// Implementation Guide V1.0b) before it is used; a failure is a *DecodeError
// naming the field, its offset and a short hex snippet.
//
// The device side is layered: Server owns the TCP connections (bounded
// clients, idle timeout, the range firewall hook Allow) and hands each request
// to a Handler; Mux dispatches by unit id; Device adds the device-wide
// functions (diagnostics and listen-only mode, event counter and log,
// server id, device identification); Bank is the thread-safe data model for
// the data access functions.
//
// The HMI polls with goburrow/modbus; Client is the raw client for attacks and
// tests: any function code, any unit id and deliberately malformed frames.
package modbus
