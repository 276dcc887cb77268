package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/otrange/otrange/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a scenario file.
const MaxFileSize = 1 << 20

// MaxSteps bounds the steps of one scenario.
const MaxSteps = 500

var (
	idRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	stepIDRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	roleRe      = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	techniqueRe = regexp.MustCompile(`^T0\d{3}$`)
	v19Re       = regexp.MustCompile(`^T[01]\d{3}(\.\d{3})?$`)
	ruleRe      = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	mimeRe      = regexp.MustCompile(`^[a-z]+/[a-z0-9.+-]+$`)
)

// Load reads and parses a scenario file; see Parse.
func Load(path string, cat Catalog) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return Parse(path, data, cat)
}

// Parse decodes and lints a scenario. name is used in positions. cat tells
// which devices the plant has; nil means the default plant
// (DefaultCatalog). On any error it returns nil and an ErrorList of every
// error, sorted by position; warnings land in Scenario.Warnings.
func Parse(name string, data []byte, cat Catalog) (*Scenario, error) {
	s, diags := Lint(name, data, cat)
	if err := errs(diags); err != nil {
		return nil, err
	}
	s.Warnings = diags
	return s, nil
}

// Lint decodes and checks a scenario and returns it (possibly incomplete)
// with every finding, errors and warnings, sorted by position.
func Lint(name string, data []byte, cat Catalog) (*Scenario, []Diagnostic) {
	if cat == nil {
		cat = DefaultCatalog()
	}
	c := &collector{file: name}
	s := &Scenario{File: name}
	if len(data) > MaxFileSize {
		c.at(1, 1, "file is larger than %d bytes", MaxFileSize)
		return s, c.sorted()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.at(1, 1, "empty file: expected a scenario mapping")
		} else {
			yamlError(c, err)
		}
		return s, c.sorted()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.at(extra.Line, extra.Column, "a file holds one scenario: remove the second document")
	} else if !errors.Is(err, io.EOF) {
		yamlError(c, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			c.at(1, 1, "empty file: expected a scenario mapping")
			return s, c.sorted()
		}
		root = root.Content[0]
	}
	d := newDecoder(c)
	d.decode(root, reflectValue(s), "")
	l := &linter{c: c, d: d, s: s, cat: cat, root: root}
	l.scenario()
	return s, c.sorted()
}

// yamlError turns a yaml.v3 syntax error into positioned findings.
func yamlError(c *collector, err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, m := range te.Errors {
			yamlLine(c, m)
		}
		return
	}
	for _, m := range strings.Split(err.Error(), "\n") {
		yamlLine(c, m)
	}
}

func yamlLine(c *collector, m string) {
	line, text, ok := yamlstrict.SyntaxError(m)
	if ok && strings.HasPrefix(text, "did not find expected") {
		// yaml.v3 counts parser errors' lines from 0 (scanner errors from 1).
		line++
	}
	c.at(line, 1, "YAML syntax: %s", text)
}

type linter struct {
	c    *collector
	d    *decoder
	s    *Scenario
	cat  Catalog
	root *yaml.Node
}

// node returns the node decoded at path, or the nearest decoded ancestor.
func (l *linter) node(path string) *yaml.Node {
	for p := path; ; {
		if n, ok := l.d.paths[p]; ok {
			return n
		}
		if p == "" {
			return l.root
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			p = ""
		} else {
			p = p[:i]
		}
	}
}

// key returns the key node of path when there is one, else its value node.
func (l *linter) key(path string) *yaml.Node {
	if k, ok := l.d.keys[path]; ok {
		return k
	}
	return l.node(path)
}

func (l *linter) errf(path, format string, args ...any) { l.c.node(l.node(path), format, args...) }

// missing reports a missing key (the first word of what) at the mapping
// that should hold it, unless the key is there but failed to decode, or the
// mapping itself did (that was reported already).
func (l *linter) missing(path, what string) {
	key, _, _ := strings.Cut(what, " ")
	key = strings.TrimSuffix(key, ":")
	if _, present := l.d.keys[yamlstrict.Join(path, key)]; present || l.d.failed[path] {
		return
	}
	l.c.node(l.node(path), "missing %s", what)
}

// failedUnder reports whether anything at or below path failed to decode.
func (l *linter) failedUnder(path string) bool {
	for p := range l.d.failed {
		if p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return true
		}
	}
	return false
}

func (l *linter) scenario() {
	s := l.s
	switch {
	case s.ID == "":
		l.missing("", "id")
	case !idRe.MatchString(s.ID):
		l.errf("id", "id %q: use lower-case letters, digits and dashes", s.ID)
	}
	if strings.TrimSpace(s.Title) == "" {
		l.missing("", "title")
	}
	if strings.TrimSpace(s.Summary) == "" {
		l.missing("", "summary")
	}
	if s.Source != "" {
		a, err := netip.ParseAddr(s.Source)
		switch {
		case err != nil:
			l.errf("source", "source %q is not an address", s.Source)
		case !AttackerPrefix.Contains(a):
			l.errf("source", "source %s is outside the attacker's prefix %s", a, AttackerPrefix)
		}
	}
	l.references()
	l.techniques("techniques", s.Techniques, true)
	l.roles()
	if len(s.Phases) == 0 {
		l.missing("", "phases (at least one)")
	}
	l.steps()
}

func (l *linter) references() {
	if len(l.s.References) == 0 {
		l.missing("", "references: cite the public reports the scenario is grounded in")
	}
	for i, r := range l.s.References {
		p := yamlstrict.Index("references", i)
		if strings.TrimSpace(r.Title) == "" {
			l.missing(p, "title")
		}
		u, err := url.Parse(r.URL)
		if r.URL == "" {
			l.missing(p, "url")
		} else if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			l.errf(p+".url", "url %q is not an http(s) address", r.URL)
		}
	}
}

func (l *linter) techniques(path string, ts []Technique, required bool) {
	if required && len(ts) == 0 {
		l.missing("", "techniques (ATT&CK for ICS ids such as T0836)")
	}
	seen := map[string]bool{}
	for i, t := range ts {
		p := yamlstrict.Index(path, i)
		if !techniqueRe.MatchString(t.ID) {
			l.errf(p, "technique %q is not an ATT&CK for ICS id (T0 and three digits, e.g. T0836)", t.ID)
		}
		if t.V19 != "" && !v19Re.MatchString(t.V19) {
			l.errf(p+".v19", "v19 id %q is not an ATT&CK for ICS id (e.g. T0836 or T1692.001)", t.V19)
		}
		if known, ok := V19[t.ID]; ok && t.V19 != "" && t.V19 != known && v19Re.MatchString(t.V19) {
			l.c.warn(l.node(p+".v19"), "v19 id of %s is %s, not %s", t.ID, known, t.V19)
		}
		if known, ok := V19[t.ID]; ok && t.V19 == "" {
			ts[i].V19 = known
		}
		if seen[t.ID] {
			l.errf(p, "technique %s is listed twice", t.ID)
		}
		seen[t.ID] = true
	}
}

func (l *linter) roles() {
	custom := map[string]bool{}
	for i, r := range l.s.CustomRoles {
		p := yamlstrict.Index("custom_roles", i)
		switch {
		case r.ID == "":
			l.missing(p, "id")
		case !roleRe.MatchString(r.ID):
			l.errf(p+".id", "role id %q: use lower-case letters, digits and _", r.ID)
		case isBuiltinRole(r.ID):
			l.errf(p+".id", "%q is a built-in role: do not declare it", r.ID)
		case custom[r.ID]:
			l.errf(p+".id", "custom role %q is declared twice", r.ID)
		}
		if strings.TrimSpace(r.Name) == "" {
			l.missing(p, "name")
		}
		custom[r.ID] = true
	}
	if len(l.s.Roles) == 0 {
		l.missing("", "roles (who takes part)")
	}
	seen := map[string]bool{}
	for i, r := range l.s.Roles {
		p := yamlstrict.Index("roles", i)
		if !isBuiltinRole(r) && !custom[r] {
			names := []string{}
			for _, b := range BuiltinRoles {
				names = append(names, b.ID)
			}
			for _, c := range keys(custom) {
				if roleRe.MatchString(c) && !isBuiltinRole(c) {
					names = append(names, c)
				}
			}
			l.errf(p, "unknown role %q%s; declare custom roles under custom_roles", r, suggest(r, names))
		}
		if seen[r] {
			l.errf(p, "role %q is listed twice", r)
		}
		seen[r] = true
	}
	for id := range custom {
		if !seen[id] {
			for i, r := range l.s.CustomRoles {
				if r.ID == id {
					l.c.warn(l.node(yamlstrict.Index("custom_roles", i)), "custom role %q is declared but not listed in roles", id)
				}
			}
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (l *linter) steps() {
	first := map[string]int{} // step id -> order
	firstLine := map[string]int{}
	order := 0
	total := 0
	for pi, ph := range l.s.Phases {
		pp := yamlstrict.Index("phases", pi)
		if strings.TrimSpace(ph.Name) == "" {
			l.missing(pp, "name")
		}
		if len(ph.Questions) == 0 {
			l.c.warn(l.node(pp), "phase %q has no discussion questions", ph.Name)
		}
		if len(ph.Steps) == 0 {
			l.errf(pp, "phase %q has no steps", ph.Name)
		}
		for si := range ph.Steps {
			total++
			if total > MaxSteps {
				l.errf(yamlstrict.Index(pp+".steps", si), "too many steps (at most %d)", MaxSteps)
				return
			}
			st := &l.s.Phases[pi].Steps[si]
			sp := yamlstrict.Index(pp+".steps", si)
			if st.ID != "" {
				if _, dup := first[st.ID]; dup {
					l.errf(sp+".id", "duplicate step id %q (first at line %d)", st.ID, firstLine[st.ID])
				} else {
					first[st.ID] = order
					firstLine[st.ID] = l.node(sp + ".id").Line
				}
			}
			l.step(st, sp, order, first)
			order++
		}
	}
}

func (l *linter) step(st *Step, sp string, order int, seen map[string]int) {
	switch {
	case st.ID == "":
		l.missing(sp, "id")
	case !stepIDRe.MatchString(st.ID):
		l.errf(sp+".id", "step id %q: use lower-case letters, digits, - and _", st.ID)
	}
	if strings.TrimSpace(st.Name) == "" {
		l.missing(sp, "name")
	}
	l.timing(st, sp, order, seen)
	spec, known := Action(st.Action)
	switch {
	case st.Action == "":
		l.missing(sp, "action")
	case !known:
		l.errf(sp+".action", "unknown action %q%s", st.Action, suggest(st.Action, actionNames()))
	}
	if known {
		l.target(st, sp, spec)
		l.params(st, sp, spec)
		if spec.NeedsInjects && len(st.Injects) == 0 {
			l.errf(sp+".action", "an inject step needs injects")
		}
	}
	l.source(st, sp)
	l.techniques(sp+".techniques", st.Techniques, false)
	for i, t := range st.Techniques {
		if !slices.ContainsFunc(l.s.Techniques, func(x Technique) bool { return x.ID == t.ID }) {
			l.c.warn(l.node(yamlstrict.Index(sp+".techniques", i)), "technique %s is not listed in the scenario's techniques", t.ID)
		}
	}
	l.injects(st, sp)
	l.expect(st, sp, known && spec.Name != "inject" && spec.Name != "wait")
	l.prevention(st, sp)
}

func (l *linter) timing(st *Step, sp string, order int, seen map[string]int) {
	var set []string
	for _, k := range []string{"at", "after", "on"} {
		// A key that is present counts even when its value failed to decode.
		if _, ok := l.d.keys[sp+"."+k]; ok {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		l.errf(sp, "step %q needs a time: exactly one of at, after or on", st.ID)
	case 1:
	default:
		l.c.node(l.key(sp+"."+set[1]), "step %q has both %s and %s: give exactly one of at, after or on", st.ID, set[0], set[1])
	}
	if st.At != nil && st.Delay != 0 {
		l.c.node(l.key(sp+".delay"), "delay goes with after or on, not at: add it to at")
	}
	if st.After != "" {
		o, ok := seen[st.After]
		switch {
		case st.After == st.ID:
			l.errf(sp+".after", "step %q cannot follow itself", st.ID)
		case !ok && l.later(st.After):
			l.errf(sp+".after", "after %q: that step comes later in the file; a step can only follow an earlier one (this rules out cycles)", st.After)
		case !ok:
			l.errf(sp+".after", "after %q: no such step%s", st.After, suggest(st.After, l.stepIDs()))
		case o >= order:
			l.errf(sp+".after", "after %q: that step comes later in the file", st.After)
		}
	}
	if t := st.On; t != nil {
		op := sp + ".on"
		switch {
		case t.Alert == "" && t.Action == "":
			l.errf(op, "a trigger needs alert (a rule or technique id) or action (a participant action)")
		case t.Alert != "" && t.Action != "":
			l.c.node(l.key(op+".action"), "a trigger takes alert or action, not both")
		case t.Alert != "" && !v19Re.MatchString(t.Alert) && !ruleRe.MatchString(t.Alert):
			l.errf(op+".alert", "alert %q is neither a rule id (e.g. modbus.write.unauthorized) nor a technique id (T0xxx)", t.Alert)
		case t.Action != "" && !slices.Contains(ParticipantActions, t.Action):
			l.errf(op+".action", "unknown participant action %q%s", t.Action, suggest(t.Action, ParticipantActions))
		}
		switch t.OnTimeout {
		case "", "skip", "run":
		default:
			l.errf(op+".on_timeout", "on_timeout %q is not one of skip, run", t.OnTimeout)
		}
		if t.OnTimeout != "" && t.Timeout == 0 {
			l.c.node(l.key(op+".on_timeout"), "on_timeout needs a timeout")
		}
	}
}

// later reports whether a step id appears anywhere in the scenario.
func (l *linter) later(id string) bool { return slices.Contains(l.stepIDs(), id) }

func (l *linter) stepIDs() []string {
	var out []string
	for _, ps := range l.s.AllSteps() {
		if ps.Step.ID != "" {
			out = append(out, ps.Step.ID)
		}
	}
	return out
}

// deviceNames lists the catalog's devices when it can tell.
func (l *linter) deviceNames() []string {
	if m, ok := l.cat.(MapCatalog); ok {
		return slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
	}
	if lister, ok := l.cat.(interface{ DeviceNames() []string }); ok {
		return lister.DeviceNames()
	}
	return nil
}

func (l *linter) target(st *Step, sp string, spec ActionSpec) {
	tp := sp + ".target"
	if spec.Target == TargetNone {
		if st.Target != "" {
			l.errf(tp, "action %s takes no target", spec.Name)
		}
		return
	}
	if st.Target == "" {
		l.missing(sp, fmt.Sprintf("target (a device name such as plc-intake, or a range address) for %s", spec.Name))
		return
	}
	if strings.Contains(st.Target, "/") {
		p, err := netip.ParsePrefix(st.Target)
		switch {
		case err != nil:
			l.errf(tp, "target %q is not a prefix", st.Target)
		case spec.Target != TargetPrefix:
			l.errf(tp, "action %s takes one device, not a prefix", spec.Name)
		case !RangePrefix.Contains(p.Addr()) || p.Bits() < RangePrefix.Bits():
			l.errf(tp, "target %s is outside the range (%s): refused", p, RangePrefix)
		case p.Bits() < 16:
			l.errf(tp, "prefix %s is too wide: at most a /16", p)
		}
		return
	}
	if a, ok := literalAddr(st.Target); ok {
		if !RangePrefix.Contains(a) {
			l.errf(tp, "target %s is outside the range (%s): refused", st.Target, RangePrefix)
		}
		return
	}
	kind, ok := l.cat.Device(st.Target)
	if !ok {
		l.errf(tp, "unknown device %q%s (a target is a device of the plant or a 127.x.y.z address)", st.Target, suggestIn(st.Target, l.deviceNames()))
		return
	}
	if len(spec.Kinds) > 0 && !slices.Contains(spec.Kinds, kind) {
		l.errf(tp, "action %s needs a %s, but %s is a %s", spec.Name, strings.Join(spec.Kinds, " or "), st.Target, kind)
	}
}

func suggestIn(k string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return suggest(k, names)
}

// literalAddr parses "a.b.c.d", "a.b.c.d:port", "::1" or "[::1]:port".
func literalAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func (l *linter) source(st *Step, sp string) {
	if st.Source == "" {
		return
	}
	p := sp + ".source"
	if a, ok := literalAddr(st.Source); ok {
		if !AttackerPrefix.Contains(a) && !ITPrefix.Contains(a) {
			l.errf(p, "source %s must be in the attacker's prefix %s or the IT network %s, or name an HMI or EWS", st.Source, AttackerPrefix, ITPrefix)
		}
		return
	}
	kind, ok := l.cat.Device(st.Source)
	switch {
	case !ok:
		l.errf(p, "unknown source %q: an address or the name of an HMI or EWS%s", st.Source, suggestIn(st.Source, l.deviceNames()))
	case kind != KindHMI && kind != KindEWS:
		l.errf(p, "source %s is a %s: the attacker can act through an hmi or ews only", st.Source, kind)
	}
}

func (l *linter) params(st *Step, sp string, spec ActionSpec) {
	pp := sp + ".params"
	raw, given := l.d.raw[pp]
	if spec.New == nil {
		if given {
			l.c.node(l.key(pp), "action %s takes no params", spec.Name)
		}
		return
	}
	p := spec.New()
	if given {
		before := len(l.c.diags)
		l.d.decode(raw, reflectValue(p), pp)
		if len(l.c.diags) > before {
			// Decoding failed somewhere: validating half-decoded values
			// would only add noise.
			st.Params = p
			return
		}
	}
	for _, fe := range p.Validate() {
		fp := pp + "." + fe.Field
		if _, ok := l.d.paths[fp]; !ok {
			// A missing parameter: report at the params (or the step).
			l.c.node(l.key(pp), "params.%s: %s", fe.Field, fe.Msg)
			continue
		}
		l.errf(fp, "%s", fe.Msg)
	}
	st.Params = p
}

func (l *linter) injects(st *Step, sp string) {
	roles := map[string]bool{}
	for _, r := range l.s.Roles {
		roles[r] = true
	}
	for _, role := range slices.Sorted(func(yield func(string) bool) {
		for k := range st.Injects {
			if !yield(k) {
				return
			}
		}
	}) {
		in := st.Injects[role]
		ip := sp + ".injects." + role
		if !roles[role] {
			l.c.node(l.key(ip), "inject for role %q, which the scenario does not list in roles%s", role, suggestIn(role, l.s.Roles))
		}
		if strings.TrimSpace(in.Text) == "" {
			l.missing(ip, "text")
		}
		if a := in.Attachment; a != nil {
			ap := ip + ".attachment"
			if strings.TrimSpace(a.Name) == "" {
				l.missing(ap, "name")
			}
			if a.ContentType == "" {
				a.ContentType = "text/plain"
			} else if !mimeRe.MatchString(a.ContentType) {
				l.errf(ap+".content_type", "content type %q is not a media type such as text/plain", a.ContentType)
			}
			if a.Content == "" {
				l.missing(ap, "content")
			}
			if len(a.Content) > MaxAttachment {
				l.errf(ap+".content", "attachment is larger than %d bytes", MaxAttachment)
			}
		}
		st.Injects[role] = in
	}
}

func (l *linter) expect(st *Step, sp string, wanted bool) {
	e := st.Expect
	if e == nil || (len(e.Detections) == 0 && len(e.Consequences) == 0) {
		if wanted && !l.failedUnder(sp+".expect") {
			l.c.warn(l.node(sp), "step %q has no expectation (detections or consequences)", st.ID)
		}
		return
	}
	ep := sp + ".expect"
	for i := range e.Detections {
		dt := &e.Detections[i]
		dp := yamlstrict.Index(ep+".detections", i)
		switch {
		case dt.Rule == "" && dt.Technique == "":
			l.errf(dp, "a detection names a rule or a technique")
		case dt.Rule != "" && dt.Technique != "":
			l.c.node(l.key(dp+".technique"), "a detection names a rule or a technique, not both")
		case dt.Rule != "" && !ruleRe.MatchString(dt.Rule):
			l.errf(dp+".rule", "rule id %q: use dotted lower-case names such as modbus.write.unauthorized", dt.Rule)
		case dt.Technique != "" && !techniqueRe.MatchString(dt.Technique) && !v19Re.MatchString(dt.Technique):
			l.errf(dp+".technique", "technique %q is not an ATT&CK for ICS id (T0xxx, or a v19 id such as T1692.001)", dt.Technique)
		}
		if dt.Within == 0 {
			dt.Within = Duration(DefaultWithin)
		}
	}
	names := make([]string, len(Consequences))
	for i, c := range Consequences {
		names[i] = c.Name
	}
	for i, c := range e.Consequences {
		cp := yamlstrict.Index(ep+".consequences", i)
		switch {
		case c.Condition == "":
			l.missing(cp, "condition")
		case !isConsequence(c.Condition):
			l.errf(cp+".condition", "unknown condition %q%s", c.Condition, suggest(c.Condition, names))
		}
		if c.Where != "" && !isName(c.Where) {
			l.errf(cp+".where", "where %q: name the equipment or device (letters, digits, _ . -)", c.Where)
		}
	}
}

func (l *linter) prevention(st *Step, sp string) {
	for i, p := range st.PreventedBy {
		pp := yamlstrict.Index(sp+".prevented_by", i)
		switch {
		case p.Action == "":
			l.missing(pp, "action")
		case !slices.Contains(PreventionActions, p.Action):
			l.errf(pp+".action", "unknown prevention %q%s", p.Action, suggest(p.Action, PreventionActions))
		}
		switch {
		case p.Device == "":
			l.missing(pp, "device")
		case p.Device == "*" && p.Action == "block_host":
		default:
			if _, ok := l.cat.Device(p.Device); !ok {
				l.errf(pp+".device", "unknown device %q%s", p.Device, suggestIn(p.Device, l.deviceNames()))
			}
		}
		if p.Action == "set_mode" {
			if p.Mode == "" {
				l.missing(pp, "mode ("+strings.Join(Modes, ", ")+")")
			} else if !slices.Contains(Modes, p.Mode) {
				l.errf(pp+".mode", "mode %q is not one of %s", p.Mode, strings.Join(Modes, ", "))
			}
		} else if p.Mode != "" {
			l.errf(pp+".mode", "only set_mode takes a mode")
		}
		if p.Action == "block_host" && p.Source == "" && st.Source != "" {
			if _, isAddr := literalAddr(st.Source); !isAddr {
				l.errf(pp, "block_host needs a source: the step acts through %s, give that station's address", st.Source)
			}
		}
		if p.Source != "" {
			if p.Action != "block_host" {
				l.errf(pp+".source", "only block_host takes a source")
			} else if a, ok := literalAddr(p.Source); ok {
				if !RangePrefix.Contains(a) {
					l.errf(pp+".source", "source %s is outside the range", p.Source)
				}
			} else if pf, err := netip.ParsePrefix(p.Source); err != nil || !RangePrefix.Contains(pf.Addr()) || pf.Bits() < 8 {
				l.errf(pp+".source", "source %q is not a range address or prefix", p.Source)
			}
		}
	}
}
