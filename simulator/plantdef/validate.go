package plantdef

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/otrange/otrange/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

type validator struct {
	c         *collector
	paths     map[string]*yaml.Node
	bad       map[string]bool
	root      *yaml.Node
	cat       Catalog
	checkAddr func(netip.Addr) error
}

// at returns the node of path, or of its nearest ancestor present in the file.
func (v *validator) at(path string) *yaml.Node {
	for {
		if n := v.paths[path]; n != nil {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			if n := v.paths[""]; n != nil {
				return n
			}
			return v.root
		}
		path = path[:i]
	}
}

func (v *validator) has(path string) bool { return v.paths[path] != nil }

// errf reports a problem at path, unless decoding that value already failed.
func (v *validator) errf(path, format string, args ...any) {
	if v.bad[path] {
		return
	}
	v.c.node(v.at(path), format, args...)
}

// required reports a missing key at its parent mapping.
func (v *validator) required(path, key string) bool {
	if v.has(yamlstrict.Join(path, key)) {
		return true
	}
	v.errf(path, "missing required key %q", key)
	return false
}

// duration checks a duration that has a default and bounds.
func (v *validator) duration(path string, d *time.Duration, def, lo, hi time.Duration) {
	if !v.has(path) {
		*d = def
		return
	}
	if *d < lo || *d > hi {
		v.errf(path, "%s must be between %s and %s", *d, lo, hi)
	}
}

var tableNames = map[Table]string{Coil: "coil", Discrete: "discrete input", Input: "input register", Holding: "holding register"}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// keys that apply to each kind besides name, kind, address, description.
var kindKeys = map[Kind][]string{
	KindPLC:       {"modbus", "dnp3", "program", "mode", "parameters", "restart_time", "identity", "registers", "points"},
	KindHMI:       {"polls", "poll_interval", "integrity_interval", "event_interval"},
	KindEWS:       {"targets", "maintenance_interval"},
	KindHistorian: {"interval", "retention", "tags"},
}

func init() {
	kindKeys[KindRTU] = kindKeys[KindPLC]
	kindKeys[KindSIS] = kindKeys[KindPLC]
}

func (v *validator) plant(p *Plant) {
	if v.root.Kind != yaml.MappingNode {
		return // the decoder has said so
	}
	if v.required("", "plant") {
		if v.required("plant", "name") {
			if p.Meta.Name == "" || len(p.Meta.Name) > 128 {
				v.errf("plant.name", "name must be 1 to 128 characters")
			}
		}
		if v.required("plant", "tick") {
			v.duration("plant.tick", &p.Meta.Tick, 0, time.Millisecond, 10*time.Second)
		}
	}
	if !v.required("", "devices") {
		return
	}
	if len(p.Devices) == 0 {
		v.errf("devices", "a plant needs at least one device")
		return
	}
	if len(p.Devices) > MaxDevices {
		v.errf("devices", "%d devices; at most %d", len(p.Devices), MaxDevices)
		return
	}
	names := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i := range p.Devices {
		path := fmt.Sprintf("devices[%d]", i)
		d := &p.Devices[i]
		n := v.at(path)
		d.Line, d.Column = n.Line, n.Column
		if v.required(path, "name") {
			if !nameRE.MatchString(d.Name) {
				v.errf(path+".name", "device name %q: use 1 to 63 of a-z 0-9 . _ - (starting with a letter or digit)", d.Name)
			} else if j, dup := names[d.Name]; dup {
				v.errf(path+".name", "duplicate device name %q (first at line %d)", d.Name, p.Devices[j].Line)
			} else {
				names[d.Name] = i
			}
		}
		if v.required(path, "address") && v.has(path+".address") {
			switch {
			case !d.Address.IsValid():
				v.errf(path+".address", "address is empty")
			case d.Address.Zone() != "":
				v.errf(path+".address", "address %s: zones are not allowed", d.Address)
			default:
				d.Address = d.Address.Unmap()
				if j, dup := addrs[d.Address]; dup {
					v.errf(path+".address", "duplicate address %s (first at line %d, device %q)", d.Address, p.Devices[j].Line, p.Devices[j].Name)
				} else {
					addrs[d.Address] = i
				}
				if v.checkAddr != nil {
					if err := v.checkAddr(d.Address); err != nil {
						v.errf(path+".address", "address refused: %v", err)
					}
				}
			}
		}
		if !v.required(path, "kind") {
			continue
		}
		if !slices.Contains(kinds, d.Kind) {
			v.errf(path+".kind", "unknown kind %q (one of %s)", d.Kind, list(kinds))
			continue
		}
		for _, k := range []string{"modbus", "dnp3", "program", "mode", "parameters", "restart_time", "identity",
			"registers", "points", "polls", "poll_interval", "integrity_interval", "event_interval", "targets",
			"maintenance_interval", "interval", "retention", "tags"} {
			if v.has(path+"."+k) && !slices.Contains(kindKeys[d.Kind], k) {
				v.c.node(v.keyNode(path, k), "%q does not apply to a device of kind %s", k, d.Kind)
			}
		}
		switch {
		case d.Kind.Field():
			v.field(path, d)
		case d.Kind == KindHistorian:
			v.historian(path, d)
		case d.Kind == KindHMI:
			v.duration(path+".poll_interval", &d.PollInterval, time.Second, 10*time.Millisecond, time.Hour)
			v.duration(path+".integrity_interval", &d.IntegrityInterval, time.Minute, time.Second, 24*time.Hour)
			v.duration(path+".event_interval", &d.EventInterval, 5*time.Second, 100*time.Millisecond, time.Hour)
		case d.Kind == KindEWS:
			v.duration(path+".maintenance_interval", &d.MaintenanceInterval, 10*time.Minute, time.Second, 24*time.Hour)
		}
	}
	// References between devices, once every name is known.
	var field []string
	for _, d := range p.Devices {
		if d.Kind.Field() && d.Name != "" {
			field = append(field, d.Name)
		}
	}
	for i := range p.Devices {
		d := &p.Devices[i]
		path := fmt.Sprintf("devices[%d]", i)
		switch d.Kind {
		case KindHMI:
			d.Polls = v.deviceRefs(path+".polls", d.Polls, p, names, field)
		case KindEWS:
			d.Targets = v.deviceRefs(path+".targets", d.Targets, p, names, field)
		}
	}
}

// keyNode returns the key node of key in the mapping at path, for errors
// about the key itself.
func (v *validator) keyNode(path, key string) *yaml.Node {
	m := v.at(path)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return v.at(yamlstrict.Join(path, key))
}

func list[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

// deviceRefs checks a list of field-device names; absent means all of them.
func (v *validator) deviceRefs(path string, refs []string, p *Plant, names map[string]int, field []string) []string {
	if !v.has(path) {
		return slices.Clone(field)
	}
	seen := map[string]bool{}
	for j, r := range refs {
		ep := fmt.Sprintf("%s[%d]", path, j)
		i, ok := names[r]
		switch {
		case !ok:
			v.errf(ep, "unknown device %q", r)
		case !p.Devices[i].Kind.Field():
			v.errf(ep, "device %q is of kind %s, not a field device (plc, rtu, sis)", r, p.Devices[i].Kind)
		case seen[r]:
			v.errf(ep, "device %q is listed twice", r)
		}
		seen[r] = true
	}
	return refs
}

func (v *validator) field(path string, d *Device) {
	if !v.has(path+".modbus") && !v.has(path+".dnp3") {
		v.errf(path, "a %s needs a modbus or a dnp3 section", d.Kind)
	}
	if d.Modbus != nil {
		mp := path + ".modbus"
		v.port(mp, "port", &d.Modbus.Port, 502)
		v.fallback(mp, d.Modbus.Port, d.Modbus.FallbackPort)
		if v.required(mp, "unit") && (d.Modbus.Unit < 1 || d.Modbus.Unit > 247) {
			v.errf(mp+".unit", "unit %d: must be 1..247", d.Modbus.Unit)
		}
	}
	if d.DNP3 != nil {
		dp := path + ".dnp3"
		v.port(dp, "port", &d.DNP3.Port, 20000)
		v.fallback(dp, d.DNP3.Port, d.DNP3.FallbackPort)
		okA, okM := v.required(dp, "address"), v.required(dp, "master")
		if okA && (d.DNP3.Address < 0 || d.DNP3.Address > 65519) {
			v.errf(dp+".address", "DNP3 address %d: must be 0..65519", d.DNP3.Address)
		}
		if okM && (d.DNP3.Master < 0 || d.DNP3.Master > 65519) {
			v.errf(dp+".master", "DNP3 master address %d: must be 0..65519", d.DNP3.Master)
		}
		if okA && okM && d.DNP3.Address == d.DNP3.Master {
			v.errf(dp+".master", "DNP3 master address %d equals the outstation's", d.DNP3.Master)
		}
	}
	if d.Kind != KindRTU {
		v.required(path, "program")
	}
	if v.has(path+".mode") && !slices.Contains(modes, d.Mode) {
		v.errf(path+".mode", "unknown mode %q (one of %s)", d.Mode, list(modes))
	}
	v.duration(path+".restart_time", &d.RestartTime, 5*time.Second, 100*time.Millisecond, 10*time.Minute)
	if d.Identity != nil {
		ip := path + ".identity"
		for k, s := range map[string]string{"vendor": d.Identity.Vendor, "product": d.Identity.Product,
			"revision": d.Identity.Revision, "model": d.Identity.Model} {
			if !printableASCII(s, 64) {
				v.errf(ip+"."+k, "%s: up to 64 printable ASCII characters", k)
			}
		}
	}

	// The program and its variables.
	var vars map[string]VarSpec
	progOK := false
	if d.Program != "" && v.cat != nil {
		vars, progOK = v.cat.Program(d.Program)
		if !progOK {
			v.errf(path+".program", "unknown program %q", d.Program)
		}
	}
	varSpec := func(p, name string) (VarSpec, bool) {
		switch {
		case d.Program == "":
			v.errf(p, "variable %q needs the device to run a program", name)
		case v.cat == nil:
			return VarSpec{}, false
		case !progOK:
			// reported at the program
		default:
			s, ok := vars[name]
			if !ok {
				v.errf(p, "program %q has no variable %q", d.Program, name)
			}
			return s, ok
		}
		return VarSpec{}, false
	}
	tagSpec := func(p, name string) (TagSpec, bool) {
		if v.cat == nil {
			return TagSpec{}, false
		}
		s, ok := v.cat.Tag(name)
		if !ok {
			v.errf(p, "unknown tag %q", name)
		}
		return s, ok
	}

	for _, name := range sortedKeys(d.Parameters) {
		pp := path + ".parameters." + name
		s, ok := varSpec(pp, name)
		if !ok {
			continue
		}
		val := float64(d.Parameters[name])
		switch {
		case !s.Writable:
			v.errf(pp, "variable %q of program %q is computed by the program; only writable variables take a parameter", name, d.Program)
		case s.Bool && val != 0 && val != 1:
			v.errf(pp, "variable %q is a bit: use true or false", name)
		case s.Min < s.Max && (val < s.Min || val > s.Max):
			v.errf(pp, "%s = %g is outside %g..%g", name, val, s.Min, s.Max)
		}
	}

	// Register map.
	if len(d.Registers) > 0 && !v.has(path+".modbus") {
		v.errf(path+".registers", "registers need a modbus section")
	}
	if len(d.Registers) > MaxRegisters {
		v.errf(path+".registers", "%d registers; at most %d", len(d.Registers), MaxRegisters)
		return
	}
	type regKey struct {
		t Table
		a int
	}
	regs := map[regKey]int{}
	for j := range d.Registers {
		r := &d.Registers[j]
		rp := fmt.Sprintf("%s.registers[%d]", path, j)
		r.Line = v.at(rp).Line
		if !v.required(rp, "table") || !v.required(rp, "address") {
			continue
		}
		if !slices.Contains(tables, r.Table) {
			v.errf(rp+".table", "unknown table %q (one of %s)", r.Table, list(tables))
			continue
		}
		if r.Address < 0 || r.Address > 65535 {
			v.errf(rp+".address", "register address %d: must be 0..65535", r.Address)
			continue
		}
		switch {
		case !v.has(rp + ".words"):
			r.Words = 1
		case r.Words != 1 && r.Words != 2:
			v.errf(rp+".words", "words must be 1 or 2, not %d", r.Words)
			r.Words = 1
		case r.Words == 2 && r.Table.Bit():
			v.errf(rp+".words", "words applies to registers, not to %s bits", r.Table)
			r.Words = 1
		case r.Address+r.Words-1 > 65535:
			v.errf(rp+".address", "a 32-bit value at register %d runs past 65535", r.Address)
			r.Words = 1
		}
		for w := range r.Words {
			k := regKey{r.Table, r.Address + w}
			if first, dup := regs[k]; dup {
				v.errf(rp+".address", "duplicate %s register %d (first at line %d)", r.Table, r.Address+w, d.Registers[first].Line)
			} else {
				regs[k] = j
			}
		}
		if r.Table.Bit() {
			if v.has(rp + ".scale") {
				v.errf(rp+".scale", "scale applies to registers, not to %s bits", r.Table)
			}
			if v.has(rp + ".signed") {
				v.errf(rp+".signed", "signed applies to registers, not to %s bits", r.Table)
			}
		} else if v.has(rp + ".scale") {
			if !(r.Scale > 0) {
				v.errf(rp+".scale", "scale must be greater than 0")
			}
		} else {
			r.Scale = 1
		}
		if r.ReadOnly && !r.Table.Writable() {
			v.errf(rp+".readonly", "%s registers are read-only already", r.Table)
		}
		lo, hi := 0.0, 65535.0
		switch {
		case r.Words == 2 && r.Signed:
			lo, hi = math.MinInt32, math.MaxInt32
		case r.Words == 2:
			lo, hi = 0, math.MaxUint32
		case r.Signed:
			lo, hi = -32768, 32767
		}
		v.binding(rp, r.Tag, r.Var, tableNames[r.Table], r.Table.Bit(), r.Table.Writable() && !r.ReadOnly, r.Scale, lo, hi, varSpec, tagSpec)
		if v.has(rp + ".limits") {
			switch {
			case r.Table != Holding || r.ReadOnly || r.Var == "":
				v.errf(rp+".limits", "limits apply to writable holding registers bound to a variable")
			case len(r.Limits) != 2 || !(r.Limits[0] <= r.Limits[1]):
				v.errf(rp+".limits", "limits must be [min, max] with min <= max")
			}
		}
	}

	// Point map.
	if len(d.Points) > 0 && !v.has(path+".dnp3") {
		v.errf(path+".points", "points need a dnp3 section")
	}
	if len(d.Points) > MaxRegisters {
		v.errf(path+".points", "%d points; at most %d", len(d.Points), MaxRegisters)
		return
	}
	type pointKey struct {
		t PointType
		i int
	}
	points := map[pointKey]int{}
	for j := range d.Points {
		pt := &d.Points[j]
		pp := fmt.Sprintf("%s.points[%d]", path, j)
		pt.Line = v.at(pp).Line
		if !v.required(pp, "type") || !v.required(pp, "index") {
			continue
		}
		if !slices.Contains(pointTypes, pt.Type) {
			v.errf(pp+".type", "unknown point type %q (one of %s)", pt.Type, list(pointTypes))
			continue
		}
		if pt.Index < 0 || pt.Index > 65535 {
			v.errf(pp+".index", "point index %d: must be 0..65535", pt.Index)
			continue
		}
		k := pointKey{pt.Type, pt.Index}
		if first, dup := points[k]; dup {
			v.errf(pp+".index", "duplicate %s %d (first at line %d)", pt.Type, pt.Index, d.Points[first].Line)
		} else {
			points[k] = j
		}
		if v.has(pp + ".class") {
			if pt.Class < 0 || pt.Class > 3 {
				v.errf(pp+".class", "class %d: must be 0 (static only) or 1..3", pt.Class)
			}
		} else {
			pt.Class = map[PointType]int{BinaryInput: 1, AnalogInput: 2, Counter: 3}[pt.Type]
		}
		if v.has(pp+".deadband") && (pt.Type != AnalogInput || pt.Deadband < 0) {
			v.errf(pp+".deadband", "deadband applies to analog inputs and must not be negative")
		}
		if pt.Type.Binary() {
			if v.has(pp + ".scale") {
				v.errf(pp+".scale", "scale does not apply to %s points", pt.Type)
			}
		} else if v.has(pp + ".scale") {
			if !(pt.Scale > 0) {
				v.errf(pp+".scale", "scale must be greater than 0")
			}
		} else {
			pt.Scale = 1
		}
		if pt.ReadOnly && !pt.Type.Output() {
			v.errf(pp+".readonly", "%s points are read-only already", pt.Type)
		}
		lo, hi := float64(math.MinInt32), float64(math.MaxInt32)
		if pt.Type == Counter {
			lo, hi = 0, math.MaxUint32
		}
		v.binding(pp, pt.Tag, pt.Var, string(pt.Type)+" point", pt.Type.Binary(), pt.Type.Output() && !pt.ReadOnly, pt.Scale, lo, hi, varSpec, tagSpec)
	}
}

// binding checks that a register or point binds exactly one tag or variable,
// of the right shape, writable when masters may write it, and that its
// range fits the raw width [lo, hi] once scaled.
func (v *validator) binding(p, tag, vr, what string, bit, writable bool, scale, lo, hi float64,
	varSpec func(string, string) (VarSpec, bool), tagSpec func(string, string) (TagSpec, bool)) {
	hasTag, hasVar := v.has(p+".tag"), v.has(p+".var")
	switch {
	case hasTag && hasVar:
		v.errf(p, "bind exactly one of tag or var, not both")
		return
	case !hasTag && !hasVar:
		v.errf(p, "bind exactly one of tag or var")
		return
	}
	var isBool bool
	var mn, mx float64
	var name, sub string
	if hasTag {
		name, sub = tag, p+".tag"
		if writable {
			v.errf(sub, "tag %q cannot back a writable %s: bind a program variable, or add readonly: true", tag, what)
			return
		}
		s, ok := tagSpec(sub, tag)
		if !ok {
			return
		}
		isBool, mn, mx = s.Bool, s.Min, s.Max
	} else {
		name, sub = vr, p+".var"
		s, ok := varSpec(sub, vr)
		if !ok {
			return
		}
		if writable && !s.Writable {
			v.errf(sub, "variable %q is computed by the program and cannot back a writable %s: add readonly: true", vr, what)
			return
		}
		isBool, mn, mx = s.Bool, s.Min, s.Max
	}
	switch {
	case bit && !isBool:
		v.errf(sub, "%q is analog; a %s holds one bit", name, what)
	case !bit && !isBool && mn < mx && scale > 0 && (math.Round(mn*scale) < lo || math.Round(mx*scale) > hi):
		hint := ""
		if mn < 0 && lo == 0 && strings.HasSuffix(what, "register") {
			hint = "; add signed: true"
		}
		v.errf(sub, "%q ranges %g..%g, which times scale %g does not fit %.0f..%.0f%s", name, mn, mx, scale, lo, hi, hint)
	}
}

func (v *validator) port(path, key string, port *int, def int) {
	p := yamlstrict.Join(path, key)
	if !v.has(p) {
		*port = def
		return
	}
	if *port < 1 || *port > 65535 {
		v.errf(p, "port %d: must be 1..65535", *port)
	}
}

func (v *validator) fallback(path string, port, fb int) {
	p := path + ".fallback_port"
	if !v.has(p) {
		return
	}
	switch {
	case fb < 1 || fb > 65535:
		v.errf(p, "port %d: must be 1..65535", fb)
	case fb == port:
		v.errf(p, "fallback port %d is the port itself", fb)
	}
}

func (v *validator) historian(path string, d *Device) {
	v.duration(path+".interval", &d.Interval, time.Second, 10*time.Millisecond, time.Hour)
	v.duration(path+".retention", &d.Retention, 7*24*time.Hour, time.Minute, 10*365*24*time.Hour)
	if !v.required(path, "tags") {
		return
	}
	if len(d.Tags) == 0 {
		v.errf(path+".tags", "a historian needs at least one tag")
	}
	if len(d.Tags) > MaxTags {
		v.errf(path+".tags", "%d tags; at most %d", len(d.Tags), MaxTags)
		return
	}
	seen := map[string]bool{}
	for j, t := range d.Tags {
		tp := fmt.Sprintf("%s.tags[%d]", path, j)
		if seen[t] {
			v.errf(tp, "tag %q is listed twice", t)
		}
		seen[t] = true
		if v.cat != nil {
			if _, ok := v.cat.Tag(t); !ok {
				v.errf(tp, "unknown tag %q", t)
			}
		}
	}
}

func printableASCII(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}
