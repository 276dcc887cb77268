// Package playbooks holds otrange's joint IT/OT incident-response
// playbooks: their YAML format, a strict loader and linter that reports
// every finding as "file:line:col: message", the built-in library, Markdown
// and HTML handouts for tabletops, matching of playbooks to what the sensor
// and the plant report, and the run-time Checklist an exercise works
// through.
//
// A playbook follows the NIST SP 800-61 phases (prepare, detect and
// analyze, contain, eradicate, recover, post-incident), informed by NIST SP
// 800-82r3 for OT. Safety comes first in the format itself: a step whose
// range action touches the process (set_mode, restore_program,
// restore_setpoints, restart_device) must carry a safety gate approved by
// operations (ot_engineer, operator or plant_manager), and at run time the
// Checklist runs a gated step's action only after its owner has checked it
// and its approver has approved it.
//
// The Checklist does no I/O and reads no clock: every call carries its
// time, range actions go through an Executor the exercise engine provides,
// and every transition returns an Event for the exercise log, from which
// Restore rebuilds the checklist after a restart.
//
// The format is documented in README.md beside this file, with a JSON Schema
// (schema.json) for editors.
package playbooks
