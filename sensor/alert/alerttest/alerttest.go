// Package alerttest renders alerts for golden files. It is for tests only.
package alerttest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/otrange/otrange/sensor/alert"
)

// Summary renders alerts as the golden files of sensor/rules hold them: one
// "rule_id count frames=f1,f2,..." line per rule, sorted by rule id, the
// frames being the last evidence frame of each alert in order.
func Summary(alerts []alert.Alert) string {
	frames := map[string][]string{}
	for _, a := range alerts {
		f := a.Evidence.Frames
		frames[a.RuleID] = append(frames[a.RuleID], fmt.Sprint(f[len(f)-1]))
	}
	ids := make([]string, 0, len(frames))
	for id := range frames {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%s %d frames=%s\n", id, len(frames[id]), strings.Join(frames[id], ","))
	}
	return b.String()
}
