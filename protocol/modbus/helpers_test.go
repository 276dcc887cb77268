package modbus

import (
	"encoding/hex"
	"strings"
	"testing"
)

// hx decodes a hex string with optional spaces; it fails the test on bad hex.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// pduOf builds a PDU from the hex of its function code and data.
func pduOf(t testing.TB, s string) PDU {
	b := hx(t, s)
	return PDU{Function: FunctionCode(b[0]), Data: b[1:]}
}

// specRequests are the request examples of the Application Protocol
// Specification V1.1b3, one per function code.
var specRequests = []struct {
	name string
	hex  string
}{
	{"fc1", "01 0013 0013"},
	{"fc2", "02 00c4 0016"},
	{"fc3", "03 006b 0003"},
	{"fc4", "04 0008 0001"},
	{"fc5", "05 00ac ff00"},
	{"fc6", "06 0001 0003"},
	{"fc7", "07"},
	{"fc8", "08 0000 a537"},
	{"fc11", "0b"},
	{"fc12", "0c"},
	{"fc15", "0f 0013 000a 02 cd01"},
	{"fc16", "10 0001 0002 04 000a 0102"},
	{"fc17", "11"},
	{"fc20", "14 0e 06 0004 0001 0002 06 0003 0009 0002"},
	{"fc21", "15 0d 06 0004 0007 0003 06af 04be 100d"},
	{"fc22", "16 0004 00f2 0025"},
	{"fc23", "17 0003 0006 000e 0003 06 00ff 00ff 00ff"},
	{"fc24", "18 04de"},
	{"fc43", "2b 0e 01 00"},
}

// specResponses are the response examples of the same specification.
var specResponses = []struct {
	name string
	req  string
	hex  string
}{
	{"fc1", "01 0013 0013", "01 03 cd6b05"},
	{"fc2", "02 00c4 0016", "02 03 acdb35"},
	{"fc3", "03 006b 0003", "03 06 022b 0000 0064"},
	{"fc4", "04 0008 0001", "04 02 000a"},
	{"fc5", "05 00ac ff00", "05 00ac ff00"},
	{"fc6", "06 0001 0003", "06 0001 0003"},
	{"fc7", "07", "07 6d"},
	{"fc8", "08 0000 a537", "08 0000 a537"},
	{"fc11", "0b", "0b ffff 0108"},
	{"fc12", "0c", "0c 08 0000 0108 0121 2000"},
	{"fc15", "0f 0013 000a 02 cd01", "0f 0013 000a"},
	{"fc16", "10 0001 0002 04 000a 0102", "10 0001 0002"},
	{"fc17", "11", "11 03 2a ff 00"},
	{"fc20", "14 0e 06 0004 0001 0002 06 0003 0009 0002", "14 0c 05 06 0dfe 0020 05 06 33cd 0040"},
	{"fc21", "15 0d 06 0004 0007 0003 06af 04be 100d", "15 0d 06 0004 0007 0003 06af 04be 100d"},
	{"fc22", "16 0004 00f2 0025", "16 0004 00f2 0025"},
	{"fc23", "17 0003 0006 000e 0003 06 00ff 00ff 00ff", "17 0c 00fe 0acd 0001 0003 000d 00ff"},
	{"fc24", "18 04de", "18 0006 0002 01b8 1284"},
	{"fc43", "2b 0e 01 00", "2b 0e 01 01 00 00 03 00 07 436f6d70616e79 01 07 50726f64756374 02 04 56322e31"},
	{"exception", "81", "81 02"},
}
