package playbooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/otrange/otrange/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

// Limits on what one playbook file may hold.
const (
	MaxFileSize = 1 << 20 // bytes
	MaxSteps    = 500     // steps in one playbook
	MaxItems    = 200     // entries of any one list (roles, branches, evidence, answers)
	MaxDue      = 30 * 24 * time.Hour
)

// Catalog tells the linter which devices the range has and of what kind
// (plc, rtu, sis, hmi, ews, historian). The lead passes the plant
// definition's devices.
type Catalog interface {
	Device(name string) (kind string, ok bool)
}

// Options tune loading.
type Options struct {
	// Catalog, if not nil, checks the devices of range actions.
	Catalog Catalog
	// Rules, if not empty, are the detector's rule ids: an answered rule
	// outside them is warned about (it may be another detector's).
	Rules []string
}

// controllerKinds are the device kinds whose mode, program and setpoints a
// range action may change.
var controllerKinds = []string{"plc", "rtu", "sis"}

// Load reads and lints the playbook file at path.
func Load(path string, opts Options) (*Playbook, error) {
	data, err := readBounded(os.Open(path))
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// LoadFS reads and lints every *.yaml and *.yml file of dir in fsys, sorted
// by name. It returns the playbooks that loaded and one error joining every
// file's errors; a playbook id used twice is an error too.
func LoadFS(fsys fs.FS, dir string, opts Options) ([]*Playbook, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var (
		out  []*Playbook
		errs []error
		ids  = map[string]string{}
	)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		p := filepath.ToSlash(filepath.Join(dir, name))
		data, err := readBounded(fsys.Open(p))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pb, err := Parse(p, data, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := ids[pb.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: playbook id %q is already used by %s", p, pb.ID, prev))
			continue
		}
		ids[pb.ID] = p
		out = append(out, pb)
	}
	return out, errors.Join(errs...)
}

func readBounded(f io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return data, nil
}

var (
	idRe     = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	roleRe   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	techRe   = regexp.MustCompile(`^T0[89][0-9][0-9](\.[0-9]{3})?$`)
	ruleRe   = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	deviceRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// Parse reads and lints one playbook from data; name is the file name used
// in every finding. The error, when not nil, is an *Errors holding every
// error found, each "name:line:col: message", sorted. Warnings land in the
// playbook's Warnings.
func Parse(name string, data []byte, opts Options) (*Playbook, error) {
	d := &diags{file: name}
	if len(data) > MaxFileSize {
		d.at(1, 1, false, "file is larger than %d bytes", MaxFileSize)
		errs, _ := d.result()
		return nil, errs
	}
	root, ok := parseYAML(d, data)
	if !ok {
		errs, _ := d.result()
		return nil, errs
	}
	p := &parser{d: d, opts: opts}
	pb := p.playbook(root)
	pb.File = name
	p.lint(pb)
	errs, warns := d.result()
	if errs != nil {
		return nil, errs
	}
	pb.Warnings = warns
	return pb, nil
}

func parseYAML(d *diags, data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.at(1, 1, false, "empty file: a playbook is a YAML mapping")
			return nil, false
		}
		yamlError(d, err)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.at(next.Line, next.Column, false, "a second YAML document: one playbook per file")
		return nil, false
	case !errors.Is(err, io.EOF):
		yamlError(d, err)
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.at(doc.Line, doc.Column, false, "empty file: a playbook is a YAML mapping")
		return nil, false
	}
	return doc.Content[0], true
}

func yamlError(d *diags, err error) {
	msg := err.Error()
	if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	line, text, _ := yamlstrict.SyntaxError(msg)
	d.at(line, 1, false, "YAML: %s", text)
}

// parser decodes the node tree strictly and remembers where things were for
// the cross-reference checks of lint.
type parser struct {
	d     *diags
	opts  Options
	steps []stepNodes
	roles []*yaml.Node // each role's id node, in order
	// answers is the answers node, for the "answers nothing" error, and
	// answerKeys counts the lists it had (a list with a type error counts).
	answers    *yaml.Node
	answerKeys int
	phases     []*yaml.Node // each phase's name node
	refs       *yaml.Node
	top        *yaml.Node
}

// stepNodes records where a step's parts were.
type stepNodes struct {
	phase, index int
	node         *yaml.Node // the step mapping
	id, owner    *yaml.Node
	decision     *yaml.Node
	branches     []*yaml.Node // each branch's next node
	whens        []*yaml.Node
	gate         *yaml.Node
	approver     *yaml.Node
	action       *yaml.Node // the action kind key
	device       *yaml.Node
	source       *yaml.Node
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!str":
			return "text"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true or false"
		}
		return "a " + strings.TrimPrefix(n.Tag, "!!")
	}
	return "a document"
}

// fields maps a key to the function that decodes its value.
type fields map[string]func(*yaml.Node)

// mapping decodes a mapping strictly: unknown and duplicate keys are errors,
// and so are missing required keys. It reports whether n was a mapping.
func (p *parser) mapping(n *yaml.Node, what string, fl fields, required ...string) bool {
	if n.Kind == yaml.AliasNode {
		p.d.errf(n, "%s: aliases are not supported", what)
		return false
	}
	if n.Kind != yaml.MappingNode {
		p.d.errf(n, "%s must be a mapping, not %s", what, kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.d.errf(k, "%s: a key must be a plain string", what)
			continue
		}
		key := k.Value
		if seen[key] {
			p.d.errf(k, "%s: duplicate key %q", what, key)
			continue
		}
		seen[key] = true
		fn, ok := fl[key]
		if !ok {
			p.d.errf(k, "%s: unknown key %q (known: %s)", what, key, strings.Join(sortedKeys(fl), ", "))
			continue
		}
		fn(v)
	}
	for _, r := range required {
		if !seen[r] {
			p.d.errf(n, "%s: missing required key %q", what, r)
		}
	}
	return true
}

func sortedKeys(fl fields) []string {
	keys := make([]string, 0, len(fl))
	for k := range fl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// str decodes a non-empty scalar as text.
func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.d.errf(n, "%s must be text, not %s", what, kindName(n))
		return ""
	}
	v := strings.TrimSpace(n.Value)
	if v == "" {
		p.d.errf(n, "%s must not be empty", what)
	}
	return v
}

// seq decodes a list of at most MaxItems items (limit overrides).
func (p *parser) seq(n *yaml.Node, what string, limit int, fn func(*yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		p.d.errf(n, "%s must be a list, not %s", what, kindName(n))
		return
	}
	if len(n.Content) == 0 {
		p.d.errf(n, "%s must not be empty", what)
		return
	}
	if len(n.Content) > limit {
		p.d.errf(n, "%s has %d entries, more than the %d allowed", what, len(n.Content), limit)
		return
	}
	for _, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			p.d.errf(c, "%s: aliases are not supported", what)
			continue
		}
		fn(c)
	}
}

// strs decodes a list of distinct texts; norm, if not nil, folds each
// before the duplicate check and is what is kept.
func (p *parser) strs(n *yaml.Node, what string, norm func(string) string, check func(*yaml.Node, string)) []string {
	var out []string
	seen := map[string]bool{}
	p.seq(n, what, MaxItems, func(c *yaml.Node) {
		s := p.str(c, what+" entry")
		if s == "" {
			return
		}
		if norm != nil {
			s = norm(s)
		}
		if seen[s] {
			p.d.errf(c, "%s: %q is listed twice", what, s)
			return
		}
		seen[s] = true
		if check != nil {
			check(c, s)
		}
		out = append(out, s)
	})
	return out
}

func (p *parser) playbook(n *yaml.Node) *Playbook {
	pb := &Playbook{}
	p.top = n
	p.mapping(n, "playbook", fields{
		"id": func(v *yaml.Node) {
			pb.ID = p.str(v, "id")
			if pb.ID != "" && (!idRe.MatchString(pb.ID) || len(pb.ID) > 64) {
				p.d.errf(v, "id %q must be lower-case words joined by '-' (at most 64 characters)", pb.ID)
			}
		},
		"title":   func(v *yaml.Node) { pb.Title = p.str(v, "title") },
		"summary": func(v *yaml.Node) { pb.Summary = p.str(v, "summary") },
		"references": func(v *yaml.Node) {
			p.refs = v
			p.seq(v, "references", MaxItems, func(c *yaml.Node) {
				var r Reference
				p.mapping(c, "reference", fields{
					"title": func(v *yaml.Node) { r.Title = p.str(v, "reference title") },
					"url": func(v *yaml.Node) {
						r.URL = p.str(v, "reference url")
						if r.URL != "" && !strings.HasPrefix(r.URL, "https://") && !strings.HasPrefix(r.URL, "http://") {
							p.d.errf(v, "reference url %q must start with https:// or http://", r.URL)
						}
					},
				}, "title", "url")
				pb.References = append(pb.References, r)
			})
		},
		"answers": func(v *yaml.Node) { p.answers = v; pb.Answers = p.answersOf(v) },
		"roles": func(v *yaml.Node) {
			p.seq(v, "roles", MaxItems, func(c *yaml.Node) { pb.Roles = append(pb.Roles, p.role(c)) })
		},
		"phases": func(v *yaml.Node) { pb.Phases = p.phasesOf(v) },
	}, "id", "title", "summary", "answers", "roles", "phases")
	return pb
}

func (p *parser) answersOf(n *yaml.Node) Answers {
	var a Answers
	p.mapping(n, "answers", fields{
		"techniques": func(v *yaml.Node) {
			p.answerKeys++
			a.Techniques = p.strs(v, "techniques", nil, func(c *yaml.Node, s string) {
				if !techRe.MatchString(s) {
					p.d.errf(c, "technique %q is not an ATT&CK for ICS technique id (T0800 to T0999, optional .NNN)", s)
				}
			})
		},
		"rules": func(v *yaml.Node) {
			p.answerKeys++
			a.Rules = p.strs(v, "rules", nil, func(c *yaml.Node, s string) {
				if !ruleRe.MatchString(s) {
					p.d.errf(c, "rule id %q must be dotted lower-case words, e.g. modbus.write.unauthorized", s)
				} else if len(p.opts.Rules) > 0 && !slices.Contains(p.opts.Rules, s) {
					p.d.warnf(c, "rule %q is not one of the sensor's rules (otrange sensor rules lists them)", s)
				}
			})
		},
		"conditions": func(v *yaml.Node) {
			p.answerKeys++
			a.Conditions = p.strs(v, "conditions", normCondition, func(c *yaml.Node, s string) {
				if !slices.Contains(Conditions, s) {
					p.d.warnf(c, "condition %q is not a known plant condition (known: %s)", s, strings.Join(Conditions, ", "))
				}
			})
		},
	})
	return a
}

// normCondition folds case and spacing of a plant condition.
func normCondition(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

func (p *parser) role(n *yaml.Node) Role {
	var r Role
	var idNode *yaml.Node
	p.mapping(n, "role", fields{
		"id":      func(v *yaml.Node) { idNode = v; r.ID = p.str(v, "role id") },
		"decides": func(v *yaml.Node) { r.Decides = p.str(v, "role decides") },
		"custom": func(v *yaml.Node) {
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				p.d.errf(v, "role custom must be true or false, not %s", kindName(v))
				return
			}
			r.Custom = v.Value == "true"
		},
	}, "id", "decides")
	if idNode == nil {
		idNode = n
	}
	p.roles = append(p.roles, idNode)
	return r
}

func (p *parser) phasesOf(n *yaml.Node) []PhaseSteps {
	var out []PhaseSteps
	p.seq(n, "phases", len(Phases), func(c *yaml.Node) {
		var ps PhaseSteps
		var nameNode *yaml.Node
		idx := len(out)
		p.mapping(c, "phase", fields{
			"phase": func(v *yaml.Node) {
				nameNode = v
				ps.Phase = Phase(p.str(v, "phase"))
			},
			"steps": func(v *yaml.Node) {
				p.seq(v, "steps", MaxSteps, func(s *yaml.Node) {
					if len(p.steps) >= MaxSteps {
						p.d.errf(s, "more than %d steps in the playbook", MaxSteps)
						return
					}
					st, sn := p.step(s)
					sn.phase, sn.index = idx, len(ps.Steps)
					ps.Steps = append(ps.Steps, st)
					p.steps = append(p.steps, sn)
				})
			},
		}, "phase", "steps")
		if nameNode == nil {
			nameNode = c
		}
		p.phases = append(p.phases, nameNode)
		out = append(out, ps)
	})
	return out
}

func (p *parser) step(n *yaml.Node) (Step, stepNodes) {
	var s Step
	sn := stepNodes{node: n}
	p.mapping(n, "step", fields{
		"id":    func(v *yaml.Node) { sn.id = v; s.ID = p.str(v, "step id") },
		"title": func(v *yaml.Node) { s.Title = p.str(v, "step title") },
		"owner": func(v *yaml.Node) { sn.owner = v; s.Owner = p.str(v, "step owner") },
		"do":    func(v *yaml.Node) { s.Do = p.str(v, "step do") },
		"due": func(v *yaml.Node) {
			t := p.str(v, "step due")
			if t == "" {
				return
			}
			d, err := time.ParseDuration(t)
			if err != nil || d <= 0 || d > MaxDue {
				p.d.errf(v, "step due %q must be a positive duration up to %s, e.g. 15m or 2h", t, dueText(MaxDue))
				return
			}
			s.Due = d
		},
		"decision": func(v *yaml.Node) {
			sn.decision = v
			dec := &Decision{}
			p.mapping(v, "decision", fields{
				"question": func(v *yaml.Node) { dec.Question = p.str(v, "decision question") },
				"branches": func(v *yaml.Node) {
					p.seq(v, "branches", MaxItems, func(b *yaml.Node) {
						var br Branch
						var when, next *yaml.Node
						p.mapping(b, "branch", fields{
							"when": func(v *yaml.Node) { when = v; br.When = p.str(v, "branch when") },
							"next": func(v *yaml.Node) { next = v; br.Next = p.str(v, "branch next") },
						}, "when", "next")
						if when == nil {
							when = b
						}
						if next == nil {
							next = b
						}
						sn.whens = append(sn.whens, when)
						sn.branches = append(sn.branches, next)
						dec.Branches = append(dec.Branches, br)
					})
				},
			}, "question", "branches")
			s.Decision = dec
		},
		"gate": func(v *yaml.Node) {
			sn.gate = v
			g := &Gate{}
			p.mapping(v, "gate", fields{
				"approver": func(v *yaml.Node) { sn.approver = v; g.Approver = p.str(v, "gate approver") },
				"confirm":  func(v *yaml.Node) { g.Confirm = p.str(v, "gate confirm") },
			}, "approver", "confirm")
			s.Gate = g
		},
		"communicate": func(v *yaml.Node) {
			c := &Communication{}
			p.mapping(v, "communicate", fields{
				"audience": func(v *yaml.Node) {
					c.Audience = Audience(p.str(v, "communicate audience"))
					if c.Audience != "" && !slices.Contains(Audiences, c.Audience) {
						p.d.errf(v, "audience %q is not one of %s", c.Audience, joinAny(Audiences))
					}
				},
				"template": func(v *yaml.Node) { c.Template = strings.TrimRight(p.str(v, "communicate template"), "\n") },
			}, "audience", "template")
			s.Communicate = c
		},
		"evidence": func(v *yaml.Node) { s.Evidence = p.strs(v, "evidence", nil, nil) },
		"action":   func(v *yaml.Node) { s.Action = p.action(v, &sn) },
	}, "id", "title", "owner", "do")
	return s, sn
}

func joinAny[T ~string](l []T) string {
	s := make([]string, len(l))
	for i, x := range l {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

// action decodes `{kind: {params}}`: exactly one key naming the action.
func (p *parser) action(n *yaml.Node, sn *stepNodes) *Action {
	if n.Kind != yaml.MappingNode {
		p.d.errf(n, "action must be a mapping of one action kind to its parameters, not %s", kindName(n))
		return nil
	}
	if len(n.Content) != 2 {
		p.d.errf(n, "action must name exactly one of %s", joinAny(ActionKinds))
		return nil
	}
	k, v := n.Content[0], n.Content[1]
	a := &Action{Kind: ActionKind(k.Value)}
	sn.action = k
	device := func(v *yaml.Node) { sn.device = v; a.Device = p.str(v, "action device") }
	source := func(v *yaml.Node) { sn.source = v; a.Source = p.str(v, "action source") }
	what := "action " + k.Value
	switch a.Kind {
	case ActionBlockHost, ActionUnblockHost:
		p.mapping(v, what, fields{"device": device, "source": source}, "device", "source")
	case ActionSetMode:
		p.mapping(v, what, fields{"device": device, "mode": func(v *yaml.Node) {
			a.Mode = p.str(v, "action mode")
			if a.Mode != "" && !slices.Contains(Modes, a.Mode) {
				p.d.errf(v, "mode %q is not one of %s", a.Mode, strings.Join(Modes, ", "))
			}
		}}, "device", "mode")
	case ActionRestoreProgram, ActionRestoreSetpoints, ActionRestartDevice:
		p.mapping(v, what, fields{"device": device}, "device")
	default:
		p.d.errf(k, "unknown action %q (known: %s)", k.Value, joinAny(ActionKinds))
		return nil
	}
	return a
}
