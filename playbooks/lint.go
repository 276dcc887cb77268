package playbooks

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// lint checks what a strict decode cannot: ids, references between steps
// and roles, the order of phases, and the safety rules of range actions.
func (p *parser) lint(pb *Playbook) {
	if p.answers != nil && p.answerKeys == 0 {
		p.d.errf(p.answers, "answers names nothing: list techniques, rules or conditions")
	}
	if p.refs == nil && p.top != nil {
		p.d.warnf(p.top, "no references: cite the guidance the playbook follows (NIST SP 800-61, SP 800-82, CISA)")
	}

	// Roles.
	declared := map[string]bool{}
	for i, r := range pb.Roles {
		n := p.roles[i]
		switch {
		case r.ID == "":
			continue
		case !roleRe.MatchString(r.ID) || len(r.ID) > 40:
			p.d.errf(n, "role %q must be a lower-case word with '_' (at most 40 characters)", r.ID)
		case declared[r.ID]:
			p.d.errf(n, "role %q is declared twice", r.ID)
		case r.ID == RoleFacilitator:
			p.d.errf(n, "role %q runs the exercise and is not a playbook role", r.ID)
		case !r.Custom && !slices.Contains(StandardRoles, r.ID):
			p.d.errf(n, "role %q is not a standard role (%s); declare it with custom: true", r.ID,
				strings.Join(StandardRoles, ", "))
		case r.Custom && slices.Contains(StandardRoles, r.ID):
			p.d.errf(n, "role %q is a standard role; drop custom: true", r.ID)
		}
		declared[r.ID] = true
	}

	// Phases: known, once each, in NIST order.
	last := -1
	present := map[Phase]bool{}
	for i, ph := range pb.Phases {
		n := p.phases[i]
		idx := phaseIndex(ph.Phase)
		switch {
		case ph.Phase == "":
			continue
		case idx < 0:
			p.d.errf(n, "phase %q is not one of %s", ph.Phase, joinAny(Phases))
			continue
		case present[ph.Phase]:
			p.d.errf(n, "phase %q appears twice", ph.Phase)
		case idx < last:
			p.d.errf(n, "phase %q comes after %q; phases follow the order %s", ph.Phase, Phases[last], joinAny(Phases))
		}
		present[ph.Phase] = true
		last = max(last, idx)
	}
	if len(pb.Phases) > 0 && p.top != nil {
		var missing []Phase
		for _, ph := range Phases {
			if !present[ph] {
				missing = append(missing, ph)
			}
		}
		if len(missing) > 0 {
			p.d.warnf(p.top, "phases missing: %s", joinAny(missing))
		}
	}

	// Step ids, unique across the playbook; their position in order.
	order := map[string]int{}
	for i, sn := range p.steps {
		s := &pb.Phases[sn.phase].Steps[sn.index]
		if s.ID == "" {
			continue
		}
		if !idRe.MatchString(s.ID) || len(s.ID) > 64 {
			p.d.errf(sn.id, "step id %q must be lower-case words joined by '-' (at most 64 characters)", s.ID)
		}
		if _, dup := order[s.ID]; dup {
			p.d.errf(sn.id, "step id %q is used twice", s.ID)
			continue
		}
		order[s.ID] = i
	}

	used := map[string]bool{}
	for i, sn := range p.steps {
		s := &pb.Phases[sn.phase].Steps[sn.index]
		if s.Owner != "" {
			used[s.Owner] = true
			if !declared[s.Owner] {
				p.d.errf(sn.owner, "owner %q is not one of the playbook's roles", s.Owner)
			}
		}
		p.lintDecision(s, sn, i, order)
		p.lintGate(s, sn, declared, used)
		p.lintAction(s, sn)
	}
	for i, r := range pb.Roles {
		if r.ID != "" && !used[r.ID] && r.ID != RoleObserver {
			p.d.warnf(p.roles[i], "role %q owns no step and approves no gate", r.ID)
		}
	}
}

func (p *parser) lintDecision(s *Step, sn stepNodes, pos int, order map[string]int) {
	if s.Decision == nil {
		return
	}
	if s.Gate != nil || s.Action != nil {
		p.d.errf(sn.decision, "a decision step cannot carry a gate or a range action; put them on the step a branch leads to")
	}
	if len(s.Decision.Branches) == 1 {
		p.d.errf(sn.decision, "a decision needs at least two branches")
	}
	whens := map[string]bool{}
	for j, b := range s.Decision.Branches {
		if b.When != "" {
			if whens[strings.ToLower(b.When)] {
				p.d.errf(sn.whens[j], "branch %q is listed twice", b.When)
			}
			whens[strings.ToLower(b.When)] = true
		}
		if b.Next == "" {
			continue
		}
		to, ok := order[b.Next]
		switch {
		case !ok:
			p.d.errf(sn.branches[j], "branch leads to unknown step %q", b.Next)
		case to == pos:
			p.d.errf(sn.branches[j], "branch leads to its own step %q", b.Next)
		case to < pos:
			p.d.errf(sn.branches[j], "branch leads back to earlier step %q; branches only go forward", b.Next)
		}
	}
}

func (p *parser) lintGate(s *Step, sn stepNodes, declared, used map[string]bool) {
	if s.Gate == nil {
		if s.Action != nil && s.Action.Kind.TouchesProcess() {
			p.d.errf(sn.action, "action %s touches the process and needs a safety gate approved by operations (%s)",
				s.Action.Kind, strings.Join(operationsRoles, ", "))
		}
		return
	}
	a := s.Gate.Approver
	if a == "" {
		return
	}
	used[a] = true
	switch {
	case !declared[a]:
		p.d.errf(sn.approver, "approver %q is not one of the playbook's roles", a)
	case a == s.Owner:
		p.d.errf(sn.approver, "approver %q is the step's owner; a safety gate needs a second person", a)
	case s.Action != nil && s.Action.Kind.TouchesProcess() && !slices.Contains(operationsRoles, a):
		p.d.errf(sn.approver, "approver %q may not approve %s, which touches the process; operations approves (%s)",
			a, s.Action.Kind, strings.Join(operationsRoles, ", "))
	}
}

func (p *parser) lintAction(s *Step, sn stepNodes) {
	a := s.Action
	if a == nil {
		return
	}
	if a.Device != "" {
		p.lintDevice(a, sn.device)
	}
	if a.Source != "" && a.Source != VarSource {
		switch pre, err := ParseSource(a.Source); {
		case strings.HasPrefix(a.Source, "$"):
			p.d.errf(sn.source, "unknown variable %q (known: %s)", a.Source, VarSource)
		case err != nil:
			p.d.errf(sn.source, "source %q is neither an address nor a prefix", a.Source)
		case !rangePrefix.Contains(pre.Addr()) || pre.Bits() < rangePrefix.Bits():
			p.d.errf(sn.source, "source %q is outside the range (%s)", a.Source, rangePrefix)
		}
	}
}

func (p *parser) lintDevice(a *Action, n *yaml.Node) {
	d := a.Device
	switch {
	case d == VarDevice:
		return
	case strings.HasPrefix(d, "$"):
		p.d.errf(n, "unknown variable %q (known: %s)", d, VarDevice)
		return
	case d == AllDevices:
		if a.Kind != ActionBlockHost && a.Kind != ActionUnblockHost {
			p.d.errf(n, "%s needs one device, not %q", a.Kind, AllDevices)
		}
		return
	case !deviceRe.MatchString(d):
		p.d.errf(n, "device %q is not a device name", d)
		return
	}
	if p.opts.Catalog == nil {
		return
	}
	kind, ok := p.opts.Catalog.Device(d)
	if !ok {
		p.d.errf(n, "no device named %q in the plant", d)
		return
	}
	switch a.Kind {
	case ActionSetMode, ActionRestoreProgram, ActionRestoreSetpoints:
		if !slices.Contains(controllerKinds, kind) {
			p.d.errf(n, "%s needs a controller (%s); %q is a %s", a.Kind, strings.Join(controllerKinds, ", "), d, kind)
		}
	}
}
