package capture

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

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
}

func TestFilterProgram(t *testing.T) {
	lo, err := filterProgram(true, 100)
	if err != nil || len(lo) != 4 {
		t.Fatalf("loopback program: %v %d", err, len(lo))
	}
	eth, err := filterProgram(false, 100)
	if err != nil || len(eth) != 1 || eth[0].K != 100 {
		t.Fatalf("ethernet program: %v %+v", err, eth)
	}
}
