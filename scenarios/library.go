package scenario

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	"github.com/otrange/otrange/simulator/control"
)

//go:embed library/*.yaml
var libraryFS embed.FS

// LibraryFS returns the built-in library's files (library/NAME.yaml).
func LibraryFS() fs.FS { return libraryFS }

// Library parses the built-in scenarios against the default plant, in file
// order. Each call returns fresh values.
func Library() ([]*Scenario, error) {
	names, err := fsGlob()
	if err != nil {
		return nil, err
	}
	out := make([]*Scenario, 0, len(names))
	for _, n := range names {
		data, err := libraryFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		s, err := Parse(n, data, DefaultCatalog())
		if err != nil {
			return nil, fmt.Errorf("built-in scenario %s: %w", path.Base(n), err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Get returns the built-in scenario with the given id.
func Get(id string) (*Scenario, error) {
	lib, err := Library()
	if err != nil {
		return nil, err
	}
	for _, s := range lib {
		if s.ID == id {
			return s, nil
		}
	}
	ids := make([]string, len(lib))
	for i, s := range lib {
		ids[i] = s.ID
	}
	return nil, fmt.Errorf("no built-in scenario %q%s", id, suggest(id, ids))
}

// Summary is one line of the scenario list.
type Summary struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Summary    string   `json:"summary"`
	Techniques []string `json:"techniques"`
	Roles      []string `json:"roles"`
	Phases     int      `json:"phases"`
	Steps      int      `json:"steps"`
	File       string   `json:"file"`
}

// Summarize returns s's summary.
func (s *Scenario) Summarize() Summary {
	return Summary{ID: s.ID, Title: s.Title, Summary: s.Summary, Techniques: s.TechniqueIDs(),
		Roles: s.Roles, Phases: len(s.Phases), Steps: len(s.AllSteps()), File: s.File}
}

// List returns the summaries of the built-in library.
func List() ([]Summary, error) {
	lib, err := Library()
	if err != nil {
		return nil, err
	}
	out := make([]Summary, len(lib))
	for i, s := range lib {
		out[i] = s.Summarize()
	}
	return out, nil
}

// TechniqueIDs returns the step's technique ids (established and v19),
// falling back to the action's typical techniques when the step lists none.
func (st *Step) TechniqueIDs() []string {
	var out []string
	for _, t := range st.Techniques {
		out = append(out, t.IDs()...)
	}
	if len(out) == 0 {
		if spec, ok := Action(st.Action); ok {
			for _, id := range spec.Techniques {
				out = append(out, Technique{ID: id, V19: V19[id]}.IDs()...)
			}
		}
	}
	return out
}

// Control returns the range action that carries out the prevention.
// defaultSource is the attacker address a block_host without a source
// blocks (the step's source).
func (p Prevention) Control(defaultSource string) control.Action {
	a := control.Action{Kind: control.Kind(p.Action), Device: p.Device, Mode: p.Mode}
	if p.Action == string(control.BlockHost) {
		a.Source = p.Source
		if a.Source == "" {
			a.Source = defaultSource
		}
	}
	return a
}

// StepSource returns the address or station name the step acts from: the
// step's source, else the scenario's attacker address.
func (s *Scenario) StepSource(st *Step) string {
	if st.Source != "" {
		return st.Source
	}
	return s.SourceAddr().String()
}
