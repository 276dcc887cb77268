package playbooks

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// RoleName is a role's name for people ("OT engineer" for ot_engineer).
func RoleName(id string) string {
	switch id {
	case RoleIncidentCommander:
		return "Incident commander"
	case RoleITSOCAnalyst:
		return "IT SOC analyst"
	case RoleOTEngineer:
		return "OT engineer"
	case RoleOperator:
		return "Operator"
	case RolePlantManager:
		return "Plant manager"
	case RoleCommsLegal:
		return "Communications and legal"
	case RoleObserver:
		return "Observer"
	case RoleFacilitator:
		return "Facilitator"
	}
	s := strings.ReplaceAll(id, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// AudienceName is an audience's name for people.
func AudienceName(a Audience) string {
	switch a {
	case AudienceInternal:
		return "internal (staff and management)"
	case AudienceRegulator:
		return "the regulator"
	case AudienceLawEnforcement:
		return "law enforcement"
	case AudiencePublic:
		return "the public"
	case AudienceVendor:
		return "the vendor"
	}
	return string(a)
}

func techniqueText(id string) string {
	if n := techniqueNames[id]; n != "" {
		return id + " " + n
	}
	return id
}

func dueText(d time.Duration) string {
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return d.String()
	}
	return b.String()
}

// mdCell makes text safe for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// fence returns a code fence longer than any run of backticks in s.
func fence(s string) string {
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// RenderMarkdown writes pb as a printable Markdown handout.
func RenderMarkdown(w io.Writer, pb *Playbook) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", pb.Title)
	fmt.Fprintf(&b, "Playbook `%s`\n\n", pb.ID)
	fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(pb.Summary))
	b.WriteString("## What it answers\n\n")
	if len(pb.Answers.Techniques) > 0 {
		t := make([]string, len(pb.Answers.Techniques))
		for i, id := range pb.Answers.Techniques {
			t[i] = techniqueText(id)
		}
		fmt.Fprintf(&b, "- ATT&CK for ICS techniques: %s\n", strings.Join(t, "; "))
	}
	if len(pb.Answers.Rules) > 0 {
		fmt.Fprintf(&b, "- Sensor rules: `%s`\n", strings.Join(pb.Answers.Rules, "`, `"))
	}
	if len(pb.Answers.Conditions) > 0 {
		fmt.Fprintf(&b, "- Plant conditions: %s\n", strings.Join(pb.Answers.Conditions, "; "))
	}
	b.WriteString("\n## Who decides what\n\n| Role | Decides |\n| --- | --- |\n")
	for _, r := range pb.Roles {
		fmt.Fprintf(&b, "| %s (`%s`) | %s |\n", RoleName(r.ID), r.ID, mdCell(r.Decides))
	}
	for pi, ph := range pb.Phases {
		fmt.Fprintf(&b, "\n## %d. %s\n", pi+1, ph.Phase.Title())
		for si, s := range ph.Steps {
			fmt.Fprintf(&b, "\n### ☐ %d.%d %s (`%s`)\n\n", pi+1, si+1, s.Title, s.ID)
			fmt.Fprintf(&b, "Owner: **%s**", RoleName(s.Owner))
			if s.Due > 0 {
				fmt.Fprintf(&b, " · due %s after the response starts", dueText(s.Due))
			}
			fmt.Fprintf(&b, "\n\n%s\n", strings.TrimSpace(s.Do))
			if g := s.Gate; g != nil {
				fmt.Fprintf(&b, "\n> **SAFETY GATE.** Do not go ahead before the approval of: %s (`%s`), who confirms: %s\n",
					RoleName(g.Approver), g.Approver, strings.TrimSpace(g.Confirm))
				b.WriteString(">\n> Approved by: ____________________ at ______\n")
			}
			if a := s.Action; a != nil {
				fmt.Fprintf(&b, "\nRange action: %s (`%s`).\n", a, a.Kind)
			}
			if d := s.Decision; d != nil {
				fmt.Fprintf(&b, "\nDecision: %s\n\n", strings.TrimSpace(d.Question))
				for _, br := range d.Branches {
					fmt.Fprintf(&b, "- %s → go to `%s`\n", br.When, br.Next)
				}
			}
			if c := s.Communicate; c != nil {
				f := fence(c.Template)
				fmt.Fprintf(&b, "\nMessage to %s:\n\n%stext\n%s\n%s\n", AudienceName(c.Audience), f, c.Template, f)
			}
			if len(s.Evidence) > 0 {
				b.WriteString("\nEvidence to preserve:\n\n")
				for _, e := range s.Evidence {
					fmt.Fprintf(&b, "- %s\n", e)
				}
			}
		}
	}
	if len(pb.References) > 0 {
		b.WriteString("\n## References\n\n")
		for _, r := range pb.References {
			fmt.Fprintf(&b, "- [%s](%s)\n", r.Title, r.URL)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

//go:embed handout.html.tmpl
var handoutSrc string

var handoutTmpl = template.Must(template.New("handout").Funcs(template.FuncMap{
	"role":      RoleName,
	"audience":  AudienceName,
	"technique": techniqueText,
	"due":       dueText,
	"inc":       func(i int) int { return i + 1 },
}).Parse(handoutSrc))

// RenderHTML writes pb as a self-contained, printable HTML page (inline
// CSS, no scripts, no external assets).
func RenderHTML(w io.Writer, pb *Playbook) error {
	return handoutTmpl.Execute(w, pb)
}

// Render writes pb in format "md" (or "markdown") or "html".
func Render(w io.Writer, pb *Playbook, format string) error {
	switch strings.ToLower(format) {
	case "md", "markdown":
		return RenderMarkdown(w, pb)
	case "html":
		return RenderHTML(w, pb)
	}
	return fmt.Errorf("playbooks: unknown format %q (md or html)", format)
}
