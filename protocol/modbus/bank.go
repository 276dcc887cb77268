package modbus

import (
	"context"
	"encoding/binary"
	"sync"
)

// BankConfig sizes the four data tables of a Bank. Addresses run from 0 to
// size-1; a request beyond a table gets ExIllegalDataAddress.
type BankConfig struct {
	Coils, DiscreteInputs, HoldingRegisters, InputRegisters int
	// Files and FileRecords size the extended memory of FC 20 and 21: files
	// 1..Files of FileRecords registers each (at most 10000). A file's memory
	// is allocated when it is first written.
	Files, FileRecords int
}

// WriteFunc is told of a remote write after the Bank applied it: the function
// code, the first address and the number of coils or registers written (for
// FC 21, the first file number and the number of registers).
type WriteFunc func(fc FunctionCode, addr uint16, qty uint16)

// Bank is a thread-safe Modbus data model: coils, discrete inputs, holding and
// input registers, file records and FIFO queues. It implements Handler for the
// data access functions 1, 2, 3, 4, 5, 6, 15, 16, 20, 21, 22, 23 and 24,
// answering any other function with ExIllegalFunction; wrap it in a Device
// for the diagnostic and identification functions.
type Bank struct {
	mu       sync.RWMutex
	coils    []bool
	discrete []bool
	holding  []uint16
	input    []uint16
	onWrite  WriteFunc
	files    map[uint16][]uint16
	nFiles   int
	nRecords int
	fifos    map[uint16][]uint16
}

var _ Handler = (*Bank)(nil)

// NewBank returns a Bank with tables of the configured sizes, all zero.
// Sizes are clamped to 0..65536.
func NewBank(cfg BankConfig) *Bank {
	return &Bank{
		coils:    make([]bool, clampTable(cfg.Coils)),
		discrete: make([]bool, clampTable(cfg.DiscreteInputs)),
		holding:  make([]uint16, clampTable(cfg.HoldingRegisters)),
		input:    make([]uint16, clampTable(cfg.InputRegisters)),
		files:    make(map[uint16][]uint16),
		nFiles:   min(max(cfg.Files, 0), 0xFFFF),
		nRecords: min(max(cfg.FileRecords, 0), MaxFileRecordNumber+1),
		fifos:    make(map[uint16][]uint16),
	}
}

// clampTable bounds a table size to the 16-bit address space.
func clampTable(n int) int { return min(max(n, 0), 0x10000) }

// OnWrite sets the function called after each remote write (nil for none). It
// runs outside the Bank's lock, so it may read the Bank.
func (b *Bank) OnWrite(f WriteFunc) {
	b.mu.Lock()
	b.onWrite = f
	b.mu.Unlock()
}

// Holding returns holding register addr, or 0 beyond the table.
func (b *Bank) Holding(addr uint16) uint16 { return get(&b.mu, b.holding, addr) }

// SetHolding sets holding register addr; beyond the table it does nothing.
func (b *Bank) SetHolding(addr, v uint16) { set(&b.mu, b.holding, addr, v) }

// Input returns input register addr, or 0 beyond the table.
func (b *Bank) Input(addr uint16) uint16 { return get(&b.mu, b.input, addr) }

// SetInput sets input register addr; beyond the table it does nothing.
func (b *Bank) SetInput(addr, v uint16) { set(&b.mu, b.input, addr, v) }

// Coil returns coil addr, or false beyond the table.
func (b *Bank) Coil(addr uint16) bool { return get(&b.mu, b.coils, addr) }

// SetCoil sets coil addr; beyond the table it does nothing.
func (b *Bank) SetCoil(addr uint16, on bool) { set(&b.mu, b.coils, addr, on) }

// Discrete returns discrete input addr, or false beyond the table.
func (b *Bank) Discrete(addr uint16) bool { return get(&b.mu, b.discrete, addr) }

// SetDiscrete sets discrete input addr; beyond the table it does nothing.
func (b *Bank) SetDiscrete(addr uint16, on bool) { set(&b.mu, b.discrete, addr, on) }

// get reads t[addr] under a read lock.
func get[T any](mu *sync.RWMutex, t []T, addr uint16) T {
	mu.RLock()
	defer mu.RUnlock()
	var v T
	if int(addr) < len(t) {
		v = t[addr]
	}
	return v
}

// set writes t[addr] under the lock.
func set[T any](mu *sync.RWMutex, t []T, addr uint16, v T) {
	mu.Lock()
	defer mu.Unlock()
	if int(addr) < len(t) {
		t[addr] = v
	}
}

// ServeModbus implements Handler.
func (b *Bank) ServeModbus(_ context.Context, _ uint8, p PDU) (PDU, error) {
	if !bankFunction(p.Function) {
		return PDU{}, Exception(p.Function, ExIllegalFunction)
	}
	var r Request
	if err := ParseRequest(p, &r); err != nil {
		return PDU{}, requestException(p.Function, err)
	}
	resp, wrote, err := b.apply(&r)
	if err != nil {
		return PDU{}, err
	}
	if wrote {
		b.notify(&r)
	}
	return resp, nil
}

// bankFunction reports whether a Bank serves function f.
func bankFunction(f FunctionCode) bool {
	switch f {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters,
		FuncWriteSingleCoil, FuncWriteSingleRegister, FuncWriteMultipleCoils, FuncWriteMultipleRegisters,
		FuncMaskWriteRegister, FuncReadWriteMultipleRegisters, FuncReadFileRecord, FuncWriteFileRecord,
		FuncReadFIFOQueue:
		return true
	}
	return false
}

// requestException turns a ParseRequest error into the exception to answer.
func requestException(f FunctionCode, err error) *ExceptionError {
	c, ok := AsException(err)
	if !ok {
		c = ExServerDeviceFailure
	}
	return Exception(f, c)
}

// apply executes r under the lock; wrote reports a state change.
func (b *Bank) apply(r *Request) (resp PDU, wrote bool, err error) {
	switch r.Function {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncReadHoldingRegisters, FuncReadInputRegisters:
		b.mu.RLock()
		defer b.mu.RUnlock()
		resp, err = b.read(r.Function, r.Address, r.Quantity)
		return resp, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	resp, err = b.write(r)
	wrote = err == nil && r.Function != FuncReadFileRecord && r.Function != FuncReadFIFOQueue
	return resp, wrote, err
}

// read answers FC 1-4 and the read part of FC 23; the lock is held.
func (b *Bank) read(f FunctionCode, addr, qty uint16) (PDU, error) {
	switch f {
	case FuncReadCoils:
		return readBits(f, b.coils, addr, qty)
	case FuncReadDiscreteInputs:
		return readBits(f, b.discrete, addr, qty)
	case FuncReadInputRegisters:
		return readRegisters(f, b.input, addr, qty)
	}
	return readRegisters(f, b.holding, addr, qty)
}

// write answers FC 5, 6, 15, 16, 22 and 23; the lock is held.
func (b *Bank) write(r *Request) (PDU, error) {
	f := r.Function
	switch f {
	case FuncWriteSingleCoil, FuncWriteMultipleCoils:
		if err := inTable(f, len(b.coils), r.Address, r.Quantity); err != nil {
			return PDU{}, err
		}
		for i := range int(r.Quantity) {
			b.coils[int(r.Address)+i] = r.Coil(i)
		}
	case FuncWriteSingleRegister, FuncWriteMultipleRegisters:
		if err := inTable(f, len(b.holding), r.Address, r.Quantity); err != nil {
			return PDU{}, err
		}
		for i := range int(r.Quantity) {
			b.holding[int(r.Address)+i] = binary.BigEndian.Uint16(r.Values[2*i:])
		}
	case FuncMaskWriteRegister:
		if err := inTable(f, len(b.holding), r.Address, 1); err != nil {
			return PDU{}, err
		}
		cur := b.holding[r.Address]
		b.holding[r.Address] = cur&r.AndMask | r.OrMask&^r.AndMask
	case FuncReadWriteMultipleRegisters:
		return b.readWrite(r)
	case FuncReadFileRecord:
		return b.readFile(r)
	case FuncWriteFileRecord:
		return b.writeFile(r)
	case FuncReadFIFOQueue:
		return b.readFIFO(r.Address)
	default:
		return PDU{}, Exception(f, ExIllegalFunction)
	}
	return echoResponse(r), nil
}

// readWrite answers FC 23: both ranges are checked, the write happens first.
func (b *Bank) readWrite(r *Request) (PDU, error) {
	f := r.Function
	if err := inTable(f, len(b.holding), r.Address, r.Quantity); err != nil {
		return PDU{}, err
	}
	if err := inTable(f, len(b.holding), r.WriteAddress, r.WriteQuantity); err != nil {
		return PDU{}, err
	}
	for i := range int(r.WriteQuantity) {
		b.holding[int(r.WriteAddress)+i] = r.Register(i)
	}
	return readRegisters(f, b.holding, r.Address, r.Quantity)
}

// echoResponse builds the response of a write: FC 5, 6 and 22 echo the
// request, FC 15 and 16 echo address and quantity.
func echoResponse(r *Request) PDU {
	switch r.Function {
	case FuncWriteMultipleCoils, FuncWriteMultipleRegisters:
		return words(r.Function, r.Address, r.Quantity)
	case FuncMaskWriteRegister:
		return MaskWriteRegister(r.Address, r.AndMask, r.OrMask)
	}
	return words(r.Function, r.Address, binary.BigEndian.Uint16(r.Values))
}

// notify calls the OnWrite function for a write request.
func (b *Bank) notify(r *Request) {
	b.mu.RLock()
	f := b.onWrite
	b.mu.RUnlock()
	if f == nil {
		return
	}
	addr, qty := writtenRange(r)
	f(r.Function, addr, qty)
}

// writtenRange returns what OnWrite reports for r: the write range of FC 23,
// and for FC 21 the first file number and the number of registers written.
func writtenRange(r *Request) (addr, qty uint16) {
	switch r.Function {
	case FuncReadWriteMultipleRegisters:
		return r.WriteAddress, r.WriteQuantity
	case FuncWriteFileRecord:
		first := true
		for fr := range r.FileRecords {
			if first {
				addr, first = fr.File, false
			}
			qty += fr.Length
		}
		return addr, qty
	}
	return r.Address, r.Quantity
}

// inTable checks that addr..addr+qty-1 lies inside a table of size n.
func inTable(f FunctionCode, n int, addr, qty uint16) error {
	if int(addr)+int(qty) > n {
		return Exception(f, ExIllegalDataAddress)
	}
	return nil
}

// readBits answers a bit read from table t.
func readBits(f FunctionCode, t []bool, addr, qty uint16) (PDU, error) {
	if err := inTable(f, len(t), addr, qty); err != nil {
		return PDU{}, err
	}
	d := make([]byte, 1, 1+(int(qty)+7)/8)
	d[0] = byte((int(qty) + 7) / 8)
	return PDU{Function: f, Data: appendBits(d, t[addr:int(addr)+int(qty)])}, nil
}

// readRegisters answers a register read from table t.
func readRegisters(f FunctionCode, t []uint16, addr, qty uint16) (PDU, error) {
	if err := inTable(f, len(t), addr, qty); err != nil {
		return PDU{}, err
	}
	d := make([]byte, 1, 1+2*int(qty))
	d[0] = byte(2 * qty)
	return PDU{Function: f, Data: appendRegisters(d, t[addr:int(addr)+int(qty)])}, nil
}
