// The exercise page: asks the server who the token stands for (GET .../me),
// mounts that role's panels, and feeds them the exercise's log: live through
// EventStream, or played back from GET .../events for a finished exercise.
import {$, h, api, hashParams, getToken, setToken, roleLabel, fmtClock} from "./lib.js";
import {EventStream, loadAll} from "./stream.js";
import {PlantFeed, mountHMI} from "./plant.js";
import {mountTimeline, mountInjects, mountChat, mountDecisions, mountAlerts, mountAssets, mountDevices} from "./views.js";
import {mountFacilitator} from "./facilitator.js";
import {mountPlaybooks} from "./playbooks.js";

// Which panels each role gets. Roles not listed (comms_legal, observer,
// custom ones) get the shared ones.
const layouts = {
  facilitator: ["facilitator", "playbooks", "timeline", "injects", "chat", "alerts", "devices", "hmi"],
  operator: ["hmi", "injects", "playbooks", "timeline", "chat"],
  it_soc_analyst: ["alerts", "injects", "playbooks", "assets", "timeline", "chat"],
  ot_engineer: ["devices", "hmi", "injects", "playbooks", "timeline", "chat"],
  incident_commander: ["playbooks", "decisions", "injects", "timeline", "chat"],
  plant_manager: ["playbooks", "hmi", "injects", "timeline", "chat"],
};
const sharedLayout = ["injects", "playbooks", "timeline", "chat"];
const commandRoles = ["facilitator", "operator", "ot_engineer"];

function notice(text, bad) {
  const el = $(bad ? "error-banner" : "notice");
  el.textContent = text;
  el.hidden = false;
}

function setConn(state, detail) {
  const el = $("conn");
  const text = {connecting: "connecting…", live: "live", down: "reconnecting", denied: "access refused", replay: "replay"}[state] || state;
  el.textContent = text;
  el.title = detail || "";
  el.className = "conn " + (state === "live" || state === "replay" ? "conn-up" : "conn-down");
  el.dataset.state = state;
}

async function main() {
  const params = hashParams();
  const ex = params.get("ex") || "";
  let token = params.get("token") || "";
  if (ex && token) {
    setToken(ex, token);
    history.replaceState(null, "", "#ex=" + encodeURIComponent(ex)); // keep the token out of history
  } else if (ex) {
    token = getToken(ex);
  }
  if (!ex || !token) {
    setConn("denied");
    notice("Open this page from your invitation link (or the facilitator link shown when the exercise was created).", true);
    return;
  }
  const call = (method, path, body) => api(method, `/api/exercises/${encodeURIComponent(ex)}${path}`, {token, body});
  let me, x;
  try {
    me = await call("GET", "/me");
    x = await call("GET", "");
  } catch (e) {
    setConn("denied", e.message);
    notice(e.status === 401 ? "This link's token is not valid for this exercise." : e.status === 404 ? "There is no such exercise." : "Cannot load the exercise: " + e.message, true);
    return;
  }
  document.title = x.title + " — otrange";
  $("ex-title").textContent = x.title;
  $("me").textContent = roleLabel(me.role) + (me.name ? " · " + me.name : "");
  $("me").dataset.role = me.role;

  const finished = x.state === "finished" || x.state === "cancelled";
  let fetchedAt = Date.now();
  x.people = x.people || [];
  x.roles = x.roles || [];
  const ctx = {
    ex, token, me, x, call,
    replay: finished,
    canCommand: commandRoles.includes(me.role) && !finished,
    setExercise(nx) {
      nx.people = nx.people || [];
      nx.roles = nx.roles || [];
      ctx.x = x = nx;
      fetchedAt = Date.now();
      $("ex-state").textContent = x.state;
      for (const v of views) if (v.onExercise) v.onExercise(x);
      if (x.state === "finished" || x.state === "cancelled") $("replay-bar").hidden = false;
    },
  };

  const feed = new PlantFeed();
  const mounts = {
    facilitator: (r) => mountFacilitator(r, ctx),
    timeline: (r) => mountTimeline(r, ctx, {filter: me.role === "facilitator"}),
    injects: (r) => mountInjects(r, ctx),
    chat: (r) => mountChat(r, ctx),
    decisions: (r) => mountDecisions(r, ctx),
    playbooks: (r) => mountPlaybooks(r, ctx),
    alerts: (r) => mountAlerts(r, ctx),
    assets: (r) => mountAssets(r, ctx),
    devices: (r) => mountDevices(r, ctx, feed),
    hmi: (r) => mountHMI(r, ctx, feed),
  };
  const views = [];
  const main = $("views");
  for (const name of layouts[me.role] || sharedLayout) {
    const frag = $("tpl-" + name).content.cloneNode(true);
    const root = frag.firstElementChild;
    main.append(frag);
    views.push(mounts[name](root));
  }
  ctx.setExercise(x);

  // The clock runs locally between fetches of the exercise.
  setInterval(() => {
    if (replayer.active) return;
    let c = x.clock;
    if (x.state === "running") c += (Date.now() - fetchedAt) * 1e6 * x.speed;
    $("clock").textContent = fmtClock(c);
  }, 250);

  let refreshTimer = 0;
  const refreshExercise = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      try { ctx.setExercise(await call("GET", "")); } catch { /* next event retries */ }
    }, 100);
  };
  const dispatch = (ev, live) => {
    for (const v of views) v.onEvent(ev, live);
    if (live && (ev.kind === "exercise.state" || ev.kind === "participant.joined")) refreshExercise();
  };
  const resetAll = () => { for (const v of views) v.reset(); };

  const replayer = new Replayer(ex, token, dispatch, resetAll);
  let stream = null;
  if (finished) {
    setConn("replay");
    notice("This exercise is " + x.state + ". Its log is shown in full; use Replay to play it back.");
    $("replay-bar").hidden = false;
    try {
      await replayer.load();
      replayer.toEnd();
    } catch (e) {
      notice("Cannot load the log: " + e.message, true);
    }
  } else {
    let started = false;
    stream = new EventStream({
      exercise: ex, token,
      onEvent: (ev) => dispatch(ev, started),
      onStatus: (st, detail) => {
        if (st === "live") started = true;
        if (st === "denied") notice("The server refused this token: " + detail, true);
        setConn(st, detail);
      },
    });
    window.otrangeStream = stream; // for diagnostics (duplicates, reconnects)
    stream.start();
  }
  $("replay-play").onclick = async () => {
    if (stream) { stream.stop(); stream = null; }
    setConn("replay");
    if (!replayer.events) await replayer.load();
    replayer.play();
  };
  $("replay-pause").onclick = () => replayer.pause();
  $("replay-end").onclick = async () => {
    if (!replayer.events) await replayer.load();
    replayer.toEnd();
  };
  for (const r of document.querySelectorAll("input[name=replay-speed]")) r.onchange = () => replayer.setSpeed(Number(r.value));
}

// Replayer plays a log back on the exercise clock at 1×, 10× or 60×.
class Replayer {
  constructor(ex, token, dispatch, reset) {
    this.ex = ex;
    this.token = token;
    this.dispatch = dispatch;
    this.reset = reset;
    this.events = null;
    this.i = 0;
    this.speed = 1;
    this.timer = 0;
    this.active = false;
  }
  async load() {
    this.events = await loadAll(this.ex, this.token);
    this.i = this.events.length;
    this.show();
  }
  show() {
    const n = this.events ? this.events.length : 0;
    const cur = this.events && this.i > 0 ? this.events[this.i - 1] : null;
    $("replay-pos").textContent = "event " + this.i + " of " + n + (cur ? " · clock " + fmtClock(cur.clock) : "");
    if (this.active && cur) $("clock").textContent = fmtClock(cur.clock);
    $("replay-pause").disabled = !this.timer;
    $("replay-play").textContent = this.i > 0 && this.i < n ? "Play" : "Play from start";
  }
  play() {
    this.active = true;
    if (this.i >= this.events.length) {
      this.reset();
      this.i = 0;
    }
    this.step();
  }
  // step dispatches the next event and those that follow within 5 ms of
  // replay time, then waits for the next one.
  step() {
    clearTimeout(this.timer);
    this.timer = 0;
    const evs = this.events;
    while (this.i < evs.length) {
      this.dispatch(evs[this.i++], false);
      if (this.i < evs.length && this.gap() > 5) {
        this.wait();
        break;
      }
    }
    this.show();
  }
  gap() {
    return Math.max(0, this.events[this.i].clock - this.events[this.i - 1].clock) / 1e6 / this.speed;
  }
  wait() {
    this.timer = setTimeout(() => this.step(), this.gap());
  }
  pause() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.show();
  }
  setSpeed(s) {
    this.speed = s;
    if (this.timer) {
      clearTimeout(this.timer);
      this.wait();
    }
  }
  toEnd() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (!this.events) return;
    if (this.i >= this.events.length) {
      this.reset();
      this.i = 0;
    }
    while (this.i < this.events.length) this.dispatch(this.events[this.i++], false);
    this.show();
  }
}

main().catch((e) => {
  (window.otrangeErrors || []).push("start: " + e.message);
  notice("The page failed to start: " + e.message, true);
});
