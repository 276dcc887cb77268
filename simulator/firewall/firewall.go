// Package firewall is the range's firewall: the block list that every device
// of the plant consults before it accepts a connection or answers a request.
// Response actions ("block the attacker at the PLC") change it, and the
// devices close the blocked host's open connections at once.
package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// AllDevices as a rule's device blocks the source at every device.
const AllDevices = "*"

// MaxRules bounds the block list.
const MaxRules = 1024

// Rule blocks one source prefix at one device (or at every device).
type Rule struct {
	Device string       `json:"device"` // a device name or AllDevices
	Source netip.Prefix `json:"source"`
	Reason string       `json:"reason,omitempty"`
	Since  time.Time    `json:"since"`
}

// Firewall holds the block rules. The zero value is not usable; call New.
type Firewall struct {
	mu      sync.RWMutex
	rules   []Rule
	subs    []func()
	now     func() time.Time
	devices func(string) bool
}

// New returns an empty firewall. known, if not nil, says which device names
// exist, so a rule for a device that is not there is refused. now is the
// clock (nil: time.Now).
func New(known func(device string) bool, now func() time.Time) *Firewall {
	if now == nil {
		now = time.Now
	}
	return &Firewall{now: now, devices: known}
}

// Block adds a rule blocking src at device. A single address may be given as
// a /32 or /128 prefix. It reports whether the list changed.
func (f *Firewall) Block(device string, src netip.Prefix, reason string) (bool, error) {
	if err := f.check(device, src); err != nil {
		return false, err
	}
	src = src.Masked()
	f.mu.Lock()
	if slices.ContainsFunc(f.rules, func(r Rule) bool { return r.Device == device && r.Source == src }) {
		f.mu.Unlock()
		return false, nil
	}
	if len(f.rules) >= MaxRules {
		f.mu.Unlock()
		return false, fmt.Errorf("firewall: %d rules already, the most it holds", MaxRules)
	}
	f.rules = append(f.rules, Rule{Device: device, Source: src, Reason: reason, Since: f.now()})
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	notify(subs)
	return true, nil
}

// Unblock removes the rule blocking src at device and reports whether there
// was one.
func (f *Firewall) Unblock(device string, src netip.Prefix) (bool, error) {
	if err := f.check(device, src); err != nil {
		return false, err
	}
	src = src.Masked()
	f.mu.Lock()
	n := len(f.rules)
	f.rules = slices.DeleteFunc(f.rules, func(r Rule) bool { return r.Device == device && r.Source == src })
	changed := len(f.rules) != n
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	if changed {
		notify(subs)
	}
	return changed, nil
}

// Reset removes every rule.
func (f *Firewall) Reset() {
	f.mu.Lock()
	changed := len(f.rules) > 0
	f.rules = nil
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	if changed {
		notify(subs)
	}
}

func (f *Firewall) check(device string, src netip.Prefix) error {
	if !src.IsValid() {
		return fmt.Errorf("firewall: invalid source prefix %v", src)
	}
	if device == "" {
		return fmt.Errorf("firewall: a device name (or %q for all) is required", AllDevices)
	}
	if device != AllDevices && f.devices != nil && !f.devices(device) {
		return fmt.Errorf("firewall: no device named %q", device)
	}
	return nil
}

func notify(subs []func()) {
	for _, fn := range subs {
		fn()
	}
}

// Rules returns the rules in the order they were added.
func (f *Firewall) Rules() []Rule {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.rules)
}

// Allowed reports whether device accepts traffic from src.
func (f *Firewall) Allowed(device string, src netip.Addr) bool {
	src = src.Unmap()
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, r := range f.rules {
		if (r.Device == device || r.Device == AllDevices) && r.Source.Contains(src) {
			return false
		}
	}
	return true
}

// Allow returns device's admission hook, in the shape the Modbus server and
// the DNP3 outstation take.
func (f *Firewall) Allow(device string) func(netip.Addr) bool {
	return func(src netip.Addr) bool { return f.Allowed(device, src) }
}

// OnChange registers fn to run after every change of the rules (devices
// re-check their open connections). fn runs on the caller's goroutine and
// must not call back into the firewall's mutating methods.
func (f *Firewall) OnChange(fn func()) {
	f.mu.Lock()
	f.subs = append(f.subs, fn)
	f.mu.Unlock()
}

// ParseSource reads a host address or a prefix ("127.66.0.1" or
// "127.66.0.0/16").
func ParseSource(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("firewall: %q is neither an address nor a prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
