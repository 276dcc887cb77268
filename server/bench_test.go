package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/otrange/otrange/server/exercise"
	"github.com/otrange/otrange/server/store"
)

// BenchmarkExerciseDelivery runs 20 exercises with 10 WebSocket clients each
// (every role, some twice) and appends chat events to every exercise in
// turn; it reports the latency from the append's acknowledgement to delivery
// on each client (p50, p99) and the server's heap.
func BenchmarkExerciseDelivery(b *testing.B) {
	const exercises, clients = 20, 10
	st, err := store.Open(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := New(Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	wsBase := "ws://" + ln.Addr().String()

	var mu sync.Mutex
	appended := map[int64]time.Time{}
	var lat []time.Duration
	var wg sync.WaitGroup
	var ids []string
	for range exercises {
		x, creds, err := s.engine.Create(context.Background(), exercise.CreateRequest{Title: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		fac, _ := s.engine.Authenticate(x.ID, creds.Facilitator)
		s.engine.Move(context.Background(), x.ID, exercise.Running, time.Time{}, fac)
		ids = append(ids, x.ID)
		for c := range clients {
			role := exercise.DefaultRoles[c%len(exercise.DefaultRoles)]
			_, tok, err := s.engine.Join(context.Background(), x.ID, creds.Invites[role], fmt.Sprintf("p%d", c))
			if err != nil {
				b.Fatal(err)
			}
			conn, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("%s/ws/exercises/%s?token=%s&after=1000000", wsBase, x.ID, tok), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var m struct{ Data store.Event }
					if err := conn.ReadJSON(&m); err != nil {
						return
					}
					now := time.Now()
					mu.Lock()
					if t0, ok := appended[m.Data.ID]; ok {
						lat = append(lat, now.Sub(t0))
					}
					mu.Unlock()
				}
			}()
		}
	}
	b.ResetTimer()
	n := max(b.N, 200)
	for i := range n {
		id := ids[i%exercises]
		payload, _ := json.Marshal(map[string]string{"text": "hello"})
		mu.Lock() // the appended time is known before any client can read the event
		t0 := time.Now()
		ev, err := s.engine.Append(context.Background(), store.Event{Exercise: id, Kind: exercise.KindChat, Payload: payload})
		if err != nil {
			mu.Unlock()
			b.Fatal(err)
		}
		appended[ev.ID] = t0
		mu.Unlock()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got >= n*clients || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	d := slices.Clone(lat)
	mu.Unlock()
	if len(d) < n*clients {
		b.Fatalf("%d of %d deliveries", len(d), n*clients)
	}
	slices.Sort(d)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(d[len(d)/2])/1e6, "ms-p50")
	b.ReportMetric(float64(d[len(d)*99/100])/1e6, "ms-p99")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap")
}
