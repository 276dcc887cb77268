package assets_test

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/assets"
)

// FuzzRestore feeds stored inventories (the JSON the store keeps, seeded
// with the golden inventories of the real captures) to Restore: whatever the
// file holds, the inventory stays within its bounds and snapshots.
func FuzzRestore(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(b, &g); err != nil {
			f.Fatal(err)
		}
		seed, _ := json.Marshal(g.Assets)
		f.Add(seed)
	}
	f.Add([]byte(`[{"address":"10.0.0.1","macs":["zz"],"functions":{"modbus_client":[-1,300,8]},"peers":[{"address":"10.0.0.2","protocol":"x"},{"address":"10.0.0.3","protocol":"dnp3","relation":"server","polls":[{"function":3,"intervals":-5,"mean_s":1e308,"stddev_s":-1}]}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var saved []assets.Asset
		if json.Unmarshal(data, &saved) != nil {
			return
		}
		inv, err := assets.New(assets.Options{MaxAssets: 8, MaxPeers: 4})
		if err != nil {
			t.Fatal(err)
		}
		inv.Restore(saved)
		snap := inv.Snapshot()
		if len(snap) > 8 {
			t.Fatalf("%d assets beyond the bound", len(snap))
		}
		for _, a := range snap {
			if len(a.Peers) > 4 || len(a.MACs) > 4 || len(a.DNP3Addresses) > 16 {
				t.Fatalf("bounds broken: %+v", a)
			}
			if a.Identity != nil && len(a.Identity.Objects) > 32 {
				t.Fatalf("identity bound broken")
			}
		}
		// The restored inventory keeps working.
		inv.Observe(mbReq(0, "10.0.0.1:40000", "10.0.0.2:502", 1, 3, 0, 1), nil, nil)
		if _, err := json.Marshal(inv.Snapshot()); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzObserve turns bytes into a sequence of records (addresses, protocol,
// direction, functions, units, identification objects) and checks the
// inventory's bounds after them.
func FuzzObserve(f *testing.F) {
	f.Add([]byte("\x01\x02\x00\x03\x01\x00\x00\x10\x02\x01\x01\x03\x01\x00\x00\x10"))
	f.Add([]byte("\x01\x02\x00\x2b\x01\x0e\x00\x00\x02\x01\x01\x2b\x01\x0e\x00\x00"))
	f.Add([]byte("\x05\x09\x10\x0d\x03\x00\x01\x00\x09\x05\x11\x81\x03\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sink := &collector{}
		inv, err := assets.New(assets.Options{MaxAssets: 6, MaxPeers: 3, Sink: sink, QuietPeriod: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+8 <= len(data); i += 8 {
			b := data[i : i+8]
			r := &analyze.Record{Time: t0.Add(time.Duration(binary.BigEndian.Uint16(b[6:])) * time.Millisecond * time.Duration(i+1)),
				Frame: uint64(i), Valid: b[2]&0x80 == 0, Len: int(b[7])}
			r.Flow.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, b[0] & 15}), 502)
			r.Flow.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, b[1] & 15}), 502)
			r.Protocol = analyze.Protocol(b[2] & 3)
			r.Dir = analyze.Direction(b[2] >> 4 & 1)
			r.Modbus.Function, r.Modbus.UnitID, r.Modbus.MEIType = b[3], b[4], b[5]
			r.Modbus.Address, r.Modbus.Quantity = uint16(b[6]), uint16(b[7])
			r.DNP3.AppFunction, r.DNP3.HasApp, r.DNP3.LinkSrc, r.DNP3.LinkDst = b[3], b[5]&1 == 1, uint16(b[4])<<8, uint16(b[6])<<8|uint16(b[7])
			r.DNP3.NObjects = int(b[5] & 3)
			for j := range r.DNP3.NObjects {
				r.DNP3.Objects[j] = analyze.DNP3Object{Group: b[6], Variation: b[7], Qualifier: b[5], Start: uint32(b[6]), Stop: uint32(b[7]), Count: uint32(b[4])}
			}
			r.Modbus.NDeviceID = int(b[5] & 7)
			for j := range r.Modbus.NDeviceID {
				r.Modbus.DeviceID[j] = analyze.DeviceObject{ID: b[(j+3)%8], Value: b[j%8:]}
			}
			inv.Observe(r, b[:6], b[2:8])
		}
		snap := inv.Snapshot()
		if len(snap) > 6 {
			t.Fatalf("%d assets", len(snap))
		}
		for _, a := range snap {
			if len(a.Peers) > 3 {
				t.Fatalf("%d peers", len(a.Peers))
			}
		}
		var saved []assets.Asset
		b, _ := json.Marshal(snap)
		if err := json.Unmarshal(b, &saved); err != nil {
			t.Fatal(err)
		}
	})
}
