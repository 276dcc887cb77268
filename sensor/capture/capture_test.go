package capture

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// fuzzFrames are frames FuzzFilter runs its programs over: IPv4 TCP with
// options, IPv6 UDP, a runt.
var fuzzFrames = [][]byte{
	append(append(make([]byte, 12), 0x08, 0x00, 0x46, 0, 0, 44, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 1), make([]byte, 20)...),
	append(append(make([]byte, 12), 0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 17, 64), make([]byte, 40)...),
	{0x45},
}

func TestOpenFileReadsPcapAndPcapng(t *testing.T) {
	dir := t.TempDir()
	frame := []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45}
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(frame), Length: len(frame)}

	pcapPath := filepath.Join(dir, "a.pcap")
	f, _ := os.Create(pcapPath)
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	w.WritePacket(ci, frame)
	f.Close()

	ngPath := filepath.Join(dir, "a.pcapng")
	f, _ = os.Create(ngPath)
	ng, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	ng.WritePacket(ci, frame)
	ng.Flush()
	f.Close()

	for _, p := range []string{pcapPath, ngPath} {
		src, err := OpenFile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		data, got, err := src.ReadPacketData()
		if err != nil || string(data) != string(frame) || !got.Timestamp.Equal(ci.Timestamp) {
			t.Fatalf("%s: %v %x %v", p, err, data, got.Timestamp)
		}
		if _, _, err := src.ReadPacketData(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: want EOF, got %v", p, err)
		}
		if src.LinkType() != layers.LinkTypeEthernet {
			t.Fatalf("link type %v", src.LinkType())
		}
		if st, _ := os.Stat(p); src.Offset() != st.Size() {
			t.Fatalf("%s: offset %d of %d bytes", p, src.Offset(), st.Size())
		}
		src.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.pcap")
	os.WriteFile(junk, []byte("this is not a capture file at all"), 0o644)
	if _, err := OpenFile(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Fatalf("junk file: %v", err)
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := OpenLive("nope0", 0); err == nil || !strings.Contains(err.Error(), `"nope0": no such interface`) {
		t.Fatalf("missing interface: %v", err)
	}
	if _, err := OpenInterfaces([]string{"lo", "nope1"}, LiveOptions{}); err == nil || !strings.Contains(err.Error(), `"nope1": no such interface`) {
		t.Fatalf("missing second interface: %v", err)
	}
	if _, err := OpenInterfaces(nil, LiveOptions{}); err == nil {
		t.Fatal("no interface accepted")
	}
	if _, err := OpenInterfaces([]string{"lo"}, LiveOptions{Filter: "port http"}); err == nil || !strings.Contains(err.Error(), `"http"`) {
		t.Fatalf("bad filter: %v", err)
	}
}

// pkt builds an Ethernet frame: TCP or UDP over IPv4 or IPv6, or ARP.
func pkt(t *testing.T, kind string, src, dst netip.AddrPort) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var nl gopacket.SerializableLayer
	var setNL func(gopacket.NetworkLayer) error
	var tl gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if kind == "udp" {
		proto = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		tl, setNL = u, u.SetNetworkLayerForChecksum
	} else {
		tc := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), ACK: true}
		tl, setNL = tc, tc.SetNetworkLayerForChecksum
	}
	if src.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice(), Options: nil}
		setNL(ip)
		nl = ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		setNL(ip)
		nl = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, nl, tl, gopacket.Payload("x")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFilter compiles expressions and runs them, through a File, over a
// capture of known packets.
func TestFilter(t *testing.T) {
	ap := netip.MustParseAddrPort
	packets := []struct {
		name string
		data []byte
	}{
		{"hmi>plc modbus", pkt(t, "tcp", ap("10.0.0.9:40000"), ap("10.0.1.10:502"))},
		{"plc>hmi modbus", pkt(t, "tcp", ap("10.0.1.10:502"), ap("10.0.0.9:40000"))},
		{"dnp3 udp", pkt(t, "udp", ap("10.0.0.9:20000"), ap("10.0.2.5:20000"))},
		{"v6 modbus", pkt(t, "tcp", ap("[fd00::9]:40001"), ap("[fd00::10]:502"))},
		{"v6 dns", pkt(t, "udp", ap("[fd00::9]:5353"), ap("[fd00::53]:53"))},
		{"web", pkt(t, "tcp", ap("192.168.1.5:51000"), ap("192.168.1.1:443"))},
		{"arp", append(bytes.Repeat([]byte{0xff}, 12), 0x08, 0x06, 0, 1)},
	}
	cases := []struct {
		expr string
		want string // names of the packets kept, comma-separated
	}{
		{"", "hmi>plc modbus,plc>hmi modbus,dnp3 udp,v6 modbus,v6 dns,web,arp"},
		{"tcp port 502", "hmi>plc modbus,plc>hmi modbus,v6 modbus"},
		{"port 502 or port 20000", "hmi>plc modbus,plc>hmi modbus,dnp3 udp,v6 modbus"},
		{"udp", "dnp3 udp,v6 dns"},
		{"ip and udp", "dnp3 udp"},
		{"ip6", "v6 modbus,v6 dns"},
		{"not ip and not ip6", "arp"},
		{"dst port 502", "hmi>plc modbus,v6 modbus"},
		{"src port 502", "plc>hmi modbus"},
		{"host 10.0.1.10", "hmi>plc modbus,plc>hmi modbus"},
		{"src host 10.0.1.10", "plc>hmi modbus"},
		{"dst host fd00::10", "v6 modbus"},
		{"net 10.0.0.0/16", "hmi>plc modbus,plc>hmi modbus,dnp3 udp"},
		{"dst net 10.0.2.0/24", "dnp3 udp"},
		{"net fd00::/120 and udp", "v6 dns"},
		{"portrange 400-600", "hmi>plc modbus,plc>hmi modbus,v6 modbus,web"},
		{"udp portrange 50-60", "v6 dns"},
		{"!(tcp && port 502) && (ip || ip6)", "dnp3 udp,v6 dns,web"},
		{"tcp and not (src net 10.0.0.0/8 or dst port 443)", "v6 modbus"},
		{"udp dst port 53", "v6 dns"},
		{"net 0.0.0.0/0", "hmi>plc modbus,plc>hmi modbus,dnp3 udp,web"},
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f.pcap")
	f, _ := os.Create(path)
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for i, p := range packets {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(p.data), Length: len(p.data)}, p.data)
	}
	f.Close()
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			src, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if err := src.SetFilter(c.expr); err != nil {
				t.Fatal(err)
			}
			var kept []string
			for {
				_, ci, err := src.ReadPacketData()
				if err != nil {
					break
				}
				kept = append(kept, packets[ci.Timestamp.Unix()].name)
			}
			if got := strings.Join(kept, ","); got != c.want {
				t.Fatalf("kept %q\nwant %q", got, c.want)
			}
			if int(src.Filtered())+len(kept) != len(packets) {
				t.Fatalf("filtered %d + kept %d != %d", src.Filtered(), len(kept), len(packets))
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"port":                   `"port" needs a value`,
		"host example.com":       "names are not resolved",
		"tcp and":                "ends early",
		"(tcp":                   "missing )",
		"tcp)":                   `unexpected ")"`,
		"vlan 7":                 `unknown word "vlan"`,
		"portrange 9-3":          "want N-M",
		"net 10.0.0.1":           "not a prefix",
		"port 70000":             "not a port number",
		"tcp & udp":              `unexpected "&"`,
		"ether host 0:1:2:3:4:5": `unknown word "ether"`,
	} {
		if _, err := CompileFilter(expr, layers.LinkTypeEthernet, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to say %q", expr, err, want)
		}
	}
	if _, err := CompileFilter("tcp", layers.LinkTypeLinuxSLL, 0); err == nil {
		t.Error("a filter for an unsupported link type was accepted")
	}
	// A long chain overflows BPF's 8-bit conditional jumps: an error, not a
	// wrong program.
	long := "port 1" + strings.Repeat(" or port 1", 40)
	if _, err := CompileFilter(long, layers.LinkTypeEthernet, 0); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("long expression: %v", err)
	}
}

// FuzzFilter: any expression either fails to compile or gives a program
// the BPF interpreter accepts.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"tcp port 502", "not (src net fd00::/8 or dst host 10.0.0.1)", "portrange 1-2 and ip6", "((("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
			prog, err := CompileFilter(expr, lt, 100)
			if err != nil {
				continue
			}
			ins, ok := bpf.Disassemble(prog)
			if !ok {
				t.Fatalf("%q: program does not disassemble", expr)
			}
			vm, err := bpf.NewVM(ins)
			if err != nil {
				t.Fatalf("%q: the interpreter refuses the program: %v", expr, err)
			}
			for _, p := range fuzzFrames {
				if n, err := vm.Run(p); err != nil || (n != 0 && n != 100) {
					t.Fatalf("%q: run: %d %v", expr, n, err)
				}
			}
		}
	})
}
