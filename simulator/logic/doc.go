// Package logic is the plant's controllers: the PLC programs and the safety
// instrumented system, scanned on a fixed cycle over the process's tags
// (simulator/water through the Tags interface). Pure and deterministic: no
// sockets, no goroutines; the plant's process goroutine scans every program
// and then steps the process, under one lock.
//
// # Programs
//
// New(kind, tags, Options) builds one of:
//
//	kind          device                       controls
//	intake        intake PLC                   river pumps by raw-tank level (hysteresis, lead/lag), HH interlock
//	treatment     treatment PLC                filter flow (clear-well trim), flow-paced NaOH and hypochlorite, backwash
//	distribution  distribution PLC             pump speed PI on header pressure, staging, outlet valve, suction interlock
//	booster       booster station RTU (DNP3)   booster pumps by reservoir level, suction interlock (Options.Unit: station)
//	sis           safety system                trips on HH levels, chlorine/pH, over-pressure; latching; bypass
//
// Each program exposes VARIABLES (Vars) that the device maps to Modbus
// registers and coils or DNP3 points: name, type (bool, int, float with a
// register scale), access (read-only, operator, config), default and range.
// Every program has mode, scan.count, checksum and alarms (bits: the Alarm
// constants; the SIS's are its Trip causes, bit 15 bypass).
//
// # Modes and who may write
//
//	mode     logic                         network (NetWrite)                       local (Set, range controls)
//	remote   runs                          operator variables; mode → program       everything writable
//	run      runs                          nothing (key switch locked)              everything writable
//	program  stopped, outputs hold (the    operator and config variables, Download, everything writable
//	         SIS keeps running)            mode → remote
//	local    manual: actuators follow the  nothing                                  everything writable
//	         panel's commands; interlocks
//	         and alarms still work
//
// PLCs start in remote, the SIS in run (its key switch locked).
//
// # The program and its checksum
//
// The config variables are the program: limits, bands, gains, interlock
// enables, strengths of chemicals. Snapshot copies them, Restore puts a copy
// back (all or nothing), Download does so from the network in program mode,
// SaveKnownGood/RestoreKnownGood keep the engineer's copy, Checksum is a
// CRC-32 over them that an engineering workstation compares. Operator
// variables (setpoints, doses, manual commands) are operating data, outside
// the checksum; RestoreSetpoints puts them back to their defaults.
//
// # Limits of the model
//
// Programs read the plant's tags directly: the SIS shares transmitters with
// the PLCs, so a failed transmitter blinds both (a real SIS has its own).
// Alarms are not latched (the SIS's trips are).
package logic
