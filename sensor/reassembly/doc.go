// Package reassembly turns the TCP segments a passive sensor sees into the
// in-order byte streams of each connection, the way the endpoints' own stacks
// would, for the protocol analyzers (Modbus ADU framing, DNP3 link frames).
//
// The sensor decodes a packet, builds a [Key] and a [Packet], and calls
// [Reassembler.Add]. For each new connection the reassembler asks the
// [Handler] for one [Stream] per direction (the analyzer's per-stream state)
// and then calls [Stream.Data] with in-order bytes, [Stream.End] when a
// direction ends, and [Handler.Close] when the connection is forgotten.
//
// Choices, and why:
//
//   - Time comes only from packet timestamps (the largest seen so far), never
//     from the wall clock, so replaying a capture behaves the same as living
//     through it. [Reassembler.Advance] moves time on when no packets arrive.
//   - A segment that continues the stream is handed to the Stream straight
//     from the caller's packet buffer: no copy and no allocation. Only
//     out-of-order data is copied, into pooled buffers.
//   - Out-of-order data waits for the hole before it to fill, but not for
//     ever: when the direction's buffer bound, the global bound or the gap
//     timeout is reached, the hole is skipped and the data after it delivered
//     with [Meta.Gap] set, so the parser resyncs. Nothing buffered is dropped
//     silently; every skipped byte is counted in [Stats].
//   - Where copies of the same bytes disagree, the first copy wins (what most
//     stacks do for buffered data) and the disagreement is counted in
//     [Stats.Conflicts]: a sign of evasion. Bytes already delivered are not
//     kept; a retransmission of the last delivered chunk is checked against a
//     fingerprint of it (all of a chunk up to 64 bytes, else its length and
//     its first and last 32 bytes: hashing every byte would cost more than
//     the rest of the reassembly). Other overlaps with delivered bytes are
//     counted as overlaps but cannot be compared.
//   - A stream picked up without its SYN starts at the first sequence number
//     seen ([Meta.Midstream] on its first data). Its client is then guessed:
//     the endpoint with the higher port ([ConnInfo.Handshake] is false).
//   - The connection table is bounded. Connections that have not yet been
//     seen in both directions (a SYN flood, a scan) are evicted first, least
//     recently used, so a flood of new flows does not push out the
//     established ones the analyzers care about.
//   - Packets that cannot start a connection (a pure ACK, FIN or RST for an
//     unknown one) do not create state.
//
// A Reassembler is not safe for concurrent use; the Stream and Handler
// callbacks run on the caller's goroutine and must not call back into it.
package reassembly
