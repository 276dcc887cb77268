// Package scenario defines otrange's exercise scenarios: a YAML format that
// is at once the red team's script (which attack actions to run against the
// plant, from where, when) and the exercise's script (what each role is
// told, what to discuss, what should be detected, which process consequence
// should follow, and which team action defeats a step on the wire).
//
// Files are loaded strictly (Parse, Load): unknown keys, bad types, bad
// references between steps, unknown actions, bad action parameters, unknown
// targets or targets of the wrong kind, and literal addresses outside the
// range are errors reported as "file:line:col: message". The built-in
// library (Library) holds scenarios modelled on public incident reporting.
//
// This package only describes scenarios; the runner that executes the steps
// against the plant builds on these types (Step.Params holds the decoded,
// validated parameters of the step's action). See README.md for the format.
package scenario

import (
	"net/netip"
	"strings"
	"time"

	"github.com/otrange/otrange/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

// Scenario is one exercise scenario.
type Scenario struct {
	ID      string `yaml:"id"`
	Title   string `yaml:"title"`
	Summary string `yaml:"summary"`
	// Source is the attacker's address (default 127.66.0.1); it must lie in
	// AttackerPrefix. A step may act from elsewhere (Step.Source).
	Source      string       `yaml:"source,omitempty"`
	References  []Reference  `yaml:"references"`
	Techniques  []Technique  `yaml:"techniques"`
	Roles       []string     `yaml:"roles"`
	CustomRoles []CustomRole `yaml:"custom_roles,omitempty"`
	Phases      []Phase      `yaml:"phases"`

	// Warnings are the linter's non-fatal findings (a step with no
	// expectation, ...), filled by Parse.
	Warnings []Diagnostic `yaml:"-"`
	// File is the name the scenario was parsed under.
	File string `yaml:"-"`
}

// Reference is a public report the scenario is grounded in.
type Reference struct {
	Title string `yaml:"title"`
	URL   string `yaml:"url"`
}

// Technique is an ATT&CK for ICS technique id (T0xxx). V19 carries the id
// that MITRE's 2026 revision (ATT&CK v19) gave the technique where it
// replaced the established one; empty when unchanged or unknown. In YAML a
// technique is written "T0836" or {id: T0836, v19: T0xxx.00y}.
type Technique struct {
	ID  string `yaml:"id"`
	V19 string `yaml:"v19,omitempty"`
}

func (t Technique) String() string {
	if t.V19 != "" {
		return t.ID + " (v19 " + t.V19 + ")"
	}
	return t.ID
}

// IDs returns the established id and, when known, the v19 id.
func (t Technique) IDs() []string {
	if t.V19 != "" {
		return []string{t.ID, t.V19}
	}
	return []string{t.ID}
}

// MarshalYAML writes the short form when there is no v19 id.
func (t Technique) MarshalYAML() (any, error) {
	if t.V19 == "" {
		return t.ID, nil
	}
	type plain Technique
	return plain(t), nil
}

func (t *Technique) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		t.ID = n.Value
		return
	}
	if n.Kind != yaml.MappingNode {
		d.c.node(n, "expected a technique id such as T0836 or {id: T0836, v19: ...}, got %s", yamlstrict.Describe(n))
		return
	}
	type plain Technique
	var p plain
	d.decode(n, reflectValue(&p), path)
	*t = Technique(p)
}

// V19 maps the established ATT&CK for ICS ids that MITRE's April 2026
// revision (v19) replaced with sub-techniques of new techniques (T1691 Block
// Operational Technology Message, T1692 Unauthorized Message). It is the
// same table as the sensor's rules (sensor/rules); ids not in it are kept as
// established. The linter fills Technique.V19 from it when a file gives
// none, and warns when a file gives a different one.
var V19 = map[string]string{
	"T0803": "T1691.001", // Block Command Message
	"T0804": "T1691.002", // Block Reporting Message
	"T0855": "T1692.001", // Unauthorized Command Message
	"T0856": "T1692.002", // Spoof Reporting Message
}

// CustomRole declares a role beyond the built-in ones.
type CustomRole struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
}

// Built-in roles.
const (
	RoleSOCAnalyst        = "it_soc_analyst"
	RoleOTEngineer        = "ot_engineer"
	RoleOperator          = "operator"
	RoleIncidentCommander = "incident_commander"
	RoleCommsLegal        = "comms_legal"
	RoleObserver          = "observer"
)

// BuiltinRoles lists the built-in roles with what they see and do.
var BuiltinRoles = []struct{ ID, Name string }{
	{RoleSOCAnalyst, "IT SOC analyst: sensor alerts, asset inventory, IT logs"},
	{RoleOTEngineer, "OT engineer: device views and range actions (block, mode, restore, restart)"},
	{RoleOperator, "Plant operator: the HMI, alarms and trends, operator commands"},
	{RoleIncidentCommander, "Incident commander: decisions and coordination"},
	{RoleCommsLegal, "Communications and legal: regulators, public, law enforcement"},
	{RoleObserver, "Observer: sees the shared timeline, takes no action"},
}

func isBuiltinRole(id string) bool {
	for _, r := range BuiltinRoles {
		if r.ID == id {
			return true
		}
	}
	return false
}

// Phase is one part of the exercise, with its discussion questions.
type Phase struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description,omitempty"`
	Questions   []string `yaml:"questions"`
	Steps       []Step   `yaml:"steps"`
}

// Step is one scripted event: an attack action, an inject, or a wait.
//
// Its time is exactly one of At (offset from the scenario's start), After
// (when an earlier step has finished, plus Delay) or On (a trigger, plus
// Delay).
type Step struct {
	ID          string    `yaml:"id"`
	Name        string    `yaml:"name"`
	Description string    `yaml:"description,omitempty"`
	At          *Duration `yaml:"at,omitempty"`
	After       string    `yaml:"after,omitempty"`
	On          *Trigger  `yaml:"on,omitempty"`
	Delay       Duration  `yaml:"delay,omitempty"`
	Action      string    `yaml:"action"`
	// Target is a device name from the plant (plc-intake), a literal range
	// address (127.10.1.10 or 127.10.1.10:502), or for net.discover a
	// prefix (127.10.1.0/24). Empty for inject, wait and plant.fault.
	Target string `yaml:"target,omitempty"`
	// Source overrides the scenario's attacker address for this step: an
	// address in AttackerPrefix or ITPrefix, or the name of an HMI or EWS the
	// attacker acts through.
	Source string `yaml:"source,omitempty"`
	// Params holds the action's parameters, decoded strictly into the
	// action's own type (ModbusWrite for modbus.write, ...) with defaults
	// filled in. Nil for actions without parameters.
	Params      Params            `yaml:"params,omitempty"`
	Techniques  []Technique       `yaml:"techniques,omitempty"`
	Injects     map[string]Inject `yaml:"injects,omitempty"`
	Expect      *Expect           `yaml:"expect,omitempty"`
	PreventedBy []Prevention      `yaml:"prevented_by,omitempty"`
	// Notes are for the facilitator only.
	Notes string `yaml:"notes,omitempty"`
}

// Trigger starts a step when something happens in the exercise. Exactly one
// of Alert and Action is set. The trigger is armed when the scenario starts;
// when Timeout passes first, the step is skipped (OnTimeout "skip", the
// default) or run anyway ("run").
type Trigger struct {
	// Alert is a sensor rule id or an ATT&CK technique id.
	Alert string `yaml:"alert,omitempty"`
	// Action is a participant action kind (see ParticipantActions).
	Action    string   `yaml:"action,omitempty"`
	Timeout   Duration `yaml:"timeout,omitempty"`
	OnTimeout string   `yaml:"on_timeout,omitempty"`
}

// ParticipantActions are the participant actions a trigger can wait for:
// the range controls (simulator/control kinds) and exercise actions.
var ParticipantActions = []string{
	"block_host", "unblock_host", "set_mode", "restore_program", "restore_setpoints", "restart_device",
	"inject_fault", "clear_faults", "reset_plant",
	"operator_command", "acknowledge_alarm", "decision", "escalate",
}

// Inject is what a role is told when the step fires.
type Inject struct {
	Text       string      `yaml:"text"`
	Attachment *Attachment `yaml:"attachment,omitempty"`
}

// Attachment is a document handed out with an inject (a log excerpt, an
// e-mail, a screenshot description).
type Attachment struct {
	Name        string `yaml:"name"`
	ContentType string `yaml:"content_type,omitempty"` // default text/plain
	Content     string `yaml:"content"`
}

// MaxAttachment bounds an attachment's content.
const MaxAttachment = 64 << 10

// Expect is what should follow the step: detections and process
// consequences.
type Expect struct {
	Detections   []Detection           `yaml:"detections,omitempty"`
	Consequences []ConsequenceExpected `yaml:"consequences,omitempty"`
}

// Detection is an alert that should be raised within Within of the step's
// start: by sensor rule id or by ATT&CK technique id (exactly one).
type Detection struct {
	Rule      string   `yaml:"rule,omitempty"`
	Technique string   `yaml:"technique,omitempty"`
	Within    Duration `yaml:"within,omitempty"` // default DefaultWithin
}

// DefaultWithin is the detection window when a file gives none.
const DefaultWithin = 2 * time.Minute

// ConsequenceExpected is a plant condition that should arise within Within
// of the step's start (unless the step is prevented).
type ConsequenceExpected struct {
	Condition string   `yaml:"condition"`
	Where     string   `yaml:"where,omitempty"` // the equipment or device, e.g. raw_tank, plc-intake
	Within    Duration `yaml:"within,omitempty"`
}

// Consequences is the closed list of plant conditions a scenario may
// expect, with their meaning. The names are shared with the playbooks'
// "answers" and the plant's alarms.
var Consequences = []struct{ Name, Meaning string }{
	{"tank overflow", "a tank's level reaches its height and water spills (raw tank, clear well, reservoir)"},
	{"tank low", "a tank's level falls below the suction minimum: pumps drawing from it run dry"},
	{"unsafe water", "water leaving the plant is outside its limits (pH, free chlorine, turbidity)"},
	{"pressure low", "distribution pressure falls below the low-pressure limit (backflow, fire-flow risk)"},
	{"zone out of water", "a reservoir falls below the level that supplies its zone"},
	{"pump trip", "a pump trips on its protection (dry run, dead-head)"},
	{"sis trip", "the safety instrumented system trips and takes the process to its safe state"},
	{"device offline", "a controller or station stops answering on the network (restart, crash, flood)"},
	{"loss of view", "operators lose the process picture: HMI or historian down, or values frozen"},
	{"loss of control", "operator commands no longer reach or move the process"},
	{"none", "no process consequence is expected (reconnaissance, a failed attempt)"},
}

func isConsequence(s string) bool {
	for _, c := range Consequences {
		if c.Name == s {
			return true
		}
	}
	return false
}

// Prevention is a team action that makes the step fail on the wire, in the
// vocabulary of the range controls (simulator/control): block_host {device,
// source}, set_mode {device, mode}, restore_program / restore_setpoints /
// restart_device {device}.
type Prevention struct {
	Action string `yaml:"action"`
	Device string `yaml:"device"`
	// Source is the address or prefix blocked; default: the step's source.
	Source string `yaml:"source,omitempty"`
	Mode   string `yaml:"mode,omitempty"`
}

// PreventionActions are the range control kinds a Prevention may name.
var PreventionActions = []string{"block_host", "set_mode", "restore_program", "restore_setpoints", "restart_device"}

// Duration is a time.Duration written in YAML as "90s" or "2m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d without trailing zero units ("2m", "1h30m", "1.5s").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Range addresses.
var (
	// AttackerPrefix holds the attacker's addresses.
	AttackerPrefix = netip.MustParsePrefix("127.66.0.0/16")
	// ITPrefix holds the IT network's hosts.
	ITPrefix = netip.MustParsePrefix("127.20.0.0/16")
	// RangePrefix is the only block a literal target may lie in.
	RangePrefix = netip.MustParsePrefix("127.0.0.0/8")
	// DefaultSource is the attacker's address when a scenario gives none.
	DefaultSource = netip.MustParseAddr("127.66.0.1")
)

// Device kinds of the plant definition.
const (
	KindPLC       = "plc"
	KindRTU       = "rtu"
	KindSIS       = "sis"
	KindHMI       = "hmi"
	KindEWS       = "ews"
	KindHistorian = "historian"
)

// Catalog tells the linter which devices the plant has and of what kind
// (plc, rtu, sis, hmi, ews, historian). The plant definition implements it.
type Catalog interface {
	Device(name string) (kind string, ok bool)
}

// MapCatalog is a Catalog held in a map from device name to kind.
type MapCatalog map[string]string

var _ Catalog = MapCatalog{}

// Device implements Catalog.
func (m MapCatalog) Device(name string) (string, bool) {
	k, ok := m[name]
	return k, ok
}

// DefaultCatalog is the default plant's devices (their addresses are in
// DefaultAddresses).
func DefaultCatalog() MapCatalog {
	return MapCatalog{
		"plc-intake": KindPLC, "plc-treatment": KindPLC, "plc-distribution": KindPLC,
		"sis": KindSIS, "rtu-reservoir": KindRTU,
		"hmi": KindHMI, "ews": KindEWS, "historian": KindHistorian,
	}
}

// DefaultAddresses maps the default plant's device names to their
// addresses, for documentation and the show command.
func DefaultAddresses() map[string]string {
	return map[string]string{
		"plc-intake": "127.10.1.10", "plc-treatment": "127.10.1.11", "plc-distribution": "127.10.1.12",
		"sis": "127.10.1.20", "rtu-reservoir": "127.10.1.30",
		"hmi": "127.10.2.10", "ews": "127.10.2.20", "historian": "127.10.3.10",
	}
}

// AllSteps returns every step in order with the index of its phase.
func (s *Scenario) AllSteps() []PhaseStep {
	var out []PhaseStep
	for pi := range s.Phases {
		for si := range s.Phases[pi].Steps {
			out = append(out, PhaseStep{Phase: pi, Step: &s.Phases[pi].Steps[si]})
		}
	}
	return out
}

// PhaseStep is a step with the index of its phase.
type PhaseStep struct {
	Phase int
	Step  *Step
}

// Step returns the step with the given id.
func (s *Scenario) Step(id string) (*Step, bool) {
	for _, ps := range s.AllSteps() {
		if ps.Step.ID == id {
			return ps.Step, true
		}
	}
	return nil, false
}

// SourceAddr returns the scenario's attacker address.
func (s *Scenario) SourceAddr() netip.Addr {
	if a, err := netip.ParseAddr(s.Source); err == nil {
		return a
	}
	return DefaultSource
}

// TechniqueIDs returns the scenario's established technique ids.
func (s *Scenario) TechniqueIDs() []string {
	out := make([]string, len(s.Techniques))
	for i, t := range s.Techniques {
		out[i] = t.ID
	}
	return out
}
