package main

import (
	"context"
	"fmt"
	"io"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/scenarios/attack"
)

func runAttack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "Usage: otrange attack <action> [flags]\n\nActions:\n  write-setpoint  Modbus FC 6 write of a PLC setpoint from the attacker host (T0836, T0855)")
		if len(args) == 0 {
			return usagef("an action is required")
		}
		return errHelp
	}
	switch args[0] {
	case "write-setpoint":
		return attackWriteSetpoint(ctx, args[1:], stdout)
	}
	return usagef("unknown action %q", args[0])
}

func attackWriteSetpoint(ctx context.Context, args []string, stdout io.Writer) error {
	a := attack.WriteSetpoint{Source: attack.DefaultSource}
	fs := newFlags("attack write-setpoint", "attack write-setpoint [flags]\n\nWrites one holding register of a PLC with Modbus FC 6 from the attacker address. By default it\nsets the treatment PLC's sodium hydroxide dose (holding register 3) to 11100 mg/L, as in Oldsmar.\nRefuses any target outside 127.0.0.0/8 before sending anything.", stdout)
	fs.StringVar(&a.Target, "target", "127.10.1.11:502", "PLC host:port (plc-treatment; 5020 when the plant runs without root)")
	fs.Var(addrFlag{&a.Source}, "source", "attacker source address (within 127.0.0.0/8)")
	unit := fs.Uint("unit", 1, "Modbus unit id")
	reg := fs.Uint("register", 3, "holding register address")
	val := fs.Uint("value", 11100, "value to write")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *unit > 255 || *reg > 65535 || *val > 65535 {
		return usagef("unit must be 0-255, register and value 0-65535")
	}
	a.Unit, a.Register, a.Value = uint8(*unit), uint16(*reg), uint16(*val)
	res, err := a.Run(ctx, rangenet.New(nil))
	if err != nil {
		return err
	}
	status := "accepted"
	if !res.Succeeded {
		status = "refused by the device"
	}
	fmt.Fprintf(stdout, "write-setpoint %s -> %s: register %d := %d %s (%s)\n",
		res.Source, res.Target, a.Register, a.Value, status, res.Response)
	return nil
}
