package app

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otrange/otrange/internal/browsertest"
	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/scenarios/attack"
	"github.com/otrange/otrange/simulator"
)

// testConfig is the default range on hosts of this test's own (127.N.x.y)
// and ephemeral ports, so it runs beside other tests.
func testConfig(t *testing.T, subnet byte) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Plant = simulator.Config{Relocate: simulator.Subnet(subnet), EphemeralPorts: true}
	cfg.SensorFilter = fmt.Sprintf("net 127.%d.0.0/16", subnet) // other tests share lo
	return cfg
}

// startRange runs the range until the test ends and returns where it listens.
func startRange(t *testing.T, cfg Config) Info {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(i Info) { ready <- i }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("range stopped with: %v", err)
		}
	})
	select {
	case info := <-ready:
		return info
	case err := <-done:
		t.Fatalf("range failed to start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("range did not start within 20 s")
	}
	return Info{}
}

// browser starts headless Chromium (Debian's package). Without it the test
// skips, except under CI where it must run.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, 1280, 800, 90*time.Second)
}

// waitJS polls a JavaScript expression in the page until it is true.
func waitJS(ctx context.Context, expr string, timeout time.Duration) error {
	return browsertest.Wait(ctx, expr, timeout, 100*time.Millisecond)
}

// text returns the text content of the element sel selects, or an error text.
func text(ctx context.Context, sel string) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).textContent`, sel)))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return s
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// TestEndToEndAttackReachesBrowser: the plant runs, the HMI polls over real
// Modbus/TCP and DNP3, the attacker writes the sodium hydroxide dose from its
// own address, the sensor sees the write on lo, the alert with T0836 appears
// in a real browser's DOM, and the HMI's view shows the new dose.
func TestEndToEndAttackReachesBrowser(t *testing.T) {
	info := startRange(t, testConfig(t, 71))
	if !info.Sensor.Running {
		if os.Getenv("CI") != "" {
			t.Fatalf("sensor is off under CI: %s", info.Sensor.Reason)
		}
		t.Skipf("sensor cannot capture here: %s", info.Sensor.Reason)
	}
	ctx := browser(t)
	navigate(t, ctx, info.URL)
	if err := waitJS(ctx, `document.querySelector("#alerts") !== null && document.querySelector("#alerts").textContent.includes("No alerts")`, 20*time.Second); err != nil {
		t.Fatalf("alerts table not shown empty (alerts: %q): %v", text(ctx, "#alerts"), err)
	}
	waitFor(t, "the HMI sees plc-treatment", 20*time.Second, func() bool {
		return info.Plant.View().Values["plc-treatment:naoh.dose"] == 8
	})

	target, _ := info.Plant.Addr("plc-treatment")
	res, err := attack.WriteSetpoint{
		Target: target.String(), Source: netip.MustParseAddr("127.66.71.1"),
		Unit: 1, Register: 3, Value: 11100,
	}.Run(context.Background(), rangenet.New(nil))
	if err != nil || !res.Succeeded {
		t.Fatalf("attack: %+v, %v", res, err)
	}
	if err := waitJS(ctx, `[...document.querySelectorAll("#alerts tr")].some(r => r.textContent.includes("T0836") && r.textContent.includes("127.66.71.1"))`, 20*time.Second); err != nil {
		t.Fatalf("no alert with T0836 from the attacker in the page (alerts: %q): %v", text(ctx, "#alerts"), err)
	}
	waitFor(t, "the HMI shows the attacker's dose", 10*time.Second, func() bool {
		return info.Plant.View().Values["plc-treatment:naoh.dose"] == 11100
	})
	if got := text(ctx, "#alert-count"); got != "1" {
		t.Fatalf("alert count %s, want 1 (the plant's own traffic must not alert)", got)
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSensorOffBanner: without capture the range still runs and the page
// says the sensor is off and why.
func TestSensorOffBanner(t *testing.T) {
	cfg := testConfig(t, 73)
	cfg.SensorIface = "no-such-if0"
	info := startRange(t, cfg)
	if info.Sensor.Running {
		t.Fatal("sensor claims to run on a missing interface")
	}
	ctx := browser(t)
	navigate(t, ctx, info.URL)
	if err := waitJS(ctx, `!document.getElementById("sensor-banner").hidden && document.getElementById("sensor-banner").textContent.includes("no-such-if0")`, 15*time.Second); err != nil {
		t.Fatalf("banner not shown (banner=%q): %v", text(ctx, "#sensor-banner"), err)
	}
	waitFor(t, "the plant runs while the sensor is off", 15*time.Second, func() bool {
		return info.Plant.View().Values["plc-intake:level.start"] != 0
	})
}

func TestRunFailsCleanlyOnBusyHTTPPort(t *testing.T) {
	a := startRange(t, testConfig(t, 75))
	cfg := testConfig(t, 77)
	cfg.HTTPAddr = strings.TrimSuffix(strings.TrimPrefix(a.URL, "http://"), "/")
	err := Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "http") {
		t.Fatalf("second range on a busy port: %v", err)
	}
}
