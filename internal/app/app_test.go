package app

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otrange/otrange/internal/rangenet"
	"github.com/otrange/otrange/scenarios/attack"
	"github.com/otrange/otrange/simulator"
)

// testConfig is the default range on addresses of this test's own, with an
// ephemeral PLC port and a fast HMI poll, so it runs beside other tests.
func testConfig(t *testing.T, plc, hmi string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Plant = simulator.DefaultConfig()
	cfg.Plant.PLCAddr = netip.MustParseAddr(plc)
	cfg.Plant.HMIAddr = netip.MustParseAddr(hmi)
	cfg.Plant.ModbusPort = 0
	cfg.Plant.PollInterval = 200 * time.Millisecond
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
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (make deps installs it)")
		}
		t.Skip("chromium is not installed; run make deps")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// waitJS polls a JavaScript expression in the page until it is true.
func waitJS(ctx context.Context, expr string, timeout time.Duration) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	return err
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

// TestEndToEndAttackReachesBrowser is the thin slice end to end: the plant
// runs, the HMI polls over real Modbus/TCP, the attacker writes the setpoint
// from its own address, the sensor sees the write on lo, and the alert with
// T0836 and the changed setpoint appear in a real browser's DOM.
func TestEndToEndAttackReachesBrowser(t *testing.T) {
	cfg := testConfig(t, "127.10.71.10", "127.10.72.10")
	info := startRange(t, cfg)
	if !info.Sensor.Running {
		if os.Getenv("CI") != "" {
			t.Fatalf("sensor is off under CI: %s", info.Sensor.Reason)
		}
		t.Skipf("sensor cannot capture here: %s", info.Sensor.Reason)
	}
	ctx := browser(t)
	navigate(t, ctx, info.URL)
	if err := waitJS(ctx, `document.getElementById("plc").textContent === "online" && document.getElementById("setpoint").textContent === "2500"`, 20*time.Second); err != nil {
		t.Fatalf("HMI never showed the PLC online with setpoint 2500 (plc=%q setpoint=%q): %v", text(ctx, "#plc"), text(ctx, "#setpoint"), err)
	}
	if !strings.Contains(text(ctx, "#alerts"), "No alerts") {
		t.Fatalf("alerts before the attack: %q", text(ctx, "#alerts"))
	}
	// The level moves: two readings a second apart differ.
	first := text(ctx, "#level")
	if err := waitJS(ctx, fmt.Sprintf(`document.getElementById("level").textContent !== %q`, first), 10*time.Second); err != nil {
		t.Fatalf("level stuck at %s: %v", first, err)
	}

	res, err := attack.WriteSetpoint{
		Target: info.PLC.String(), Source: netip.MustParseAddr("127.66.71.1"),
		Unit: 1, Register: 1, Value: 3950,
	}.Run(context.Background(), rangenet.New(nil))
	if err != nil || !res.Succeeded {
		t.Fatalf("attack: %+v, %v", res, err)
	}

	if err := waitJS(ctx, `[...document.querySelectorAll("#alerts tr")].some(r => r.textContent.includes("T0836") && r.textContent.includes("127.66.71.1"))`, 20*time.Second); err != nil {
		t.Fatalf("no alert with T0836 from the attacker in the page (alerts: %q): %v", text(ctx, "#alerts"), err)
	}
	if err := waitJS(ctx, `document.getElementById("setpoint").textContent === "3950"`, 10*time.Second); err != nil {
		t.Fatalf("HMI setpoint did not change to 3950 (shows %q): %v", text(ctx, "#setpoint"), err)
	}
	if got := text(ctx, "#alert-count"); got != "1" {
		t.Fatalf("alert count %s, want 1 (the HMI's polling must not alert)", got)
	}
}

// TestSensorOffBanner: without capture the range still runs and the page
// says the sensor is off and why.
func TestSensorOffBanner(t *testing.T) {
	cfg := testConfig(t, "127.10.73.10", "127.10.74.10")
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
	if err := waitJS(ctx, `document.getElementById("plc").textContent === "online"`, 15*time.Second); err != nil {
		t.Fatalf("plant not shown while the sensor is off: %v", err)
	}
}

func TestRunFailsCleanlyOnBusyHTTPPort(t *testing.T) {
	a := startRange(t, testConfig(t, "127.10.75.10", "127.10.76.10"))
	cfg := testConfig(t, "127.10.77.10", "127.10.78.10")
	cfg.HTTPAddr = strings.TrimSuffix(strings.TrimPrefix(a.URL, "http://"), "/")
	err := Run(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "http") {
		t.Fatalf("second range on a busy port: %v", err)
	}
}
