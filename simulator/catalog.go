package simulator

import (
	"fmt"

	"github.com/otrange/otrange/simulator/logic"
	"github.com/otrange/otrange/simulator/plantdef"
	"github.com/otrange/otrange/simulator/water"
)

// catalog tells the plant-definition loader which process tags and program
// variables exist, from the real process model and PLC programs.
type catalog struct {
	tags     map[string]plantdef.TagSpec
	programs map[string]map[string]plantdef.VarSpec
}

var _ plantdef.Catalog = (*catalog)(nil)

// Catalog returns the catalog of a process built with cfg.
func Catalog(cfg water.Config) (plantdef.Catalog, error) {
	w, err := water.New(cfg)
	if err != nil {
		return nil, err
	}
	c := &catalog{tags: map[string]plantdef.TagSpec{}, programs: map[string]map[string]plantdef.VarSpec{}}
	for _, t := range w.Tags() {
		c.tags[t.Name] = plantdef.TagSpec{Bool: t.Bool, Min: t.Min, Max: t.Max}
	}
	for _, kind := range logic.Kinds() {
		p, err := logic.New(kind, w, logic.Options{})
		if err != nil {
			return nil, fmt.Errorf("catalog: program %s: %w", kind, err)
		}
		vars := map[string]plantdef.VarSpec{}
		for _, v := range p.Vars() {
			vars[v.Name] = plantdef.VarSpec{Writable: v.Access != logic.ReadOnly, Bool: v.Type == logic.Bool, Min: v.Min, Max: v.Max}
		}
		c.programs[kind] = vars
	}
	return c, nil
}

func (c *catalog) Tag(name string) (plantdef.TagSpec, bool) {
	s, ok := c.tags[name]
	return s, ok
}

func (c *catalog) Program(name string) (map[string]plantdef.VarSpec, bool) {
	v, ok := c.programs[name]
	return v, ok
}
