package server

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocket limits. A client that cannot keep up with sendQueue messages is
// dropped rather than allowed to slow the hub.
const (
	sendQueue      = 256
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = pongWait * 9 / 10
	maxMessageSize = 4096
	maxClients     = 1024
)

// hub owns the set of connected clients; one goroutine (run) touches it.
type hub struct {
	register   chan *client
	unregister chan *client
	broadcast  chan []byte
	done       chan struct{}
	log        *slog.Logger
	dropped    int // clients dropped for being slow; read only by run
}

type client struct {
	conn *websocket.Conn
	send chan []byte
}

func newHub(log *slog.Logger) *hub {
	return &hub{
		register:   make(chan *client),
		unregister: make(chan *client),
		broadcast:  make(chan []byte, 1024),
		done:       make(chan struct{}),
		log:        log,
	}
}

// run serves the hub until h.done is closed, then closes every client.
func (h *hub) run() {
	clients := make(map[*client]struct{})
	defer func() {
		for c := range clients {
			close(c.send)
		}
	}()
	for {
		select {
		case <-h.done:
			return
		case c := <-h.register:
			if len(clients) >= maxClients {
				h.log.Warn("websocket client refused: too many clients")
				close(c.send)
				continue
			}
			clients[c] = struct{}{}
		case c := <-h.unregister:
			if _, ok := clients[c]; ok {
				delete(clients, c)
				close(c.send)
			}
		case msg := <-h.broadcast:
			for c := range clients {
				select {
				case c.send <- msg:
				default:
					delete(clients, c)
					close(c.send)
					h.dropped++
					h.log.Warn("websocket client too slow, dropped", "remote", c.conn.RemoteAddr())
				}
			}
		}
	}
}

// sameOrigin accepts browsers on the page's own origin, and clients that send
// no Origin (non-browser tools).
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 4096,
	CheckOrigin:     sameOrigin,
}

// writePump sends queued messages and pings; it owns writes to the conn.
func (c *client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case msg, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				c.conn.WriteMessage(websocket.CloseMessage, []byte{})
				return
			}
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// readPump reads (and discards) client messages so pongs and closes are seen.
func (c *client) readPump(h *hub) {
	defer func() {
		select {
		case h.unregister <- c:
		case <-h.done:
		}
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error {
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		return nil
	})
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}
