package assets

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otrange/otrange/sensor/analyze"
)

// Role is the inferred function of an asset in the plant.
type Role string

// Roles.
const (
	RoleUnknown   Role = "unknown"
	RolePLC       Role = "plc"
	RoleRTU       Role = "rtu"
	RoleHMI       Role = "hmi"
	RoleEWS       Role = "engineering_workstation"
	RoleHistorian Role = "historian"
)

// Asset is a snapshot of one host. Its JSON form is what `otrange sensor
// assets --json` prints and what the store keeps.
type Asset struct {
	Address     netip.Addr `json:"address"`
	MACs        []string   `json:"macs,omitempty"`
	MACsDropped uint64     `json:"macs_dropped,omitempty"`
	Role        Role       `json:"role"`
	// Kinds: modbus_client, modbus_server, dnp3_master, dnp3_outstation.
	Kinds     []string `json:"kinds,omitempty"`
	Protocols []string `json:"protocols,omitempty"`
	// ModbusUnits are the unit ids this host answers for (as a server).
	ModbusUnits []int `json:"modbus_units,omitempty"`
	// DNP3Addresses are the link addresses this host uses.
	DNP3Addresses []int     `json:"dnp3_addresses,omitempty"`
	DNP3Dropped   uint64    `json:"dnp3_addresses_dropped,omitempty"`
	Functions     Functions `json:"functions"`
	Identity      *Identity `json:"identity,omitempty"`
	Peers         []Peer    `json:"peers,omitempty"`
	PeersDropped  uint64    `json:"peers_dropped,omitempty"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	Counts        Counts    `json:"counts"`
}

// Functions are the function codes an asset used, by protocol and side:
// sent in requests (as client or master) and answered (as server or
// outstation; DNP3 responses are 129 and 130).
type Functions struct {
	ModbusClient []int `json:"modbus_client,omitempty"`
	ModbusServer []int `json:"modbus_server,omitempty"`
	DNP3Master   []int `json:"dnp3_master,omitempty"`
	DNP3Outst    []int `json:"dnp3_outstation,omitempty"`
}

// Identity is the Modbus device identification (FC 43/14) a server returned.
type Identity struct {
	Unit    int       `json:"unit"`
	Time    time.Time `json:"time"`
	Objects []IDItem  `json:"objects"`
}

// IDItem is one identification object: the standard ones are named
// (vendor_name, product_code, revision, vendor_url, product_name,
// model_name, user_application_name), others are "object_0xNN".
type IDItem struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Value returns the value of the named object, or "".
func (id *Identity) Value(name string) string {
	if id == nil {
		return ""
	}
	for _, o := range id.Objects {
		if o.Name == name {
			return o.Value
		}
	}
	return ""
}

// Peer is one relationship of an asset.
type Peer struct {
	Address  netip.Addr `json:"address"`
	Protocol string     `json:"protocol"`
	// Relation is what the peer is to this asset: "server" (this asset
	// polls it) or "client".
	Relation  string    `json:"relation"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Messages  uint64    `json:"messages"`
	// Polls are the request streams of this asset to the peer (when the
	// peer is the server).
	Polls []Poll `json:"polls,omitempty"`
}

// Poll is the rhythm of one request stream (function and start address; for
// DNP3 the address is group<<8|variation of the first object).
type Poll struct {
	Function  int     `json:"function"`
	Address   int     `json:"address"`
	Quantity  int     `json:"quantity"`
	Intervals int     `json:"intervals"`
	MeanS     float64 `json:"mean_s"`
	StddevS   float64 `json:"stddev_s"`
	Regular   bool    `json:"regular"`
}

// Counts are the messages an asset sent.
type Counts struct {
	Messages   uint64 `json:"messages"`
	Requests   uint64 `json:"requests"`
	Responses  uint64 `json:"responses"`
	Exceptions uint64 `json:"exceptions"`
	Bytes      uint64 `json:"bytes"`
}

// Snapshot returns every asset, ordered by address.
func (inv *Inventory) Snapshot() []Asset {
	inv.mu.RLock()
	out := make([]Asset, 0, len(inv.assets))
	for _, a := range inv.assets {
		out = append(out, inv.export(a))
	}
	inv.mu.RUnlock()
	slices.SortFunc(out, func(x, y Asset) int { return x.Address.Compare(y.Address) })
	return out
}

// Get returns the asset of addr.
func (inv *Inventory) Get(addr netip.Addr) (Asset, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	a := inv.assets[addr.Unmap()]
	if a == nil {
		return Asset{}, false
	}
	return inv.export(a), true
}

// TakeChanges returns the assets changed since the last call (all of them
// the first time after New) and marks them clean; the store saves them.
func (inv *Inventory) TakeChanges() []Asset {
	inv.mu.Lock()
	var out []Asset
	for _, a := range inv.assets {
		if a.dirty {
			a.dirty = false
			out = append(out, inv.export(a))
		}
	}
	inv.mu.Unlock()
	slices.SortFunc(out, func(x, y Asset) int { return x.Address.Compare(y.Address) })
	return out
}

// MarkChanged marks the given addresses changed again, after a failed save.
func (inv *Inventory) MarkChanged(addrs []netip.Addr) {
	inv.mu.Lock()
	for _, ad := range addrs {
		if a := inv.assets[ad]; a != nil {
			a.dirty = true
		}
	}
	inv.mu.Unlock()
}

func (inv *Inventory) regular(s *stream) bool {
	return int(s.n) >= inv.opts.MinPolls && s.mean > 0 && s.std() <= inv.opts.MaxJitter*s.mean
}

// role infers the role (see the package documentation).
func (inv *Inventory) role(a *asset) Role {
	switch {
	case a.kinds&kindModbusServer != 0:
		return RolePLC
	case a.kinds&kindDNP3Outstation != 0:
		return RoleRTU
	case a.kinds&(kindModbusClient|kindDNP3Master) == 0:
		return RoleUnknown
	}
	writes := false
	for _, p := range []analyze.Protocol{analyze.ProtoModbus, analyze.ProtoDNP3} {
		for _, fc := range a.funcs[p][sideClient].list() {
			if isEngineering(p, uint8(fc)) {
				return RoleEWS
			}
			writes = writes || p.IsWrite(uint8(fc))
		}
	}
	polled, points := 0, 0
	slow := true
	for _, p := range a.peers {
		if !p.server {
			continue
		}
		regular := false
		for i := range p.nstreams {
			s := &p.streams[i]
			if inv.regular(s) {
				regular = true
				points += int(s.qty)
				if s.mean < inv.opts.SlowPoll.Seconds() {
					slow = false
				}
			}
		}
		if regular {
			polled++
		}
	}
	switch {
	case polled == 0:
		return RoleUnknown
	case !writes && slow && points >= inv.opts.HistorianPoints:
		return RoleHistorian
	case polled >= inv.opts.HMIDevices || writes:
		return RoleHMI
	}
	return RoleUnknown
}

func (inv *Inventory) export(a *asset) Asset {
	out := Asset{
		Address: a.addr, MACsDropped: a.macsDropped, Role: inv.role(a), DNP3Dropped: a.dnp3Dropped,
		PeersDropped: a.peersDrop, FirstSeen: a.first.UTC(), LastSeen: a.last.UTC(),
		Counts: Counts{Messages: a.messages, Requests: a.requests, Responses: a.responses,
			Exceptions: a.exceptions, Bytes: a.bytes},
	}
	for i := range a.nmacs {
		out.MACs = append(out.MACs, net.HardwareAddr(a.macs[i][:]).String())
	}
	for i, n := range kindNames {
		if a.kinds&(1<<i) != 0 {
			out.Kinds = append(out.Kinds, n)
		}
	}
	for _, p := range []analyze.Protocol{analyze.ProtoModbus, analyze.ProtoDNP3} {
		if a.protos&(1<<p) != 0 {
			out.Protocols = append(out.Protocols, p.String())
		}
	}
	if a.kinds&kindModbusServer != 0 {
		out.ModbusUnits = a.units.list()
	}
	for _, d := range a.dnp3Addrs {
		out.DNP3Addresses = append(out.DNP3Addresses, int(d))
	}
	slices.Sort(out.DNP3Addresses)
	out.Functions = Functions{
		ModbusClient: a.funcs[analyze.ProtoModbus][sideClient].list(),
		ModbusServer: a.funcs[analyze.ProtoModbus][sideServer].list(),
		DNP3Master:   a.funcs[analyze.ProtoDNP3][sideClient].list(),
		DNP3Outst:    a.funcs[analyze.ProtoDNP3][sideServer].list(),
	}
	if a.ident != nil {
		id := &Identity{Unit: int(a.ident.unit), Time: a.ident.time.UTC()}
		for k, v := range a.ident.objs {
			name, ok := idNames[k]
			if !ok {
				name = fmt.Sprintf("object_0x%02x", k)
			}
			id.Objects = append(id.Objects, IDItem{ID: int(k), Name: name, Value: v})
		}
		slices.SortFunc(id.Objects, func(x, y IDItem) int { return cmp.Compare(x.ID, y.ID) })
		out.Identity = id
	}
	for k, p := range a.peers {
		ep := Peer{Address: k.addr, Protocol: k.proto.String(), Relation: "client", FirstSeen: p.first.UTC(),
			LastSeen: p.last.UTC(), Messages: p.messages}
		if p.server {
			ep.Relation = "server"
		}
		for i := range p.nstreams {
			s := &p.streams[i]
			ep.Polls = append(ep.Polls, Poll{Function: int(s.fc), Address: int(s.addr), Quantity: int(s.qty),
				Intervals: int(s.n), MeanS: round6(s.mean), StddevS: round6(s.std()), Regular: inv.regular(s)})
		}
		slices.SortFunc(ep.Polls, func(x, y Poll) int {
			return cmp.Or(cmp.Compare(x.Function, y.Function), cmp.Compare(x.Address, y.Address))
		})
		out.Peers = append(out.Peers, ep)
	}
	slices.SortFunc(out.Peers, func(x, y Peer) int {
		return cmp.Or(x.Address.Compare(y.Address), strings.Compare(x.Protocol, y.Protocol))
	})
	return out
}

func round6(f float64) float64 {
	if math.Abs(f) > 1e12 {
		return f
	}
	return math.Round(f*1e6) / 1e6
}

// sane reports a stored interval statistic this program could have written
// (finite, not negative, under ~30 years).
func sane(f float64) bool { return f >= 0 && f < 1e9 }

// Restore adds saved assets to the inventory (replacing any with the same
// address), without events: they are known. Assets beyond MaxAssets are
// counted as dropped. Restored assets are not marked changed.
func (inv *Inventory) Restore(saved []Asset) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for i := range saved {
		s := &saved[i]
		addr := s.Address.Unmap()
		if !addr.IsValid() {
			continue
		}
		if inv.assets[addr] == nil && len(inv.assets) >= inv.opts.MaxAssets {
			inv.assetsDropped.Add(1)
			continue
		}
		inv.assets[addr] = inv.restore(s, addr)
	}
}

func (inv *Inventory) restore(s *Asset, addr netip.Addr) *asset {
	a := &asset{addr: addr, peers: make(map[peerKey]*peer), first: s.FirstSeen, last: s.LastSeen,
		macsDropped: s.MACsDropped, dnp3Dropped: s.DNP3Dropped, peersDrop: s.PeersDropped,
		messages: s.Counts.Messages, requests: s.Counts.Requests, responses: s.Counts.Responses,
		exceptions: s.Counts.Exceptions, bytes: s.Counts.Bytes}
	for _, m := range s.MACs {
		if hw, err := net.ParseMAC(m); err == nil {
			a.addMAC(hw)
		}
	}
	for i, n := range kindNames {
		if slices.Contains(s.Kinds, n) {
			a.kinds |= 1 << i
		}
	}
	for _, p := range []analyze.Protocol{analyze.ProtoModbus, analyze.ProtoDNP3} {
		if slices.Contains(s.Protocols, p.String()) {
			a.protos |= 1 << p
		}
	}
	setAll := func(b *bitset256, vs []int) {
		for _, v := range vs {
			if v >= 0 && v <= 255 {
				b.set(uint8(v))
			}
		}
	}
	setAll(&a.units, s.ModbusUnits)
	setAll(&a.funcs[analyze.ProtoModbus][sideClient], s.Functions.ModbusClient)
	setAll(&a.funcs[analyze.ProtoModbus][sideServer], s.Functions.ModbusServer)
	setAll(&a.funcs[analyze.ProtoDNP3][sideClient], s.Functions.DNP3Master)
	setAll(&a.funcs[analyze.ProtoDNP3][sideServer], s.Functions.DNP3Outst)
	for _, d := range s.DNP3Addresses {
		if d >= 0 && d <= 0xFFFF {
			a.addDNP3(uint16(d))
		}
	}
	if s.Identity != nil {
		a.ident = &identity{unit: uint8(s.Identity.Unit), time: s.Identity.Time, objs: make(map[uint8]string)}
		for _, o := range s.Identity.Objects {
			if o.ID >= 0 && o.ID <= 255 && len(a.ident.objs) < maxIDObjects {
				a.ident.objs[uint8(o.ID)] = cleanText([]byte(o.Value))
			}
		}
	}
	for _, sp := range s.Peers {
		proto := analyze.ProtoModbus
		switch sp.Protocol {
		case "modbus":
		case "dnp3":
			proto = analyze.ProtoDNP3
		default:
			continue
		}
		if len(a.peers) >= inv.opts.MaxPeers {
			a.peersDrop++
			continue
		}
		p := &peer{server: sp.Relation == "server", first: sp.FirstSeen, last: sp.LastSeen, messages: sp.Messages}
		for _, pl := range sp.Polls {
			if int(p.nstreams) == maxStreams {
				break
			}
			n := max(pl.Intervals, 0)
			st := stream{fc: uint8(pl.Function), addr: uint16(pl.Address), qty: uint16(max(pl.Quantity, 0)),
				n: uint32(n), mean: pl.MeanS}
			if !sane(pl.MeanS) || !sane(pl.StddevS) {
				st.n, st.mean = 0, 0
			} else if n > 1 {
				st.m2 = pl.StddevS * pl.StddevS * float64(n-1)
			}
			p.streams[p.nstreams] = st
			p.nstreams++
		}
		a.peers[peerKey{sp.Address.Unmap(), proto}] = p
	}
	return a
}

// WriteJSON prints the assets as one indented JSON array.
func WriteJSON(w io.Writer, as []Asset) error {
	if as == nil {
		as = []Asset{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(as)
}

// roleLabels are the table's short names of the roles.
var roleLabels = map[Role]string{RolePLC: "PLC", RoleRTU: "RTU", RoleHMI: "HMI", RoleEWS: "EWS",
	RoleHistorian: "historian", RoleUnknown: "unknown"}

// WriteTable prints the assets as an aligned text table, one line per
// asset: address, MAC, role, kinds, protocols, units/DNP3 addresses,
// function codes, identity, peers, last seen.
func WriteTable(w io.Writer, as []Asset) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tMAC\tROLE\tKINDS\tUNITS\tFUNCTIONS\tIDENTITY\tPEERS\tLAST SEEN")
	for i := range as {
		a := &as[i]
		mac := "-"
		if len(a.MACs) > 0 {
			mac = strings.Join(a.MACs, ",")
		}
		var units []string
		if len(a.ModbusUnits) > 0 {
			units = append(units, "modbus:"+joinInts(a.ModbusUnits))
		}
		if len(a.DNP3Addresses) > 0 {
			units = append(units, "dnp3:"+joinInts(a.DNP3Addresses))
		}
		var funcs []string
		for _, f := range []struct {
			name string
			v    []int
		}{{"mb>", a.Functions.ModbusClient}, {"mb<", a.Functions.ModbusServer},
			{"dnp3>", a.Functions.DNP3Master}, {"dnp3<", a.Functions.DNP3Outst}} {
			if len(f.v) > 0 {
				funcs = append(funcs, f.name+joinInts(f.v))
			}
		}
		ident := "-"
		if a.Identity != nil {
			parts := []string{}
			for _, n := range []string{"vendor_name", "product_code", "revision"} {
				if v := a.Identity.Value(n); v != "" {
					parts = append(parts, v)
				}
			}
			ident = strings.Join(parts, " ")
		}
		kinds := strings.Join(a.Kinds, ",")
		if kinds == "" {
			kinds = "-"
		}
		role := roleLabels[a.Role]
		if role == "" {
			role = string(a.Role)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.Address, mac, role, kinds,
			dash(strings.Join(units, " ")), dash(strings.Join(funcs, " ")), dash(ident), len(a.Peers),
			a.LastSeen.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinInts(v []int) string {
	var b strings.Builder
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}
