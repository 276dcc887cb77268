package sensor

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
)

// plantGen writes plant-like traffic: an HMI polling PLCs over Modbus/TCP
// (read holding registers, responses, pure ACKs), a SCADA master polling
// RTUs over DNP3/TCP (class 0 reads and their responses), a historian
// polling over DNP3/UDP, and now and then an attack from 127.N.66.9 (a
// register write, a force-listen-only diagnostic, a DNP3 cold restart). All
// addresses are in 127.0.0.0/8 and the MACs are zero, so the capture can be
// replayed onto lo. Packets are 100 µs apart (10,000 packets/s of capture
// time).
type plantGen struct {
	w     *pcapgo.Writer
	net   byte
	ts    time.Time
	n     int
	conns []*genConn
	buf   []byte
	// Attacks written, for tests that count the alerts.
	attacks int
}

// genConn is one TCP connection of the generator.
type genConn struct {
	cli, srv netip.AddrPort
	cseq     uint32 // next sequence number from the client
	sseq     uint32
	kind     int // 0 Modbus, 1 DNP3
	tid      uint16
	appSeq   uint8
	tseq     uint8
}

// genAddr is the generator's host d of subnet c in 127.net.0.0/16: PLCs and
// RTUs in c=1, the HMI and historian in c=2, the attacker in c=66. The
// benchmark uses net 10 (the plant's own ranges); the live test a net of
// its own, so traffic of other tests on lo cannot mix in.
func genAddr(net, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{127, net, c, d}) }

// genMasters are the generated plant's authorized masters (HMI, historian).
func genMasters(net byte) []netip.Addr { return []netip.Addr{genAddr(net, 2, 10), genAddr(net, 2, 20)} }

func newPlantGen(w io.Writer, net byte) (*plantGen, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	hmiGen := genAddr(net, 2, 10)
	g := &plantGen{w: pw, net: net, ts: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	for i := range 8 {
		plc := netip.AddrPortFrom(genAddr(net, 1, byte(10+i)), 502)
		g.conns = append(g.conns, &genConn{cli: netip.AddrPortFrom(hmiGen, uint16(41000+i)), srv: plc, cseq: 1000, sseq: 9000})
	}
	for i := range 4 {
		rtu := netip.AddrPortFrom(genAddr(net, 1, byte(30+i)), 20000)
		g.conns = append(g.conns, &genConn{cli: netip.AddrPortFrom(hmiGen, uint16(42000+i)), srv: rtu, cseq: 5000, sseq: 7000, kind: 1})
	}
	for _, c := range g.conns {
		if err := g.handshake(c); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// write writes one frame with the next timestamp.
func (g *plantGen) write(frame []byte) error {
	g.ts = g.ts.Add(100 * time.Microsecond)
	g.n++
	return g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.ts, CaptureLength: len(frame), Length: len(frame)}, frame)
}

// tcp writes a TCP segment from src to dst.
func (g *plantGen) tcp(src, dst netip.AddrPort, seq, ack uint32, flags uint8, payload []byte) error {
	g.buf = appendTCPFrame(g.buf[:0], src, dst, seq, ack, flags, payload)
	return g.write(g.buf)
}

func (g *plantGen) handshake(c *genConn) error {
	if err := g.tcp(c.cli, c.srv, c.cseq-1, 0, 0x02, nil); err != nil {
		return err
	}
	if err := g.tcp(c.srv, c.cli, c.sseq-1, c.cseq, 0x12, nil); err != nil {
		return err
	}
	return g.tcp(c.cli, c.srv, c.cseq, c.sseq, 0x10, nil)
}

// exchange writes a request, its response and the client's ACK.
func (g *plantGen) exchange(c *genConn, req, resp []byte) error {
	if err := g.tcp(c.cli, c.srv, c.cseq, c.sseq, 0x18, req); err != nil {
		return err
	}
	c.cseq += uint32(len(req))
	if err := g.tcp(c.srv, c.cli, c.sseq, c.cseq, 0x18, resp); err != nil {
		return err
	}
	c.sseq += uint32(len(resp))
	return g.tcp(c.cli, c.srv, c.cseq, c.sseq, 0x10, nil)
}

// poll writes one poll on connection c.
func (g *plantGen) poll(c *genConn) error {
	if c.kind == 0 {
		c.tid++
		req := modbus.AppendADU(nil, &modbus.ADU{TransactionID: c.tid, UnitID: 1, PDU: modbus.ReadHoldingRegisters(0, 10)})
		data := make([]byte, 21)
		data[0] = 20
		for i := range 10 {
			binary.BigEndian.PutUint16(data[1+2*i:], uint16(2000+i*7+int(c.tid%5)))
		}
		resp := modbus.AppendADU(nil, &modbus.ADU{TransactionID: c.tid, UnitID: 1, PDU: modbus.PDU{Function: modbus.FuncReadHoldingRegisters, Data: data}})
		return g.exchange(c, req, resp)
	}
	req, resp := g.dnp3Poll(c)
	return g.exchange(c, req, resp)
}

// dnp3Poll builds a class 0 read and its response (10 analog inputs).
func (g *plantGen) dnp3Poll(c *genConn) (req, resp []byte) {
	seq := c.appSeq
	c.appSeq = (c.appSeq + 1) & 0x0F
	apdu := dnp3.AppendRequestHeader(nil, dnp3.AppFIR|dnp3.AppFIN|dnp3.AppControl(seq), dnp3.FuncRead)
	apdu = dnp3.AppendObjectHeader(apdu, dnp3.ObjectHeader{Group: 60, Variation: 1, Qualifier: dnp3.QualAll})
	req, c.tseq = dnp3.AppendAPDU(nil, dnp3.NewControl(true, true, false, false, dnp3.LinkUnconfirmedUserData), 10, 1, c.tseq, apdu)
	r := dnp3.AppendResponseHeader(nil, dnp3.AppFIR|dnp3.AppFIN|dnp3.AppControl(seq), dnp3.FuncResponse, 0)
	r = dnp3.AppendObjectHeader(r, dnp3.ObjectHeader{Group: 30, Variation: 1, Qualifier: dnp3.QualStartStop8, Start: 0, Stop: 9})
	for i := range 10 {
		r = append(r, 0x01)
		r = binary.LittleEndian.AppendUint32(r, uint32(100+i))
	}
	resp, _ = dnp3.AppendAPDU(nil, dnp3.NewControl(false, true, false, false, dnp3.LinkUnconfirmedUserData), 1, 10, c.tseq, r)
	return req, resp
}

// attack writes one attack connection (handshake, request, response, FIN).
func (g *plantGen) attack(k int) error {
	g.attacks++
	src := netip.AddrPortFrom(genAddr(g.net, 66, 9), uint16(50000+g.attacks%10000))
	var c *genConn
	var req, resp []byte
	switch k % 3 {
	case 0, 1:
		c = &genConn{cli: src, srv: netip.AddrPortFrom(genAddr(g.net, 1, 11), 502), cseq: 100, sseq: 200}
		pdu := modbus.WriteSingleRegister(3, 11100)
		if k%3 == 1 {
			pdu = modbus.Diagnostic(4, 0)
		}
		req = modbus.AppendADU(nil, &modbus.ADU{TransactionID: 1, UnitID: 1, PDU: pdu})
		resp = req
		if k%3 == 1 {
			resp = nil // listen-only: the device stops answering
		}
	case 2:
		c = &genConn{cli: src, srv: netip.AddrPortFrom(genAddr(g.net, 1, 30), 20000), cseq: 100, sseq: 200, kind: 1}
		apdu := dnp3.AppendRequestHeader(nil, dnp3.AppFIR|dnp3.AppFIN, dnp3.FuncColdRestart)
		req, _ = dnp3.AppendAPDU(nil, dnp3.NewControl(true, true, false, false, dnp3.LinkUnconfirmedUserData), 10, 1, 0, apdu)
	}
	if err := g.handshake(c); err != nil {
		return err
	}
	if err := g.tcp(c.cli, c.srv, c.cseq, c.sseq, 0x18, req); err != nil {
		return err
	}
	c.cseq += uint32(len(req))
	if resp != nil {
		if err := g.tcp(c.srv, c.cli, c.sseq, c.cseq, 0x18, resp); err != nil {
			return err
		}
		c.sseq += uint32(len(resp))
	}
	if err := g.tcp(c.cli, c.srv, c.cseq, c.sseq, 0x11, nil); err != nil {
		return err
	}
	return g.tcp(c.srv, c.cli, c.sseq, c.cseq+1, 0x11, nil)
}

// udpPoll writes a DNP3/UDP class 0 poll of the historian and its answer.
func (g *plantGen) udpPoll(c *genConn) error {
	req, resp := g.dnp3Poll(c)
	hist := netip.AddrPortFrom(genAddr(g.net, 2, 20), 20000)
	g.buf = appendUDPFrame(g.buf[:0], hist, c.srv, req)
	if err := g.write(g.buf); err != nil {
		return err
	}
	g.buf = appendUDPFrame(g.buf[:0], c.srv, hist, resp)
	return g.write(g.buf)
}

// writePlantCapture writes at least n packets of plant traffic to path, an
// attack every attackEvery packets (0: none). It returns the packets written
// and the attacks among them.
func writePlantCapture(path string, net byte, n, attackEvery int) (packets, attacks int, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	g, err := newPlantGen(bw, net)
	if err != nil {
		return 0, 0, err
	}
	udp := &genConn{srv: netip.AddrPortFrom(genAddr(net, 1, 31), 20000)}
	nextAttack := attackEvery
	for i := 0; g.n < n; i++ {
		if err := g.poll(g.conns[i%len(g.conns)]); err != nil {
			return 0, 0, err
		}
		if i%16 == 0 {
			if err := g.udpPoll(udp); err != nil {
				return 0, 0, err
			}
		}
		if attackEvery > 0 && g.n >= nextAttack {
			if err := g.attack(g.attacks); err != nil {
				return 0, 0, err
			}
			nextAttack += attackEvery
		}
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	return g.n, g.attacks, f.Close()
}

// appendTCPFrame appends an Ethernet (zero MACs) / IPv4 / TCP frame with
// correct checksums.
func appendTCPFrame(b []byte, src, dst netip.AddrPort, seq, ack uint32, flags uint8, payload []byte) []byte {
	b = appendEthIPv4(b, src.Addr(), dst.Addr(), 6, 20+len(payload))
	t := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ack)
	b = append(b, 5<<4, flags, 0xff, 0xff, 0, 0, 0, 0)
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[t+16:], l4Checksum(src.Addr(), dst.Addr(), 6, b[t:]))
	return b
}

func appendUDPFrame(b []byte, src, dst netip.AddrPort, payload []byte) []byte {
	b = appendEthIPv4(b, src.Addr(), dst.Addr(), 17, 8+len(payload))
	t := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[t+6:], l4Checksum(src.Addr(), dst.Addr(), 17, b[t:]))
	return b
}

func appendEthIPv4(b []byte, src, dst netip.Addr, proto byte, l4len int) []byte {
	b = append(b, make([]byte, 12)...)
	b = append(b, 0x08, 0x00)
	ip := len(b)
	total := 20 + l4len
	b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0x40, 0, 64, proto, 0, 0)
	s, d := src.As4(), dst.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], ^fold(sum16(b[ip:ip+20], 0)))
	return b
}

func sum16(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func l4Checksum(src, dst netip.Addr, proto byte, seg []byte) uint16 {
	s4, d4 := src.As4(), dst.As4()
	var ph [12]byte
	copy(ph[0:], s4[:])
	copy(ph[4:], d4[:])
	ph[9] = proto
	binary.BigEndian.PutUint16(ph[10:], uint16(len(seg)))
	c := ^fold(sum16(seg, sum16(ph[:], 0)))
	if c == 0 && proto == 17 {
		c = 0xffff
	}
	return c
}

// describeCapture is a one-line summary for logs.
func describeCapture(path string, packets, attacks int) string {
	st, _ := os.Stat(path)
	var size int64
	if st != nil {
		size = st.Size()
	}
	return fmt.Sprintf("%s: %d packets, %d attacks, %.1f MB", path, packets, attacks, float64(size)/1e6)
}
