package assets_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/assets"
)

func newInv(t *testing.T, opts assets.Options) *assets.Inventory {
	t.Helper()
	inv, err := assets.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// poll feeds n request/response pairs every period (with jitter from a
// fixed pattern) from client to server.
func poll(inv *assets.Inventory, start time.Duration, n int, period time.Duration, client, server string, fc uint8, addr, qty uint16) {
	jit := []float64{0, 0.15, -0.1, 0.2, -0.2, 0.05}
	at := start
	for i := range n {
		req := mbReq(at, client, server, 1, fc, addr, qty)
		inv.Observe(req, nil, nil)
		inv.Observe(mbResp(req, 0), nil, nil)
		at += time.Duration(float64(period) * (1 + jit[i%len(jit)]))
	}
}

func TestRoles(t *testing.T) {
	const plc1, plc2 = "10.0.1.1:502", "10.0.1.2:502"
	cases := []struct {
		name  string
		feed  func(inv *assets.Inventory)
		addr  string
		role  assets.Role
		kinds []string
	}{
		{"modbus server is a PLC", func(inv *assets.Inventory) {
			poll(inv, 0, 3, time.Second, "10.0.2.1:40000", plc1, 3, 0, 10)
		}, "10.0.1.1", assets.RolePLC, []string{"modbus_server"}},
		{"dnp3 outstation is an RTU", func(inv *assets.Inventory) {
			req := dnpReq(0, "10.0.2.1:40000", "10.0.1.5:20000", 1, 10, 1)
			inv.Observe(req, nil, nil)
			inv.Observe(dnpResp(req, 129), nil, nil)
		}, "10.0.1.5", assets.RoleRTU, []string{"dnp3_outstation"}},
		{"unsolicited responses alone make an RTU", func(inv *assets.Inventory) {
			req := dnpReq(0, "10.0.2.1:40000", "10.0.1.5:20000", 1, 10, 1)
			inv.Observe(dnpResp(req, 130), nil, nil)
		}, "10.0.1.5", assets.RoleRTU, []string{"dnp3_outstation"}},
		{"regular poller of two PLCs is an HMI", func(inv *assets.Inventory) {
			poll(inv, 0, 10, time.Second, "10.0.2.1:40000", plc1, 3, 0, 10)
			poll(inv, 0, 10, time.Second, "10.0.2.1:40001", plc2, 3, 0, 10)
		}, "10.0.2.1", assets.RoleHMI, []string{"modbus_client"}},
		{"regular poller of one PLC that writes is an HMI", func(inv *assets.Inventory) {
			poll(inv, 0, 10, time.Second, "10.0.2.1:40000", plc1, 3, 0, 10)
			inv.Observe(mbReq(20*time.Second, "10.0.2.1:40000", plc1, 1, 6, 5, 1), nil, nil)
		}, "10.0.2.1", assets.RoleHMI, []string{"modbus_client"}},
		{"read-only poller of one PLC is unknown", func(inv *assets.Inventory) {
			poll(inv, 0, 10, time.Second, "10.0.2.1:40000", plc1, 3, 0, 10)
		}, "10.0.2.1", assets.RoleUnknown, []string{"modbus_client"}},
		{"irregular requests to two PLCs are unknown", func(inv *assets.Inventory) {
			for i, at := range []time.Duration{0, 1, 30, 31, 200, 900, 901, 3000} {
				inv.Observe(mbReq(at*time.Second, "10.0.2.1:40000", plc1, 1, 3, 0, 10), nil, nil)
				inv.Observe(mbReq(at*time.Second+time.Duration(i), "10.0.2.1:40001", plc2, 1, 3, 0, 10), nil, nil)
			}
		}, "10.0.2.1", assets.RoleUnknown, []string{"modbus_client"}},
		{"device identification makes an engineering workstation", func(inv *assets.Inventory) {
			poll(inv, 0, 10, time.Second, "10.0.2.1:40000", plc1, 3, 0, 10)
			poll(inv, 0, 10, time.Second, "10.0.2.1:40001", plc2, 3, 0, 10)
			r := mbReq(20*time.Second, "10.0.2.1:40000", plc1, 1, 43, 0, 0)
			r.Modbus.MEIType = 14
			inv.Observe(r, nil, nil)
		}, "10.0.2.1", assets.RoleEWS, []string{"modbus_client"}},
		{"diagnostics make an engineering workstation", func(inv *assets.Inventory) {
			inv.Observe(mbReq(0, "10.0.2.9:40000", plc1, 1, 8, 0, 0), nil, nil)
		}, "10.0.2.9", assets.RoleEWS, []string{"modbus_client"}},
		{"dnp3 cold restart makes an engineering workstation", func(inv *assets.Inventory) {
			inv.Observe(dnpReq(0, "10.0.2.9:40000", "10.0.1.5:20000", 3, 10, 13), nil, nil)
		}, "10.0.2.9", assets.RoleEWS, []string{"dnp3_master"}},
		{"slow read-only poller of many registers is a historian", func(inv *assets.Inventory) {
			poll(inv, 0, 10, 30*time.Second, "10.0.3.1:40000", plc1, 3, 0, 40)
		}, "10.0.3.1", assets.RoleHistorian, []string{"modbus_client"}},
		{"slow poller that writes is not a historian", func(inv *assets.Inventory) {
			poll(inv, 0, 10, 30*time.Second, "10.0.3.1:40000", plc1, 3, 0, 40)
			inv.Observe(mbReq(time.Hour, "10.0.3.1:40000", plc1, 1, 16, 0, 2), nil, nil)
		}, "10.0.3.1", assets.RoleHMI, []string{"modbus_client"}},
		{"slow poller of few registers is not a historian", func(inv *assets.Inventory) {
			poll(inv, 0, 10, 30*time.Second, "10.0.3.1:40000", plc1, 3, 0, 4)
		}, "10.0.3.1", assets.RoleUnknown, []string{"modbus_client"}},
		{"a PLC that also polls stays a PLC", func(inv *assets.Inventory) {
			poll(inv, 0, 10, time.Second, "10.0.2.1:40000", plc1, 3, 0, 10)
			poll(inv, 0, 10, time.Second, "10.0.1.1:40001", plc2, 3, 0, 10)
			poll(inv, 0, 10, time.Second, "10.0.1.1:40002", "10.0.1.3:502", 3, 0, 10)
		}, "10.0.1.1", assets.RolePLC, []string{"modbus_client", "modbus_server"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := newInv(t, assets.Options{})
			tc.feed(inv)
			a, ok := inv.Get(netip.MustParseAddr(tc.addr))
			if !ok {
				t.Fatalf("%s not in the inventory", tc.addr)
			}
			if a.Role != tc.role || !slices.Equal(a.Kinds, tc.kinds) {
				t.Errorf("role %s kinds %v, want %s %v", a.Role, a.Kinds, tc.role, tc.kinds)
			}
		})
	}
}

func TestFieldsAndPeers(t *testing.T) {
	inv := newInv(t, assets.Options{})
	hmiMAC, plcMAC := mac("02:00:00:00:02:01"), mac("02:00:00:00:01:01")
	req := mbReq(0, "10.0.2.1:40000", "10.0.1.1:502", 7, 3, 100, 4)
	inv.Observe(req, hmiMAC, plcMAC)
	inv.Observe(mbResp(req, 0), plcMAC, hmiMAC)
	req = mbReq(time.Second, "10.0.2.1:40000", "10.0.1.1:502", 9, 16, 10, 2)
	inv.Observe(req, hmiMAC, plcMAC)
	inv.Observe(mbResp(req, 2), plcMAC, hmiMAC)
	// The same PLC also speaks DNP3 to another master.
	dr := dnpReq(2*time.Second, "10.0.2.2:41000", "10.0.1.1:20000", 1, 10, 1)
	inv.Observe(dr, mac("02:00:00:00:02:02"), plcMAC)
	inv.Observe(dnpResp(dr, 129), plcMAC, mac("02:00:00:00:02:02"))
	// Loopback and broadcast MACs are not kept.
	inv.Observe(mbReq(3*time.Second, "10.0.2.1:40000", "10.0.1.1:502", 7, 3, 100, 4), mac("00:00:00:00:00:00"), mac("ff:ff:ff:ff:ff:ff"))

	plc, _ := inv.Get(netip.MustParseAddr("10.0.1.1"))
	want := assets.Asset{
		Address: netip.MustParseAddr("10.0.1.1"), MACs: []string{"02:00:00:00:01:01"}, Role: assets.RolePLC,
		Kinds: []string{"modbus_server", "dnp3_outstation"}, Protocols: []string{"modbus", "dnp3"},
		ModbusUnits: []int{7, 9}, DNP3Addresses: []int{10},
		Functions: assets.Functions{ModbusServer: []int{3}, DNP3Outst: []int{129}},
		FirstSeen: t0, LastSeen: t0.Add(3 * time.Second),
		Counts: assets.Counts{Messages: 3, Responses: 3, Exceptions: 1, Bytes: 44},
	}
	peers := plc.Peers
	plc.Peers = nil
	if !reflect.DeepEqual(plc, want) {
		t.Errorf("PLC:\n got %+v\nwant %+v", plc, want)
	}
	if len(peers) != 2 || peers[0].Address.String() != "10.0.2.1" || peers[0].Relation != "client" || peers[0].Protocol != "modbus" ||
		peers[1].Address.String() != "10.0.2.2" || peers[1].Protocol != "dnp3" || peers[1].LastSeen != t0.Add(2*time.Second+10*time.Millisecond) {
		t.Errorf("PLC peers: %+v", peers)
	}
	hmi, _ := inv.Get(netip.MustParseAddr("10.0.2.1"))
	if !slices.Equal(hmi.Functions.ModbusClient, []int{3, 16}) || hmi.ModbusUnits != nil || hmi.Counts.Requests != 3 ||
		!slices.Equal(hmi.MACs, []string{"02:00:00:00:02:01"}) {
		t.Errorf("HMI: %+v", hmi)
	}
	if len(hmi.Peers) != 1 || hmi.Peers[0].Relation != "server" || len(hmi.Peers[0].Polls) != 2 ||
		hmi.Peers[0].Polls[0] != (assets.Poll{Function: 3, Address: 100, Quantity: 4, Intervals: 1, MeanS: 3}) {
		t.Errorf("HMI peers: %+v", hmi.Peers)
	}
	master, _ := inv.Get(netip.MustParseAddr("10.0.2.2"))
	if !slices.Equal(master.DNP3Addresses, []int{1}) || !slices.Equal(master.Functions.DNP3Master, []int{1}) {
		t.Errorf("DNP3 master: %+v", master)
	}
}

func TestIdentity(t *testing.T) {
	inv := newInv(t, assets.Options{})
	req := mbReq(0, "10.0.2.9:40000", "10.0.1.1:502", 3, 43, 0, 0)
	req.Modbus.MEIType, req.Modbus.ReadDeviceIDCode = 14, 1
	inv.Observe(req, nil, nil)
	resp := mbResp(req, 0)
	objs := []struct {
		id uint8
		v  string
	}{{0, "Acme"}, {1, "PLC-9\x00\n"}, {2, "v1.2"}, {0x81, "serial\xff42"}}
	for i, o := range objs {
		resp.Modbus.DeviceID[i] = analyze.DeviceObject{ID: o.id, Value: []byte(o.v)}
	}
	resp.Modbus.NDeviceID = len(objs)
	inv.Observe(resp, nil, nil)
	a, _ := inv.Get(netip.MustParseAddr("10.0.1.1"))
	want := &assets.Identity{Unit: 3, Time: resp.Time, Objects: []assets.IDItem{
		{0, "vendor_name", "Acme"}, {1, "product_code", "PLC-9"}, {2, "revision", "v1.2"}, {0x81, "object_0x81", "serial\uFFFD42"}}}
	if !reflect.DeepEqual(a.Identity, want) {
		t.Errorf("identity %+v, want %+v", a.Identity, want)
	}
	// An exception answer does not erase it; a request never fills it.
	inv.Observe(mbResp(req, 1), nil, nil)
	if a, _ := inv.Get(netip.MustParseAddr("10.0.1.1")); !reflect.DeepEqual(a.Identity, want) {
		t.Errorf("after exception: %+v", a.Identity)
	}
	if c, _ := inv.Get(netip.MustParseAddr("10.0.2.9")); c.Identity != nil || c.Role != assets.RoleEWS {
		t.Errorf("client: %+v", c)
	}
}

func TestEvents(t *testing.T) {
	sink := &collector{}
	inv := newInv(t, assets.Options{Sink: sink, QuietPeriod: time.Minute, Sensor: "s1"})
	// During the quiet period: nothing.
	poll(inv, 0, 5, time.Second, "10.0.2.1:40000", "10.0.1.1:502", 3, 0, 10)
	if got := sink.rules(); len(got) != 0 {
		t.Fatalf("quiet period: %v", got)
	}
	if st := inv.Stats(); st.QuietEvents != 3 || st.Events != 0 {
		t.Fatalf("stats %+v", st)
	}
	// After it, a new master that writes to the known PLC.
	inv.Observe(mbReq(2*time.Minute, "10.66.0.1:50000", "10.0.1.1:502", 1, 6, 3, 1), nil, nil)
	// Old pair again: nothing.
	poll(inv, 3*time.Minute, 2, time.Second, "10.0.2.1:40000", "10.0.1.1:502", 3, 0, 10)
	// The known HMI reads a new PLC: one new asset, one relationship.
	req := mbReq(4*time.Minute, "10.0.2.1:40000", "10.0.1.2:502", 1, 3, 0, 10)
	inv.Observe(req, nil, nil)
	inv.Observe(mbResp(req, 0), nil, nil)
	want := []string{assets.RuleNewAsset, assets.RuleNewRelationship, assets.RuleNewAsset, assets.RuleNewRelationship}
	if got := sink.rules(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	a := sink.alerts
	if !slices.Equal(a[0].Techniques, []string{"T0848"}) || a[0].SrcAddr != "10.66.0.1" || a[0].Severity != "low" ||
		!strings.Contains(a[0].Message, "Modbus client") || a[0].Sensor != "s1" {
		t.Errorf("new master: %+v", a[0])
	}
	if !slices.Equal(a[1].Techniques, []string{"T0855", "T1692.001"}) || a[1].Function != "WriteSingleRegister" || *a[1].Unit != 1 {
		t.Errorf("new writing relationship: %+v", a[1])
	}
	if len(a[2].Techniques) != 0 || a[2].Techniques == nil || !strings.Contains(a[2].Message, "Modbus server") {
		t.Errorf("new device: %+v", a[2])
	}
	if !slices.Equal(a[3].Techniques, []string{"T0846"}) || a[3].Evidence.FlowID != "tcp:10.0.2.1:40000-10.0.1.2:502" {
		t.Errorf("new reading relationship: %+v", a[3])
	}
	ids := map[string]bool{}
	for _, x := range a {
		ids[x.ID] = true
	}
	if len(ids) != len(a) {
		t.Errorf("alert ids not unique: %v", ids)
	}
}

func TestBounds(t *testing.T) {
	inv := newInv(t, assets.Options{MaxAssets: 3, MaxPeers: 2})
	// A client scanning 5 servers: 1 client + 2 servers fit.
	for i := range 5 {
		inv.Observe(mbReq(time.Duration(i)*time.Second, "10.0.2.1:40000", fmt.Sprintf("10.0.1.%d:502", i+1), 1, 3, 0, 1), nil, nil)
	}
	st := inv.Stats()
	if st.Assets != 3 || st.AssetsDropped != 3 {
		t.Errorf("stats %+v", st)
	}
	// Peers: a server contacted by many clients keeps 2.
	inv2 := newInv(t, assets.Options{MaxPeers: 2})
	for i := range 5 {
		inv2.Observe(mbReq(0, fmt.Sprintf("10.0.2.%d:40000", i+1), "10.0.1.1:502", 1, 3, 0, 1), nil, nil)
	}
	a, _ := inv2.Get(netip.MustParseAddr("10.0.1.1"))
	if len(a.Peers) != 2 || a.PeersDropped != 3 || inv2.Stats().PeersDropped != 3 {
		t.Errorf("peers %d dropped %d stats %+v", len(a.Peers), a.PeersDropped, inv2.Stats())
	}
	// MACs: 4 kept.
	for i := range 6 {
		inv2.Observe(mbReq(0, "10.0.2.1:40000", "10.0.1.1:502", 1, 3, 0, 1), mac(fmt.Sprintf("02:00:00:00:00:%02x", i+1)), nil)
	}
	c, _ := inv2.Get(netip.MustParseAddr("10.0.2.1"))
	if len(c.MACs) != 4 || c.MACsDropped != 2 {
		t.Errorf("MACs %v dropped %d", c.MACs, c.MACsDropped)
	}
	// DNP3 addresses: 16 kept, broadcast never.
	for i := range 20 {
		inv2.Observe(dnpReq(0, "10.0.2.1:40000", "10.0.1.9:20000", 1, uint16(i), 1), nil, nil)
	}
	inv2.Observe(dnpReq(0, "10.0.2.1:40000", "10.0.1.9:20000", 1, 0xFFFF, 1), nil, nil)
	d, _ := inv2.Get(netip.MustParseAddr("10.0.1.9"))
	if len(d.DNP3Addresses) != 16 || d.DNP3Dropped != 4 || slices.Contains(d.DNP3Addresses, 0xFFFF) {
		t.Errorf("DNP3 addresses %v dropped %d", d.DNP3Addresses, d.DNP3Dropped)
	}
}

func TestAnomalyRecords(t *testing.T) {
	sink := &collector{}
	inv := newInv(t, assets.Options{Sink: sink})
	r := &analyze.Record{Time: t0, Protocol: analyze.ProtoModbus, Flow: analyze.Flow{Src: ap("10.66.0.1:5555"), Dst: ap("10.0.1.1:502")},
		Anomalies: analyze.AnomNonProtocol, Dropped: 30}
	inv.Observe(r, nil, nil)
	a, ok := inv.Get(netip.MustParseAddr("10.66.0.1"))
	if !ok || a.Role != assets.RoleUnknown || a.Kinds != nil || a.Protocols != nil || a.Peers != nil || a.Counts.Messages != 1 {
		t.Errorf("garbage sender: %+v", a)
	}
	if got := sink.rules(); !slices.Equal(got, []string{assets.RuleNewAsset, assets.RuleNewAsset}) {
		t.Errorf("events %v", got)
	}
	if len(sink.alerts[0].Techniques) != 0 || !strings.Contains(sink.alerts[0].Message, "(host)") {
		t.Errorf("event %+v", sink.alerts[0])
	}
}

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assets.db")
	st, err := assets.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	inv := newInv(t, assets.Options{})
	poll(inv, 0, 10, time.Second, "10.0.2.1:40000", "10.0.1.1:502", 3, 0, 10)
	poll(inv, 0, 10, time.Second, "10.0.2.1:40001", "10.0.1.2:502", 3, 0, 10)
	req := mbReq(0, "10.0.2.9:40000", "10.0.1.1:502", 3, 43, 0, 0)
	req.Modbus.MEIType = 14
	resp := mbResp(req, 0)
	resp.Modbus.DeviceID[0] = analyze.DeviceObject{ID: 0, Value: []byte("Acme")}
	resp.Modbus.NDeviceID = 1
	inv.Observe(req, mac("02:00:00:00:02:09"), nil)
	inv.Observe(resp, nil, nil)
	inv.Observe(dnpReq(0, "10.0.2.1:40000", "[2001:db8::5]:20000", 1, 10, 1), nil, nil)

	if err := assets.Flush(inv, st); err != nil {
		t.Fatal(err)
	}
	if ch := inv.TakeChanges(); len(ch) != 0 {
		t.Errorf("changes after flush: %d", len(ch))
	}
	want := inv.Snapshot()
	if len(want) != 5 {
		t.Fatalf("%d assets", len(want))
	}
	got, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded:\n%+v\nwant\n%+v", got, want)
	}
	// One more change is saved incrementally.
	inv.Observe(mbReq(time.Hour, "10.0.2.1:40000", "10.0.1.1:502", 1, 3, 0, 10), nil, nil)
	if ch := inv.TakeChanges(); len(ch) != 2 {
		t.Errorf("%d changed, want 2", len(ch))
	} else if err := st.Save(ch); err != nil {
		t.Fatal(err)
	}
	want = inv.Snapshot()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A new sensor loads it: same snapshot (roles included), no events for
	// known assets, an event for a new one.
	saved, err := assets.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sink := &collector{}
	inv2 := newInv(t, assets.Options{Sink: sink})
	inv2.Restore(saved)
	if got := inv2.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("restored:\n%+v\nwant\n%+v", got, want)
	}
	poll(inv2, 2*time.Hour, 3, time.Second, "10.0.2.1:40000", "10.0.1.1:502", 3, 0, 10)
	inv2.Observe(mbReq(3*time.Hour, "10.0.2.1:40000", "10.0.1.7:502", 1, 3, 0, 10), nil, nil)
	if got := sink.rules(); !slices.Equal(got, []string{assets.RuleNewAsset, assets.RuleNewRelationship}) {
		t.Errorf("events after restore: %v", got)
	}
}

func TestStoreSchema(t *testing.T) {
	dir := t.TempDir()
	if _, err := assets.ReadFile(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
	path := filepath.Join(dir, "new.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := assets.OpenStore(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer schema: %v", err)
	}
	if _, err := assets.ReadFile(path); err == nil {
		t.Error("ReadFile of a newer schema succeeded")
	}
	// WAL mode and a broken row.
	path = filepath.Join(dir, "wal.db")
	st, err := assets.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err = sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q %v", mode, err)
	}
	if _, err := db.Exec(`INSERT INTO assets VALUES ('10.0.0.1', 'plc', 0, 0, '{broken')`); err != nil {
		t.Fatal(err)
	}
	if _, err := assets.ReadFile(path); err == nil || !strings.Contains(err.Error(), "10.0.0.1") {
		t.Errorf("broken row: %v", err)
	}
}

func TestPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assets.db")
	st, err := assets.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inv := newInv(t, assets.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- assets.Persist(ctx, inv, st, 10*time.Millisecond) }()
	inv.Observe(mbReq(0, "10.0.2.1:40000", "10.0.1.1:502", 1, 3, 0, 10), nil, nil)
	// The periodic save picks it up: wait on the file's content.
	deadline := time.Now().Add(10 * time.Second)
	for {
		as, err := assets.ReadFile(path)
		if err == nil && len(as) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not saved periodically: %v %v", as, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The last change before the stop is saved on the way out.
	inv.Observe(mbReq(time.Minute, "10.0.2.2:40000", "10.0.1.1:502", 1, 3, 0, 10), nil, nil)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if as, err := assets.ReadFile(path); err != nil || len(as) != 3 {
		t.Fatalf("after stop: %d assets, %v", len(as), err)
	}
}

// TestConcurrentReads runs readers against the writer (meaningful under
// -race).
func TestConcurrentReads(t *testing.T) {
	inv := newInv(t, assets.Options{Sink: &collector{}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				inv.Snapshot()
				inv.Get(netip.MustParseAddr("10.0.1.1"))
				inv.Stats()
			}
		}()
	}
	for i := range 2000 {
		inv.Observe(mbReq(time.Duration(i)*time.Millisecond, fmt.Sprintf("10.0.2.%d:40000", i%50), "10.0.1.1:502", 1, 3, 0, 10), nil, nil)
	}
	close(stop)
	wg.Wait()
	if n := len(inv.Snapshot()); n != 51 {
		t.Errorf("%d assets, want 51", n)
	}
}

func TestWriteTableAndJSON(t *testing.T) {
	inv := newInv(t, assets.Options{})
	poll(inv, 0, 10, time.Second, "10.0.2.1:40000", "10.0.1.1:502", 3, 0, 10)
	poll(inv, 0, 10, time.Second, "10.0.2.1:40001", "10.0.1.2:502", 3, 0, 10)
	inv.Observe(mbReq(0, "10.0.2.1:40001", "10.0.1.2:502", 4, 6, 0, 1), mac("02:00:00:00:02:01"), nil)
	var b bytes.Buffer
	if err := assets.WriteTable(&b, inv.Snapshot()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ADDRESS") {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"10.0.1.1 ", " PLC ", "modbus:1 ", "mb<3 "},
		{"10.0.1.2 ", " PLC ", "modbus:1,4 ", "mb<3 "},
		{"10.0.2.1 ", "02:00:00:00:02:01", " HMI ", "modbus_client", "mb>3,6 "},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
	b.Reset()
	if err := assets.WriteJSON(&b, inv.Snapshot()); err != nil {
		t.Fatal(err)
	}
	var back []assets.Asset
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != 3 || back[2].Role != assets.RoleHMI {
		t.Errorf("JSON: %v %+v", err, back)
	}
	b.Reset()
	if err := assets.WriteJSON(&b, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty JSON %q %v", b.String(), err)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []assets.Options{{QuietPeriod: -1}, {MaxJitter: -0.1}} {
		if _, err := assets.New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
