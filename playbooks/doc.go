// Package playbooks will hold the joint IT/OT response playbooks: their
// format, loader and the built-in library. It is empty until that work lands.
package playbooks
