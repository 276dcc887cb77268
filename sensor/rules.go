package sensor

import (
	"net/netip"

	"github.com/otrange/otrange/sensor/rules"
)

// buildPolicy returns the policy the rules are judged with: p, with masters
// added as single-host prefixes (AuthorizedMasters is a shorthand for a
// policy that lists only masters). p is not modified.
func buildPolicy(p *rules.Policy, masters []netip.Addr) *rules.Policy {
	if len(masters) == 0 {
		return p
	}
	out := &rules.Policy{}
	if p != nil {
		*out = *p
		out.Masters = append([]netip.Prefix(nil), p.Masters...)
	}
	for _, a := range masters {
		a = a.Unmap()
		out.Masters = append(out.Masters, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}
