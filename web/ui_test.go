package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otrange/otrange/internal/browsertest"
	"github.com/otrange/otrange/sensor/alert"
	"github.com/otrange/otrange/server"
	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/simulator/control"
	"github.com/otrange/otrange/simulator/firewall"
)

// fixedPlant stands for the live plant until the lead wires the simulator's
// view behind server.Plant: it serves one fixed view in the shape of GET
// /api/plant and records the commands it is sent. The UI under test reads
// that shape; nothing in the server is replaced.
type fixedPlant struct {
	mu   sync.Mutex
	cmds []command
}

type command struct {
	Tag   string
	Value float64
}

type plantTag struct {
	Key         string  `json:"key"`
	Device      string  `json:"device"`
	Name        string  `json:"name"`
	Unit        string  `json:"unit,omitempty"`
	Writable    bool    `json:"writable"`
	Bool        bool    `json:"bool"`
	Min         float64 `json:"min"`
	Max         float64 `json:"max"`
	Description string  `json:"description,omitempty"`
}

var plantTags = []plantTag{
	{Key: "plc-intake:level", Device: "plc-intake", Name: "level", Unit: "m", Max: 5, Description: "Raw tank level"},
	{Key: "plc-intake:level.start", Device: "plc-intake", Name: "level.start", Unit: "m", Writable: true, Max: 5, Description: "Pumps start below"},
	{Key: "plc-intake:pump1.running", Device: "plc-intake", Name: "pump1.running", Bool: true, Max: 1},
	{Key: "plc-intake:pump1.cmd", Device: "plc-intake", Name: "pump1.cmd", Bool: true, Writable: true, Max: 1},
	{Key: "plc-treatment:clearwell.level", Device: "plc-treatment", Name: "clearwell.level", Unit: "m", Max: 4},
	{Key: "rtu-reservoir:level", Device: "rtu-reservoir", Name: "level", Unit: "m", Max: 6},
}

func (p *fixedPlant) View() any {
	return map[string]any{
		"time":  time.Now().UTC().Format(time.RFC3339),
		"plant": "Riverside Water Treatment",
		"devices": []map[string]any{
			{"name": "plc-intake", "kind": "plc", "protocol": "modbus", "address": "127.10.1.10:502", "online": true, "up": true, "mode": "run", "checksum": "1a2b", "known_good_checksum": "1a2b"},
			{"name": "plc-treatment", "kind": "plc", "protocol": "modbus", "address": "127.10.1.11:502", "online": true, "up": true, "mode": "run", "checksum": "ffff", "known_good_checksum": "3c4d"},
			{"name": "rtu-reservoir", "kind": "rtu", "protocol": "dnp3", "address": "127.10.1.30:20000", "online": false, "error": "restarting", "up": false, "mode": "remote"},
		},
		"tags":         plantTags,
		"values":       map[string]float64{"plc-intake:level": 2.4, "plc-intake:level.start": 2.5, "plc-intake:pump1.running": 1, "plc-intake:pump1.cmd": 1, "plc-treatment:clearwell.level": 3.1, "rtu-reservoir:level": 4.2},
		"alarms":       []map[string]any{{"device": "plc-treatment", "name": "chlorine high", "active": true}},
		"consequences": map[string]any{},
		"firewall":     []any{},
	}
}

func (p *fixedPlant) Command(_ context.Context, tag string, value float64) error {
	if !slices.ContainsFunc(plantTags, func(t plantTag) bool { return t.Key == tag && t.Writable }) {
		return fmt.Errorf("%w: %s", server.ErrUnknownTag, tag)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = append(p.cmds, command{tag, value})
	return nil
}

func (p *fixedPlant) commands() []command {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.cmds)
}

func (p *fixedPlant) Trend(_ context.Context, tag string, from, to time.Time, _ time.Duration) (any, error) {
	return []map[string]any{{"Time": from, "Min": 1, "Avg": 2, "Max": 3, "Last": 2, "Count": 1}, {"Time": to.Add(-time.Second), "Min": 2, "Avg": 2.5, "Max": 3, "Last": 2.5, "Count": 1}}, nil
}

// fwRange carries out block and unblock on the real range firewall.
type fwRange struct{ fw *firewall.Firewall }

func (r fwRange) Do(_ context.Context, a control.Action) (control.Result, error) {
	switch a.Kind {
	case control.BlockHost, control.UnblockHost:
	default:
		return control.Result{}, fmt.Errorf("%s is not wired in this test", a.Kind)
	}
	src, err := firewall.ParseSource(a.Source)
	if err != nil {
		return control.Result{}, err
	}
	if a.Kind == control.BlockHost {
		_, err = r.fw.Block(a.Device, src, a.Reason)
	} else {
		_, err = r.fw.Unblock(a.Device, src)
	}
	return control.Result{Message: a.String()}, err
}

// running is one server process's worth of the range's API on addr.
type running struct {
	srv  *server.Server
	addr string
	stop func()
}

// serve starts a server over st on addr ("127.0.0.1:0" for a fresh port).
func serve(t *testing.T, st *store.Store, rc control.Controller, plant server.Plant, addr string) *running {
	t.Helper()
	srv, err := server.New(server.Options{Store: st, Range: rc, Plant: plant})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("server stopped with: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &running{srv: srv, addr: ln.Addr().String(), stop: stop}
}

// browser starts headless Chromium (Debian's package). Without it the test
// skips, except under CI where it must run.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, 1280, 900, 120*time.Second)
}

// page is one browser tab with its own browser context (cookies, storage).
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func newPage(t *testing.T, root context.Context, name string) *page {
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return &page{t: t, name: name, ctx: ctx}
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %s: %v (page errors: %v)", p.name, what, err, p.errors())
	}
}

func (p *page) eval(expr string) string {
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return s
}

func (p *page) truth(expr string) bool {
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
	return err == nil && ok
}

// wait polls expr in the page until it is true.
func (p *page) wait(what, expr string) {
	p.t.Helper()
	// A page that navigates away (join → exercise) ends a poll; the new one is polled.
	if err := browsertest.Wait(p.ctx, expr, 15*time.Second, 50*time.Millisecond); err != nil {
		p.t.Fatalf("%s: %s: %v\nconn=%q stream=%s errors=%v\nbody: %.1500s", p.name, what, err, p.eval(`(document.getElementById("conn")||{}).textContent + " / " + (document.getElementById("conn")||{}).title`),
			p.eval(`JSON.stringify(window.otrangeStream ? {last: window.otrangeStream.lastID, ws: window.otrangeStream.ws && window.otrangeStream.ws.readyState, reconnects: window.otrangeStream.reconnects} : null)`),
			p.errors(), p.eval(`document.body.innerText`))
	}
}

// shot saves a full-page screenshot to $OTRANGE_SCREENSHOTS/name.png when
// that variable is set (to look at the pages; nothing is asserted).
func (p *page) shot(name string) {
	dir := os.Getenv("OTRANGE_SCREENSHOTS")
	if dir == "" {
		return
	}
	b, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
	}
	if err != nil {
		p.t.Logf("screenshot %s: %v", name, err)
	}
}

func (p *page) errors() string { return p.eval(`JSON.stringify(window.otrangeErrors || [])`) }

// js runs a statement in the page.
func js(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any]("(() => { "+expr+"; return null; })()")(ctx, t)
		return chromedp.Void{}, err
	}
}

// has reports whether the page's text contains s.
func has(s string) string { return fmt.Sprintf(`document.body.textContent.includes(%q)`, s) }

// timelineIDs returns the event ids in the page's timeline, in DOM order.
func (p *page) timelineIDs() []int64 {
	s := p.eval(`JSON.stringify([...document.querySelectorAll("#timeline li")].map(li => Number(li.dataset.id)))`)
	var ids []int64
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		p.t.Fatalf("%s: timeline ids %q: %v", p.name, s, err)
	}
	return ids
}

// apiDo calls the API with a bearer token and decodes the JSON answer.
func apiDo(t *testing.T, method, url, token string, body, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, url, res.Status)
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
}

// eventually waits for cond with a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExerciseInBrowser runs one exercise through real browsers: the
// facilitator creates it and starts it, three participants join by their
// role's link in their own browser contexts, and each sees what its role
// should — and nothing more.
func TestExerciseInBrowser(t *testing.T) {
	root := browser(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "ui.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fw := firewall.New(nil, nil)
	plant := &fixedPlant{}
	srvA := serve(t, st, fwRange{fw}, plant, "127.0.0.1:0")
	base := "http://" + srvA.addr

	// The facilitator creates the exercise on the live view's lobby.
	fac := &page{t: t, name: "facilitator", ctx: root}
	fac.do("open lobby", chromedp.Navigate(base+"/"))
	fac.wait("lobby ready", fmt.Sprintf(`document.querySelectorAll("input[name=ex-role]").length === %d && !!document.getElementById("tank")`, len(exercise.DefaultRoles)))
	fac.do("create", chromedp.SendKeys(chromedp.CSS("#ex-title"), "Browser drill"), chromedp.Click(chromedp.CSS("#ex-create")))
	fac.wait("links shown", fmt.Sprintf(`!document.getElementById("ex-created").hidden && document.querySelectorAll("#invites a.invite").length === %d`, len(exercise.DefaultRoles)))
	fac.wait("listed", `document.querySelector("#ex-list tbody tr[data-id]") !== null`)
	fac.shot("lobby")
	facURL := fac.eval(`document.getElementById("fac-link").href`)
	invite := map[string]string{}
	for _, role := range []string{"operator", "it_soc_analyst", "ot_engineer", "incident_commander"} {
		invite[role] = fac.eval(fmt.Sprintf(`document.querySelector('a.invite[data-role=%q]').href`, role))
		if !strings.Contains(invite[role], "/join.html#ex=") || !strings.Contains(invite[role], "&invite=") {
			t.Fatalf("invitation link for %s: %q", role, invite[role])
		}
	}
	if !strings.Contains(facURL, "/exercise.html#ex=") || !strings.Contains(facURL, "&token=") {
		t.Fatalf("facilitator link %q", facURL)
	}
	fac.do("open console", chromedp.Navigate(facURL))
	fac.wait("console live", `document.getElementById("conn").dataset.state === "live" && document.getElementById("btn-start") && !document.getElementById("btn-start").disabled`)
	if fac.truth(`location.hash.includes("token=")`) {
		t.Error("the facilitator token stays in the address bar")
	}
	exID := fac.eval(`new URLSearchParams(location.hash.slice(1)).get("ex")`)
	facToken := fac.eval(fmt.Sprintf(`sessionStorage.getItem("otrange.token." + %q)`, exID))
	fac.do("start", chromedp.Click(chromedp.CSS("#btn-start")))
	fac.wait("running", `document.getElementById("ex-state").textContent === "running"`)

	// Three participants join in their own browser contexts.
	join := func(role, name string) *page {
		p := newPage(t, root, role)
		p.do("open invitation", chromedp.Navigate(invite[role]))
		p.do("join", chromedp.SendKeys(chromedp.CSS("#join-name"), name), chromedp.Click(chromedp.CSS("#join-btn")))
		p.wait("exercise page live", fmt.Sprintf(`location.pathname === "/exercise.html" && document.getElementById("conn")?.dataset.state === "live" && document.getElementById("me")?.dataset.role === %q`, role))
		return p
	}
	op := join("operator", "Olga")
	soc := join("it_soc_analyst", "Sam")
	ot := join("ot_engineer", "Otto")
	ic := join("incident_commander", "Ines")
	participants := []*page{op, soc, ot, ic}
	fac.wait("participants listed", `["Olga","Sam","Otto","Ines"].every(n => document.getElementById("people").textContent.includes(n))`)
	fac.shot("facilitator-start")

	t.Run("facilitator controls only for the facilitator", func(t *testing.T) {
		if !fac.truth(`document.querySelector("[data-facilitator]") !== null && document.getElementById("inject-form") !== null`) {
			t.Fatal("the facilitator's page has no console")
		}
		for _, p := range participants {
			if !p.truth(`document.querySelector("[data-facilitator]") === null && !document.getElementById("state-controls") && !document.getElementById("inject-form") && !document.getElementById("score") && !document.getElementById("report-links")`) {
				t.Errorf("%s's page shows facilitator controls", p.name)
			}
		}
		if !op.truth(`!!document.getElementById("mimic") && !document.getElementById("alert-table") && !document.getElementById("block-form")`) ||
			!soc.truth(`!!document.getElementById("alert-table") && !document.getElementById("mimic")`) ||
			!ot.truth(`!!document.getElementById("block-form") && !!document.getElementById("mimic")`) {
			t.Error("a role got the wrong panels")
		}
	})

	inject := func(text string, roles ...string) {
		t.Helper()
		fac.do("uncheck roles", js(`[...document.querySelectorAll("input[name=inject-role]")].forEach(i => { i.checked = false; })`))
		for _, r := range roles {
			fac.do("tick "+r, chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name=inject-role][value=%q]`, r))))
		}
		fac.do("inject", chromedp.SendKeys(chromedp.CSS("#inject-text"), text), chromedp.Click(chromedp.CSS("#inject-send")))
		fac.wait("inject released", `document.getElementById("inject-status").textContent.startsWith("Inject released")`)
		fac.do("clear status", js(`document.getElementById("inject-status").textContent = ""`))
	}

	t.Run("inject reaches only its role", func(t *testing.T) {
		inject("Operator only: check the raw tank", "operator")
		op.wait("inject highlighted", `[...document.querySelectorAll("#injects li.to-me")].some(li => li.textContent.includes("Operator only"))`)
		inject("Marker one for everyone")
		for _, p := range []*page{soc, ot} {
			p.wait("marker", has("Marker one for everyone"))
			if p.truth(has("Operator only")) {
				t.Errorf("%s saw the operator's inject", p.name)
			}
		}
		if op.truth(`[...document.querySelectorAll("#injects li.to-me")].some(li => li.textContent.includes("Marker one"))`) {
			t.Error("an inject to everyone is highlighted as addressed to the operator")
		}
	})

	t.Run("alert reaches the SOC and not the operator", func(t *testing.T) {
		unit, addr, val := 1, 1, 3950
		srvA.srv.Emit(alert.Alert{ID: "al-1", Time: time.Now(), Sensor: "lo", RuleID: "modbus-write-unauthorized", RuleName: "Modbus write from unauthorized host",
			Severity: alert.High, Techniques: []string{"T0836", "T0855"}, SrcAddr: "127.66.0.1", SrcPort: 40001, DstAddr: "127.10.1.10", DstPort: 502,
			Protocol: "modbus", Function: "write_single_register", Unit: &unit, Address: &addr, Value: &val,
			Evidence: alert.Evidence{FlowID: "flow-7f3a", Frames: []uint64{41, 42}}, Message: "Write to holding register 1 from a host that is not the HMI"})
		soc.wait("alert row", `document.querySelector('#alert-table tbody tr[data-rule="modbus-write-unauthorized"]') !== null && document.getElementById("alert-total").textContent === "1"`)
		soc.do("drill down", chromedp.Click(chromedp.CSS(`#alert-table tbody tr[data-rule="modbus-write-unauthorized"]`)))
		soc.wait("evidence", `!document.getElementById("alert-detail").hidden && document.getElementById("alert-detail-body").textContent.includes("flow-7f3a") && document.getElementById("alert-detail-body").textContent.includes("41, 42")`)
		soc.do("filter out", chromedp.SendKeys(chromedp.CSS("#alert-filter"), "T0999"))
		soc.wait("filtered", `document.querySelector('#alert-table tbody tr[data-rule]') === null && document.getElementById("alert-total").textContent === "0 of 1"`)
		inject("Marker two for everyone")
		op.wait("marker", has("Marker two for everyone"))
		if op.truth(has("Modbus write from unauthorized host")) || op.truth(has("T0836")) {
			t.Error("the operator saw the sensor's alert")
		}
		if !soc.truth(`document.getElementById("asset-status").textContent.includes("not available")`) {
			t.Errorf("asset inventory without an endpoint: %q", soc.eval(`document.getElementById("asset-status").textContent`))
		}
	})

	t.Run("operator command reaches the plant", func(t *testing.T) {
		const key = "plc-intake:level.start"
		op.wait("command control", fmt.Sprintf(`document.querySelector('[data-cmd=%q]') !== null && document.getElementById("mimic").querySelector('[data-tag="plc-intake:level"]').textContent === "2.40 m"`, key))
		op.do("type value", chromedp.SendKeys(chromedp.CSS(fmt.Sprintf(`[data-cmd=%q]`, key)), "2.7"), chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-cmd-send=%q]`, key))))
		op.wait("confirmation asked", `document.getElementById("confirm").open && document.getElementById("confirm-text").textContent.includes("plc-intake:level.start")`)
		if got := plant.commands(); len(got) != 0 {
			t.Fatalf("command sent before confirmation: %v", got)
		}
		op.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
		eventually(t, "the plant to receive the command", func() bool {
			return slices.Contains(plant.commands(), command{key, 2.7})
		})
		op.wait("command status", `document.getElementById("cmd-status").textContent.startsWith("Sent")`)
		op.wait("command in timeline", `[...document.querySelectorAll("#timeline li[data-kind='operator.command']")].some(li => li.textContent.includes("plc-intake:level.start = 2.7"))`)
	})

	t.Run("OT engineer blocks a host at the firewall", func(t *testing.T) {
		attacker := netip.MustParseAddr("127.66.0.1")
		ot.wait("device list", `[...document.querySelectorAll("#block-device option")].some(o => o.value === "plc-intake") && document.querySelector('#device-table tr[data-device="plc-treatment"]').textContent.includes("DIFFERS")`)
		if !fw.Allowed("plc-intake", attacker) {
			t.Fatal("attacker blocked before the action")
		}
		ot.do("block", chromedp.SetValue(chromedp.CSS("#block-device"), "plc-intake"),
			chromedp.SendKeys(chromedp.CSS("#block-source"), "127.66.0.1"),
			chromedp.SendKeys(chromedp.CSS("#block-reason"), "attacker seen by the SOC"),
			chromedp.Click(chromedp.CSS("#block-btn")))
		eventually(t, "the firewall to hold the rule", func() bool { return !fw.Allowed("plc-intake", attacker) })
		if !fw.Allowed("plc-treatment", attacker) {
			t.Error("the block reached a device it was not for")
		}
		ot.wait("action status", `document.getElementById("action-status").textContent.startsWith("block_host done")`)
	})

	t.Run("trend of a tag", func(t *testing.T) {
		op.do("open trend", chromedp.Click(chromedp.CSS(`#tag-table tr[data-key="plc-intake:level"] button`)))
		op.wait("trend drawn", `!document.getElementById("trend").hidden && document.getElementById("trend-msg").textContent.startsWith("2 points") && document.querySelector("#trend-chart polyline") !== null`)
	})

	t.Run("incident commander logs a decision", func(t *testing.T) {
		if op.truth(`document.getElementById("decision-form") !== null`) {
			t.Error("the operator has the decision log")
		}
		ic.do("decide", chromedp.SendKeys(chromedp.CSS("#decision-text"), "Isolate the intake PLC from the IT network"),
			chromedp.SendKeys(chromedp.CSS("#decision-rationale"), "unauthorized writes seen"), chromedp.Click(chromedp.CSS("#decision-send")))
		ic.wait("in the log", `document.getElementById("decision-log").textContent.includes("Isolate the intake PLC") && document.getElementById("decision-log").textContent.includes("unauthorized writes seen")`)
		fac.wait("facilitator sees it", `[...document.querySelectorAll("#timeline li[data-kind=decision]")].some(li => li.textContent.includes("Isolate the intake PLC"))`)
	})

	t.Run("playbook checklist with a safety gate", func(t *testing.T) {
		const pb = "plc-unauthorized-write"
		card := fmt.Sprintf(`article.checklist[data-playbook=%q]`, pb)
		step := func(id string) string { return fmt.Sprintf(`%s li[data-step=%q]`, card, id) }
		// The alert of the SOC subtest (T0836, T0855 from 127.66.0.1 to the
		// intake PLC) matches the playbook; the form is filled from it.
		ic.wait("matched", fmt.Sprintf(`document.querySelector('#pb-matched li[data-playbook=%q] button[data-choose]') !== null && document.getElementById("pb-device").value === "plc-intake" && document.getElementById("pb-source").value === "127.66.0.1"`, pb))
		if !op.truth(`document.getElementById("pb-open-box").hidden && document.getElementById("playbooks") !== null`) {
			t.Error("the operator may open playbooks")
		}
		ic.do("choose", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pb-matched li[data-playbook=%q] button[data-choose]`, pb))))
		ic.do("bind another source", js(`document.getElementById("pb-source").value = ""`), chromedp.SendKeys(chromedp.CSS("#pb-source"), "127.66.0.9"),
			chromedp.Click(chromedp.CSS("#pb-open-btn")))
		for _, p := range append(participants, fac) {
			p.wait("checklist shown", `document.querySelector(`+"`"+card+"`"+`) !== null && document.querySelector(`+"`"+card+"`"+`).textContent.includes("source 127.66.0.9")`)
		}
		if !soc.truth(`[...document.querySelectorAll("#pb-todo li")].some(li => li.dataset.step === "ct-block-plc")`) {
			t.Errorf("the SOC's to-do: %s", soc.eval(`document.getElementById("pb-todo").textContent`))
		}
		if !op.truth(`document.querySelector('` + step("ct-block-plc") + ` button') === null && document.querySelector('` + step("prep-manual") + ` button[data-act=check]') !== null`) {
			t.Error("the operator has buttons for a step that is not its own, or none for its own")
		}
		attacker := netip.MustParseAddr("127.66.0.9")
		soc.do("check the gated step", chromedp.Click(chromedp.CSS(step("ct-block-plc")+` button[data-act=check]`)))
		for _, p := range []*page{soc, ot} {
			p.wait("waiting for the gate", `document.querySelector('`+step("ct-block-plc")+`').dataset.state === "waiting"`)
		}
		if !fw.Allowed("plc-intake", attacker) {
			t.Fatal("the range action ran before the approver approved")
		}
		if soc.truth(`document.querySelector('` + step("ct-block-plc") + ` button[data-act=approve]') !== null`) {
			t.Error("the SOC analyst may approve its own gated step")
		}
		ot.do("approve", chromedp.Click(chromedp.CSS(step("ct-block-plc")+` button[data-act=approve]`)))
		ot.wait("confirmation asked", `document.getElementById("confirm").open && document.getElementById("confirm-text").textContent.includes("127.66.0.9")`)
		ot.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
		eventually(t, "the gated block to reach the firewall", func() bool { return !fw.Allowed("plc-intake", attacker) })
		soc.wait("done", `document.querySelector('`+step("ct-block-plc")+`').dataset.state === "done"`)

		ot.do("decide", chromedp.SetValue(chromedp.CSS(step("da-legitimate")+` select`), "da-declare"), chromedp.Click(chromedp.CSS(step("da-legitimate")+` button[data-act=decide]`)))
		op.wait("settled", `document.querySelector('`+step("da-legitimate")+`').dataset.state === "done"`)
		op.do("open skip", chromedp.Click(chromedp.CSS(step("prep-manual")+` details.skip-step summary`)))
		op.wait("skip open", `document.querySelector('`+step("prep-manual")+` details.skip-step').open`)
		op.do("skip", chromedp.SendKeys(chromedp.CSS(step("prep-manual")+` input`), "procedure reviewed last week"), chromedp.Click(chromedp.CSS(step("prep-manual")+` button[data-act=skip]`)))
		fac.wait("adherence", fmt.Sprintf(`document.querySelector('[data-adherence=%q]') !== null && document.querySelector('[data-adherence=%q]').textContent.includes("2 of ") && document.querySelector('[data-adherence=%q]').textContent.includes("1 skipped")`, pb, pb, pb))
		op.wait("decision shown", `document.querySelector('`+step("da-legitimate")+`').dataset.state === "done" && document.querySelector('`+step("prep-manual")+`').dataset.state === "skipped"`)
		fac.wait("in the timeline", `[...document.querySelectorAll("#timeline li[data-kind=playbook]")].some(li => li.textContent.includes("ct-block-plc done") && li.textContent.includes("approved by OT engineer"))`)
		if ic.truth(`document.querySelector('#pb-matched li[data-playbook="plc-unauthorized-write"] button[data-choose]') !== null`) {
			t.Error("an open playbook is offered again")
		}
	})

	t.Run("chat is shown as text", func(t *testing.T) {
		soc.do("chat", chromedp.SendKeys(chromedp.CSS("#chat-text"), `<img src=x onerror="window.pwned=1">hello ops`), chromedp.Click(chromedp.CSS("#chat-send")))
		op.wait("chat", `document.getElementById("chat-log").textContent.includes("<img src=x") && document.getElementById("chat-log").textContent.includes("hello ops")`)
		if !op.truth(`window.pwned === undefined && document.querySelector("#chat-log img") === null`) {
			t.Error("chat text was rendered as HTML")
		}
	})

	outer := t
	var srvB *running
	for _, p := range append(participants, fac) {
		p.shot(p.name)
	}
	t.Run("reconnect after a server restart misses nothing", func(t *testing.T) {
		srvA.stop()
		for _, p := range participants {
			p.wait("socket closed", `document.getElementById("conn").dataset.state !== "live"`)
		}
		// Written while no server runs: only the log holds them.
		for i, aud := range [][]string{{"operator"}, nil, {"it_soc_analyst"}} {
			payload, _ := json.Marshal(map[string]any{"text": fmt.Sprintf("While down %d", i), "roles": aud, "adhoc": true})
			if _, err := st.Append(context.Background(), store.Event{Exercise: exID, Kind: "inject", Source: "facilitator", Audience: aud, Payload: payload}); err != nil {
				t.Fatal(err)
			}
		}
		srvB = serve(outer, st, fwRange{fw}, plant, srvA.addr) // runs until the whole test ends
		apiDo(t, "POST", "http://"+srvB.addr+"/api/exercises/"+exID+"/injects", facToken, map[string]any{"text": "After restart", "roles": []string{}}, nil)
		for _, p := range participants {
			p.wait("caught up", has("After restart")+` && document.getElementById("conn").dataset.state === "live"`)
			token := p.eval(fmt.Sprintf(`sessionStorage.getItem("otrange.token." + %q)`, exID))
			var evs []store.Event
			apiDo(t, "GET", "http://"+srvB.addr+"/api/exercises/"+exID+"/events?limit=1000", token, nil, &evs)
			want := make([]int64, len(evs))
			for i, ev := range evs {
				want[i] = ev.ID
			}
			if got := p.timelineIDs(); !slices.Equal(got, want) {
				t.Errorf("%s's timeline holds events %v, its log %v", p.name, got, want)
			}
			if !p.truth(`window.otrangeStream.reconnects >= 1`) {
				t.Errorf("%s did not reconnect", p.name)
			}
		}
		if !op.truth(has("While down 0")+" && "+has("While down 1")) || op.truth(has("While down 2")) {
			t.Error("the operator's view of the injects written while down is wrong")
		}
	})

	t.Run("finished exercise replays", func(t *testing.T) {
		if srvB == nil {
			t.Skip("no server after the restart")
		}
		fac.wait("live again", `document.getElementById("conn").dataset.state === "live" && !document.getElementById("btn-finish").disabled`)
		fac.do("finish", chromedp.Click(chromedp.CSS("#btn-finish")))
		fac.wait("confirm", `document.getElementById("confirm").open`)
		fac.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
		fac.wait("finished", `document.getElementById("ex-state").textContent === "finished" && !document.getElementById("replay-bar").hidden`)
		var evs []store.Event
		apiDo(t, "GET", "http://"+srvB.addr+"/api/exercises/"+exID+"/events?limit=1000", facToken, nil, &evs)
		n := len(evs)
		fac.wait("whole log shown", fmt.Sprintf(`document.querySelectorAll("#timeline li").length === %d`, n))
		fac.do("replay at 60x", chromedp.Click(chromedp.CSS(`input[name=replay-speed][value="60"]`)), chromedp.Click(chromedp.CSS("#replay-play")))
		fac.wait("replayed", fmt.Sprintf(`document.getElementById("conn").dataset.state === "replay" && document.getElementById("replay-pos").textContent.startsWith("event %d of %d") && document.querySelectorAll("#timeline li").length === %d`, n, n, n))
	})

	for _, p := range append(participants, fac) {
		if e := p.errors(); e != "[]" {
			t.Errorf("%s: script errors: %s", p.name, e)
		}
	}
}
