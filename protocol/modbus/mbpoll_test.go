package modbus_test

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mbpoll runs mbpoll once against host:port with options args (0-based
// references) and, to write, values vals; it returns the combined output and
// whether mbpoll succeeded.
func mbpoll(t *testing.T, bin, host string, port int, args []string, vals ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := append([]string{"-m", "tcp", "-p", strconv.Itoa(port), "-0", "-1", "-o", "2"}, args...)
	all = append(append(all, host), vals...)
	out, err := exec.CommandContext(ctx, bin, all...).CombinedOutput()
	return string(out), err == nil
}

var mbpollValue = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(-?\d+)`)

// mbpollValues parses "[ref]: value" lines.
func mbpollValues(out string) map[int]int {
	m := map[int]int{}
	for _, g := range mbpollValue.FindAllStringSubmatch(out, -1) {
		k, _ := strconv.Atoi(g[1])
		v, _ := strconv.Atoi(g[2])
		m[k] = v
	}
	return m
}

// TestMbpollInterop has mbpoll (libmodbus) read and write our server,
// including an exception for an illegal data address.
func TestMbpollInterop(t *testing.T) {
	bin := requireTool(t, "mbpoll", "independent Modbus master for interop tests")
	dev, bank := testDevice(t)
	srvIP, _ := hostPair(t)
	addr := serveOn(t, srvIP.String()+":0", dev)
	host, portStr, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portStr)

	out, ok := mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "4", "-r", "2", "-c", "3"})
	if v := mbpollValues(out); !ok || v[2] != 2 || v[3] != 3 || v[4] != 4 || len(v) != 3 {
		t.Errorf("read holding registers: ok=%v %v\n%s", ok, v, out)
	}
	out, ok = mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "3", "-r", "5", "-c", "2"})
	if v := mbpollValues(out); !ok || v[5] != 1005 || v[6] != 1006 {
		t.Errorf("read input registers: ok=%v %v\n%s", ok, v, out)
	}
	out, ok = mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "1", "-r", "0", "-c", "4"})
	if v := mbpollValues(out); !ok || v[0] != 1 || v[1] != 0 || v[2] != 0 || v[3] != 1 {
		t.Errorf("read discrete inputs: ok=%v %v\n%s", ok, v, out)
	}
	out, ok = mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "4", "-r", "40"}, "1234", "5678")
	if !ok || bank.Holding(40) != 1234 || bank.Holding(41) != 5678 {
		t.Errorf("write registers: ok=%v regs %d %d\n%s", ok, bank.Holding(40), bank.Holding(41), out)
	}
	out, ok = mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "4", "-r", "42"}, "77")
	if !ok || bank.Holding(42) != 77 {
		t.Errorf("write single register: ok=%v reg %d\n%s", ok, bank.Holding(42), out)
	}
	out, ok = mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "0", "-r", "20"}, "1", "0", "1")
	if !ok || !bank.Coil(20) || bank.Coil(21) || !bank.Coil(22) {
		t.Errorf("write coils: ok=%v\n%s", ok, out)
	}
	out, ok = mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "0", "-r", "20", "-c", "3"})
	if v := mbpollValues(out); !ok || v[20] != 1 || v[21] != 0 || v[22] != 1 {
		t.Errorf("read coils: ok=%v %v\n%s", ok, v, out)
	}
	out, ok = mbpoll(t, bin, host, port, []string{"-a", "1", "-t", "4", "-r", "98", "-c", "5"})
	if ok || !strings.Contains(strings.ToLower(out), "illegal data address") {
		t.Errorf("read beyond the table: ok=%v, want an Illegal data address exception\n%s", ok, out)
	}
}
