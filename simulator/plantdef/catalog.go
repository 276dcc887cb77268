package plantdef

// Catalog tells the loader which process tags and which PLC programs (with
// their variables) exist, so that a definition referring to anything else is
// refused at load time. The plant implements it from the physics model and
// the logic package; MapCatalog is a plain table of the same facts.
type Catalog interface {
	// Tag reports whether the process model has the named tag, and its range.
	Tag(name string) (TagSpec, bool)
	// Program returns the variables of the named PLC program.
	Program(name string) (vars map[string]VarSpec, ok bool)
}

// TagSpec describes a process tag (a measurement or an actuator state).
type TagSpec struct {
	// Bool marks a two-state tag (a pump running, a valve open).
	Bool bool
	// Min and Max bound an analog tag in engineering units; Min == Max means
	// unbounded (no fit check against the register width).
	Min, Max float64
}

// VarSpec describes a variable of a PLC program.
type VarSpec struct {
	// Writable variables (setpoints, commands, modes) may be set by a
	// parameter in the definition and written over the wire; the others are
	// status the program computes.
	Writable bool
	Bool     bool
	// Min and Max bound the variable in engineering units; Min == Max means
	// unbounded.
	Min, Max float64
}

// MapCatalog is a Catalog held in maps (tests, tools that validate a file
// without the simulator).
type MapCatalog struct {
	Tags     map[string]TagSpec
	Programs map[string]map[string]VarSpec
}

var _ Catalog = MapCatalog{}

// Tag implements Catalog.
func (c MapCatalog) Tag(name string) (TagSpec, bool) {
	s, ok := c.Tags[name]
	return s, ok
}

// Program implements Catalog.
func (c MapCatalog) Program(name string) (map[string]VarSpec, bool) {
	v, ok := c.Programs[name]
	return v, ok
}
