package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otrange/otrange/internal/apitest"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
)

// tab is one browser tab of the exercise, in its own browser context
// (storage, cookies) unless it is the browser's first tab.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func (b *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v (script errors: %s)", b.name, what, err, b.eval(`JSON.stringify(window.otrangeErrors || [])`))
	}
}

func (b *tab) eval(expr string) string {
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return s
}

func (b *tab) truth(expr string) bool {
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
	return err == nil && ok
}

// wait polls expr in the page until it is true (a page that navigates away,
// join → exercise, ends a poll: the new page is polled; see browsertest.Wait).
func (b *tab) wait(what, expr string) {
	b.t.Helper()
	if err := waitJS(b.ctx, expr, 20*time.Second); err != nil {
		b.t.Fatalf("%s: %s: %v\nconnection: %s\nscript errors: %s\npage: %.2000s", b.name, what, err,
			b.eval(`(document.getElementById("conn") || {}).textContent + ""`), b.eval(`JSON.stringify(window.otrangeErrors || [])`),
			b.eval(`document.body.innerText`))
	}
}

// pageJS runs a statement in the page.
func pageJS(stmt string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any]("(() => { "+stmt+"; return null; })()")(ctx, t)
		return chromedp.Void{}, err
	}
}

// TestExerciseInBrowserOnRealRange runs an exercise through real browsers on
// the whole range (plant, sensor, server): the facilitator creates it with
// the FrostyGoop scenario at 100×, holds the scenario's injects, and two
// participants join by their invitation links. Before the start the
// operator changes a dosing setpoint from the HMI (the plant has it) and
// the OT engineer blocks the attacker at the intake PLC from the device
// view. Once started, the attacks against the intake PLC fail on the wire
// while those against the distribution PLC succeed (the facilitator's
// ground truth), and the operator's inject, released by the facilitator,
// reaches the operator's page and not the OT engineer's.
func TestExerciseInBrowserOnRealRange(t *testing.T) {
	root := browser(t)
	info := startRange(t, testConfig(t, 87))
	if !info.Sensor.Running {
		t.Logf("sensor off (%s): the alert console is not checked", info.Sensor.Reason)
	}
	base := strings.TrimSuffix(info.URL, "/")

	// The facilitator creates the exercise in the lobby.
	fac := &tab{t: t, name: "facilitator", ctx: root}
	fac.run("open lobby", chromedp.Navigate(info.URL))
	fac.wait("lobby", fmt.Sprintf(`document.querySelectorAll("input[name=ex-role]").length === %d`, len(exercise.DefaultRoles)))
	fac.run("create", chromedp.SendKeys(chromedp.CSS("#ex-title"), "FrostyGoop drill"),
		chromedp.SendKeys(chromedp.CSS("#ex-scenario"), "frostygoop-writes"),
		chromedp.SetValue(chromedp.CSS("#ex-speed"), "100"),
		chromedp.Click(chromedp.CSS("#ex-create")))
	fac.wait("links", fmt.Sprintf(`!document.getElementById("ex-created").hidden && document.querySelectorAll("#invites a.invite").length === %d`, len(exercise.DefaultRoles)))
	invite := map[string]string{}
	for _, role := range []string{exercise.Operator, exercise.OTEngineer} {
		invite[role] = fac.eval(fmt.Sprintf(`document.querySelector('a.invite[data-role=%q]').href`, role))
	}
	fac.run("open console", chromedp.Navigate(fac.eval(`document.getElementById("fac-link").href`)))
	fac.wait("console", `document.getElementById("conn").dataset.state === "live" && !document.getElementById("btn-start").disabled`)
	exID := fac.eval(`new URLSearchParams(location.hash.slice(1)).get("ex")`)
	facToken := fac.eval(fmt.Sprintf(`sessionStorage.getItem("otrange.token." + %q)`, exID))
	var x exercise.Exercise
	if code := apitest.Call(t, "GET", base+"/api/exercises/"+exID, facToken, nil, &x); code != 200 || x.Scenario != "frostygoop-writes" || x.Speed != 100 {
		t.Fatalf("exercise as created: %d %+v", code, x)
	}
	fac.run("hold injects", chromedp.Click(chromedp.CSS("#hold-toggle")))
	fac.wait("held", `document.getElementById("hold-status").textContent.includes("wait for you")`)

	join := func(role, name string) *tab {
		ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		p := &tab{t: t, name: role, ctx: ctx}
		p.run("open invitation", chromedp.Navigate(invite[role]))
		p.run("join", chromedp.SendKeys(chromedp.CSS("#join-name"), name), chromedp.Click(chromedp.CSS("#join-btn")))
		p.wait("exercise page", fmt.Sprintf(`location.pathname === "/exercise.html" && document.getElementById("conn")?.dataset.state === "live" && document.getElementById("me")?.dataset.role === %q`, role))
		return p
	}
	op := join(exercise.Operator, "Olga")
	ot := join(exercise.OTEngineer, "Otto")

	// The operator changes the chlorine dose from the HMI: the command goes
	// to the PLC over Modbus from the HMI's address.
	const doseKey = "plc-treatment:cl.dose"
	before, ok := info.Plant.Read("plc-treatment", "cl.dose")
	if !ok {
		t.Fatal("the plant has no plc-treatment cl.dose")
	}
	want := 1.5
	if math.Abs(before-want) < 0.05 {
		want = 1.8
	}
	op.wait("command control", fmt.Sprintf(`document.querySelector('[data-cmd=%q]') !== null`, doseKey))
	op.run("send command", chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`[data-cmd=%q]`, doseKey)), fmt.Sprint(want)),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-cmd-send=%q]`, doseKey))))
	op.wait("confirmation", `document.getElementById("confirm").open`)
	op.run("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	op.wait("sent", `document.getElementById("cmd-status").textContent.startsWith("Sent")`)
	waitFor(t, "the plant to take the operator's dose", 10*time.Second, func() bool {
		v, _ := info.Plant.Read("plc-treatment", "cl.dose")
		return math.Abs(v-want) < 0.005
	})

	// The OT engineer blocks the attacker at the intake PLC, before the start.
	ot.wait("device list", `[...document.querySelectorAll("#block-device option")].some(o => o.value === "plc-intake")`)
	ot.run("block", chromedp.SetValue(chromedp.CSS("#block-device"), "plc-intake"),
		chromedp.SendKeys(chromedp.CSS("#block-source"), "127.66.0.1"),
		chromedp.SendKeys(chromedp.CSS("#block-reason"), "unknown Modbus client"),
		chromedp.Click(chromedp.CSS("#block-btn")))
	ot.wait("blocked", `document.getElementById("action-status").textContent.startsWith("block_host done")`)
	blocked := false
	for _, r := range info.Plant.View().Firewall {
		blocked = blocked || r.Device == "plc-intake" && r.Source.Contains(netip.MustParseAddr("127.66.0.1"))
	}
	if !blocked {
		t.Fatalf("the range firewall does not hold the block: %+v", info.Plant.View().Firewall)
	}
	ot.wait("rule listed", `document.getElementById("fw-table").textContent.includes("127.66.0.1")`)

	fac.run("start", chromedp.Click(chromedp.CSS("#btn-start")))
	fac.wait("running", `document.getElementById("ex-state").textContent === "running"`)

	// Ground truth: the intake steps fail on the wire, the distribution ones succeed.
	steps := map[string]exercise.StepRecord{}
	waitFor(t, "the scenario's four attack steps", 40*time.Second, func() bool {
		var evs []store.Event
		apitest.Call(t, "GET", base+"/api/exercises/"+exID+"/events?limit=1000", facToken, nil, &evs)
		for _, ev := range evs {
			if ev.Kind == exercise.KindStep {
				var r exercise.StepRecord
				if json.Unmarshal(ev.Payload, &r) == nil {
					steps[r.Step] = r
				}
			}
		}
		return len(steps) >= 4
	})
	for step, succeeded := range map[string]bool{"read-distribution": true, "write-distribution": true, "read-intake": false, "write-intake": false} {
		r, ok := steps[step]
		if !ok || r.Succeeded != succeeded || r.Source != "127.66.0.1" {
			t.Errorf("step %s: %+v, want succeeded=%v from 127.66.0.1", step, r, succeeded)
		}
	}
	fac.wait("steps in the console", `[...document.querySelectorAll("#steps li.bad")].some(li => li.textContent.includes("intake")) && [...document.querySelectorAll("#steps li.ok")].some(li => li.textContent.includes("distribution"))`)
	if v, _ := info.Plant.Read("plc-intake", "level.start"); v == 4.8 {
		t.Error("the blocked attacker changed the intake PLC")
	}

	// The scenario's injects wait for the facilitator: the operator's is
	// released, the OT engineer's dropped.
	const opText, otText = "Distribution pressure is steady at 4.5 bar", "Nothing is scheduled on the engineering workstation today."
	heldItem := func(s string) string {
		return fmt.Sprintf(`[...document.querySelectorAll("#held li[data-event]")].find(li => li.textContent.includes(%q))`, s)
	}
	fac.wait("held injects listed", `!!`+heldItem(opText)+` && !!`+heldItem(otText))
	if op.truth(fmt.Sprintf(`document.body.textContent.includes(%q)`, opText)) {
		t.Error("a held inject reached the operator before its release")
	}
	fac.run("release", pageJS(heldItem(opText)+`.querySelector("button[data-release]").click()`))
	fac.wait("released", `document.getElementById("hold-status").textContent.startsWith("Released to Operator") && !(`+heldItem(opText)+`)`)
	fac.run("drop", pageJS(heldItem(otText)+`.querySelector("button[data-drop]").click()`))
	fac.wait("asked", `document.getElementById("confirm").open`)
	fac.run("confirm drop", chromedp.Click(chromedp.CSS("#confirm-ok")))
	fac.wait("dropped", `document.getElementById("hold-status").textContent === "Dropped." && !(`+heldItem(otText)+`)`)

	op.wait("inject reaches the operator", fmt.Sprintf(`[...document.querySelectorAll("#injects li.to-me")].some(li => li.textContent.includes(%q))`, opText))
	// A marker to everyone, after the release: once the OT engineer has it,
	// it would have had the operator's inject too.
	if code := apitest.Call(t, "POST", base+"/api/exercises/"+exID+"/injects", facToken, map[string]any{"text": "Marker for everyone"}, nil); code != 201 {
		t.Fatalf("marker inject: %d", code)
	}
	ot.wait("marker", `document.getElementById("injects").textContent.includes("Marker for everyone")`)
	if ot.truth(fmt.Sprintf(`document.body.textContent.includes(%q) || document.body.textContent.includes(%q)`, opText, otText)) {
		t.Error("the OT engineer got the operator's inject or its own dropped one")
	}
	if ot.truth(`document.getElementById("held") !== null || document.getElementById("steps") !== null`) {
		t.Error("the OT engineer's page has facilitator panels")
	}
	if info.Sensor.Running {
		fac.wait("the sensor's alert in the console", `[...document.querySelectorAll("#alert-table tbody tr[data-rule]")].some(tr => tr.textContent.includes("127.66.0.1"))`)
	}
	for _, p := range []*tab{fac, op, ot} {
		if e := p.eval(`JSON.stringify(window.otrangeErrors || [])`); e != "[]" {
			t.Errorf("%s: script errors: %s", p.name, e)
		}
	}
}
