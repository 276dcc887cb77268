package report

import (
	"fmt"
	"time"
)

// Finding is a strength or an area for improvement, with the role that owns
// the improvement.
type Finding struct {
	Text  string `json:"text"`
	Owner string `json:"owner,omitempty"`
}

// Fast enough to call a strength.
const (
	fastDetect  = 5 * time.Minute
	fastContain = 15 * time.Minute
)

// Findings derives strengths and areas for improvement from the score.
func (s *Score) Findings() (strengths, improve []Finding) {
	for _, st := range s.Steps {
		switch {
		case st.TimeToDetect != nil && *st.TimeToDetect <= fastDetect:
			strengths = append(strengths, Finding{Text: fmt.Sprintf("Step %q was detected %s after it began.", st.Name, clock(*st.TimeToDetect))})
		case st.TimeToDetect != nil:
			improve = append(improve, Finding{Text: fmt.Sprintf("Step %q was detected only after %s.", st.Name, clock(*st.TimeToDetect)), Owner: "it_soc_analyst"})
		case st.Succeeded && len(st.Techniques) > 0:
			improve = append(improve, Finding{Text: fmt.Sprintf("Step %q (%s) was not detected.", st.Name, join(st.Techniques)), Owner: "it_soc_analyst"})
		}
		for _, d := range st.Detections {
			if !d.Hit {
				want := d.Expected.Rule
				if want == "" {
					want = d.Expected.Technique
				}
				improve = append(improve, Finding{Text: fmt.Sprintf("Expected detection %s for step %q did not fire within %s.", want, st.Name, clock(d.Expected.Within)), Owner: "it_soc_analyst"})
			}
		}
		switch {
		case !st.Succeeded:
			strengths = append(strengths, Finding{Text: fmt.Sprintf("Step %q failed on the wire: the team's defences stopped it.", st.Name)})
		case st.TimeToContain != nil && *st.TimeToContain <= fastContain:
			strengths = append(strengths, Finding{Text: fmt.Sprintf("Step %q was contained %s after it began (%s).", st.Name, clock(*st.TimeToContain), st.Contained)})
		case st.TimeToContain != nil:
			improve = append(improve, Finding{Text: fmt.Sprintf("Containing step %q took %s.", st.Name, clock(*st.TimeToContain)), Owner: "ot_engineer"})
		}
	}
	for _, c := range s.Consequences {
		improve = append(improve, Finding{Text: fmt.Sprintf("The process suffered %s at %s.", c.Text, clock(c.Clock)), Owner: "ot_engineer"})
	}
	if len(s.Decisions) == 0 && len(s.Steps) > 0 {
		improve = append(improve, Finding{Text: "No decision was logged by the incident commander.", Owner: "incident_commander"})
	} else if len(s.Decisions) > 0 {
		strengths = append(strengths, Finding{Text: plural(len(s.Decisions), "decision was", "decisions were") + " logged by the incident commander."})
	}
	if s.Playbooks.Late > 0 || s.Playbooks.Skipped > 0 {
		improve = append(improve, Finding{Text: fmt.Sprintf("Playbook steps: %d done late, %d skipped.", s.Playbooks.Late, s.Playbooks.Skipped), Owner: "incident_commander"})
	}
	if s.UnmatchedAlerts > 0 {
		improve = append(improve, Finding{Text: plural(s.UnmatchedAlerts, "alert", "alerts") + " matched no attack step (possible false positives to tune).", Owner: "it_soc_analyst"})
	}
	return strengths, improve
}

// clock formats an exercise time as h:mm:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
