// Package dnp3 is otrange's DNP3 (IEEE 1815) codec: pure functions over byte
// slices for the three layers a DNP3 message crosses, plus stream framing.
//
//   - Link layer (link.go): frames that start 0x05 0x64, carry a length,
//     control octet (DIR, PRM, FCB, FCV/DFC, function), destination and source
//     addresses, and a CRC-16/DNP after the header and after every 16-octet
//     block of user data. [Frame.Decode] checks every CRC and copies the user
//     data into the frame's own buffer; [AppendFrame] builds a frame.
//   - Transport layer (transport.go): one octet (FIN, FIR, sequence) in front
//     of each link frame's user data. [Reassembler] joins segments into an
//     application fragment, bounded in size, and resets cleanly on gaps.
//     [AppendAPDU] splits a fragment into segments and link frames.
//   - Application layer (app.go, objects.go, values.go): request and response
//     headers, IIN bits, function codes, object headers with their qualifiers
//     ([ObjectIter], [PointIter]) and the values of the common object groups.
//
// [Framer] cuts link frames out of a TCP byte stream that arrives split or
// pipelined, with a capped buffer and resynchronisation on garbage;
// [DecodeDatagram] does the same for UDP datagrams.
//
// The decode path allocates nothing: decoders fill structs the caller reuses
// and return slices that alias the input or those structs. Errors are
// *[DecodeError] values naming the layer, field and offset, with a short hex
// snippet; they wrap sentinel errors such as [ErrBadCRC] for errors.Is.
//
// The device side lives in package outstation and the polling side (and the
// raw sender used by attacks) in package master; both speak TCP and UDP.
package dnp3
