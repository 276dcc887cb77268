package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/apitest"
)

// startRange runs `otrange run` as a real process on dir and returns its
// base URL and the process.
func startRangeProcess(t *testing.T, bin, dir string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(bin, "run", "-data", dir, "-http", "127.0.0.1:0", "-no-sensor", "-subnet", "91", "-log-level", "error")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Open (http://\S+/)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case u := <-urls:
		return u, cmd
	case <-time.After(30 * time.Second):
		t.Fatal("otrange run did not start within 30 s")
	}
	return "", nil
}

func getAuth(t *testing.T, url, token string, out any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

// TestKilledServerLosesNoAcknowledgedEvent: kill -9 the server during a
// running exercise; the restarted server has every event it acknowledged,
// and the exercise runs on.
func TestKilledServerLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "otrange")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	base, cmd := startRangeProcess(t, bin, dir)

	var x struct {
		Exercise    struct{ ID string }
		Credentials struct {
			Facilitator string            `json:"facilitator_token"`
			Invites     map[string]string `json:"invite_tokens"`
		}
	}
	if code := apitest.Call(t, "POST", base+"api/exercises", "", map[string]any{"title": "crash drill", "speed": 10}, &x); code != 201 {
		t.Fatalf("create: %d", code)
	}
	ex := base + "api/exercises/" + x.Exercise.ID
	fac := x.Credentials.Facilitator
	if code := apitest.Call(t, "POST", ex+"/state", fac, map[string]string{"state": "running"}, nil); code != 200 {
		t.Fatalf("start: %d", code)
	}
	// Acknowledged events, then the kill while more are being written.
	acked := map[int64]bool{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("message %d", i)})
			req, _ := http.NewRequest("POST", ex+"/chat", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+fac)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the server died mid-request: not acknowledged
			}
			var ev struct{ ID int64 }
			json.NewDecoder(resp.Body).Decode(&ev)
			resp.Body.Close()
			if resp.StatusCode == 201 && ev.ID > 0 {
				acked[ev.ID] = true
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	var before struct{ Clock time.Duration }
	getAuth(t, ex, fac, &before)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	<-done
	if len(acked) < 10 {
		t.Fatalf("only %d events acknowledged before the kill", len(acked))
	}

	base, _ = startRangeProcess(t, bin, dir)
	ex = base + "api/exercises/" + x.Exercise.ID
	var after struct {
		State string
		Clock time.Duration
	}
	if code := getAuth(t, ex, fac, &after); code != 200 || after.State != "running" || after.Clock <= before.Clock {
		t.Fatalf("after restart: %d %+v (clock before the kill %v)", code, after, before.Clock)
	}
	found := map[int64]bool{}
	for after := int64(0); ; {
		var evs []struct{ ID int64 }
		getAuth(t, fmt.Sprintf("%s/events?after=%d", ex, after), fac, &evs)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			found[e.ID] = true
		}
		after = evs[len(evs)-1].ID
	}
	for id := range acked {
		if !found[id] {
			t.Errorf("acknowledged event %d is gone after the kill", id)
		}
	}
	if code := apitest.Call(t, "POST", ex+"/chat", fac, map[string]string{"text": "still here"}, nil); code != 201 {
		t.Errorf("the exercise does not go on after the restart: %d", code)
	}
	t.Logf("%d acknowledged events survived the kill", len(acked))
}
