// Package analyze turns the bytes of Modbus/TCP and DNP3 conversations into
// Records: one per request, response or protocol anomaly, with the fields
// that rules, the baseline, the asset inventory and the outputs need.
//
// # Where it sits
//
// The sensor decodes packets and reassembles TCP streams (sensor/reassembly);
// for each TCP connection it creates a Conn with Analyzer.NewConn and hands it
// the in-order bytes of each direction with Conn.Data, and reports lost bytes
// with Conn.Gap. UDP payloads go to Analyzer.Datagram. Every decoded message
// or anomaly is delivered to the Config.Emit callback as a *Record.
//
// # The Record contract
//
// A Record is reused: the analyzer fills the same struct for every message
// and passes a pointer to Emit, so the hot path allocates nothing. A consumer
// copies what it keeps (Record is a plain value; byte slices in it alias the
// analyzer's buffers and are valid only during the callback). Lists that grow
// from input (register values, DNP3 object headers, point indexes, device
// identification objects) are fixed-size arrays with a count and a Truncated
// flag, so a Record's size never depends on the wire.
//
// # Protocol detection
//
// A connection whose server port is one of Config.ModbusPorts (default 502)
// is Modbus, one of Config.DNP3Ports (default 20000) is DNP3. Any other
// connection is judged by its first bytes: a DNP3 link header (0x05 0x64 with
// a good header CRC) or an MBAP header (protocol id 0, length 2..254, unit id
// and function present). Bytes on a Modbus or DNP3 port that are not that
// protocol give an AnomNonProtocol record.
//
// # Modbus
//
// Each direction is framed with protocol/modbus.Stream. Requests are parsed
// with ParseRequest, responses with ParseResponse; a response is matched to
// its request by transaction id (and unit id) in a bounded pending table per
// connection, evictions counted. Garbage gives one anomaly record per Data
// call, classified the way Quickdraw's rules see it: a protocol id other than
// 0 is non-Modbus traffic, an MBAP length beyond the largest ADU is an illegal
// size, and bytes left over after an ADU in the same segment mean the MBAP
// length disagrees with the segment (incorrect length). An exception response
// padded with extra bytes (some devices send two) is accepted: its first byte
// is the code.
//
// # DNP3
//
// Each direction is framed with protocol/dnp3.Framer (every CRC checked);
// link frames with user data go through a transport Reassembler per link
// address pair and direction (bounded fragment size) and give one Record per
// application fragment; link frames without user data (link status, reset)
// give a link-only Record. A response is matched to the request with the same
// application sequence number between the same pair. UDP datagrams are
// decoded with dnp3.DecodeDatagram.
package analyze
