package rules

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Policy is what the plant's owner says is allowed: the hosts that may
// send requests (Modbus clients, DNP3 masters), and per master-device pair
// the function codes allowed, the Modbus registers and coils that may be
// written and the values that may be written to them. Load it with
// LoadPolicy; the zero Policy allows everything and turns the policy rules
// off.
//
//	masters: [127.10.2.10, 10.0.0.0/24]
//	pairs:
//	  - master: 127.10.2.10
//	    device: 127.10.1.10
//	    protocol: modbus          # modbus, dnp3, or omit for both
//	    functions: [3, 6, 16]     # omit to allow any
//	    writable:
//	      - registers: 0-99       # holding registers, inclusive
//	        min: 0
//	        max: 4000
//	      - coils: 5
type Policy struct {
	Masters []netip.Prefix
	Pairs   []Pair
}

// Pair is the policy of one master-device pair.
type Pair struct {
	Master, Device netip.Prefix
	Protocol       string  // "modbus", "dnp3", or "" for both
	Functions      []uint8 // nil: any function
	Writable       []Writable
	Line           int // where the pair is defined
}

// Writable is a range of Modbus registers or coils a master may write, with
// optional limits on the values.
type Writable struct {
	Coils          bool // coils, else holding registers
	From, To       uint16
	Min, Max       int
	HasMin, HasMax bool
}

// HasMasters reports whether the policy lists authorized masters.
func (p *Policy) HasMasters() bool { return len(p.Masters) > 0 }

// IsMaster reports whether a is an authorized master.
func (p *Policy) IsMaster(a netip.Addr) bool {
	for _, m := range p.Masters {
		if m.Contains(a) {
			return true
		}
	}
	return false
}

// PairFor returns the first pair that covers proto traffic from src to dst,
// or nil.
func (p *Policy) PairFor(proto string, src, dst netip.Addr) *Pair {
	for i := range p.Pairs {
		q := &p.Pairs[i]
		if (q.Protocol == "" || q.Protocol == proto) && q.Master.Contains(src) && q.Device.Contains(dst) {
			return q
		}
	}
	return nil
}

// Allows reports whether the pair allows function fc.
func (q *Pair) Allows(fc uint8) bool { return q.Functions == nil || slices.Contains(q.Functions, fc) }

// LoadPolicy reads a policy file. Errors name the file and line.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return ParsePolicy(path, b)
}

// ParsePolicy parses a policy; name is used in error messages
// ("name:line: ..."). Unknown keys, wrong types, bad addresses and bad
// ranges are errors.
func ParsePolicy(name string, data []byte) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	p := &Policy{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return p, nil
	}
	ps := &policyParser{name: name}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return p, nil
	}
	if err := ps.mapping(root, "policy", func(key string, v *yaml.Node) error {
		switch key {
		case "masters":
			return ps.sequence(v, "masters", func(n *yaml.Node) error {
				pfx, err := ps.prefix(n)
				p.Masters = append(p.Masters, pfx)
				return err
			})
		case "pairs":
			return ps.sequence(v, "pairs", func(n *yaml.Node) error {
				q, err := ps.pair(n)
				p.Pairs = append(p.Pairs, q)
				return err
			})
		}
		return ps.errf(v, "unknown key %q (want masters, pairs)", key)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

type policyParser struct{ name string }

func (ps *policyParser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", ps.name, n.Line, fmt.Sprintf(format, args...))
}

// mapping walks a mapping node, rejecting duplicate keys.
func (ps *policyParser) mapping(n *yaml.Node, what string, fn func(key string, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return ps.errf(n, "%s must be a mapping", what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return ps.errf(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, v); err != nil {
			if strings.HasPrefix(err.Error(), ps.name+":") {
				return err
			}
			return ps.errf(k, "%v", err)
		}
	}
	return nil
}

func (ps *policyParser) sequence(n *yaml.Node, what string, fn func(*yaml.Node) error) error {
	if n.Kind != yaml.SequenceNode {
		return ps.errf(n, "%s must be a list", what)
	}
	for _, c := range n.Content {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (ps *policyParser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", ps.errf(n, "%s must be a single value", what)
	}
	return n.Value, nil
}

// prefix parses an address or a prefix.
func (ps *policyParser) prefix(n *yaml.Node) (netip.Prefix, error) {
	s, err := ps.scalar(n, "an address")
	if err != nil {
		return netip.Prefix{}, err
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, ps.errf(n, "bad address prefix %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, ps.errf(n, "bad address %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (ps *policyParser) integer(n *yaml.Node, what string, lo, hi int) (int, error) {
	s, err := ps.scalar(n, what)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || n.Tag != "!!int" {
		return 0, ps.errf(n, "%s must be an integer, not %q", what, s)
	}
	if v < lo || v > hi {
		return 0, ps.errf(n, "%s %d outside %d..%d", what, v, lo, hi)
	}
	return v, nil
}

func (ps *policyParser) pair(n *yaml.Node) (Pair, error) {
	q := Pair{Line: n.Line}
	var haveMaster, haveDevice bool
	err := ps.mapping(n, "a pair", func(key string, v *yaml.Node) error {
		var err error
		switch key {
		case "master":
			q.Master, err = ps.prefix(v)
			haveMaster = true
		case "device":
			q.Device, err = ps.prefix(v)
			haveDevice = true
		case "protocol":
			q.Protocol, err = ps.scalar(v, "protocol")
			if err == nil && q.Protocol != "modbus" && q.Protocol != "dnp3" {
				err = ps.errf(v, "protocol %q: want modbus or dnp3", q.Protocol)
			}
		case "functions":
			q.Functions = []uint8{}
			err = ps.sequence(v, "functions", func(c *yaml.Node) error {
				f, err := ps.integer(c, "function code", 0, 255)
				q.Functions = append(q.Functions, uint8(f))
				return err
			})
		case "writable":
			err = ps.sequence(v, "writable", func(c *yaml.Node) error {
				w, err := ps.writable(c)
				q.Writable = append(q.Writable, w)
				return err
			})
		default:
			err = ps.errf(v, "unknown key %q in a pair (want master, device, protocol, functions, writable)", key)
		}
		return err
	})
	if err != nil {
		return q, err
	}
	if !haveMaster || !haveDevice {
		return q, ps.errf(n, "a pair needs both master and device")
	}
	if len(q.Writable) > 0 && q.Protocol == "dnp3" {
		return q, ps.errf(n, "writable ranges are Modbus registers and coils: not for a dnp3 pair")
	}
	return q, nil
}

func (ps *policyParser) writable(n *yaml.Node) (Writable, error) {
	var w Writable
	tables := 0
	err := ps.mapping(n, "a writable range", func(key string, v *yaml.Node) error {
		var err error
		switch key {
		case "registers", "coils":
			tables++
			w.Coils = key == "coils"
			w.From, w.To, err = ps.addrRange(v)
		case "min":
			w.Min, err = ps.integer(v, "min", -32768, 65535)
			w.HasMin = true
		case "max":
			w.Max, err = ps.integer(v, "max", -32768, 65535)
			w.HasMax = true
		default:
			err = ps.errf(v, "unknown key %q in a writable range (want registers or coils, min, max)", key)
		}
		return err
	})
	if err != nil {
		return w, err
	}
	switch {
	case tables != 1:
		return w, ps.errf(n, "a writable range needs exactly one of registers or coils")
	case w.HasMin && w.HasMax && w.Min > w.Max:
		return w, ps.errf(n, "min %d is above max %d", w.Min, w.Max)
	case w.Coils && (w.HasMin || w.HasMax):
		return w, ps.errf(n, "min and max apply to registers, not coils")
	}
	return w, nil
}

// addrRange parses "A" or "A-B" (0..65535, A <= B).
func (ps *policyParser) addrRange(n *yaml.Node) (uint16, uint16, error) {
	s, err := ps.scalar(n, "a range")
	if err != nil {
		return 0, 0, err
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || a > b {
		return 0, 0, ps.errf(n, "bad range %q: want A or A-B with 0 <= A <= B <= 65535", s)
	}
	return uint16(a), uint16(b), nil
}

// findWritable returns the range of the table that holds addr, or nil.
func (q *Pair) findWritable(coils bool, addr uint16) *Writable {
	for i := range q.Writable {
		w := &q.Writable[i]
		if w.Coils == coils && addr >= w.From && addr <= w.To {
			return w
		}
	}
	return nil
}
