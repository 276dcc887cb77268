package playbooks

import (
	"embed"
	"io/fs"
)

//go:embed library/*.yaml
var libraryFS embed.FS

// LibraryFS is the built-in playbooks' source files (library/*.yaml).
func LibraryFS() fs.FS { return libraryFS }

// Library loads the built-in joint IT/OT playbooks, sorted by file name.
// Each call parses afresh, so callers own what they get.
func Library(opts Options) ([]*Playbook, error) {
	return LoadFS(libraryFS, "library", opts)
}

// Find returns the playbook with the given id.
func Find(pbs []*Playbook, id string) (*Playbook, bool) {
	for _, pb := range pbs {
		if pb.ID == id {
			return pb, true
		}
	}
	return nil, false
}
