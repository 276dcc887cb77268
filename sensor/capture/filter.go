package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// CompileFilter compiles a capture filter expression to classic BPF for
// frames of the given link type (Ethernet, or raw IP), returning snapLen
// bytes of the packets that match and 0 for the others.
//
// The language is a small subset of tcpdump's (pcap-filter(7)), enough to
// pick the industrial traffic out of a busy SPAN port:
//
//	ip | ip6 | tcp | udp
//	[src|dst] host ADDR         IPv4 or IPv6 address
//	[src|dst] net PREFIX        e.g. 10.0.0.0/8 or fd00::/8
//	[src|dst] port N            TCP or UDP port
//	[src|dst] portrange N-M
//	not X | X and Y | X or Y | ( X )   (also !, &&, ||)
//
// "and" binds tighter than "or". Anything else is an error that names the
// word it could not read. IPv6 extension headers are not followed (as in
// tcpdump: ports and protocols are read from the fixed header's next
// header), and VLAN-tagged frames do not match IP primitives (the kernel
// strips the tag before the filter runs on a live capture).
func CompileFilter(expr string, link layers.LinkType, snapLen int) ([]bpf.RawInstruction, error) {
	return compileFilter(expr, link, snapLen)
}

func compileFilter(expr string, link layers.LinkType, snapLen int) ([]bpf.RawInstruction, error) {
	if snapLen <= 0 {
		snapLen = DefaultSnapLen
	}
	var base uint32
	switch link {
	case layers.LinkTypeEthernet:
		base = 14
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		base = 0
	default:
		if strings.TrimSpace(expr) == "" {
			return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: uint32(snapLen)}})
		}
		return nil, fmt.Errorf("capture filter: link type %v is not supported (Ethernet and raw IP are)", link)
	}
	if strings.TrimSpace(expr) == "" {
		return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: uint32(snapLen)}})
	}
	p := &filterParser{toks: tokenize(expr)}
	n, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("capture filter %q: %w", expr, err)
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("capture filter %q: unexpected %q", expr, p.toks[p.pos])
	}
	g := &codegen{base: base, ether: base == 14}
	accept, reject := g.label(), g.label()
	g.gen(n, accept, reject)
	g.place(accept)
	g.emit(bpf.RetConstant{Val: uint32(snapLen)})
	g.place(reject)
	g.emit(bpf.RetConstant{Val: 0})
	prog, err := g.resolve()
	if err != nil {
		return nil, fmt.Errorf("capture filter %q: %w", expr, err)
	}
	return bpf.Assemble(prog)
}

func tokenize(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			out = append(out, s[i:i+1])
			i++
		case c == '!':
			out = append(out, "not")
			i++
		case strings.HasPrefix(s[i:], "&&"):
			out = append(out, "and")
			i += 2
		case strings.HasPrefix(s[i:], "||"):
			out = append(out, "or")
			i += 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()!&|", rune(s[j])) {
				j++
			}
			if j == i { // a lone & or |
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out
}

// node is a parsed filter expression.
type node struct {
	op       string // "and", "or", "not", or a primitive: "ip", "ip6", "tcp", "udp", "host", "net", "port"
	a, b     *node
	dir      string // "", "src", "dst"
	prefix   netip.Prefix
	lo, hi   uint16
	protocol uint8 // port primitives: 0 (tcp or udp), 6 or 17
}

type filterParser struct {
	toks []string
	pos  int
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

func (p *filterParser) or() (*node, error) {
	n, err := p.and()
	for err == nil && p.peek() == "or" {
		p.next()
		var m *node
		if m, err = p.and(); err == nil {
			n = &node{op: "or", a: n, b: m}
		}
	}
	return n, err
}

func (p *filterParser) and() (*node, error) {
	n, err := p.unary()
	for err == nil && p.peek() == "and" {
		p.next()
		var m *node
		if m, err = p.unary(); err == nil {
			n = &node{op: "and", a: n, b: m}
		}
	}
	return n, err
}

func (p *filterParser) unary() (*node, error) {
	switch p.peek() {
	case "not":
		p.next()
		n, err := p.unary()
		return &node{op: "not", a: n}, err
	case "(":
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		return n, nil
	}
	return p.primitive()
}

func (p *filterParser) primitive() (*node, error) {
	t := p.next()
	n := &node{}
	switch t {
	case "":
		return nil, fmt.Errorf("expression ends early")
	case "ip", "ip6":
		return &node{op: t}, nil
	case "tcp", "udp":
		// "tcp port 502" is "tcp and port 502".
		if q := p.peek(); q == "port" || q == "portrange" || q == "src" || q == "dst" {
			m, err := p.primitive()
			if err != nil {
				return nil, err
			}
			if m.op == "port" {
				m.protocol = map[string]uint8{"tcp": 6, "udp": 17}[t]
				return m, nil
			}
			return &node{op: "and", a: &node{op: t}, b: m}, nil
		}
		return &node{op: t}, nil
	case "src", "dst":
		n.dir = t
		t = p.next()
	}
	arg := p.next()
	if arg == "" {
		return nil, fmt.Errorf("%q needs a value", t)
	}
	switch t {
	case "host":
		a, err := netip.ParseAddr(arg)
		if err != nil {
			return nil, fmt.Errorf("host %q: not an IP address (names are not resolved)", arg)
		}
		n.op, n.prefix = "net", netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	case "net":
		pf, err := netip.ParsePrefix(arg)
		if err != nil {
			return nil, fmt.Errorf("net %q: not a prefix like 10.0.0.0/8", arg)
		}
		n.op, n.prefix = "net", pf.Masked()
	case "port":
		v, err := strconv.ParseUint(arg, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: not a port number", arg)
		}
		n.op, n.lo, n.hi = "port", uint16(v), uint16(v)
	case "portrange":
		a, b, ok := strings.Cut(arg, "-")
		lo, err1 := strconv.ParseUint(a, 10, 16)
		hi, err2 := strconv.ParseUint(b, 10, 16)
		if !ok || err1 != nil || err2 != nil || lo > hi {
			return nil, fmt.Errorf("portrange %q: want N-M", arg)
		}
		n.op, n.lo, n.hi = "port", uint16(lo), uint16(hi)
	default:
		return nil, fmt.Errorf("unknown word %q (supported: ip, ip6, tcp, udp, [src|dst] host/net/port/portrange, not, and, or, parentheses)", t)
	}
	return n, nil
}

// codegen emits BPF with symbolic forward jumps, resolved at the end.
type codegen struct {
	base   uint32 // offset of the IP header
	ether  bool
	ins    []bpf.Instruction
	jumps  []jump
	labels []int // label → instruction index
}

type jump struct {
	at          int // index of the instruction
	t, f        int // labels; -1: fall through
	conditional bool
}

func (g *codegen) label() int { g.labels = append(g.labels, -1); return len(g.labels) - 1 }

func (g *codegen) place(l int) { g.labels[l] = len(g.ins) }

func (g *codegen) emit(i bpf.Instruction) { g.ins = append(g.ins, i) }

// jif emits a conditional jump to t when cond holds, else to f.
func (g *codegen) jif(cond bpf.JumpTest, val uint32, t, f int) {
	g.jumps = append(g.jumps, jump{at: len(g.ins), t: t, f: f, conditional: true})
	g.emit(bpf.JumpIf{Cond: cond, Val: val})
}

func (g *codegen) jmp(l int) {
	g.jumps = append(g.jumps, jump{at: len(g.ins), t: l, f: -1})
	g.emit(bpf.Jump{})
}

func (g *codegen) resolve() ([]bpf.Instruction, error) {
	for _, j := range g.jumps {
		off := func(l int) (uint32, error) {
			if l < 0 {
				return 0, nil
			}
			d := g.labels[l] - j.at - 1
			if d < 0 {
				return 0, fmt.Errorf("internal error: backward jump")
			}
			if j.conditional && d > 255 {
				return 0, fmt.Errorf("expression too large for a BPF program")
			}
			return uint32(d), nil
		}
		t, err := off(j.t)
		if err != nil {
			return nil, err
		}
		if !j.conditional {
			g.ins[j.at] = bpf.Jump{Skip: t}
			continue
		}
		f, err := off(j.f)
		if err != nil {
			return nil, err
		}
		ji := g.ins[j.at].(bpf.JumpIf)
		ji.SkipTrue, ji.SkipFalse = uint8(t), uint8(f)
		g.ins[j.at] = ji
	}
	return g.ins, nil
}

// ipVersion jumps to t when the packet is IPv4 (v6 false) or IPv6.
func (g *codegen) ipVersion(v6 bool, t, f int) {
	if g.ether {
		g.emit(bpf.LoadAbsolute{Off: 12, Size: 2})
		et := uint32(0x0800)
		if v6 {
			et = 0x86dd
		}
		g.jif(bpf.JumpEqual, et, t, f)
		return
	}
	g.emit(bpf.LoadAbsolute{Off: g.base, Size: 1})
	g.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	ver := uint32(0x40)
	if v6 {
		ver = 0x60
	}
	g.jif(bpf.JumpEqual, ver, t, f)
}

// proto jumps to t when the IP protocol (next header) is p.
func (g *codegen) proto(p uint8, t, f int) {
	v6 := g.label()
	v4 := g.label()
	g.ipVersion(false, v4, v6)
	g.place(v4)
	g.emit(bpf.LoadAbsolute{Off: g.base + 9, Size: 1})
	g.jif(bpf.JumpEqual, uint32(p), t, f)
	g.place(v6)
	g.ipVersion(true, -1, f)
	g.emit(bpf.LoadAbsolute{Off: g.base + 6, Size: 1})
	g.jif(bpf.JumpEqual, uint32(p), t, f)
}

func (g *codegen) gen(n *node, t, f int) {
	switch n.op {
	case "and":
		mid := g.label()
		g.gen(n.a, mid, f)
		g.place(mid)
		g.gen(n.b, t, f)
	case "or":
		mid := g.label()
		g.gen(n.a, t, mid)
		g.place(mid)
		g.gen(n.b, t, f)
	case "not":
		g.gen(n.a, f, t)
	case "ip":
		g.ipVersion(false, t, f)
	case "ip6":
		g.ipVersion(true, t, f)
	case "tcp":
		g.proto(6, t, f)
	case "udp":
		g.proto(17, t, f)
	case "net":
		g.net(n, t, f)
	case "port":
		g.port(n, t, f)
	}
}

// net matches the source and/or destination address against a prefix.
func (g *codegen) net(n *node, t, f int) {
	a := n.prefix.Addr()
	v6 := a.Is6()
	g.ipVersion(v6, -1, f)
	offs := map[string][]uint32{"src": {12}, "dst": {16}, "": {12, 16}}[n.dir]
	if v6 {
		offs = map[string][]uint32{"src": {8}, "dst": {24}, "": {8, 24}}[n.dir]
	}
	raw := a.AsSlice()
	for i, off := range offs {
		next := f
		if i < len(offs)-1 {
			next = g.label()
		}
		bits := n.prefix.Bits()
		for w := 0; w*32 < bits; w++ {
			word := binary.BigEndian.Uint32(raw[w*4:])
			g.emit(bpf.LoadAbsolute{Off: g.base + off + uint32(w*4), Size: 4})
			if b := bits - w*32; b < 32 {
				mask := ^uint32(0) << (32 - b)
				g.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
				word &= mask
			}
			if (w+1)*32 >= bits {
				g.jif(bpf.JumpEqual, word, t, next)
			} else {
				g.jif(bpf.JumpEqual, word, -1, next)
			}
		}
		if bits == 0 {
			g.jmp(t)
		}
		if next != f {
			g.place(next)
		}
	}
}

// port matches the TCP or UDP source and/or destination port.
func (g *codegen) port(n *node, t, f int) {
	v4, v6 := g.label(), g.label()
	g.ipVersion(false, v4, v6)
	for _, six := range []bool{false, true} {
		if !six {
			g.place(v4)
		} else {
			g.place(v6)
			g.ipVersion(true, -1, f)
		}
		ok := g.label()
		protoOff := g.base + 9
		if six {
			protoOff = g.base + 6
		}
		g.emit(bpf.LoadAbsolute{Off: protoOff, Size: 1})
		switch n.protocol {
		case 0:
			udp := g.label()
			g.jif(bpf.JumpEqual, 6, ok, udp)
			g.place(udp)
			g.jif(bpf.JumpEqual, 17, ok, f)
		default:
			g.jif(bpf.JumpEqual, uint32(n.protocol), ok, f)
		}
		g.place(ok)
		var hdr uint32 = 40
		if !six {
			// Not the first fragment: no transport header.
			g.emit(bpf.LoadAbsolute{Off: g.base + 6, Size: 2})
			g.jif(bpf.JumpBitsSet, 0x1fff, f, -1)
			g.emit(bpf.LoadMemShift{Off: g.base})
			hdr = 0
		}
		offs := map[string][]uint32{"src": {0}, "dst": {2}, "": {0, 2}}[n.dir]
		for i, off := range offs {
			next := f
			if i < len(offs)-1 {
				next = g.label()
			}
			if six {
				g.emit(bpf.LoadAbsolute{Off: g.base + hdr + off, Size: 2})
			} else {
				g.emit(bpf.LoadIndirect{Off: g.base + off, Size: 2})
			}
			if n.lo == n.hi {
				g.jif(bpf.JumpEqual, uint32(n.lo), t, next)
			} else {
				in := g.label()
				g.jif(bpf.JumpGreaterOrEqual, uint32(n.lo), in, next)
				g.place(in)
				g.jif(bpf.JumpGreaterThan, uint32(n.hi), next, t)
			}
			if next != f {
				g.place(next)
			}
		}
	}
}
