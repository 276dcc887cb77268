// EventStream follows one exercise's log as its principal may see it: it
// catches up over HTTP (GET .../events, pages of 1000), then follows the
// WebSocket from the last event id. When the socket closes it waits (backoff
// with jitter, 0.5 s doubling to 10 s), catches up from the last id it
// delivered and reopens the socket with ?after= that id. Ids only grow, so an
// event is delivered once, in log order, and none is missed.
import {api} from "./lib.js";

const pageSize = 1000;
const maxBackoff = 10000;

export class EventStream {
  // opts: exercise, token, onEvent(ev), onStatus(state, detail) with state in
  // "connecting", "live", "down", "denied".
  constructor(opts) {
    this.ex = opts.exercise;
    this.token = opts.token;
    this.onEvent = opts.onEvent;
    this.onStatus = opts.onStatus || (() => {});
    this.lastID = 0;
    this.attempt = 0;
    this.stopped = false;
    this.duplicates = 0; // events received twice and dropped (should stay 0)
    this.reconnects = 0;
    this.errors = 0; // events a view failed to render
    this.ws = null;
    this.timer = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }

  take(ev) {
    if (!ev || typeof ev.id !== "number" || ev.id <= this.lastID) {
      this.duplicates++;
      return;
    }
    this.lastID = ev.id;
    try {
      this.onEvent(ev);
    } catch (err) { // a view's bug must not stall the stream
      this.errors++;
      (window.otrangeErrors || []).push("event " + ev.id + " (" + ev.kind + "): " + err.message);
    }
  }

  async catchUp() {
    for (;;) {
      const evs = await api("GET", `/api/exercises/${encodeURIComponent(this.ex)}/events?after=${this.lastID}&limit=${pageSize}`, {token: this.token});
      for (const ev of evs) this.take(ev);
      if (evs.length < pageSize) return;
    }
  }

  async connect() {
    if (this.stopped) return;
    this.onStatus("connecting");
    try {
      await this.catchUp();
    } catch (err) {
      if (err.status === 401 || err.status === 403 || err.status === 404) {
        this.stopped = true;
        this.onStatus("denied", err.message);
        return;
      }
      this.retry(err.message);
      return;
    }
    if (this.stopped) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${location.host}/ws/exercises/${encodeURIComponent(this.ex)}?token=${encodeURIComponent(this.token)}&after=${this.lastID}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onStatus("live");
    };
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.type === "event") this.take(msg.data);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.stopped) this.retry(e.reason || "connection closed");
    };
  }

  retry(why) {
    const delay = Math.min(maxBackoff, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt = Math.min(this.attempt + 1, 10);
    this.reconnects++;
    this.onStatus("down", why + "; retrying in " + Math.ceil(delay / 1000) + " s");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

// loadAll reads a whole log (for replay), bounded.
export async function loadAll(ex, token, max = 200000) {
  const out = [];
  let after = 0;
  while (out.length < max) {
    const evs = await api("GET", `/api/exercises/${encodeURIComponent(ex)}/events?after=${after}&limit=${pageSize}`, {token});
    out.push(...evs);
    if (evs.length < pageSize) break;
    after = evs[evs.length - 1].id;
  }
  return out;
}
