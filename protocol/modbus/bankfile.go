package modbus

import (
	"encoding/binary"
	"slices"
)

// FileRecord returns register record of file, or 0 when it is outside the
// extended memory or never written.
func (b *Bank) FileRecord(file, record uint16) uint16 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if f := b.files[file]; int(record) < len(f) {
		return f[record]
	}
	return 0
}

// SetFileRecord sets register record of file; outside the extended memory it
// does nothing.
func (b *Bank) SetFileRecord(file, record, v uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fileRange(file, record, 1) {
		b.file(file)[record] = v
	}
}

// SetFIFO sets the FIFO queue read by FC 24 at pointer address addr (a copy
// of vals; nil removes it). A queue longer than 31 registers is answered with
// ExIllegalDataValue, as the specification requires.
func (b *Bank) SetFIFO(addr uint16, vals []uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if vals == nil {
		delete(b.fifos, addr)
		return
	}
	b.fifos[addr] = slices.Clone(vals)
}

// fileRange reports whether records record..record+n-1 of file exist.
func (b *Bank) fileRange(file, record, n uint16) bool {
	return file >= 1 && int(file) <= b.nFiles && int(record)+int(n) <= b.nRecords
}

// file returns the memory of file, allocating it on first use; the lock is
// held and the file number checked.
func (b *Bank) file(file uint16) []uint16 {
	f := b.files[file]
	if f == nil {
		f = make([]uint16, b.nRecords)
		b.files[file] = f
	}
	return f
}

// readFile answers FC 20: one sub-response per sub-request.
func (b *Bank) readFile(r *Request) (PDU, error) {
	d := []byte{0}
	for fr := range r.FileRecords {
		if !b.fileRange(fr.File, fr.Record, fr.Length) {
			return PDU{}, Exception(r.Function, ExIllegalDataAddress)
		}
		if len(d)-1+2+2*int(fr.Length) > maxReadFileByteCount {
			return PDU{}, Exception(r.Function, ExIllegalDataValue)
		}
		d = append(d, byte(1+2*fr.Length), fileRefType)
		f := b.files[fr.File] // nil when never written: reads as zeros
		for i := range int(fr.Length) {
			var v uint16
			if f != nil {
				v = f[int(fr.Record)+i]
			}
			d = binary.BigEndian.AppendUint16(d, v)
		}
	}
	d[0] = byte(len(d) - 1)
	return PDU{Function: r.Function, Data: d}, nil
}

// writeFile answers FC 21: all sub-requests are checked before any is
// written; the response echoes the request.
func (b *Bank) writeFile(r *Request) (PDU, error) {
	for fr := range r.FileRecords {
		if !b.fileRange(fr.File, fr.Record, fr.Length) {
			return PDU{}, Exception(r.Function, ExIllegalDataAddress)
		}
	}
	for fr := range r.FileRecords {
		f := b.file(fr.File)
		for i := range int(fr.Length) {
			f[int(fr.Record)+i] = binary.BigEndian.Uint16(fr.Data[2*i:])
		}
	}
	d := append([]byte{byte(len(r.Values))}, r.Values...)
	return PDU{Function: r.Function, Data: d}, nil
}

// readFIFO answers FC 24 without removing the values from the queue.
func (b *Bank) readFIFO(addr uint16) (PDU, error) {
	q, ok := b.fifos[addr]
	switch {
	case !ok:
		return PDU{}, Exception(FuncReadFIFOQueue, ExIllegalDataAddress)
	case len(q) > MaxFIFOCount:
		return PDU{}, Exception(FuncReadFIFOQueue, ExIllegalDataValue)
	}
	d := binary.BigEndian.AppendUint16(make([]byte, 0, 4+2*len(q)), uint16(2+2*len(q)))
	d = binary.BigEndian.AppendUint16(d, uint16(len(q)))
	return PDU{Function: FuncReadFIFOQueue, Data: appendRegisters(d, q)}, nil
}
