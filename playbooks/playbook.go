package playbooks

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Phase is one of the incident-response phases of NIST SP 800-61 (the
// r2 life cycle, which SP 800-82r3 carries over to OT), in the order a
// playbook lists them.
type Phase string

// The phases, in order.
const (
	PhasePrepare       Phase = "prepare"
	PhaseDetectAnalyze Phase = "detect_analyze"
	PhaseContain       Phase = "contain"
	PhaseEradicate     Phase = "eradicate"
	PhaseRecover       Phase = "recover"
	PhasePostIncident  Phase = "post_incident"
)

// Phases lists every phase in the order a playbook must follow.
var Phases = []Phase{PhasePrepare, PhaseDetectAnalyze, PhaseContain, PhaseEradicate, PhaseRecover, PhasePostIncident}

// Title is the phase's heading in a handout.
func (p Phase) Title() string {
	switch p {
	case PhasePrepare:
		return "Prepare"
	case PhaseDetectAnalyze:
		return "Detect and analyze"
	case PhaseContain:
		return "Contain"
	case PhaseEradicate:
		return "Eradicate"
	case PhaseRecover:
		return "Recover"
	case PhasePostIncident:
		return "Post-incident"
	}
	return string(p)
}

func phaseIndex(p Phase) int {
	for i, q := range Phases {
		if p == q {
			return i
		}
	}
	return -1
}

// The standard roles of a joint IT/OT response team. A playbook may declare
// other roles with custom: true.
const (
	RoleIncidentCommander = "incident_commander"
	RoleITSOCAnalyst      = "it_soc_analyst"
	RoleOTEngineer        = "ot_engineer"
	RoleOperator          = "operator"
	RolePlantManager      = "plant_manager"
	RoleCommsLegal        = "comms_legal"
	RoleObserver          = "observer"
	// RoleFacilitator runs the exercise. It is never a playbook role, but at
	// run time it may check or skip any step (never approve a safety gate).
	RoleFacilitator = "facilitator"
)

// StandardRoles are the roles a playbook may declare without custom: true.
var StandardRoles = []string{RoleIncidentCommander, RoleITSOCAnalyst, RoleOTEngineer, RoleOperator,
	RolePlantManager, RoleCommsLegal, RoleObserver}

// operationsRoles may approve a step that touches the process: the people
// who answer for the plant's safety and uptime.
var operationsRoles = []string{RoleOTEngineer, RoleOperator, RolePlantManager}

// Audience is who a communication step addresses.
type Audience string

// The audiences of communication steps.
const (
	AudienceInternal       Audience = "internal"
	AudienceRegulator      Audience = "regulator"
	AudienceLawEnforcement Audience = "law_enforcement"
	AudiencePublic         Audience = "public"
	AudienceVendor         Audience = "vendor"
)

// Audiences lists every audience.
var Audiences = []Audience{AudienceInternal, AudienceRegulator, AudienceLawEnforcement, AudiencePublic, AudienceVendor}

// Conditions are the plant conditions a playbook may answer: the closed list
// the scenarios use for a step's expected consequence (scenarios'
// Consequences, less "none"). An unknown condition is a lint warning, not
// an error, so a new one can appear in a playbook first.
var Conditions = []string{
	"tank overflow",     // a tank's level reaches its height and spills
	"tank low",          // a tank falls below the suction minimum
	"unsafe water",      // water leaving the plant outside its limits
	"pressure low",      // distribution pressure below its limit
	"zone out of water", // a reservoir below the level that supplies its zone
	"pump trip",         // a pump tripped on its protection
	"sis trip",          // the safety system took the process to its safe state
	"device offline",    // a controller or station stopped answering
	"loss of view",      // operators lost the HMI or historian, or values froze
	"loss of control",   // operator commands no longer reach the process
}

// Playbook is one joint IT/OT response plan: a printable handout for a
// tabletop and, through a Checklist, the live list of an exercise. A loaded
// playbook is read-only; share it freely.
type Playbook struct {
	ID         string       `json:"id"`
	Title      string       `json:"title"`
	Summary    string       `json:"summary"`
	References []Reference  `json:"references,omitempty"`
	Answers    Answers      `json:"answers"`
	Roles      []Role       `json:"roles"`
	Phases     []PhaseSteps `json:"phases"`

	// File is the name the playbook was loaded from.
	File string `json:"-"`
	// Warnings are the linter's findings that do not stop loading.
	Warnings []Diagnostic `json:"-"`
}

// Reference is a source the playbook relies on (NIST, CISA guidance).
type Reference struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Answers says what a playbook responds to: ATT&CK for ICS technique ids,
// sensor rule ids and plant conditions.
type Answers struct {
	Techniques []string `json:"techniques,omitempty"`
	Rules      []string `json:"rules,omitempty"`
	Conditions []string `json:"conditions,omitempty"`
}

// Role is a role of the response team and what it decides in this playbook.
type Role struct {
	ID      string `json:"id"`
	Custom  bool   `json:"custom,omitempty"`
	Decides string `json:"decides"`
}

// PhaseSteps are the steps of one phase.
type PhaseSteps struct {
	Phase Phase  `json:"phase"`
	Steps []Step `json:"steps"`
}

// Step is one thing a role does. It may carry a decision with branches, a
// safety gate, a communication, evidence to preserve and a range action.
type Step struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Owner string `json:"owner"`
	Do    string `json:"do"`
	// Due is the target time from the start of the response; zero: none.
	Due         time.Duration  `json:"due,omitempty"`
	Decision    *Decision      `json:"decision,omitempty"`
	Gate        *Gate          `json:"gate,omitempty"`
	Communicate *Communication `json:"communicate,omitempty"`
	Evidence    []string       `json:"evidence,omitempty"`
	Action      *Action        `json:"action,omitempty"`
}

// Decision is a question whose answer picks the next step.
type Decision struct {
	Question string   `json:"question"`
	Branches []Branch `json:"branches"`
}

// Branch is one answer of a decision and the step it leads to. Branches
// only go forward: the steps between the decision and Next are bypassed.
type Branch struct {
	When string `json:"when"`
	Next string `json:"next"`
}

// Gate is a safety gate: Approver must confirm Confirm before the step (and
// its range action) goes ahead.
type Gate struct {
	Approver string `json:"approver"`
	Confirm  string `json:"confirm"`
}

// Communication is a message to an audience, with its template text.
type Communication struct {
	Audience Audience `json:"audience"`
	Template string   `json:"template"`
}

// ActionKind names a range action.
type ActionKind string

// The range actions a step may trigger.
const (
	ActionBlockHost        ActionKind = "block_host"
	ActionUnblockHost      ActionKind = "unblock_host"
	ActionSetMode          ActionKind = "set_mode"
	ActionRestoreProgram   ActionKind = "restore_program"
	ActionRestoreSetpoints ActionKind = "restore_setpoints"
	ActionRestartDevice    ActionKind = "restart_device"
)

// ActionKinds lists every range action.
var ActionKinds = []ActionKind{ActionBlockHost, ActionUnblockHost, ActionSetMode, ActionRestoreProgram,
	ActionRestoreSetpoints, ActionRestartDevice}

// TouchesProcess reports whether the action changes what a controller does
// to the process; such a step needs a safety gate approved by operations.
func (k ActionKind) TouchesProcess() bool {
	switch k {
	case ActionSetMode, ActionRestoreProgram, ActionRestoreSetpoints, ActionRestartDevice:
		return true
	}
	return false
}

// The operating modes of set_mode.
const (
	ModeRun     = "run"
	ModeProgram = "program"
	ModeRemote  = "remote"
	ModeLocal   = "local"
)

// Modes lists every mode of set_mode.
var Modes = []string{ModeRun, ModeProgram, ModeRemote, ModeLocal}

// AllDevices as the device of block_host or unblock_host means every device
// of the range.
const AllDevices = "*"

// Variables a playbook may use for an action's device or source; a
// Checklist binds them when the exercise opens the playbook (from the alert
// that matched).
const (
	VarDevice = "$device" // the device the alert is about (its destination)
	VarSource = "$source" // the host the alert blames (its source)
)

// Action is a range action. Device is a device name, AllDevices (block and
// unblock only) or VarDevice; Source (block and unblock) an address, a
// prefix or VarSource; Mode (set_mode) one of Modes.
type Action struct {
	Kind   ActionKind `json:"kind"`
	Device string     `json:"device"`
	Source string     `json:"source,omitempty"`
	Mode   string     `json:"mode,omitempty"`
}

// String renders the action for a handout or a log line.
func (a Action) String() string {
	switch a.Kind {
	case ActionBlockHost:
		return fmt.Sprintf("block %s at %s", sourceText(a.Source), deviceText(a.Device))
	case ActionUnblockHost:
		return fmt.Sprintf("unblock %s at %s", sourceText(a.Source), deviceText(a.Device))
	case ActionSetMode:
		return fmt.Sprintf("set %s to %s mode", deviceText(a.Device), a.Mode)
	case ActionRestoreProgram:
		return fmt.Sprintf("restore the known-good program of %s", deviceText(a.Device))
	case ActionRestoreSetpoints:
		return fmt.Sprintf("restore the known-good setpoints of %s", deviceText(a.Device))
	case ActionRestartDevice:
		return fmt.Sprintf("restart %s", deviceText(a.Device))
	}
	return string(a.Kind)
}

func sourceText(s string) string {
	if s == VarSource {
		return "the alert's source host"
	}
	return s
}

func deviceText(d string) string {
	switch d {
	case AllDevices:
		return "every device"
	case VarDevice:
		return "the affected device"
	}
	return d
}

// Bindings give the values of the variables for one run of a playbook:
// keys "device" and "source" (VarDevice and VarSource without the '$').
type Bindings map[string]string

// Resolve returns the action with its variables replaced from b. It fails
// when a variable is unbound or the bound value is not valid.
func (a Action) Resolve(b Bindings) (Action, error) {
	out := a
	for _, f := range []*string{&out.Device, &out.Source} {
		if !strings.HasPrefix(*f, "$") {
			continue
		}
		v, ok := b[(*f)[1:]]
		if !ok || v == "" {
			return Action{}, fmt.Errorf("%w: %s is not bound", ErrUnbound, *f)
		}
		*f = v
	}
	if out.Source != "" {
		if _, err := ParseSource(out.Source); err != nil {
			return Action{}, err
		}
	}
	if out.Device == "" || strings.HasPrefix(out.Device, "$") {
		return Action{}, fmt.Errorf("%w: device %q", ErrUnbound, out.Device)
	}
	return out, nil
}

// SourcePrefix returns the source of a block or unblock as a prefix (a
// single address as a /32 or /128).
func (a Action) SourcePrefix() (netip.Prefix, error) { return ParseSource(a.Source) }

// ParseSource reads a host address or a prefix ("127.66.0.1" or
// "127.66.0.0/16").
func ParseSource(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("playbooks: %q is neither an address nor a prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// rangePrefix holds every address of the range: a playbook blocks only
// range hosts.
var rangePrefix = netip.MustParsePrefix("127.0.0.0/8")

// Steps returns every step in order (phase by phase) with its phase.
func (p *Playbook) Steps() []PhaseStep {
	var out []PhaseStep
	for _, ph := range p.Phases {
		for i := range ph.Steps {
			out = append(out, PhaseStep{Phase: ph.Phase, Step: &ph.Steps[i]})
		}
	}
	return out
}

// PhaseStep is a step with its phase.
type PhaseStep struct {
	Phase Phase
	Step  *Step
}

// Step returns the step with the given id.
func (p *Playbook) Step(id string) (*Step, Phase, bool) {
	for _, ph := range p.Phases {
		for i := range ph.Steps {
			if ph.Steps[i].ID == id {
				return &ph.Steps[i], ph.Phase, true
			}
		}
	}
	return nil, "", false
}

// Role returns the declared role with the given id.
func (p *Playbook) Role(id string) (Role, bool) {
	for _, r := range p.Roles {
		if r.ID == id {
			return r, true
		}
	}
	return Role{}, false
}
