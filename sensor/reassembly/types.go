package reassembly

import "time"

// Flags are TCP header flags, with the header's own bit values, so a decoder
// may pass byte 13 of the TCP header as is.
type Flags uint8

// The TCP flags the reassembler looks at.
const (
	FIN Flags = 0x01
	SYN Flags = 0x02
	RST Flags = 0x04
	PSH Flags = 0x08
	ACK Flags = 0x10
)

// Packet is one TCP segment as the caller decoded it. Payload is only read
// during Add; out-of-order bytes are copied.
type Packet struct {
	Key     Key // sender → receiver
	Seq     uint32
	Flags   Flags
	Payload []byte
	Time    time.Time // capture timestamp
}

// Dir is a direction within a connection.
type Dir uint8

// The two directions of a connection.
const (
	ClientToServer Dir = iota
	ServerToClient
)

// Reason says why a stream or connection ended.
type Reason uint8

// Why a stream or a connection ended.
const (
	ReasonFIN      Reason = iota + 1 // FIN reached in sequence (both directions, for a connection)
	ReasonRST                        // a RST was seen
	ReasonIdle                       // nothing seen for Options.IdleTimeout
	ReasonEvicted                    // pushed out to make room at Options.MaxConns
	ReasonReused                     // a new SYN with another sequence number reused the addresses
	ReasonShutdown                   // CloseAll (end of a capture, sensor stopping)
)

// Meta describes a chunk of in-order bytes handed to a Stream.
type Meta struct {
	Dir Dir
	// Seq is the sequence number of the chunk's first byte.
	Seq uint32
	// Gap is the number of bytes lost just before this chunk (never seen, or
	// given up on); 0 when the chunk follows the previous one directly.
	// A parser must resync when it is not 0.
	Gap uint32
	// Midstream is set on the first chunk of a stream picked up without its
	// SYN: the chunk may start inside a message.
	Midstream bool
	// Time is the capture time of the packet that carried these bytes.
	Time time.Time
}

// Stream consumes the bytes of one direction of a connection: an analyzer's
// per-stream state.
type Stream interface {
	// Data receives the next in-order bytes. b is valid only during the call.
	Data(b []byte, m Meta)
	// End is called once, when the direction ends; no Data follows.
	End(r Reason)
}

// ConnInfo describes a connection to the Handler.
type ConnInfo struct {
	// Key is oriented client → server.
	Key Key
	// Handshake is true when the orientation comes from a SYN or SYN-ACK;
	// false when the connection was picked up mid-way and the client is a
	// guess (the endpoint with the higher port, or else the first sender).
	Handshake bool
	// Start is the capture time of the connection's first packet.
	Start time.Time
	// Last is the capture time of its latest packet.
	Last time.Time
	// Answered is true once the server side sent a SYN-ACK or data: a
	// connection refused (RST) or never answered has it false.
	Answered bool
}

// Handler is told about connections as they start and end.
type Handler interface {
	// Open is called once per new connection, before any of its data. It
	// returns the consumer of each direction; nil ignores that direction.
	Open(c ConnInfo) (toServer, toClient Stream)
	// Close is called once when the connection is forgotten, after End on
	// both of its streams.
	Close(c ConnInfo, r Reason)
}
