package playbooks

import (
	"cmp"
	"slices"
	"strings"
)

// Weights of what a playbook answers when ranking matches: a sensor rule is
// the most specific, a plant condition next, a technique the broadest.
const (
	weightRule      = 3
	weightCondition = 2
	weightTechnique = 1
)

// Matched is a playbook that answers some of what is happening, with what
// it answers.
type Matched struct {
	Playbook   *Playbook `json:"-"`
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Score      int       `json:"score"`
	Techniques []string  `json:"techniques,omitempty"`
	Rules      []string  `json:"rules,omitempty"`
	Conditions []string  `json:"conditions,omitempty"`
}

// Match returns the playbooks of pbs that answer any of the techniques,
// rule ids or plant conditions seen, best first: ranked by score (3 per
// rule, 2 per condition, 1 per technique answered), then by the share of
// the playbook's own answers that were seen (the more specific playbook
// first), then by id.
func Match(pbs []*Playbook, techniques, rules, conditions []string) []Matched {
	tech := upperSet(techniques)
	rule := lowerSet(rules, strings.ToLower)
	cond := lowerSet(conditions, normCondition)
	type ranked struct {
		m     Matched
		share float64
	}
	var out []ranked
	for _, pb := range pbs {
		m := Matched{Playbook: pb, ID: pb.ID, Title: pb.Title}
		for _, t := range pb.Answers.Techniques {
			if tech[strings.ToUpper(t)] {
				m.Techniques = append(m.Techniques, t)
			}
		}
		for _, r := range pb.Answers.Rules {
			if rule[strings.ToLower(r)] {
				m.Rules = append(m.Rules, r)
			}
		}
		for _, c := range pb.Answers.Conditions {
			if cond[normCondition(c)] {
				m.Conditions = append(m.Conditions, c)
			}
		}
		m.Score = weightRule*len(m.Rules) + weightCondition*len(m.Conditions) + weightTechnique*len(m.Techniques)
		if m.Score == 0 {
			continue
		}
		total := weightRule*len(pb.Answers.Rules) + weightCondition*len(pb.Answers.Conditions) +
			weightTechnique*len(pb.Answers.Techniques)
		out = append(out, ranked{m, float64(m.Score) / float64(total)})
	}
	slices.SortStableFunc(out, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.m.Score, a.m.Score), cmp.Compare(b.share, a.share), cmp.Compare(a.m.ID, b.m.ID))
	})
	res := make([]Matched, len(out))
	for i, r := range out {
		res[i] = r.m
	}
	return res
}

func upperSet(l []string) map[string]bool {
	return lowerSet(l, strings.ToUpper)
}

func lowerSet(l []string, norm func(string) string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		m[norm(strings.TrimSpace(s))] = true
	}
	return m
}
