package logic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"time"

	"github.com/otrange/otrange/simulator/water"
)

// Tags is the process as a program sees it. *water.Plant implements it.
type Tags interface {
	Lookup(name string) (water.TagID, bool)
	Info(id water.TagID) (water.TagInfo, bool)
	Get(id water.TagID) float64
	Set(id water.TagID, v float64) error
}

var _ Tags = (*water.Plant)(nil)

// Type is a variable's data type.
type Type uint8

// Variable types. A Float maps to an integer register as round(value ×
// Scale); Bool and Int map as they are.
const (
	Bool Type = iota + 1
	Int
	Float
)

func (t Type) String() string {
	switch t {
	case Bool:
		return "bool"
	case Int:
		return "int"
	case Float:
		return "float"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Access says who may write a variable.
type Access uint8

// Access levels.
const (
	// ReadOnly variables are the program's outputs: measurements it
	// publishes, states, alarms, counters.
	ReadOnly Access = iota + 1
	// Operator variables are operating data: setpoints, auto/manual,
	// manual commands, resets. The network may write them in Remote mode.
	Operator
	// Config variables are the program's parameters: alarm and trip limits,
	// bands, gains, interlock enables, chemical strengths. The network may
	// write them only in Program mode. They make up the program: Snapshot,
	// Restore, Download and Checksum cover them, not operating data.
	Config
)

func (a Access) String() string {
	switch a {
	case ReadOnly:
		return "read-only"
	case Operator:
		return "operator"
	case Config:
		return "config"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

// Mode is the controller's operating mode (its key switch and local panel).
type Mode uint8

// Operating modes. The zero Mode is not valid.
const (
	// ModeRemote: the program runs; the network may write Operator variables
	// and switch the mode to Program.
	ModeRemote Mode = iota + 1
	// ModeRun: the key switch locks the controller: the program runs, the
	// network may read only.
	ModeRun
	// ModeProgram: the program is stopped and its outputs hold their last
	// values (the SIS keeps executing, as a Triconex does); the network may
	// write Operator and Config variables, download a program, and switch
	// back to Remote.
	ModeProgram
	// ModeLocal: the local panel has control (local/manual): automatic control
	// is suspended and actuators follow the manual commands set at the
	// panel; interlocks and alarms still work; the network may read only.
	ModeLocal
)

var modeNames = [...]string{ModeRemote: "remote", ModeRun: "run", ModeProgram: "program", ModeLocal: "local"}

func (m Mode) String() string {
	if m >= ModeRemote && m <= ModeLocal {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) {
	for m := ModeRemote; m <= ModeLocal; m++ {
		if modeNames[m] == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("logic: unknown mode %q (want remote, run, program or local)", s)
}

// VarInfo describes one variable of a program: what the lead maps to a
// Modbus register or coil, or a DNP3 point.
type VarInfo struct {
	Name        string
	Type        Type
	Scale       float64 // Float: register = round(value × Scale); 1 for Bool and Int
	Unit        string
	Access      Access
	Default     float64
	Min, Max    float64
	Description string
}

// VarID is a variable's index in its program.
type VarID int

// Errors of variable access. A network write refused for the mode maps to
// Modbus exception 1 (illegal function) or DNP3 IIN "no function code
// support"; ErrRange to exception 3 (illegal data value).
var (
	ErrUnknownVar = errors.New("unknown variable")
	ErrReadOnly   = errors.New("variable is read-only")
	ErrRange      = errors.New("value out of range")
	ErrMode       = errors.New("refused in this operating mode")
	ErrProgram    = errors.New("program does not match")
)

// Program is one controller's program: its variables, its mode and its
// scan. It is not safe for concurrent use; the plant's process goroutine
// scans it under the same lock as the water.Plant.
type Program struct {
	kind, name string
	info       []VarInfo
	byName     map[string]VarID
	val        []float64
	knownGood  []float64
	mode       Mode
	modeVar    VarID
	scanCount  VarID
	checksum   VarID
	alarms     VarID
	scan       func(dt float64, local bool)
	resetHook  func()
	// alwaysScan: the logic runs in Program mode too (the SIS).
	alwaysScan bool
	// outputs' TagIDs are the actuators the program writes; a failure to
	// write one is counted.
	writeErrors int
}

// Kind is the program's kind: "intake", "treatment", "distribution",
// "booster" or "sis".
func (p *Program) Kind() string { return p.kind }

// Name is the device's name (Options.Name, or the kind).
func (p *Program) Name() string { return p.name }

// Vars lists the variables in VarID order.
func (p *Program) Vars() []VarInfo { return append([]VarInfo(nil), p.info...) }

// Lookup resolves a variable name.
func (p *Program) Lookup(name string) (VarID, bool) {
	id, ok := p.byName[name]
	return id, ok
}

// Get returns a variable's value. It panics on an ID not from Lookup.
func (p *Program) Get(id VarID) float64 { return p.val[id] }

// Read returns a variable's value by name.
func (p *Program) Read(name string) (float64, bool) {
	id, ok := p.byName[name]
	if !ok {
		return 0, false
	}
	return p.val[id], true
}

// Mode is the current operating mode.
func (p *Program) Mode() Mode { return p.mode }

// SetMode changes the mode locally (the key switch, the panel, a range
// control); it is always allowed.
func (p *Program) SetMode(m Mode) error {
	if m < ModeRemote || m > ModeLocal {
		return fmt.Errorf("logic: %s: mode %d: %w", p.name, m, ErrRange)
	}
	p.mode = m
	p.val[p.modeVar] = float64(m)
	return nil
}

// Set writes a variable locally (engineering panel, range control): any
// Operator or Config variable, in any mode, within its range.
func (p *Program) Set(id VarID, v float64) error {
	if id < 0 || int(id) >= len(p.info) {
		return fmt.Errorf("logic: %s: variable %d: %w", p.name, id, ErrUnknownVar)
	}
	if id == p.modeVar {
		if v != math.Trunc(v) || v < float64(ModeRemote) || v > float64(ModeLocal) {
			return fmt.Errorf("logic: %s: mode %v: %w", p.name, v, ErrRange)
		}
		return p.SetMode(Mode(v))
	}
	return p.store(id, v)
}

// Write is Set by name.
func (p *Program) Write(name string, v float64) error {
	id, ok := p.byName[name]
	if !ok {
		return fmt.Errorf("logic: %s: %q: %w", p.name, name, ErrUnknownVar)
	}
	return p.Set(id, v)
}

// NetWrite is a write from the network (Modbus, DNP3): it honours the mode.
// In Remote, Operator variables; in Program, Operator and Config variables;
// in Run and Local, nothing. The mode variable switches between Remote and
// Program only, and only from those two modes.
func (p *Program) NetWrite(id VarID, v float64) error {
	if id < 0 || int(id) >= len(p.info) {
		return fmt.Errorf("logic: %s: variable %d: %w", p.name, id, ErrUnknownVar)
	}
	info := &p.info[id]
	if p.mode != ModeRemote && p.mode != ModeProgram {
		return fmt.Errorf("logic: %s: write %s in %s mode: %w", p.name, info.Name, p.mode, ErrMode)
	}
	if id == p.modeVar {
		if v != float64(ModeRemote) && v != float64(ModeProgram) {
			return fmt.Errorf("logic: %s: the network may switch only between remote and program (asked %v): %w", p.name, v, ErrMode)
		}
		return p.SetMode(Mode(v))
	}
	if info.Access == Config && p.mode != ModeProgram {
		return fmt.Errorf("logic: %s: %s is a program parameter, writable in program mode only: %w", p.name, info.Name, ErrMode)
	}
	return p.store(id, v)
}

// store validates and stores a value.
func (p *Program) store(id VarID, v float64) error {
	info := &p.info[id]
	if info.Access == ReadOnly {
		return fmt.Errorf("logic: %s: %s: %w", p.name, info.Name, ErrReadOnly)
	}
	if math.IsNaN(v) || v < info.Min || v > info.Max {
		return fmt.Errorf("logic: %s: %s = %v outside %v–%v: %w", p.name, info.Name, v, info.Min, info.Max, ErrRange)
	}
	switch info.Type {
	case Bool:
		v = b2f(v != 0)
	case Int:
		v = math.Round(v)
	}
	p.val[id] = v
	if info.Access == Config {
		p.val[p.checksum] = float64(p.Checksum())
	}
	return nil
}

// Scan runs one scan cycle of dt: read inputs, run the logic, write
// actuators, update outputs. In Program mode the logic is stopped (except
// the SIS's) and nothing changes.
func (p *Program) Scan(dt time.Duration) {
	if p.mode == ModeProgram && !p.alwaysScan {
		return
	}
	p.val[p.scanCount] = math.Mod(p.val[p.scanCount]+1, 1<<31)
	p.scan(dt.Seconds(), p.mode == ModeLocal)
}

// Reset puts the program back to its initial state: every variable at its
// default, the initial mode, the known-good program as built, the logic's
// internal state (hysteresis, timers, sequencers) cleared.
func (p *Program) Reset() {
	for i, info := range p.info {
		p.val[i] = info.Default
	}
	p.mode = Mode(p.info[p.modeVar].Default)
	if p.resetHook != nil {
		p.resetHook()
	}
	p.val[p.checksum] = float64(p.Checksum())
	p.SaveKnownGood()
}

// WriteErrors counts actuator writes the process refused (a bug if ever
// non-zero: tags are checked when the program is built).
func (p *Program) WriteErrors() int { return p.writeErrors }

// Param is one program parameter's value.
type Param struct {
	Name  string
	Value float64
}

// Snapshot is a copy of a program's parameters (its Config variables).
type Snapshot struct {
	Kind   string
	Params []Param
}

// Snapshot copies the program's current parameters.
func (p *Program) Snapshot() Snapshot {
	s := Snapshot{Kind: p.kind}
	for i, info := range p.info {
		if info.Access == Config {
			s.Params = append(s.Params, Param{info.Name, p.val[i]})
		}
	}
	return s
}

// Restore replaces the parameters with s, locally (an engineer at the
// panel, a range control). It applies all of s or nothing.
func (p *Program) Restore(s Snapshot) error {
	if s.Kind != p.kind {
		return fmt.Errorf("logic: %s: a %q program cannot be restored into a %q controller: %w", p.name, s.Kind, p.kind, ErrProgram)
	}
	ids := make([]VarID, len(s.Params))
	for i, par := range s.Params {
		id, ok := p.byName[par.Name]
		if !ok || p.info[id].Access != Config {
			return fmt.Errorf("logic: %s: %q is not a parameter of this program: %w", p.name, par.Name, ErrProgram)
		}
		info := &p.info[id]
		if math.IsNaN(par.Value) || par.Value < info.Min || par.Value > info.Max {
			return fmt.Errorf("logic: %s: %s = %v outside %v–%v: %w", p.name, info.Name, par.Value, info.Min, info.Max, ErrRange)
		}
		ids[i] = id
	}
	for i, id := range ids {
		_ = p.store(id, s.Params[i].Value)
	}
	return nil
}

// Download is a program download from the network (an engineering
// workstation, or an attacker's): allowed in Program mode only.
func (p *Program) Download(s Snapshot) error {
	if p.mode != ModeProgram {
		return fmt.Errorf("logic: %s: download in %s mode: %w", p.name, p.mode, ErrMode)
	}
	return p.Restore(s)
}

// SaveKnownGood records the current parameters as the known-good program.
func (p *Program) SaveKnownGood() { p.knownGood = append(p.knownGood[:0], p.val...) }

// KnownGood returns the known-good program.
func (p *Program) KnownGood() Snapshot {
	s := Snapshot{Kind: p.kind}
	for i, info := range p.info {
		if info.Access == Config {
			s.Params = append(s.Params, Param{info.Name, p.knownGood[i]})
		}
	}
	return s
}

// RestoreKnownGood puts the known-good parameters back (a range control).
func (p *Program) RestoreKnownGood() {
	for i, info := range p.info {
		if info.Access == Config {
			p.val[i] = p.knownGood[i]
		}
	}
	p.val[p.checksum] = float64(p.Checksum())
}

// RestoreSetpoints puts every Operator variable back to its default (a range
// control), the mode excepted.
func (p *Program) RestoreSetpoints() {
	for i, info := range p.info {
		if info.Access == Operator && VarID(i) != p.modeVar {
			p.val[i] = info.Default
		}
	}
}

// Checksum is a CRC-32 (IEEE) of the program: its kind and its parameters'
// names and values. An engineering workstation compares it with the
// known-good one; a program changed over the network (PIPEDREAM, TRITON)
// shows here, operating data (setpoints) do not.
func (p *Program) Checksum() uint32 {
	h := crc32.NewIEEE()
	_, _ = h.Write([]byte(p.kind))
	var b [8]byte
	for i, info := range p.info {
		if info.Access != Config {
			continue
		}
		_, _ = h.Write([]byte(info.Name))
		binary.BigEndian.PutUint64(b[:], math.Float64bits(p.val[i]))
		_, _ = h.Write(b[:])
	}
	return h.Sum32()
}

// Options customise a program when it is built.
type Options struct {
	// Name is the device's name; "" means the kind.
	Name string
	// Unit selects which station a booster program controls (1, 2, ...);
	// 0 means 1. Other kinds ignore it.
	Unit int
	// Defaults overrides variables' defaults by name (Operator and Config
	// variables only); the program starts with them and its known-good copy
	// holds them.
	Defaults map[string]float64
	// Mode is the initial mode; 0 means the kind's default (Remote for
	// PLCs, Run for the SIS).
	Mode Mode
}

// Kinds lists the program kinds New builds.
func Kinds() []string {
	k := make([]string, 0, len(builders))
	for name := range builders {
		k = append(k, name)
	}
	sort.Strings(k)
	return k
}

var builders = map[string]func(*builder){
	"intake":       buildIntake,
	"treatment":    buildTreatment,
	"distribution": buildDistribution,
	"booster":      buildBooster,
	"sis":          buildSIS,
}

// New builds a program of the given kind over the process. It fails if the
// process lacks a tag the program needs, or Options name an unknown
// variable or an out-of-range default.
func New(kind string, t Tags, opts Options) (*Program, error) {
	build, ok := builders[kind]
	if !ok {
		return nil, fmt.Errorf("logic: unknown program kind %q (want one of %v)", kind, Kinds())
	}
	name := opts.Name
	if name == "" {
		name = kind
	}
	p := &Program{kind: kind, name: name, byName: map[string]VarID{}}
	b := &builder{p: p, t: t, unit: max(opts.Unit, 1), mode: ModeRemote}
	p.modeVar = b.v("mode", Int, Operator, 0, 1, 4, 1, "", "operating mode: 1 remote, 2 run, 3 program, 4 local")
	p.scanCount = b.v("scan.count", Int, ReadOnly, 0, 0, 1<<31, 1, "", "scans since start (wraps)")
	p.checksum = b.v("checksum", Int, ReadOnly, 0, 0, math.MaxUint32, 1, "", "CRC-32 of the program's parameters")
	p.alarms = b.v("alarms", Int, ReadOnly, 0, 0, math.MaxUint16, 1, "", "alarm bits, see the Alarm constants")
	build(b)
	if b.err != nil {
		return nil, fmt.Errorf("logic: %s: %w", name, b.err)
	}
	for n, v := range opts.Defaults {
		id, ok := p.byName[n]
		if !ok || p.info[id].Access == ReadOnly || id == p.modeVar {
			return nil, fmt.Errorf("logic: %s: default for %q: not a writable variable: %w", name, n, ErrUnknownVar)
		}
		if err := p.store(id, v); err != nil {
			return nil, err
		}
		p.info[id].Default = p.val[id]
	}
	m := opts.Mode
	if m == 0 {
		m = b.mode
	}
	if err := p.SetMode(m); err != nil {
		return nil, err
	}
	p.info[p.modeVar].Default = float64(m)
	p.val[p.checksum] = float64(p.Checksum())
	p.SaveKnownGood()
	return p, nil
}

// builder declares variables and resolves tags while a program is built.
type builder struct {
	p    *Program
	t    Tags
	unit int
	mode Mode // the kind's default mode
	err  error
}

func (b *builder) v(name string, typ Type, acc Access, def, lo, hi, scale float64, unit, desc string) VarID {
	p := b.p
	if _, dup := p.byName[name]; dup {
		panic("logic: duplicate variable " + name) // a bug in a program, not an input error
	}
	if typ != Float {
		scale = 1
	}
	if typ == Bool {
		lo, hi = 0, 1
	}
	id := VarID(len(p.info))
	p.info = append(p.info, VarInfo{Name: name, Type: typ, Scale: scale, Unit: unit, Access: acc, Default: def, Min: lo, Max: hi, Description: desc})
	p.byName[name] = id
	p.val = append(p.val, def)
	return id
}

// in resolves a tag the program reads.
func (b *builder) in(name string) water.TagID {
	id, ok := b.t.Lookup(name)
	if !ok && b.err == nil {
		b.err = fmt.Errorf("process has no tag %q", name)
	}
	return id
}

// out resolves an actuator the program writes.
func (b *builder) out(name string) water.TagID {
	id := b.in(name)
	if b.err != nil {
		return id
	}
	if info, _ := b.t.Info(id); info.Kind != water.Actuator {
		b.err = fmt.Errorf("process tag %q is a %s, not an actuator", name, info.Kind)
	}
	return id
}

// has tells whether the process has a tag.
func (b *builder) has(name string) bool {
	_, ok := b.t.Lookup(name)
	return ok
}

// set writes an actuator, counting refusals.
func (p *Program) set(t Tags, id water.TagID, v float64) {
	if t.Set(id, v) != nil {
		p.writeErrors++
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
