package assets_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/otrange/otrange/internal/wiretest"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/sensor/analyze"
	"github.com/otrange/otrange/sensor/analyze/pcapfeed"
	"github.com/otrange/otrange/sensor/assets"
)

var update = flag.Bool("update", false, "regenerate testdata/golden/*.json")

// frameMACs returns the Ethernet source and destination of every frame of a
// capture, by 1-based frame number (what the sensor passes to Observe).
func frameMACs(t testing.TB, path string) map[uint64][2]net.HardwareAddr {
	t.Helper()
	out := map[uint64][2]net.HardwareAddr{}
	wiretest.ReadPcap(t, path, gopacket.Lazy, func(frame int, p gopacket.Packet) {
		if eth, ok := p.LinkLayer().(*layers.Ethernet); ok {
			out[uint64(frame)] = [2]net.HardwareAddr{slices.Clone(eth.SrcMAC), slices.Clone(eth.DstMAC)}
		}
	})
	return out
}

// inventory runs a capture through the analyzer into an inventory.
func inventory(t testing.TB, path string, opts assets.Options) *assets.Inventory {
	t.Helper()
	inv, err := assets.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	macs := frameMACs(t, path)
	a := analyze.New(analyze.Config{Emit: func(r *analyze.Record) {
		m := macs[r.Frame]
		inv.Observe(r, m[0], m[1])
	}})
	if _, err := pcapfeed.FeedFile(path, a); err != nil {
		t.Fatal(err)
	}
	return inv
}

// golden is what a capture gives: the inventory and its events.
type golden struct {
	Assets []assets.Asset `json:"assets"`
	Events []alert.Alert  `json:"events"`
}

func TestPcapGolden(t *testing.T) {
	for _, path := range wiretest.Pcaps(t, "*.pcap") {
		name := strings.TrimSuffix(filepath.Base(path), ".pcap")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sink := &collector{}
			inv := inventory(t, path, assets.Options{Sink: sink, Sensor: "test"})
			got := golden{Assets: inv.Snapshot(), Events: sink.alerts}
			if got.Events == nil {
				got.Events = []alert.Alert{}
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("inventory of %s differs from %s (run with -update and review the diff):\n%s", name, file, b.String())
			}
		})
	}
}

// TestPcapFacts checks, over the real captures, facts known from tshark,
// independently of the golden files.
func TestPcapFacts(t *testing.T) {
	wiretest.Pcaps(t, "*.pcap")
	dir := wiretest.PcapDir(t)
	get := func(t *testing.T, inv *assets.Inventory, addr string) assets.Asset {
		t.Helper()
		a, ok := inv.Get(netip.MustParseAddr(addr))
		if !ok {
			t.Fatalf("%s not found", addr)
		}
		return a
	}
	t.Run("zeek-modbusSmall", func(t *testing.T) {
		// One host polls itself: FC 15 and FC 1 to unit 1 (tshark -Y mbtcp).
		inv := inventory(t, filepath.Join(dir, "zeek-modbusSmall.pcap"), assets.Options{})
		as := inv.Snapshot()
		if len(as) != 1 {
			t.Fatalf("%d assets, want 1", len(as))
		}
		a := as[0]
		if a.Address.String() != "118.189.96.132" || a.Role != assets.RolePLC ||
			!slices.Equal(a.Kinds, []string{"modbus_client", "modbus_server"}) || !slices.Equal(a.ModbusUnits, []int{1}) ||
			!slices.Equal(a.Functions.ModbusClient, []int{1, 15}) || !slices.Equal(a.Functions.ModbusServer, []int{1, 15}) ||
			a.MACs != nil || a.Counts.Requests != 16 || a.Counts.Responses != 16 {
			t.Errorf("%+v", a)
		}
	})
	t.Run("icsnpp-modbus_example identity", func(t *testing.T) {
		inv := inventory(t, filepath.Join(dir, "icsnpp-modbus_example.pcap"), assets.Options{})
		a := get(t, inv, "127.0.0.1")
		id := a.Identity
		if id == nil || id.Unit != 1 || id.Value("vendor_name") != "Zeek Modbus Test" ||
			id.Value("product_code") != "Protocol Parsing is fun!" || id.Value("revision") != "1.2.3.6" {
			t.Errorf("identity %+v", id)
		}
	})
	t.Run("quickdraw-modbus-part1 engineering", func(t *testing.T) {
		// 10.0.0.57 sends diagnostics and FC 43 to 10.0.0.8 unit 10.
		inv := inventory(t, filepath.Join(dir, "quickdraw-modbus-part1.pcap"), assets.Options{})
		c, s := get(t, inv, "10.0.0.57"), get(t, inv, "10.0.0.8")
		if c.Role != assets.RoleEWS || !slices.Contains(c.Functions.ModbusClient, 43) || !slices.Contains(c.Functions.ModbusClient, 8) {
			t.Errorf("client %+v", c)
		}
		if s.Role != assets.RolePLC || !slices.Contains(s.ModbusUnits, 10) || len(s.MACs) != 1 {
			t.Errorf("server %+v", s)
		}
	})
	t.Run("zeek-dnp3 outstation", func(t *testing.T) {
		inv := inventory(t, filepath.Join(dir, "zeek-dnp3.pcap"), assets.Options{})
		var rtus, masters int
		for _, a := range inv.Snapshot() {
			if a.Role == assets.RoleRTU {
				rtus++
				if len(a.DNP3Addresses) == 0 || !slices.Contains(a.Functions.DNP3Outst, 129) {
					t.Errorf("RTU %+v", a)
				}
			}
			if slices.Contains(a.Kinds, "dnp3_master") {
				masters++
			}
		}
		if rtus == 0 || masters == 0 {
			t.Errorf("%d RTUs, %d masters", rtus, masters)
		}
	})
}
