// Package modbus implements Modbus/TCP as the range speaks it: a codec for the
// MBAP header and every public function code, stream framing for ADUs that
// arrive split across or packed into TCP segments, a device side (Server,
// Mux, Device, Bank) and a raw Client for attacks and tests.
//
// # Codec
//
// DecodeADU, AppendADU, ParseRequest, ParseResponse and CheckResponse are pure
// functions over byte slices. They allocate nothing on success and alias the
// input, so the sensor can decode every packet into reused structs. Every
// length field is checked against the limits of the specification (MODBUS
// Application Protocol Specification V1.1b3 and MODBUS Messaging on TCP/IP
// Implementation Guide V1.0b) before it is used; a failure is a *DecodeError
// naming the field, its offset and a short hex snippet, and for requests the
// exception a server answers with. The parsers are strict: a PDU with
// trailing bytes (an exception response padded to two bytes, as some devices
// send) is rejected with a DecodeError, which the sensor can report as an
// anomaly; DecodeADU still frames it.
//
// # Framing
//
// Stream buffers one direction of a connection up to a cap. On garbage it
// reports one *DecodeError and drops bytes up to the next offset whose bytes
// could start an MBAP header (protocol id 0, length 2..254), judging each byte
// as soon as it arrives. The ADUs it frames do not depend on how the bytes
// were split (FuzzStream checks this).
//
// # Device side
//
// Server owns the TCP connections: bounded clients, idle timeout, and the
// range firewall hook Allow, asked at accept, before each request and on
// Recheck. It hands each request to a Handler. Mux dispatches by unit id and
// answers an unknown unit with ExGatewayPathUnavailable, as a gateway does.
// Device answers the device-wide functions (7, 8 with its counters and
// listen-only mode, 11, 12, 17, 43/14) and passes the data functions to a
// data Handler, normally a Bank, the thread-safe data model. A Handler
// returns ErrNoResponse to send nothing: Device does so in listen-only mode,
// until Restart Communications.
//
// # Broadcast (unit 0)
//
// Unit id 0 is the broadcast address of the serial line. The Server treats a
// request to unit 0 with a function that may be broadcast (the writes 5, 6,
// 15, 16, 21, 22 and the Diagnostics sub-functions Restart Communications,
// Force Listen Only Mode, Clear Counters and Clear Overrun Counter; see
// Broadcastable) as a broadcast: the Handler executes it and no response is
// sent, not even an exception; the Handler sees BroadcastRequest(ctx). A
// Mux hands a broadcast to every unit's handler; a Device records a
// broadcast receive event and a no-response. ServerConfig.UnitZeroDirect
// turns this off for a device that answers unit 0 as its own address, as
// some Modbus/TCP devices do and as clients that default to unit 0
// (pymodbus 3.0) expect.
// Any other request to unit 0 (a read) is answered: on Modbus/TCP a device is
// addressed by its IP address and, following the TCP implementation guide's
// practice for directly connected devices, answers unit 0 like its own
// unit id, which is what common Modbus/TCP devices and tools expect. The
// choice keeps reads from unit 0 useful for scanning tools while broadcast
// writes behave as an attacker's broadcast on a gateway would: executed
// everywhere, silently.
//
// # Client
//
// The HMI polls with goburrow/modbus; Client is the raw client for attacks and
// tests: any function code, any unit id, WriteRaw for deliberately malformed
// frames, and ReadADU to see whatever the device answers.
package modbus
