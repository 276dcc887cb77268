package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Params are the decoded parameters of a step's action. Each action has its
// own type (ModbusWrite for modbus.write, ...), created with its defaults by
// the action's ActionSpec.New, then decoded strictly over them.
type Params interface {
	// Validate checks the values; each problem names its field (as written
	// in YAML, e.g. "values[2]").
	Validate() []FieldError
}

// FieldError is a problem with one parameter.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// TargetRule says what an action's target may be.
type TargetRule int

// Target rules.
const (
	// TargetNone: the action takes no target.
	TargetNone TargetRule = iota
	// TargetDevice: a device name or a literal range address (host or host:port).
	TargetDevice
	// TargetPrefix: a prefix of the range (127.10.1.0/24), a device name or an address.
	TargetPrefix
)

// ActionSpec describes one action kind.
type ActionSpec struct {
	Name    string
	Summary string
	Target  TargetRule
	// Kinds are the device kinds a named target may have (empty: any).
	Kinds []string
	// Techniques are the ATT&CK for ICS ids the action exhibits when a step
	// names none.
	Techniques []string
	// New returns the parameters with their defaults; nil when the action
	// takes none.
	New func() Params
	// NeedsInjects marks actions that only release injects.
	NeedsInjects bool
}

var modbusKinds = []string{KindPLC, KindSIS}
var dnp3Kinds = []string{KindRTU}

// Actions lists every action kind, in documentation order.
var Actions = []ActionSpec{
	{Name: "net.discover", Summary: "TCP host and port discovery over a prefix of the range", Target: TargetPrefix,
		Techniques: []string{"T0846"}, New: func() Params {
			return &NetDiscover{Ports: []uint16{502, 20000, 102, 44818, 80, 443}, Rate: 100, Timeout: Duration(500 * time.Millisecond)}
		}},
	{Name: "modbus.read", Summary: "read coils, discrete inputs, input or holding registers", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0801"}, New: func() Params {
			return &ModbusRead{Unit: 1, Table: "holding", Count: 1, Repeat: 1, Interval: Duration(time.Second)}
		}},
	{Name: "modbus.write", Summary: "write single or multiple holding registers or coils", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0855", "T0836"}, New: func() Params {
			return &ModbusWrite{Unit: 1, Table: "holding", Repeat: 1, Interval: Duration(time.Second)}
		}},
	{Name: "modbus.scan.units", Summary: "probe unit identifiers with one request each", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0846"}, New: func() Params {
			return &ModbusScanUnits{From: 1, To: 247, Function: 3, Interval: Duration(20 * time.Millisecond)}
		}},
	{Name: "modbus.scan.functions", Summary: "probe which function codes a device supports", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0888"}, New: func() Params { return &ModbusScanFunctions{Unit: 1, Interval: Duration(20 * time.Millisecond)} }},
	{Name: "modbus.scan.addresses", Summary: "walk a table's address space to map its points", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0861"}, New: func() Params {
			return &ModbusScanAddresses{Unit: 1, Table: "holding", To: 9999, Block: 100, Interval: Duration(10 * time.Millisecond)}
		}},
	{Name: "modbus.diagnostic", Summary: "a diagnostics (FC 8) sub-function", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0888"}, New: func() Params { return &ModbusDiagnostic{Unit: 1} }},
	{Name: "modbus.identify", Summary: "read device identification (FC 43/14)", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0888"}, New: func() Params { return &ModbusIdentify{Unit: 1, Level: "basic"} }},
	{Name: "modbus.flood", Summary: "a request or connection flood", Target: TargetDevice, Kinds: modbusKinds,
		Techniques: []string{"T0814"}, New: func() Params {
			return &ModbusFlood{Unit: 1, Mode: "requests", Rate: 500, Duration: Duration(10 * time.Second), Connections: 1, Count: 1}
		}},
	{Name: "dnp3.read", Summary: "integrity or class poll", Target: TargetDevice, Kinds: dnp3Kinds,
		Techniques: []string{"T0801"}, New: func() Params {
			return &DNP3Read{Master: 1, Kind: "integrity", Repeat: 1, Interval: Duration(time.Second)}
		}},
	{Name: "dnp3.operate", Summary: "CROB or analog output control: direct, select/operate, or direct without ack", Target: TargetDevice, Kinds: dnp3Kinds,
		Techniques: []string{"T0855"}, New: func() Params {
			return &DNP3Operate{Master: 1, Point: "crob", Mode: "select_operate", Count: 1, Interval: Duration(time.Second), OnTime: Duration(time.Second)}
		}},
	{Name: "dnp3.restart", Summary: "cold or warm restart of an outstation", Target: TargetDevice, Kinds: dnp3Kinds,
		Techniques: []string{"T0816"}, New: func() Params { return &DNP3Restart{Master: 1, Kind: "cold"} }},
	{Name: "dnp3.stop_application", Summary: "stop an application on the outstation (FC 18)", Target: TargetDevice, Kinds: dnp3Kinds,
		Techniques: []string{"T0881"}, New: func() Params { return &DNP3StopApplication{Master: 1} }},
	{Name: "dnp3.unsolicited", Summary: "enable or disable unsolicited responses", Target: TargetDevice, Kinds: dnp3Kinds,
		Techniques: []string{"T0804"}, New: func() Params { return &DNP3Unsolicited{Master: 1, Classes: []int{1, 2, 3}} }},
	{Name: "dnp3.broadcast", Summary: "a request to a broadcast link address", Target: TargetDevice, Kinds: dnp3Kinds,
		Techniques: []string{"T0855"}, New: func() Params { return &DNP3Broadcast{Master: 1, Address: 0xFFFF} }},
	{Name: "dnp3.spoof_response", Summary: "responses with false point values, as if from the outstation", Target: TargetDevice, Kinds: dnp3Kinds,
		Techniques: []string{"T0856"}, New: func() Params {
			return &DNP3SpoofResponse{Master: 1, Count: 1, Interval: Duration(time.Second), Unsolicited: true}
		}},
	{Name: "plant.fault", Summary: "a process fault: stuck valve, failed transmitter, pump trip", Target: TargetNone,
		New: func() Params { return &PlantFault{} }},
	{Name: "plant.mode", Summary: "change a controller's operating mode, as an attacker with EWS access", Target: TargetDevice,
		Kinds: []string{KindPLC, KindSIS, KindRTU}, Techniques: []string{"T0858"}, New: func() Params { return &PlantMode{} }},
	{Name: "plant.program", Summary: "download a program with modified parameters", Target: TargetDevice,
		Kinds: []string{KindPLC, KindSIS, KindRTU}, Techniques: []string{"T0843"}, New: func() Params { return &PlantProgram{} }},
	{Name: "host.down", Summary: "a station stops (ransomware encrypting it, its services killed)", Target: TargetDevice,
		Kinds: []string{KindHMI, KindEWS, KindHistorian}, Techniques: []string{"T0881"}, New: func() Params { return &HostDown{Reason: "ransomware"} }},
	{Name: "inject", Summary: "release injects only", Target: TargetNone, NeedsInjects: true},
	{Name: "wait", Summary: "wait for a while", Target: TargetNone, New: func() Params { return &Wait{} }},
}

// Action returns the spec of the named action.
func Action(name string) (ActionSpec, bool) {
	for _, a := range Actions {
		if a.Name == name {
			return a, true
		}
	}
	return ActionSpec{}, false
}

func actionNames() []string {
	out := make([]string, len(Actions))
	for i, a := range Actions {
		out[i] = a.Name
	}
	return out
}

// check gathers field errors.
type check []FieldError

func (c *check) errf(field, format string, args ...any) {
	*c = append(*c, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *check) oneOf(field, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		c.errf(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func (c *check) between(field string, v, lo, hi int) {
	if v < lo || v > hi {
		c.errf(field, "%d is out of range (%d to %d)", v, lo, hi)
	}
}

func (c *check) dur(field string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		c.errf(field, "%s is out of range (%s to %s)", d, Duration(lo), Duration(hi))
	}
}

// Modbus tables, named as in the plant definition.
var modbusTables = []string{"coil", "discrete", "input", "holding"}

func isBitTable(t string) bool { return t == "coil" || t == "discrete" }

// span checks that count items from address fit the 16-bit address space.
func (c *check) span(field string, address, count int) {
	if address+count > 65536 {
		c.errf(field, "address %d + %d items runs past 65535", address, count)
	}
}

// NetDiscover: TCP connect probes to Ports on every host of the target
// prefix, at most Rate probes per second.
type NetDiscover struct {
	Ports   []uint16 `yaml:"ports"`
	Rate    int      `yaml:"rate"`    // probes per second
	Timeout Duration `yaml:"timeout"` // per probe
}

// Validate implements Params.
func (p *NetDiscover) Validate() []FieldError {
	var c check
	if len(p.Ports) == 0 || len(p.Ports) > 64 {
		c.errf("ports", "give 1 to 64 ports, got %d", len(p.Ports))
	}
	for i, port := range p.Ports {
		if port == 0 {
			c.errf(fmt.Sprintf("ports[%d]", i), "port 0 is not a port")
		}
	}
	c.between("rate", p.Rate, 1, 2000)
	c.dur("timeout", p.Timeout, time.Millisecond, 10*time.Second)
	return c
}

// ModbusRead reads Count items of Table from Address, Repeat times.
type ModbusRead struct {
	Unit     uint8    `yaml:"unit"`
	Table    string   `yaml:"table"` // coil, discrete, input, holding
	Address  uint16   `yaml:"address"`
	Count    int      `yaml:"count"`
	Repeat   int      `yaml:"repeat"`
	Interval Duration `yaml:"interval"`
}

// Validate implements Params.
func (p *ModbusRead) Validate() []FieldError {
	var c check
	c.oneOf("table", p.Table, modbusTables...)
	if isBitTable(p.Table) {
		c.between("count", p.Count, 1, 2000)
	} else {
		c.between("count", p.Count, 1, 125)
	}
	c.span("count", int(p.Address), p.Count)
	c.between("repeat", p.Repeat, 1, 10000)
	c.dur("interval", p.Interval, 0, time.Hour)
	return c
}

// ModbusWrite writes Values to Table from Address: FC 6 / FC 5 (single) or
// FC 16 / FC 15 (multiple). Function "" picks single for one value and
// multiple otherwise.
type ModbusWrite struct {
	Unit     uint8    `yaml:"unit"`
	Table    string   `yaml:"table"` // holding or coil
	Address  uint16   `yaml:"address"`
	Values   []int    `yaml:"values"`
	Function string   `yaml:"function,omitempty"` // single, multiple
	Repeat   int      `yaml:"repeat"`
	Interval Duration `yaml:"interval"`
}

// Multiple reports whether the write uses FC 16 / FC 15.
func (p *ModbusWrite) Multiple() bool {
	return p.Function == "multiple" || (p.Function == "" && len(p.Values) > 1)
}

// Validate implements Params.
func (p *ModbusWrite) Validate() []FieldError {
	var c check
	c.oneOf("table", p.Table, "holding", "coil")
	if p.Function != "" {
		c.oneOf("function", p.Function, "single", "multiple")
	}
	maxVals := 123
	if p.Table == "coil" {
		maxVals = 1968
	}
	switch {
	case len(p.Values) == 0:
		c.errf("values", "give at least one value")
	case p.Function == "single" && len(p.Values) != 1:
		c.errf("values", "a single write takes exactly one value, got %d", len(p.Values))
	case len(p.Values) > maxVals:
		c.errf("values", "at most %d values in one write, got %d", maxVals, len(p.Values))
	}
	for i, v := range p.Values {
		f := fmt.Sprintf("values[%d]", i)
		if p.Table == "coil" {
			if v != 0 && v != 1 {
				c.errf(f, "a coil takes 0 or 1, got %d", v)
			}
		} else {
			c.between(f, v, 0, 65535)
		}
	}
	c.span("values", int(p.Address), len(p.Values))
	c.between("repeat", p.Repeat, 1, 10000)
	c.dur("interval", p.Interval, 0, time.Hour)
	return c
}

// ModbusScanUnits sends one request with function code Function to each
// unit id From..To.
type ModbusScanUnits struct {
	From     uint8    `yaml:"from"`
	To       uint8    `yaml:"to"`
	Function uint8    `yaml:"function"`
	Address  uint16   `yaml:"address"`
	Interval Duration `yaml:"interval"`
}

// Validate implements Params.
func (p *ModbusScanUnits) Validate() []FieldError {
	var c check
	if p.From > p.To {
		c.errf("to", "%d is below from (%d)", p.To, p.From)
	}
	c.between("function", int(p.Function), 1, 127)
	c.dur("interval", p.Interval, 0, time.Minute)
	return c
}

// ModbusScanFunctions probes each function code in Codes (default 1 to 127).
type ModbusScanFunctions struct {
	Unit     uint8    `yaml:"unit"`
	Codes    []int    `yaml:"codes,omitempty"`
	Interval Duration `yaml:"interval"`
}

// FunctionCodes returns the codes to probe.
func (p *ModbusScanFunctions) FunctionCodes() []uint8 {
	if len(p.Codes) > 0 {
		out := make([]uint8, len(p.Codes))
		for i, c := range p.Codes {
			out[i] = uint8(c)
		}
		return out
	}
	out := make([]uint8, 127)
	for i := range out {
		out[i] = uint8(i + 1)
	}
	return out
}

// Validate implements Params.
func (p *ModbusScanFunctions) Validate() []FieldError {
	var c check
	seen := map[int]bool{}
	for i, fc := range p.Codes {
		f := fmt.Sprintf("codes[%d]", i)
		if fc < 1 || fc > 127 {
			c.errf(f, "function code %d is out of range (1 to 127)", fc)
		}
		if seen[fc] {
			c.errf(f, "function code %d is listed twice", fc)
		}
		seen[fc] = true
	}
	c.dur("interval", p.Interval, 0, time.Minute)
	return c
}

// ModbusScanAddresses reads Table from From to To in blocks of Block items,
// noting which blocks answer.
type ModbusScanAddresses struct {
	Unit     uint8    `yaml:"unit"`
	Table    string   `yaml:"table"`
	From     uint16   `yaml:"from"`
	To       uint16   `yaml:"to"`
	Block    int      `yaml:"block"`
	Interval Duration `yaml:"interval"`
}

// Validate implements Params.
func (p *ModbusScanAddresses) Validate() []FieldError {
	var c check
	c.oneOf("table", p.Table, modbusTables...)
	if p.From > p.To {
		c.errf("to", "%d is below from (%d)", p.To, p.From)
	}
	if isBitTable(p.Table) {
		c.between("block", p.Block, 1, 2000)
	} else {
		c.between("block", p.Block, 1, 125)
	}
	c.dur("interval", p.Interval, 0, time.Minute)
	return c
}

// DiagnosticSubFunctions maps the sub-function names of modbus.diagnostic
// to their codes (Modbus Application Protocol v1.1b3, 6.8).
var DiagnosticSubFunctions = map[string]uint16{
	"return_query_data":               0x00,
	"restart_communications":          0x01,
	"return_diagnostic_register":      0x02,
	"force_listen_only":               0x04,
	"clear_counters":                  0x0A,
	"return_bus_message_count":        0x0B,
	"return_bus_comm_error_count":     0x0C,
	"return_bus_exception_count":      0x0D,
	"return_server_message_count":     0x0E,
	"return_server_no_response_count": 0x0F,
	"return_server_nak_count":         0x10,
	"return_server_busy_count":        0x11,
	"return_bus_overrun_count":        0x12,
	"clear_overrun":                   0x14,
}

// ModbusDiagnostic sends FC 8 with sub-function Sub and data Data.
type ModbusDiagnostic struct {
	Unit uint8  `yaml:"unit"`
	Sub  string `yaml:"sub"`
	Data uint16 `yaml:"data"`
}

// Code returns the sub-function code.
func (p *ModbusDiagnostic) Code() uint16 { return DiagnosticSubFunctions[p.Sub] }

// Validate implements Params.
func (p *ModbusDiagnostic) Validate() []FieldError {
	var c check
	if _, ok := DiagnosticSubFunctions[p.Sub]; !ok {
		names := make([]string, 0, len(DiagnosticSubFunctions))
		for n := range DiagnosticSubFunctions {
			names = append(names, n)
		}
		slices.Sort(names)
		if p.Sub == "" {
			c.errf("sub", "a sub-function is required: one of %s", strings.Join(names, ", "))
		} else {
			c.errf("sub", "%q is not one of %s", p.Sub, strings.Join(names, ", "))
		}
	}
	return c
}

// ModbusIdentify reads device identification (FC 43, MEI 14) at Level
// (basic, regular, extended, specific) from Object.
type ModbusIdentify struct {
	Unit   uint8  `yaml:"unit"`
	Level  string `yaml:"level"`
	Object uint8  `yaml:"object"`
}

// Code returns the read device id code (1 to 4).
func (p *ModbusIdentify) Code() uint8 {
	return map[string]uint8{"basic": 1, "regular": 2, "extended": 3, "specific": 4}[p.Level]
}

// Validate implements Params.
func (p *ModbusIdentify) Validate() []FieldError {
	var c check
	c.oneOf("level", p.Level, "basic", "regular", "extended", "specific")
	return c
}

// ModbusFlood floods the device for Duration: Mode "requests" sends read
// holding registers (Address, Count) at Rate per second over Connections
// connections; "connections" opens Rate connections per second, up to
// Connections held open.
type ModbusFlood struct {
	Unit        uint8    `yaml:"unit"`
	Mode        string   `yaml:"mode"`
	Rate        int      `yaml:"rate"`
	Duration    Duration `yaml:"duration"`
	Connections int      `yaml:"connections"`
	Address     uint16   `yaml:"address"`
	Count       int      `yaml:"count"`
}

// Validate implements Params.
func (p *ModbusFlood) Validate() []FieldError {
	var c check
	c.oneOf("mode", p.Mode, "requests", "connections")
	c.between("rate", p.Rate, 1, 5000)
	c.dur("duration", p.Duration, time.Second, 5*time.Minute)
	c.between("connections", p.Connections, 1, 256)
	c.between("count", p.Count, 1, 125)
	c.span("count", int(p.Address), p.Count)
	return c
}

// DNP3 link addresses: Master is the source address the attacker uses
// (default 1, the plant's master: DNP3 has no authentication without SA);
// Outstation nil means the device's own address from the plant definition.

// DNP3Read polls the outstation: Kind "integrity" (class 0123) or "class"
// (the listed event classes).
type DNP3Read struct {
	Master     uint16   `yaml:"master"`
	Outstation *uint16  `yaml:"outstation,omitempty"`
	Kind       string   `yaml:"kind"`
	Classes    []int    `yaml:"classes,omitempty"`
	Repeat     int      `yaml:"repeat"`
	Interval   Duration `yaml:"interval"`
}

func (c *check) classes(field string, cl []int) {
	for i, x := range cl {
		if x < 1 || x > 3 {
			c.errf(fmt.Sprintf("%s[%d]", field, i), "class %d is out of range (1 to 3)", x)
		}
	}
}

func (c *check) link(master uint16, outstation *uint16) {
	if master > 65519 {
		c.errf("master", "link address %d is reserved (0 to 65519)", master)
	}
	if outstation != nil && *outstation > 65519 {
		c.errf("outstation", "link address %d is reserved (0 to 65519)", *outstation)
	}
}

// Validate implements Params.
func (p *DNP3Read) Validate() []FieldError {
	var c check
	c.link(p.Master, p.Outstation)
	c.oneOf("kind", p.Kind, "integrity", "class")
	if p.Kind == "class" && len(p.Classes) == 0 {
		c.errf("classes", "a class read needs classes (1, 2, 3)")
	}
	if p.Kind == "integrity" && len(p.Classes) > 0 {
		c.errf("classes", "an integrity read polls all classes; remove classes or use kind: class")
	}
	c.classes("classes", p.Classes)
	c.between("repeat", p.Repeat, 1, 10000)
	c.dur("interval", p.Interval, 0, time.Hour)
	return c
}

// CROB operations of dnp3.operate and dnp3.broadcast. "toggle" alternates
// latch_on and latch_off Count times.
var crobOps = []string{"latch_on", "latch_off", "pulse_on", "pulse_off", "trip", "close", "toggle"}

// DNP3Operate controls outputs: Point "crob" (binary output, operation Op)
// or "analog" (analog output, Value), by Mode "direct", "select_operate" or
// "direct_no_ack", at Index, or on every index from Index to Last (brute
// force I/O), Count times each, Interval apart.
type DNP3Operate struct {
	Master     uint16   `yaml:"master"`
	Outstation *uint16  `yaml:"outstation,omitempty"`
	Point      string   `yaml:"point"`
	Mode       string   `yaml:"mode"`
	Index      uint16   `yaml:"index"`
	Last       *uint16  `yaml:"last,omitempty"`
	Op         string   `yaml:"op,omitempty"`
	Value      *float64 `yaml:"value,omitempty"`
	Count      int      `yaml:"count"`
	Interval   Duration `yaml:"interval"`
	OnTime     Duration `yaml:"on_time"` // pulse length
}

// Indexes returns the point indexes operated.
func (p *DNP3Operate) Indexes() []uint16 {
	if p.Last == nil || *p.Last < p.Index {
		return []uint16{p.Index}
	}
	out := make([]uint16, 0, int(*p.Last-p.Index)+1)
	for i := int(p.Index); i <= int(*p.Last); i++ {
		out = append(out, uint16(i))
	}
	return out
}

// Validate implements Params.
func (p *DNP3Operate) Validate() []FieldError {
	var c check
	c.link(p.Master, p.Outstation)
	c.oneOf("point", p.Point, "crob", "analog")
	c.oneOf("mode", p.Mode, "direct", "select_operate", "direct_no_ack")
	switch p.Point {
	case "crob":
		if p.Op == "" {
			c.errf("op", "a CROB needs an operation: one of %s", strings.Join(crobOps, ", "))
		} else {
			c.oneOf("op", p.Op, crobOps...)
		}
		if p.Value != nil {
			c.errf("value", "a CROB takes op, not value")
		}
	case "analog":
		if p.Value == nil {
			c.errf("value", "an analog output needs a value")
		}
		if p.Op != "" {
			c.errf("op", "an analog output takes value, not op")
		}
	}
	if p.Last != nil {
		if *p.Last < p.Index {
			c.errf("last", "%d is below index (%d)", *p.Last, p.Index)
		} else if int(*p.Last-p.Index) >= 256 {
			c.errf("last", "at most 256 points in one step, got %d", int(*p.Last-p.Index)+1)
		}
	}
	c.between("count", p.Count, 1, 1000)
	c.dur("interval", p.Interval, 0, time.Hour)
	c.dur("on_time", p.OnTime, 0, time.Minute)
	return c
}

// DNP3Restart asks for a cold or warm restart (FC 13 / FC 14).
type DNP3Restart struct {
	Master     uint16  `yaml:"master"`
	Outstation *uint16 `yaml:"outstation,omitempty"`
	Kind       string  `yaml:"kind"`
}

// Validate implements Params.
func (p *DNP3Restart) Validate() []FieldError {
	var c check
	c.link(p.Master, p.Outstation)
	c.oneOf("kind", p.Kind, "cold", "warm")
	return c
}

// DNP3StopApplication sends FC 18 for Application (object group 90); empty
// means every application.
type DNP3StopApplication struct {
	Master      uint16  `yaml:"master"`
	Outstation  *uint16 `yaml:"outstation,omitempty"`
	Application string  `yaml:"application,omitempty"`
}

// Validate implements Params.
func (p *DNP3StopApplication) Validate() []FieldError {
	var c check
	c.link(p.Master, p.Outstation)
	if len(p.Application) > 64 {
		c.errf("application", "at most 64 characters")
	}
	return c
}

// DNP3Unsolicited enables or disables unsolicited responses (FC 20 / 21)
// for Classes.
type DNP3Unsolicited struct {
	Master     uint16  `yaml:"master"`
	Outstation *uint16 `yaml:"outstation,omitempty"`
	Mode       string  `yaml:"mode"` // enable, disable
	Classes    []int   `yaml:"classes"`
}

// Validate implements Params.
func (p *DNP3Unsolicited) Validate() []FieldError {
	var c check
	c.link(p.Master, p.Outstation)
	if p.Mode == "" {
		c.errf("mode", "give mode: enable or disable")
	} else {
		c.oneOf("mode", p.Mode, "enable", "disable")
	}
	if len(p.Classes) == 0 {
		c.errf("classes", "give at least one class (1, 2, 3)")
	}
	c.classes("classes", p.Classes)
	return c
}

// DNP3Broadcast sends Request to a broadcast link address (0xFFFD: confirm
// optional, 0xFFFE: no confirm, 0xFFFF: confirm required) over the target's
// connection.
type DNP3Broadcast struct {
	Master  uint16 `yaml:"master"`
	Address uint16 `yaml:"address"`
	Request string `yaml:"request"`
	Index   uint16 `yaml:"index,omitempty"` // for direct_operate_no_ack
	Op      string `yaml:"op,omitempty"`    // for direct_operate_no_ack
}

// Validate implements Params.
func (p *DNP3Broadcast) Validate() []FieldError {
	var c check
	c.link(p.Master, nil)
	if p.Address < 0xFFFD {
		c.errf("address", "%d is not a broadcast address (65533, 65534, 65535)", p.Address)
	}
	reqs := []string{"cold_restart", "warm_restart", "disable_unsolicited", "enable_unsolicited", "direct_operate_no_ack"}
	if p.Request == "" {
		c.errf("request", "give a request: one of %s", strings.Join(reqs, ", "))
	} else {
		c.oneOf("request", p.Request, reqs...)
	}
	if p.Request == "direct_operate_no_ack" {
		c.oneOf("op", p.Op, crobOps[:6]...)
	} else if p.Op != "" {
		c.errf("op", "only direct_operate_no_ack takes op")
	}
	return c
}

// SpoofPoint is one false value in a spoofed response.
type SpoofPoint struct {
	Type  string  `yaml:"type"` // binary_input, analog_input, counter
	Index uint16  `yaml:"index"`
	Value float64 `yaml:"value"`
}

// DNP3SpoofResponse sends responses carrying Points as if from the
// outstation (unsolicited by default), Count times, Interval apart.
type DNP3SpoofResponse struct {
	Master      uint16       `yaml:"master"`
	Outstation  *uint16      `yaml:"outstation,omitempty"`
	Points      []SpoofPoint `yaml:"points"`
	Unsolicited bool         `yaml:"unsolicited"`
	Count       int          `yaml:"count"`
	Interval    Duration     `yaml:"interval"`
}

// Validate implements Params.
func (p *DNP3SpoofResponse) Validate() []FieldError {
	var c check
	c.link(p.Master, p.Outstation)
	if len(p.Points) == 0 || len(p.Points) > 64 {
		c.errf("points", "give 1 to 64 points, got %d", len(p.Points))
	}
	for i, pt := range p.Points {
		f := fmt.Sprintf("points[%d].type", i)
		c.oneOf(f, pt.Type, "binary_input", "analog_input", "counter")
		if pt.Type == "binary_input" && pt.Value != 0 && pt.Value != 1 {
			c.errf(fmt.Sprintf("points[%d].value", i), "a binary input takes 0 or 1")
		}
	}
	c.between("count", p.Count, 1, 10000)
	c.dur("interval", p.Interval, 0, time.Hour)
	return c
}

// PlantFault injects a process fault into Equipment (a tag or equipment
// name of the process model, e.g. intake.pump1, raw.level). Value is the
// stuck position (%) or the frozen reading; Duration 0 lasts until cleared.
type PlantFault struct {
	Fault     string   `yaml:"fault"`
	Equipment string   `yaml:"equipment"`
	Value     *float64 `yaml:"value,omitempty"`
	Duration  Duration `yaml:"duration,omitempty"`
}

// Faults are the process faults plant.fault can inject.
var Faults = []string{"stuck_valve", "failed_transmitter", "pump_trip"}

// Validate implements Params.
func (p *PlantFault) Validate() []FieldError {
	var c check
	if p.Fault == "" {
		c.errf("fault", "give a fault: one of %s", strings.Join(Faults, ", "))
	} else {
		c.oneOf("fault", p.Fault, Faults...)
	}
	if !isName(p.Equipment) {
		c.errf("equipment", "give the equipment or tag, e.g. intake.pump1 (letters, digits, _ . -)")
	}
	if p.Fault == "pump_trip" && p.Value != nil {
		c.errf("value", "a pump trip takes no value")
	}
	return c
}

// Modes a controller can be put in (simulator/control.Modes).
var Modes = []string{"run", "program", "remote", "local"}

// PlantMode puts the target in Mode.
type PlantMode struct {
	Mode string `yaml:"mode"`
}

// Validate implements Params.
func (p *PlantMode) Validate() []FieldError {
	var c check
	if p.Mode == "" {
		c.errf("mode", "give a mode: one of %s", strings.Join(Modes, ", "))
	} else {
		c.oneOf("mode", p.Mode, Modes...)
	}
	return c
}

// PlantProgram downloads the target's program with Parameters changed
// (variable name to value, engineering units), then restarts it when
// Restart is set.
type PlantProgram struct {
	Program    string             `yaml:"program,omitempty"`
	Parameters map[string]float64 `yaml:"parameters"`
	Restart    bool               `yaml:"restart,omitempty"`
}

// Validate implements Params.
func (p *PlantProgram) Validate() []FieldError {
	var c check
	if len(p.Parameters) == 0 || len(p.Parameters) > 64 {
		c.errf("parameters", "give 1 to 64 parameters, got %d", len(p.Parameters))
	}
	names := make([]string, 0, len(p.Parameters))
	for n := range p.Parameters {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !isName(n) {
			c.errf("parameters."+n, "%q is not a variable name", n)
		}
	}
	return c
}

// HostDown stops a station (HMI, EWS, historian) for Duration (0: until
// restored), as ransomware encrypting it would.
type HostDown struct {
	Reason   string   `yaml:"reason"`
	Duration Duration `yaml:"duration,omitempty"`
}

// Validate implements Params.
func (p *HostDown) Validate() []FieldError {
	var c check
	if len(p.Reason) > 200 {
		c.errf("reason", "at most 200 characters")
	}
	return c
}

// Wait does nothing for Duration.
type Wait struct {
	Duration Duration `yaml:"duration"`
}

// Validate implements Params.
func (p *Wait) Validate() []FieldError {
	var c check
	if p.Duration <= 0 {
		c.errf("duration", "give a duration above zero, e.g. 30s")
	}
	return c
}

func isName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}
