package modbus

import "encoding/binary"

// FileRecord is one sub-request of Read File Record (FC 20) or Write File
// Record (FC 21), or one sub-response of their responses. Length counts
// registers; Data aliases the PDU and holds 2*Length bytes when present.
type FileRecord struct {
	File   uint16
	Record uint16
	Length uint16
	Data   []byte
}

// FileRecords yields the sub-requests of a parsed FC 20 or FC 21 request, so
// that a handler can write `for fr := range req.FileRecords`; nothing for
// other functions.
func (r *Request) FileRecords(yield func(FileRecord) bool) {
	if r.Function != FuncReadFileRecord && r.Function != FuncWriteFileRecord {
		return
	}
	b := r.Values
	for len(b) >= fileSubReqLen {
		fr := FileRecord{File: be16(b, 1), Record: be16(b, 3), Length: be16(b, 5)}
		n := fileSubReqLen
		if r.Function == FuncWriteFileRecord {
			n += 2 * int(fr.Length)
			if n > len(b) {
				return
			}
			fr.Data = b[fileSubReqLen:n]
		}
		if !yield(fr) {
			return
		}
		b = b[n:]
	}
}

// parseFileRequest parses FC 20 (write false) or FC 21 (write true): a byte
// count and 7-byte sub-requests, each followed by its data for FC 21.
func parseFileRequest(d []byte, r *Request, write bool) error {
	lo, hi := minReadFileByteCount, maxReadFileByteCount
	if write {
		lo, hi = minWriteFileByteCount, maxWriteFileByteCount
	}
	if err := wantMinLen(d, 1); err != nil {
		return err
	}
	bc := int(d[0])
	if bc < lo || bc > hi || len(d) != 1+bc {
		return pduErr(d, "byte_count", 1, ExIllegalDataValue, "byte count %d with %d bytes, want %d..%d", bc, len(d)-1, lo, hi)
	}
	r.Values = d[1:]
	for off := 1; off < len(d); {
		n, err := checkFileSubRequest(d, off, write)
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

// checkFileSubRequest validates the sub-request at PDU data offset off-1 and
// returns its length.
func checkFileSubRequest(d []byte, off int, write bool) (int, error) {
	s := d[off:]
	if len(s) < fileSubReqLen {
		return 0, pduErr(d, "file.sub_request", off+1, ExIllegalDataValue, "%d bytes left, want %d", len(s), fileSubReqLen)
	}
	if s[0] != fileRefType {
		return 0, pduErr(d, "file.reference_type", off+1, ExIllegalDataAddress, "reference type %d, want 6", s[0])
	}
	if rec := binary.BigEndian.Uint16(s[3:]); rec > MaxFileRecordNumber {
		return 0, pduErr(d, "file.record_number", off+4, ExIllegalDataAddress, "record %d beyond %d", rec, MaxFileRecordNumber)
	}
	n := fileSubReqLen
	if write {
		regs := int(binary.BigEndian.Uint16(s[5:]))
		n += 2 * regs
		if len(s) < n {
			return 0, pduErr(d, "file.record_length", off+6, ExIllegalDataValue, "%d registers but %d data bytes", regs, len(s)-fileSubReqLen)
		}
	}
	return n, nil
}

// ReadFileRecord returns a FC 20 request for the given records (Data is
// ignored). It does not validate, so it can build out-of-spec requests.
func ReadFileRecord(recs []FileRecord) PDU {
	d := []byte{byte(len(recs) * fileSubReqLen)}
	for _, fr := range recs {
		d = appendFileHeader(d, fr)
	}
	return PDU{Function: FuncReadFileRecord, Data: d}
}

// WriteFileRecord returns a FC 21 request writing each record's Data (its
// Length is taken from len(Data)/2). It does not validate.
func WriteFileRecord(recs []FileRecord) PDU {
	d := []byte{0}
	for _, fr := range recs {
		fr.Length = uint16(len(fr.Data) / 2)
		d = appendFileHeader(d, fr)
		d = append(d, fr.Data[:2*int(fr.Length)]...)
	}
	d[0] = byte(len(d) - 1)
	return PDU{Function: FuncWriteFileRecord, Data: d}
}

// appendFileHeader appends the 7-byte sub-request header of fr.
func appendFileHeader(d []byte, fr FileRecord) []byte {
	d = append(d, fileRefType)
	d = binary.BigEndian.AppendUint16(d, fr.File)
	d = binary.BigEndian.AppendUint16(d, fr.Record)
	return binary.BigEndian.AppendUint16(d, fr.Length)
}
