package simulator

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/protocol/modbus"
	"github.com/otrange/otrange/simulator/hmi"
	"github.com/otrange/otrange/simulator/plc"
)

func TestPlantRefusesOutsideAddresses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PLCAddr = netip.MustParseAddr("192.168.10.10")
	if _, err := New(cfg); !errors.Is(err, rangenet.ErrOutsideRange) {
		t.Fatalf("PLC outside the range: %v", err)
	}
}

// TestHMISeesPLCAndWritesChangeTheProcess runs the plant on real sockets: the
// HMI's polls arrive, and a Modbus write of the setpoint (here from a plain
// client) stops the pump control acting at the old setpoint.
func TestHMISeesPLCAndWritesChangeTheProcess(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PLCAddr, cfg.HMIAddr, cfg.ModbusPort = netip.MustParseAddr("127.10.61.10"), netip.MustParseAddr("127.10.62.10"), 0
	cfg.PollInterval = 50 * time.Millisecond
	snaps := make(chan hmi.Snapshot, 1000)
	cfg.Publish = func(s hmi.Snapshot) { snaps <- s }
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	next := func() hmi.Snapshot {
		select {
		case s := <-snaps:
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("no HMI poll in 5 s")
		}
		return hmi.Snapshot{}
	}
	s := next()
	if !s.Online || s.SetpointMM != 2500 || s.CapacityMM != 4000 {
		t.Fatalf("first poll: %+v", s)
	}
	c, err := modbus.Dial(ctx, modbus.DialConfig{Address: p.PLCAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do(ctx, 1, modbus.WriteSingleRegister(plc.RegSetpoint, 100)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		s := next()
		if s.SetpointMM == 100 && !s.PumpOn {
			break // level above the new setpoint: the PLC stopped the pump
		}
		select {
		case <-deadline:
			t.Fatalf("HMI never saw setpoint 100 with the pump off: %+v", s)
		default:
		}
	}
}
