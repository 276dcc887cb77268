package playbooks

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otrange/otrange/sensor/rules"
	"golang.org/x/net/html"
)

func library(t *testing.T) []*Playbook {
	t.Helper()
	pbs, err := Library(Options{Catalog: defaultPlant, Rules: rules.IDs()})
	if err != nil {
		t.Fatalf("library: %v", err)
	}
	return pbs
}

// TestLibrary: at least six playbooks, each lint-clean against the default
// plant with no warnings, following every NIST phase, with the safety shape
// the issue asks for.
func TestLibrary(t *testing.T) {
	pbs := library(t)
	if len(pbs) < 6 {
		t.Fatalf("%d playbooks in the library, want at least 6", len(pbs))
	}
	for _, pb := range pbs {
		t.Run(pb.ID, func(t *testing.T) {
			for _, w := range pb.Warnings {
				t.Errorf("warning: %s", w)
			}
			if got := len(pb.Phases); got != len(Phases) {
				t.Errorf("%d phases, want all %d", got, len(Phases))
			}
			if len(pb.References) == 0 {
				t.Error("no references")
			}
			var gates, comms, evidence, decisions int
			for _, ps := range pb.Steps() {
				s := ps.Step
				if s.Gate != nil {
					gates++
				}
				if s.Communicate != nil {
					comms++
				}
				if len(s.Evidence) > 0 {
					evidence++
				}
				if s.Decision != nil {
					decisions++
				}
				if s.Action != nil && s.Action.Kind.TouchesProcess() &&
					(s.Gate == nil || !slices.Contains(operationsRoles, s.Gate.Approver)) {
					t.Errorf("step %s: %s without an operations gate", s.ID, s.Action.Kind)
				}
			}
			if gates == 0 || comms == 0 || evidence == 0 || decisions == 0 {
				t.Errorf("gates %d, communications %d, evidence steps %d, decisions %d: want each at least one",
					gates, comms, evidence, decisions)
			}
			for _, r := range []string{RoleIncidentCommander, RoleOperator, RoleOTEngineer, RoleITSOCAnalyst} {
				if _, ok := pb.Role(r); !ok {
					t.Errorf("a joint IT/OT playbook without %s", r)
				}
			}
		})
	}
}

// TestLibraryFileNames: each file is named after its playbook's id.
func TestLibraryFileNames(t *testing.T) {
	for _, pb := range library(t) {
		if want := "library/" + pb.ID + ".yaml"; pb.File != want {
			t.Errorf("playbook %s is in %s, want %s", pb.ID, pb.File, want)
		}
	}
}

// TestRenderMarkdownGolden compares each library playbook's handout with
// testdata/golden/<id>.md.
func TestRenderMarkdownGolden(t *testing.T) {
	for _, pb := range library(t) {
		t.Run(pb.ID, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, pb, "md"); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "golden", pb.ID+".md"), b.Bytes())
		})
	}
}

// TestRenderHTML parses each handout: one step box per step, one gate box
// per gate, no scripts and nothing loaded from elsewhere, and user text
// escaped.
func TestRenderHTML(t *testing.T) {
	pbs := library(t)
	evil := *pbs[0]
	evil.Title = `<script>alert(1)</script>`
	for _, pb := range append(pbs, &evil) {
		t.Run(pb.ID, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, pb, "html"); err != nil {
				t.Fatal(err)
			}
			doc, err := html.Parse(&b)
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			var title string
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					counts[n.Data]++
					for _, a := range n.Attr {
						switch {
						case a.Key == "class":
							counts["."+a.Val]++
						case a.Key == "src":
							t.Errorf("<%s src=%q>: a handout loads nothing", n.Data, a.Val)
						case a.Key == "href" && !strings.HasPrefix(a.Val, "#") && n.Data != "a":
							t.Errorf("<%s href=%q>: a handout loads nothing", n.Data, a.Val)
						}
					}
					if n.Data == "h1" && n.FirstChild != nil {
						title = n.FirstChild.Data
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			var steps, gates, actions int
			for _, ps := range pb.Steps() {
				steps++
				if ps.Step.Gate != nil {
					gates++
				}
				if ps.Step.Action != nil {
					actions++
				}
			}
			if counts[".step"] != steps || counts[".gate"] != gates || counts[".action"] != actions {
				t.Errorf("%d step, %d gate and %d action boxes, want %d, %d and %d",
					counts[".step"], counts[".gate"], counts[".action"], steps, gates, actions)
			}
			if counts["script"] != 0 || counts["link"] != 0 || counts["style"] != 1 {
				t.Errorf("script %d, link %d, style %d: want 0, 0, 1", counts["script"], counts["link"], counts["style"])
			}
			if title != pb.Title {
				t.Errorf("h1 %q, want %q", title, pb.Title)
			}
		})
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	if err := Render(&bytes.Buffer{}, library(t)[0], "pdf"); err == nil {
		t.Error("Render accepted pdf")
	}
}
