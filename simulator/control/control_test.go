package control

import (
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		a  Action
		ok bool
	}{
		{Action{Kind: BlockHost, Device: "plc-intake", Source: "127.66.0.1"}, true},
		{Action{Kind: BlockHost, Device: "plc-intake"}, false},
		{Action{Kind: SetMode, Device: "plc-intake", Mode: "local"}, true},
		{Action{Kind: SetMode, Device: "plc-intake", Mode: "manual-ish"}, false},
		{Action{Kind: RestartDevice}, false},
		{Action{Kind: InjectFault, Fault: "pump_trip", Target: "intake.pump1"}, true},
		{Action{Kind: ResetPlant}, true},
		{Action{Kind: "format_disk"}, false},
	} {
		t.Run(tc.a.String(), func(t *testing.T) {
			err := tc.a.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
	if (Action{Kind: BlockHost}).TouchesProcess() || !(Action{Kind: RestartDevice}).TouchesProcess() {
		t.Error("TouchesProcess wrong")
	}
}
