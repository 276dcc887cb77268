package wiretest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapDir returns the folder of the shared real captures, ../shared/pcaps
// from the module root (the folder of go.mod above the test's working
// directory). The folder sits beside the checkout and may be absent; Pcaps
// skips the test then.
func PcapDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("wiretest: %v", err)
	}
	rel := "."
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(rel, "..", "shared", "pcaps")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("wiretest: no go.mod above the working directory")
		}
		dir, rel = parent, filepath.Join(rel, "..")
	}
}

// Pcaps returns the shared captures whose file names match pattern
// ("*.pcap", "*dnp3*.pcap"; see filepath.Match), sorted. Without any the test
// is skipped, unless CI=true, where they are required.
func Pcaps(t testing.TB, pattern string) []string {
	t.Helper()
	dir := PcapDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no captures %s in %s: CI must have them", pattern, dir)
		}
		t.Skipf("no captures %s in %s (the shared folder beside the checkout is absent); skipping", pattern, dir)
	}
	return files
}

// ReadPcap calls fn with every packet of the capture at path, decoded with
// opts, and its frame number (from 1, as Wireshark numbers frames). A file
// that cannot be read to its end fails the test.
func ReadPcap(t testing.TB, path string, opts gopacket.DecodeOptions, fn func(frame int, p gopacket.Packet)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("wiretest: %v", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("wiretest: %s: %v", path, err)
	}
	for frame := 1; ; frame++ {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("wiretest: %s frame %d: %v", path, frame, err)
		}
		fn(frame, gopacket.NewPacket(data, r.LinkType(), opts))
	}
}
