package modbus_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/protocol/modbus"
)

// debianPython is Debian's interpreter, which has python3-pymodbus; the
// python3 first on PATH may be another one without it.
const debianPython = "/usr/bin/python3"

// requirePymodbus returns the interpreter when it can import pymodbus; else
// it skips, or fails under CI.
func requirePymodbus(t *testing.T) string {
	t.Helper()
	py := requireTool(t, debianPython, "Debian's python3 with python3-pymodbus")
	if out, err := exec.Command(py, "-c", "import pymodbus").CombinedOutput(); err != nil {
		requireTool(t, "/nonexistent/python3-pymodbus", "apt-get install python3-pymodbus: "+strings.TrimSpace(string(out)))
	}
	return py
}

// TestPymodbusClientInterop has pymodbus's client read and write our server,
// covering the data functions, diagnostics, identification and an exception.
func TestPymodbusClientInterop(t *testing.T) {
	py := requirePymodbus(t)
	dev, bank := testDevice(t)
	srvIP, _ := hostPair(t)
	addr := serveOn(t, srvIP.String()+":0", dev)
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/pymodbus_client.py", host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("pymodbus client: %v\n%s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal(lastLine(out), &got); err != nil {
		t.Fatalf("pymodbus output: %v\n%s", err, out)
	}
	want := map[string]any{
		"connect": true,
		"fc3":     []any{2.0, 3.0, 4.0},
		"fc4":     []any{1005.0, 1006.0},
		"fc2":     []any{true, false, false, true},
		"fc6":     true, "fc16": true, "fc5": true, "fc15": true,
		"fc1":              []any{true, true, false, true},
		"fc22":             true,
		"fc23":             []any{0.0, 1.0},
		"fc7":              0.0,
		"fc8_echo":         []any{float64(0xa537)},
		"fc8_bus_messages": []any{13.0}, // this request is the 13th
		"fc11":             13.0,        // 13 successful requests before it
		// pymodbus takes every byte after the byte count as the identifier,
		// the run indicator (0xFF) included, and the last as the status.
		"fc17": map[string]any{"id": "otrange-plc\u00ff", "status": true},
		"fc43": map[string]any{"0": "otrange", "1": "OT-PLC-1", "2": "1.0", "3": "https://example.invalid/otrange",
			"4": "Range PLC", "5": "P1", "128": "pump-station-a"},
		"fc43_conformity": float64(0x83),
		"exception":       2.0,
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s: pymodbus got %v, want %v", k, got[k], w)
		}
	}
	if bank.Holding(40) != 1234 || bank.Holding(43) != 7 || bank.Holding(50) != 0x37 || bank.Holding(61) != 8 {
		t.Errorf("writes not applied: %d %d %#x %d", bank.Holding(40), bank.Holding(43), bank.Holding(50), bank.Holding(61))
	}
}

// lastLine returns the last non-empty line of out (pymodbus may log before).
func lastLine(out []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return []byte(lines[len(lines)-1])
}

// startPymodbusServer runs testdata/pymodbus_server.py on a free loopback
// port until the test ends and returns its address.
func startPymodbusServer(t *testing.T, py string) string {
	t.Helper()
	srvIP, _ := hostPair(t)
	host := srvIP.String()
	port := freePort(t, host)
	cmd := exec.Command(py, "testdata/pymodbus_server.py", host, strconv.Itoa(port))
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pymodbus server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("pymodbus server output:\n%s", logs.String())
		}
	})
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	waitDial(t, addr, exited)
	return addr
}

// TestRawClientAgainstPymodbus has our raw Client drive a pymodbus server.
func TestRawClientAgainstPymodbus(t *testing.T) {
	py := requirePymodbus(t)
	addr := startPymodbusServer(t, py)
	_, cliIP := hostPair(t)
	c := dialFrom(t, cliIP, addr)
	ctx := context.Background()
	do := func(req modbus.PDU) (modbus.Response, error) {
		t.Helper()
		resp, err := c.Do(ctx, 1, req)
		var r modbus.Response
		if perr := modbus.ParseResponse(resp, &r); perr != nil {
			t.Fatalf("%v: pymodbus's response does not parse: %v (% x)", req.Function, perr, resp.Data)
		}
		var q modbus.Request
		if modbus.ParseRequest(req, &q) == nil {
			if cerr := modbus.CheckResponse(&q, &r); cerr != nil {
				t.Errorf("%v: response does not match the request: %v", req.Function, cerr)
			}
		}
		return r, err
	}
	if r, err := do(modbus.ReadHoldingRegisters(2, 3)); err != nil || r.Register(0) != 102 || r.Register(2) != 104 {
		t.Errorf("FC3: %v %+v", err, r)
	}
	if r, err := do(modbus.ReadInputRegisters(5, 1)); err != nil || r.Register(0) != 205 {
		t.Errorf("FC4: %v %+v", err, r)
	}
	if r, err := do(modbus.ReadCoils(0, 3)); err != nil || !r.Bit(0) || r.Bit(1) || !r.Bit(2) {
		t.Errorf("FC1: %v %+v", err, r)
	}
	if r, err := do(modbus.ReadDiscreteInputs(1, 2)); err != nil || r.Bit(0) || !r.Bit(1) {
		t.Errorf("FC2: %v %+v", err, r)
	}
	if _, err := do(modbus.WriteMultipleRegisters(10, []uint16{7, 8})); err != nil {
		t.Errorf("FC16: %v", err)
	}
	if _, err := do(modbus.WriteSingleRegister(12, 9)); err != nil {
		t.Errorf("FC6: %v", err)
	}
	if r, err := do(modbus.ReadHoldingRegisters(10, 3)); err != nil || r.Register(0) != 7 || r.Register(1) != 8 || r.Register(2) != 9 {
		t.Errorf("read back: %v %+v", err, r)
	}
	if _, err := do(modbus.WriteSingleCoil(1, true)); err != nil {
		t.Errorf("FC5: %v", err)
	}
	if _, err := do(modbus.WriteMultipleCoils(3, []bool{true, true})); err != nil {
		t.Errorf("FC15: %v", err)
	}
	if r, err := do(modbus.ReadCoils(0, 5)); err != nil || r.Values[0] != 0x1f {
		t.Errorf("coils read back: %v % x", err, r.Values)
	}
	if _, err := do(modbus.MaskWriteRegister(20, 0x00f2, 0x0025)); err != nil {
		t.Errorf("FC22: %v", err)
	}
	if r, err := do(modbus.ReadWriteMultipleRegisters(30, 2, 30, []uint16{1, 2})); err != nil || r.Register(0) != 1 || r.Register(1) != 2 {
		t.Errorf("FC23: %v %+v", err, r)
	}
	if r, err := do(modbus.Diagnostic(modbus.DiagReturnQueryData, 0xa537)); err != nil || r.Value != 0xa537 {
		t.Errorf("FC8: %v %+v", err, r)
	}
	r, err := do(modbus.ReadDeviceIdentification(modbus.DevIDBasic, 0))
	objs := map[uint8]string{}
	for id, v := range r.DeviceObjects {
		objs[id] = string(v)
	}
	if err != nil || objs[0] != "pymodbus-peer" || objs[2] != "3.0" {
		t.Errorf("FC43: %v %v", err, objs)
	}
	if _, err := do(modbus.ReadHoldingRegisters(98, 5)); !errors.Is(err, &modbus.ExceptionError{Code: modbus.ExIllegalDataAddress}) {
		t.Errorf("beyond the table: %v, want IllegalDataAddress", err)
	}
	if _, err := do(modbus.PDU{Function: 0x41}); !errors.Is(err, &modbus.ExceptionError{Code: modbus.ExIllegalFunction}) {
		t.Errorf("unknown function: %v, want IllegalFunction", err)
	}
}
