// Package control defines the range controls: the actions that participants'
// responses, playbook steps, scenarios and the facilitator take on the plant
// (block a host at a device, change a PLC's mode, restore a known-good
// program, restart a device, inject or clear process faults, reset the
// plant). The plant implements Controller; the exercise server, playbooks and
// scenarios only see this package.
package control

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind names a range action.
type Kind string

// Range actions.
const (
	BlockHost        Kind = "block_host"        // Device (or "*"), Source
	UnblockHost      Kind = "unblock_host"      // Device (or "*"), Source
	SetMode          Kind = "set_mode"          // Device, Mode
	RestoreProgram   Kind = "restore_program"   // Device: the known-good program
	RestoreSetpoints Kind = "restore_setpoints" // Device: setpoints of the known-good program
	RestartDevice    Kind = "restart_device"    // Device
	InjectFault      Kind = "inject_fault"      // Fault, Target
	ClearFaults      Kind = "clear_faults"
	ResetPlant       Kind = "reset_plant"
)

// Kinds lists every action kind.
var Kinds = []Kind{BlockHost, UnblockHost, SetMode, RestoreProgram, RestoreSetpoints, RestartDevice, InjectFault, ClearFaults, ResetPlant}

// Modes a PLC can be put in.
var Modes = []string{"run", "program", "remote", "local"}

// Action is one range action.
type Action struct {
	Kind   Kind   `json:"kind"`
	Device string `json:"device,omitempty"`
	Source string `json:"source,omitempty"` // an address or prefix
	Mode   string `json:"mode,omitempty"`
	Fault  string `json:"fault,omitempty"`  // stuck-actuator, frozen-transmitter, zero-transmitter, pump-trip ("_" for "-" accepted)
	Target string `json:"target,omitempty"` // what the fault hits (a tag or equipment name)
	Reason string `json:"reason,omitempty"` // for the log
	// For is how long restart_device keeps the device away (0: the device's
	// configured restart time). It also takes an HMI, engineering
	// workstation or historian off the network for that long.
	For time.Duration `json:"for,omitempty"`
}

// Result says what an action did.
type Result struct {
	Message string `json:"message"`
}

// Controller carries out range actions.
type Controller interface {
	Do(ctx context.Context, a Action) (Result, error)
}

// ErrInvalid marks an action that is malformed (as opposed to one the plant
// could not carry out).
var ErrInvalid = errors.New("invalid range action")

// Validate checks that a has the fields its kind needs.
func (a Action) Validate() error {
	need := func(field, v string) error {
		if v == "" {
			return fmt.Errorf("%w: %s needs %s", ErrInvalid, a.Kind, field)
		}
		return nil
	}
	switch a.Kind {
	case BlockHost, UnblockHost:
		return errors.Join(need("device", a.Device), need("source", a.Source))
	case SetMode:
		if err := need("device", a.Device); err != nil {
			return err
		}
		for _, m := range Modes {
			if a.Mode == m {
				return nil
			}
		}
		return fmt.Errorf("%w: mode %q is not one of %v", ErrInvalid, a.Mode, Modes)
	case RestoreProgram, RestoreSetpoints:
		return need("device", a.Device)
	case RestartDevice:
		if a.For < 0 || a.For > time.Hour {
			return fmt.Errorf("%w: restart time %v out of 0..1h", ErrInvalid, a.For)
		}
		return need("device", a.Device)
	case InjectFault:
		return errors.Join(need("fault", a.Fault), need("target", a.Target))
	case ClearFaults, ResetPlant:
		return nil
	}
	return fmt.Errorf("%w: unknown kind %q", ErrInvalid, a.Kind)
}

// TouchesProcess reports whether the action can change the physical process
// (and so needs operations' approval in a playbook).
func (a Action) TouchesProcess() bool {
	switch a.Kind {
	case SetMode, RestoreProgram, RestoreSetpoints, RestartDevice, InjectFault, ClearFaults, ResetPlant:
		return true
	}
	return false
}

func (a Action) String() string {
	s := string(a.Kind)
	for _, kv := range [][2]string{{"device", a.Device}, {"source", a.Source}, {"mode", a.Mode}, {"fault", a.Fault}, {"target", a.Target}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	return s
}
