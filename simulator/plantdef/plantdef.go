// Package plantdef is the plant definition: which devices the virtual plant
// has, on which addresses and ports, with which register and point maps,
// programs, parameters and rates, plus the process parameters. It is read
// strictly from YAML: unknown keys, wrong types, bad durations or addresses,
// missing fields, duplicates and references to devices, tags, programs or
// variables that do not exist are all errors, each reported at its file, line
// and column, all of them at once.
//
// The package knows nothing of the physics or the PLC programs: a Catalog
// passed in by the plant says which tags, programs and variables exist. The
// process section is kept as a YAML node, which the plant decodes into its
// own configuration with DecodeProcess (strict too). The format is described
// in README.md beside this file.
package plantdef

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/otrange/otrange/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

// Plant is a parsed and checked plant definition. Defaults are filled in, so
// the plant can use every field as it is.
type Plant struct {
	Meta Meta `yaml:"plant"`
	// Process holds the process model's parameters, undecoded; see
	// DecodeProcess. Its Kind is 0 when the file has no process section.
	Process yaml.Node `yaml:"process,omitempty"`
	Devices []Device  `yaml:"devices"`
	// File is the name the definition was parsed under, used in errors.
	File string `yaml:"-"`
}

// Meta names the plant and sets how the process model steps.
type Meta struct {
	Name string `yaml:"name"`
	// Seed makes the process model's noise reproducible.
	Seed int64 `yaml:"seed"`
	// Tick is the process model's fixed step (1ms..10s).
	Tick time.Duration `yaml:"tick"`
}

// Kind is the role of a device.
type Kind string

// Device kinds.
const (
	KindPLC       Kind = "plc"       // a PLC: Modbus server (or DNP3 outstation) running a program
	KindRTU       Kind = "rtu"       // a remote station: DNP3 outstation (or Modbus server)
	KindSIS       Kind = "sis"       // the safety instrumented system: a PLC with trip logic
	KindHMI       Kind = "hmi"       // operator station: polls field devices, sends operator commands
	KindEWS       Kind = "ews"       // engineering workstation: occasional maintenance traffic
	KindHistorian Kind = "historian" // records tags
)

var kinds = []Kind{KindPLC, KindRTU, KindSIS, KindHMI, KindEWS, KindHistorian}

// Field reports whether the kind is a field device (it serves a protocol and
// may run a program).
func (k Kind) Field() bool { return k == KindPLC || k == KindRTU || k == KindSIS }

// Mode is a field device's operating mode at start.
type Mode string

// Operating modes. What each accepts is the logic package's business; the
// usual meaning: run executes the program and accepts setpoint writes;
// program stops outputs and accepts program downloads; remote accepts
// commands from the network; local ignores network writes (manual at the
// panel).
const (
	ModeRun     Mode = "run"
	ModeProgram Mode = "program"
	ModeRemote  Mode = "remote"
	ModeLocal   Mode = "local"
)

var modes = []Mode{ModeRun, ModeProgram, ModeRemote, ModeLocal}

// Device is one host of the plant. Which fields apply depends on Kind: the
// loader refuses a key that does not apply to the device's kind.
type Device struct {
	Name        string     `yaml:"name"`
	Kind        Kind       `yaml:"kind"`
	Address     netip.Addr `yaml:"address"`
	Description string     `yaml:"description,omitempty"`

	// Field devices (plc, rtu, sis).
	Modbus  *Modbus `yaml:"modbus,omitempty"`
	DNP3    *DNP3   `yaml:"dnp3,omitempty"`
	Program string  `yaml:"program,omitempty"` // required for plc and sis
	Mode    Mode    `yaml:"mode,omitempty"`    // "": the program's own (remote for PLCs, run for the SIS)
	// Parameters are initial values of writable program variables.
	Parameters map[string]Value `yaml:"parameters,omitempty"`
	// RestartTime is how long the device is off the wire when restarted
	// (default 5s).
	RestartTime time.Duration `yaml:"restart_time,omitempty"`
	Identity    *Identity     `yaml:"identity,omitempty"`
	Registers   []Register    `yaml:"registers,omitempty"` // needs Modbus
	Points      []Point       `yaml:"points,omitempty"`    // needs DNP3

	// HMI. Polls lists the field devices polled (default: all, in file order).
	Polls             []string      `yaml:"polls,omitempty"`
	PollInterval      time.Duration `yaml:"poll_interval,omitempty"`      // Modbus polls, default 1s
	IntegrityInterval time.Duration `yaml:"integrity_interval,omitempty"` // DNP3 class 0123, default 60s
	EventInterval     time.Duration `yaml:"event_interval,omitempty"`     // DNP3 class 123, default 5s

	// EWS. Targets lists the field devices maintained (default: all).
	Targets             []string      `yaml:"targets,omitempty"`
	MaintenanceInterval time.Duration `yaml:"maintenance_interval,omitempty"` // default 10m

	// Historian.
	Interval  time.Duration `yaml:"interval,omitempty"`  // sampling, default 1s
	Retention time.Duration `yaml:"retention,omitempty"` // default 168h
	Tags      []string      `yaml:"tags,omitempty"`      // required

	// Line and Column locate the device in its file, for later messages.
	Line   int `yaml:"-"`
	Column int `yaml:"-"`
}

// Modbus is a device's Modbus/TCP server.
type Modbus struct {
	Port int `yaml:"port"` // default 502
	// FallbackPort is bound when Port may not be (no root); 0: none.
	FallbackPort int `yaml:"fallback_port,omitempty"`
	Unit         int `yaml:"unit"` // 1..247, required
}

// DNP3 is a device's DNP3 outstation over TCP.
type DNP3 struct {
	Port         int  `yaml:"port"` // default 20000
	FallbackPort int  `yaml:"fallback_port,omitempty"`
	Address      int  `yaml:"address"` // outstation link address 0..65519, required
	Master       int  `yaml:"master"`  // master link address 0..65519, required
	Unsolicited  bool `yaml:"unsolicited,omitempty"`
}

// Identity is what a device answers to Modbus device identification (FC 43/14).
type Identity struct {
	Vendor   string `yaml:"vendor,omitempty"`
	Product  string `yaml:"product,omitempty"`
	Revision string `yaml:"revision,omitempty"`
	Model    string `yaml:"model,omitempty"`
}

// Table is a Modbus data table.
type Table string

// Modbus tables.
const (
	Coil     Table = "coil"     // read/write bits
	Discrete Table = "discrete" // read-only bits
	Input    Table = "input"    // read-only 16-bit registers
	Holding  Table = "holding"  // read/write 16-bit registers
)

var tables = []Table{Coil, Discrete, Input, Holding}

// Bit reports whether the table holds bits.
func (t Table) Bit() bool { return t == Coil || t == Discrete }

// Writable reports whether a master may write the table.
func (t Table) Writable() bool { return t == Coil || t == Holding }

// Register binds one Modbus address to a process tag or a program variable.
// A register's raw value is round(value*Scale), as uint16 (int16 when
// Signed); a bit is value != 0.
type Register struct {
	Table   Table   `yaml:"table"`
	Address int     `yaml:"address"`
	Tag     string  `yaml:"tag,omitempty"`
	Var     string  `yaml:"var,omitempty"`
	Scale   float64 `yaml:"scale,omitempty"` // registers only, default 1
	Signed  bool    `yaml:"signed,omitempty"`
	// ReadOnly makes a coil or holding register refuse writes (exception 2),
	// so that it may show a tag or a status variable.
	ReadOnly bool `yaml:"readonly,omitempty"`
	// Words is 2 for a 32-bit value held in two registers, high word first
	// at Address (default 1).
	Words int `yaml:"words,omitempty"`
	// Limits, [min, max] in engineering units, is the safe operating
	// envelope of a writable setpoint, declared by the plant's owner: the
	// sensor's policy flags writes outside it (the device itself accepts
	// whatever its program allows).
	Limits []float64 `yaml:"limits,omitempty"`
	Line   int       `yaml:"-"`
}

// PointType is a DNP3 point type.
type PointType string

// DNP3 point types.
const (
	BinaryInput  PointType = "binary_input"
	BinaryOutput PointType = "binary_output"
	Counter      PointType = "counter"
	AnalogInput  PointType = "analog_input"
	AnalogOutput PointType = "analog_output"
)

var pointTypes = []PointType{BinaryInput, BinaryOutput, Counter, AnalogInput, AnalogOutput}

// Binary reports whether the point holds one bit.
func (t PointType) Binary() bool { return t == BinaryInput || t == BinaryOutput }

// Output reports whether a master may operate the point.
func (t PointType) Output() bool { return t == BinaryOutput || t == AnalogOutput }

// Point binds one DNP3 point to a process tag or a program variable. Analog
// and counter values are round(value*Scale) as 32-bit integers.
type Point struct {
	Type  PointType `yaml:"type"`
	Index int       `yaml:"index"`
	Tag   string    `yaml:"tag,omitempty"`
	Var   string    `yaml:"var,omitempty"`
	// Class is the event class 1..3, or 0 for static data only. Default: 1
	// for binary inputs, 2 for analog inputs, 3 for counters, 0 for outputs.
	Class int `yaml:"class"`
	// Deadband (analog inputs, engineering units) below which a change raises
	// no event.
	Deadband float64 `yaml:"deadband,omitempty"`
	Scale    float64 `yaml:"scale,omitempty"` // analog and counter only, default 1
	ReadOnly bool    `yaml:"readonly,omitempty"`
	Line     int     `yaml:"-"`
}

// Value is a parameter value: a number, or true/false (1/0).
type Value float64

// UnmarshalYAML implements yaml.Unmarshaler.
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err != nil {
			return err
		}
		*v = 0
		if b {
			*v = 1
		}
		return nil
	}
	f, ok := yamlstrict.Number(n)
	if !ok {
		return fmt.Errorf("expected a number or true/false, got %s", yamlstrict.Describe(n))
	}
	*v = Value(f)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (v Value) MarshalYAML() (any, error) { return float64(v), nil }

// Limits of a definition.
const (
	MaxSize      = 1 << 20 // bytes of YAML
	MaxDevices   = 1000
	MaxRegisters = 10000 // registers or points per device
	MaxTags      = 10000 // historian tags
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default plant definition.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default parses the embedded default plant (a whole water plant).
func Default(cat Catalog, checkAddr func(netip.Addr) error) (*Plant, error) {
	return Parse("default.yaml", defaultYAML, cat, checkAddr)
}

// Load reads and parses the definition in the file at path.
func Load(path string, cat Catalog, checkAddr func(netip.Addr) error) (*Plant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(path, data, cat, checkAddr)
}

// Parse parses and checks a definition. name is the file name used in
// errors. cat nil skips the checks of tags, programs and variables (syntax
// and structure only); checkAddr nil accepts any valid address (the plant
// passes the range guard, which refuses addresses outside the range). The
// error, when not nil, is an ErrorList of every problem found.
func Parse(name string, data []byte, cat Catalog, checkAddr func(netip.Addr) error) (*Plant, error) {
	c := &collector{file: name}
	if len(data) > MaxSize {
		c.at(1, 1, "definition is larger than %d bytes", MaxSize)
		return nil, c.err()
	}
	if line, col, msg := checkText(data); msg != "" {
		c.at(line, col, "%s", msg)
		return nil, c.err()
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.at(1, 1, "empty definition")
		} else {
			syntaxError(c, err)
		}
		return nil, c.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.node(&extra, "only one YAML document is allowed")
		return nil, c.err()
	} else if !errors.Is(err, io.EOF) {
		syntaxError(c, err)
		return nil, c.err()
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	p := &Plant{File: name}
	d := &decoder{c: c, paths: map[string]*yaml.Node{}, bad: map[string]bool{}}
	d.decode(root, reflect.ValueOf(p).Elem(), "")
	v := &validator{c: c, paths: d.paths, bad: d.bad, root: root, cat: cat, checkAddr: checkAddr}
	v.plant(p)
	if err := c.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodeProcess decodes the process section strictly into v (a pointer to
// the process model's configuration, already holding its defaults), with
// errors at their place in the definition's file. Without a process section
// v is left as it is.
func (p *Plant) DecodeProcess(v any) error {
	if p.Process.Kind == 0 {
		return nil
	}
	return DecodeStrict(p.File, &p.Process, v)
}

// Device returns the device with the given name.
func (p *Plant) Device(name string) (*Device, bool) {
	for i := range p.Devices {
		if p.Devices[i].Name == name {
			return &p.Devices[i], true
		}
	}
	return nil, false
}

// Marshal writes the definition back as YAML (defaults included). Parsing
// the result gives the same plant.
func (p *Plant) Marshal() ([]byte, error) {
	n, err := encode(reflect.ValueOf(*p))
	if err != nil {
		return nil, err
	}
	// The top level and the devices list read better in block style.
	n.Style = 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "devices" {
			n.Content[i+1].Style = 0
		}
	}
	return marshalNode(n)
}

// syntaxError reports an error of the YAML reader, which gives a line only.
func syntaxError(c *collector, err error) {
	line, text, _ := yamlstrict.SyntaxError(err.Error())
	c.at(line, 0, "YAML syntax: %s", text)
}

// checkText finds the first byte the YAML reader would refuse (invalid UTF-8
// or a control character), so that it is reported at its exact position.
func checkText(data []byte) (line, col int, msg string) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return line, col, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", data[i])
		case r == '\n':
			line, col = line+1, 0
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xFEFF:
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF:
			return line, col, fmt.Sprintf("control character %U is not allowed", r)
		}
		col++
		i += size
	}
	return 0, 0, ""
}
