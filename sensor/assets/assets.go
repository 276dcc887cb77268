package assets

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otrange/otrange/protocol/dnp3"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
)

// Rule ids of the inventory's events.
const (
	RuleNewAsset        = "asset.new"
	RuleNewRelationship = "asset.new_relationship"
)

// Fixed bounds per asset.
const (
	maxMACs       = 4
	maxDNP3Addrs  = 16
	maxStreams    = 8
	maxIDObjects  = 32
	maxIDValueLen = 128
)

// Options configure an Inventory. The zero value of each field means its
// default.
type Options struct {
	Sensor string     // sensor name in alerts; "" means "otrange"
	Sink   alert.Sink // receives asset.new and asset.new_relationship; nil: no events
	// QuietPeriod is the record time after the first record during which
	// new assets and relationships are recorded without events.
	QuietPeriod time.Duration
	MaxAssets   int // hosts kept (default 4096); further hosts are counted and dropped
	MaxPeers    int // relationships kept per host (default 256)
	// Role heuristics (see the package documentation).
	MinPolls        int           // intervals before a stream may be called regular (default 5)
	MaxJitter       float64       // largest stddev/mean of a regular stream (default 0.5)
	SlowPoll        time.Duration // a historian polls at this period or slower (default 5s)
	HistorianPoints int           // a historian reads at least this many points per cycle (default 32)
	HMIDevices      int           // an HMI polls at least this many devices (default 2)
	Logger          *slog.Logger  // nil: discard
}

// Stats are the inventory's counters.
type Stats struct {
	Records       uint64 // records observed
	Assets        int    // hosts in the inventory now
	AssetsDropped uint64 // hosts not added because MaxAssets was reached
	PeersDropped  uint64 // relationships not added because MaxPeers was reached
	Events        uint64 // events emitted
	QuietEvents   uint64 // events not emitted because of the quiet period
}

// Inventory is the set of assets seen. Observe and Restore must be called
// from one goroutine at a time; every other method is safe for concurrent
// use with them.
type Inventory struct {
	opts Options
	log  *slog.Logger

	mu         sync.RWMutex
	assets     map[netip.Addr]*asset
	started    bool
	quietUntil time.Time
	nextID     uint64

	pending []alert.Alert // events built under the lock, emitted after it; Observe only

	records, assetsDropped, peersDropped, events, quietEvents atomic.Uint64
}

// New validates opts and returns an empty inventory.
func New(opts Options) (*Inventory, error) {
	if opts.Sensor == "" {
		opts.Sensor = "otrange"
	}
	if opts.QuietPeriod < 0 {
		return nil, errors.New("assets: QuietPeriod must not be negative")
	}
	if opts.MaxJitter < 0 || math.IsNaN(opts.MaxJitter) {
		return nil, errors.New("assets: MaxJitter must not be negative")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.MaxAssets, 4096)
	def(&opts.MaxPeers, 256)
	def(&opts.MinPolls, 5)
	def(&opts.HistorianPoints, 32)
	def(&opts.HMIDevices, 2)
	if opts.MaxJitter == 0 {
		opts.MaxJitter = 0.5
	}
	if opts.SlowPoll <= 0 {
		opts.SlowPoll = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Inventory{opts: opts, log: log, assets: make(map[netip.Addr]*asset)}, nil
}

// Stats returns the counters so far.
func (inv *Inventory) Stats() Stats {
	inv.mu.RLock()
	n := len(inv.assets)
	inv.mu.RUnlock()
	return Stats{Records: inv.records.Load(), Assets: n, AssetsDropped: inv.assetsDropped.Load(),
		PeersDropped: inv.peersDropped.Load(), Events: inv.events.Load(), QuietEvents: inv.quietEvents.Load()}
}

// bitset256 is a set of byte values (function codes, unit ids).
type bitset256 [4]uint64

func (b *bitset256) set(v uint8) { b[v>>6] |= 1 << (v & 63) }

func (b *bitset256) list() []int {
	var out []int
	for w, x := range b {
		for x != 0 {
			i := bits.TrailingZeros64(x)
			out = append(out, w*64+i)
			x &^= 1 << i
		}
	}
	return out
}

// kinds of an asset.
const (
	kindModbusClient uint8 = 1 << iota
	kindModbusServer
	kindDNP3Master
	kindDNP3Outstation
)

var kindNames = [...]string{"modbus_client", "modbus_server", "dnp3_master", "dnp3_outstation"}

// side indexes function sets.
const (
	sideClient = 0
	sideServer = 1
)

// stream is the rhythm of one polling stream (Welford's running mean and
// variance of the intervals, in seconds).
type stream struct {
	fc       uint8
	addr     uint16
	qty      uint16
	last     time.Time
	n        uint32 // intervals
	mean, m2 float64
}

func (s *stream) add(t time.Time) {
	if s.last.IsZero() {
		s.last = t
		return
	}
	d := t.Sub(s.last).Seconds()
	if d <= 0 {
		return
	}
	s.last = t
	s.n++
	delta := d - s.mean
	s.mean += delta / float64(s.n)
	s.m2 += delta * (d - s.mean)
}

func (s *stream) std() float64 {
	if s.n < 2 {
		return 0
	}
	return math.Sqrt(s.m2 / float64(s.n-1))
}

type peerKey struct {
	addr  netip.Addr
	proto analyze.Protocol
}

// peer is one relationship seen from one side.
type peer struct {
	server   bool // the peer is the server (this asset the client)
	first    time.Time
	last     time.Time
	messages uint64
	streams  [maxStreams]stream
	nstreams uint8
}

// identity is the FC 43/14 device identification of a server.
type identity struct {
	unit uint8
	time time.Time
	objs map[uint8]string
}

// asset is the inventory's state of one host.
type asset struct {
	addr        netip.Addr
	macs        [maxMACs][6]byte
	nmacs       uint8
	macsDropped uint64
	protos      uint8 // bit per analyze.Protocol
	kinds       uint8
	units       bitset256
	dnp3Addrs   []uint16
	dnp3Dropped uint64
	funcs       [3][2]bitset256 // [protocol][side]
	ident       *identity
	peers       map[peerKey]*peer
	peersDrop   uint64
	first, last time.Time

	messages, requests, responses, exceptions, bytes uint64
	dirty                                            bool
}

func (a *asset) seen(t time.Time) {
	if a.first.IsZero() || t.Before(a.first) {
		a.first = t
	}
	if t.After(a.last) {
		a.last = t
	}
	a.dirty = true
}

func (a *asset) addMAC(m net.HardwareAddr) {
	if len(m) != 6 || m[0]&1 != 0 || (m[0]|m[1]|m[2]|m[3]|m[4]|m[5]) == 0 {
		return // absent, multicast/broadcast, or all zero (loopback)
	}
	mac := [6]byte(m)
	for i := range a.nmacs {
		if a.macs[i] == mac {
			return
		}
	}
	if int(a.nmacs) == maxMACs {
		a.macsDropped++
		return
	}
	a.macs[a.nmacs] = mac
	a.nmacs++
}

func (a *asset) addDNP3(addr uint16) {
	if addr >= 0xFFFD {
		return // broadcast
	}
	for _, x := range a.dnp3Addrs {
		if x == addr {
			return
		}
	}
	if len(a.dnp3Addrs) == maxDNP3Addrs {
		a.dnp3Dropped++
		return
	}
	a.dnp3Addrs = append(a.dnp3Addrs, addr)
}

// Observe updates the inventory with one record and the link-layer source
// and destination addresses of the packet that completed it (nil or
// all-zero when unknown). It does not keep r or the MAC slices. Events are
// emitted to Options.Sink after the inventory is unlocked.
func (inv *Inventory) Observe(r *analyze.Record, srcMAC, dstMAC net.HardwareAddr) {
	inv.records.Add(1)
	if !r.Flow.Src.IsValid() || !r.Flow.Dst.IsValid() {
		return
	}
	inv.mu.Lock()
	if !inv.started {
		inv.started = true
		inv.quietUntil = r.Time.Add(inv.opts.QuietPeriod)
	}
	inv.observe(r, srcMAC, dstMAC)
	inv.mu.Unlock()
	if len(inv.pending) > 0 {
		for i := range inv.pending {
			inv.opts.Sink.Emit(inv.pending[i])
			inv.pending[i] = alert.Alert{}
		}
		inv.pending = inv.pending[:0]
	}
}

func (inv *Inventory) observe(r *analyze.Record, srcMAC, dstMAC net.HardwareAddr) {
	srcAddr, dstAddr := r.Flow.Src.Addr().Unmap(), r.Flow.Dst.Addr().Unmap()
	src := inv.asset(srcAddr, r, true)
	dst := inv.asset(dstAddr, r, false)
	if src != nil {
		src.seen(r.Time)
		src.addMAC(srcMAC)
		src.messages++
		src.bytes += uint64(max(r.Len, 0))
	}
	if dst != nil {
		dst.seen(r.Time)
		dst.addMAC(dstMAC)
	}
	if !r.Valid || (r.Protocol != analyze.ProtoModbus && r.Protocol != analyze.ProtoDNP3) {
		return
	}
	client, server := src, dst
	clientAddr, serverAddr := srcAddr, dstAddr
	if r.Dir == analyze.Response {
		client, server = dst, src
		clientAddr, serverAddr = dstAddr, srcAddr
		if src != nil {
			src.responses++
		}
	} else if src != nil {
		src.requests++
	}
	p := r.Protocol
	fc := r.Modbus.Func()
	if p == analyze.ProtoDNP3 {
		fc = r.DNP3.AppFunction
	}
	hasFC := p == analyze.ProtoModbus || r.DNP3.HasApp
	if client != nil {
		client.protos |= 1 << p
		if p == analyze.ProtoModbus {
			client.kinds |= kindModbusClient
		} else {
			client.kinds |= kindDNP3Master
		}
		if r.Dir == analyze.Request && hasFC {
			client.funcs[p][sideClient].set(fc)
		}
	}
	if server != nil {
		server.protos |= 1 << p
		switch p {
		case analyze.ProtoModbus:
			server.kinds |= kindModbusServer
			server.units.set(r.Modbus.UnitID)
			if r.Dir == analyze.Response {
				if r.Modbus.IsException() {
					server.exceptions++
				} else {
					server.funcs[p][sideServer].set(fc)
				}
				if fc == 43 && r.Modbus.MEIType == 14 && r.Modbus.NDeviceID > 0 && !r.Modbus.IsException() {
					server.setIdentity(r)
				}
			}
		case analyze.ProtoDNP3:
			server.kinds |= kindDNP3Outstation
			if r.Dir == analyze.Response && hasFC {
				server.funcs[p][sideServer].set(fc)
			}
		}
	}
	if p == analyze.ProtoDNP3 {
		master, outstation := r.DNP3.LinkSrc, r.DNP3.LinkDst
		if r.Dir == analyze.Response {
			master, outstation = outstation, master
		}
		if client != nil {
			client.addDNP3(master)
		}
		if server != nil {
			server.addDNP3(outstation)
		}
	}
	if client == nil || server == nil {
		return
	}
	cp, isNew := inv.peer(client, peerKey{serverAddr, p}, true, r.Time)
	if isNew {
		inv.relationshipEvent(r, clientAddr, serverAddr, fc, hasFC)
	}
	inv.peer(server, peerKey{clientAddr, p}, false, r.Time)
	if cp != nil && r.Dir == analyze.Request && hasFC {
		addr, qty := pollKey(r)
		cp.stream(fc, addr, qty).add(r.Time)
	}
}

// pollKey returns the start address and quantity that name a polling stream.
func pollKey(r *analyze.Record) (uint16, uint16) {
	if r.Protocol == analyze.ProtoModbus {
		return r.Modbus.Address, r.Modbus.Quantity
	}
	d := &r.DNP3
	if d.NObjects == 0 {
		return 0, 0
	}
	var qty uint32
	for _, o := range d.ObjectList() {
		if o.Qualifier&0x0F <= 5 && o.Stop >= o.Start {
			qty += o.Stop - o.Start + 1
		} else {
			qty += o.Count
		}
	}
	o := &d.Objects[0]
	return uint16(o.Group)<<8 | uint16(o.Variation), uint16(min(qty, math.MaxUint16))
}

func (p *peer) stream(fc uint8, addr, qty uint16) *stream {
	for i := range p.nstreams {
		s := &p.streams[i]
		if s.fc == fc && s.addr == addr {
			if qty > s.qty {
				s.qty = qty
			}
			return s
		}
	}
	if p.nstreams < maxStreams {
		s := &p.streams[p.nstreams]
		p.nstreams++
		s.fc, s.addr, s.qty = fc, addr, qty
		return s
	}
	// Full: the stream with the fewest intervals gives way.
	low := 0
	for i := 1; i < maxStreams; i++ {
		if p.streams[i].n < p.streams[low].n {
			low = i
		}
	}
	p.streams[low] = stream{fc: fc, addr: addr, qty: qty}
	return &p.streams[low]
}

// asset returns the asset of addr, creating it (and its event) when new; nil
// when the inventory is full.
func (inv *Inventory) asset(addr netip.Addr, r *analyze.Record, isSrc bool) *asset {
	if a := inv.assets[addr]; a != nil {
		return a
	}
	if len(inv.assets) >= inv.opts.MaxAssets {
		inv.assetsDropped.Add(1)
		return nil
	}
	a := &asset{addr: addr, peers: make(map[peerKey]*peer)}
	inv.assets[addr] = a
	client := r.Valid && (r.Dir == analyze.Request) == isSrc
	kind := "host"
	var techniques []string
	if r.Valid {
		switch {
		case client && r.Protocol == analyze.ProtoDNP3:
			kind = "DNP3 master"
		case client:
			kind = "Modbus client"
		case r.Protocol == analyze.ProtoDNP3:
			kind = "DNP3 outstation"
		default:
			kind = "Modbus server"
		}
		if client {
			techniques = []string{"T0848"}
		}
	}
	inv.event(r, RuleNewAsset, "New asset", techniques,
		"new asset "+addr.String()+" ("+kind+") first seen talking "+r.Protocol.String())
	return a
}

// peer returns a's relationship with k, creating it when new; nil when a's
// peers are full.
func (inv *Inventory) peer(a *asset, k peerKey, server bool, t time.Time) (*peer, bool) {
	p := a.peers[k]
	isNew := false
	if p == nil {
		if len(a.peers) >= inv.opts.MaxPeers {
			a.peersDrop++
			inv.peersDropped.Add(1)
			return nil, false
		}
		p = &peer{server: server, first: t}
		a.peers[k] = p
		isNew = true
	}
	if t.After(p.last) {
		p.last = t
	}
	if t.Before(p.first) {
		p.first = t
	}
	p.messages++
	return p, isNew
}

func (inv *Inventory) relationshipEvent(r *analyze.Record, client, server netip.Addr, fc uint8, hasFC bool) {
	techniques := []string{"T0846"}
	what := "talks to"
	if hasFC && isCommand(r.Protocol, fc) {
		techniques = []string{"T0855", "T1692.001"}
		what = "sends commands to"
	}
	name := "?"
	if hasFC {
		name = r.Protocol.FunctionName(fc)
	}
	inv.event(r, RuleNewRelationship, "New master-to-device relationship", techniques,
		"new relationship: "+client.String()+" "+what+" "+server.String()+" over "+r.Protocol.String()+
			" (first function "+name+")")
}

// event queues an alert unless the quiet period is running or there is no
// sink.
func (inv *Inventory) event(r *analyze.Record, rule, name string, techniques []string, msg string) {
	if inv.opts.Sink == nil {
		return
	}
	if r.Time.Before(inv.quietUntil) {
		inv.quietEvents.Add(1)
		return
	}
	inv.events.Add(1)
	inv.nextID++
	if techniques == nil {
		techniques = []string{}
	}
	a := alert.Alert{
		ID:         inv.opts.Sensor + "-" + strconv.FormatInt(r.Time.UnixNano(), 10) + "-a" + strconv.FormatUint(inv.nextID, 10),
		Time:       r.Time,
		Sensor:     inv.opts.Sensor,
		RuleID:     rule,
		RuleName:   name,
		Severity:   alert.Low,
		Techniques: techniques,
		SrcAddr:    r.Flow.Src.Addr().String(),
		SrcPort:    r.Flow.Src.Port(),
		DstAddr:    r.Flow.Dst.Addr().String(),
		DstPort:    r.Flow.Dst.Port(),
		Protocol:   r.Protocol.String(),
		Evidence:   alert.Evidence{FlowID: r.Flow.ID(), Frames: []uint64{r.Frame}},
		Message:    msg,
	}
	if r.Valid {
		switch r.Protocol {
		case analyze.ProtoModbus:
			a.Function = modbus.FunctionCode(r.Modbus.Function).String()
			u := int(r.Modbus.UnitID)
			a.Unit = &u
		case analyze.ProtoDNP3:
			if r.DNP3.HasApp {
				a.Function = dnp3.FunctionCode(r.DNP3.AppFunction).String()
			}
			u := int(r.DNP3.LinkDst)
			if r.Dir == analyze.Response {
				u = int(r.DNP3.LinkSrc)
			}
			a.Unit = &u
		}
	}
	inv.pending = append(inv.pending, a)
}

// isEngineering reports the functions of an engineering workstation (see
// the package documentation).
func isEngineering(p analyze.Protocol, fc uint8) bool {
	if p == analyze.ProtoDNP3 {
		return (fc >= 13 && fc <= 19) || (fc >= 25 && fc <= 31)
	}
	switch fc {
	case 8, 17, 20, 21, 43, 90, 125, 126:
		return true
	}
	return false
}

// isCommand reports functions that act on a device rather than read it.
func isCommand(p analyze.Protocol, fc uint8) bool {
	if p.IsWrite(fc) {
		return true
	}
	if p == analyze.ProtoDNP3 {
		return isEngineering(p, fc) || (fc >= 7 && fc <= 12) || (fc >= 20 && fc <= 22)
	}
	return fc == 8 || fc == 21 || fc == 90 || fc == 125 || fc == 126
}

var idNames = map[uint8]string{0: "vendor_name", 1: "product_code", 2: "revision", 3: "vendor_url",
	4: "product_name", 5: "model_name", 6: "user_application_name"}

func (a *asset) setIdentity(r *analyze.Record) {
	m := &r.Modbus
	if a.ident == nil {
		a.ident = &identity{objs: make(map[uint8]string)}
	}
	a.ident.unit = m.UnitID
	a.ident.time = r.Time
	for i := range min(m.NDeviceID, len(m.DeviceID)) {
		o := &m.DeviceID[i]
		if old, ok := a.ident.objs[o.ID]; ok && old == string(o.Value) {
			continue
		}
		if _, ok := a.ident.objs[o.ID]; !ok && len(a.ident.objs) >= maxIDObjects {
			continue
		}
		a.ident.objs[o.ID] = cleanText(o.Value)
	}
}

// cleanText makes a printable, bounded string of device bytes.
func cleanText(b []byte) string {
	if len(b) > maxIDValueLen {
		b = b[:maxIDValueLen]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F {
			return -1
		}
		return r
	}, s)
}
