// The live plant: one poller of GET /api/plant shared by the HMI and the
// device view, the SVG mimic of Riverside Water Treatment, the tag table with
// operator commands, and trends from the historian.
import {h, api, fmtNum, confirmDialog, announce} from "./lib.js";

// PlantFeed polls the plant view every second (every 5 s while the server
// has no plant) and hands each view to its listeners.
export class PlantFeed {
  constructor() {
    this.listeners = [];
    this.view = null;
    this.timer = 0;
    this.failures = 0;
  }
  subscribe(fn) {
    this.listeners.push(fn);
    if (this.view) fn(this.view, null);
    if (this.listeners.length === 1) this.poll();
  }
  async poll() {
    let err = null;
    try {
      this.view = await api("GET", "/api/plant");
      this.failures = 0;
    } catch (e) {
      err = e;
      this.failures++;
    }
    for (const fn of this.listeners) fn(err ? null : this.view, err);
    this.timer = setTimeout(() => this.poll(), err ? (err.status === 503 ? 5000 : Math.min(5000, 1000 * this.failures)) : 1000);
  }
}

// A tag's metadata and value.
export function indexTags(view) {
  const tags = new Map();
  for (const t of view.tags || []) tags.set(t.key, t);
  return tags;
}

// The mimic's process units, river to reservoir. Keys are the default plant's
// (simulator/plantdef/default.yaml); a unit whose tags the plant lacks shows
// dashes.
const UNITS = [
  {id: "river", label: "River", shape: "river", values: [["plc-intake:raw.turbidity", "turb."]]},
  {id: "intake", label: "Intake pumps", device: "plc-intake", shape: "pumps", pumps: ["plc-intake:pump1", "plc-intake:pump2"], values: [["plc-intake:flow", "flow"], ["plc-intake:auto", "auto"]]},
  {id: "raw", label: "Raw tank", device: "plc-intake", shape: "tank", level: "plc-intake:level", values: [["plc-intake:level", "level"], ["plc-intake:level.start", "start"], ["plc-intake:level.stop", "stop"]]},
  {id: "filters", label: "Filters", device: "plc-treatment", shape: "filters", values: [["plc-treatment:filter1.dp", "F1 ΔP"], ["plc-treatment:filter2.dp", "F2 ΔP"], ["plc-treatment:filter.flow", "flow"]]},
  {id: "dosing", label: "Dosing NaOH / Cl", device: "plc-treatment", shape: "dosing", values: [["plc-treatment:naoh.rate", "NaOH"], ["plc-treatment:cl.rate", "Cl"], ["plc-treatment:treated.ph", "pH"], ["plc-treatment:treated.chlorine", "Cl mg/l"]]},
  {id: "clearwell", label: "Clear well", device: "plc-treatment", shape: "tank", level: "plc-treatment:clearwell.level", values: [["plc-treatment:clearwell.level", "level"], ["plc-treatment:outlet.ph", "pH"], ["plc-treatment:outlet.chlorine", "Cl"]]},
  {id: "dist", label: "Distribution", device: "plc-distribution", shape: "pumps", pumps: ["plc-distribution:pump1", "plc-distribution:pump2", "plc-distribution:pump3"], values: [["plc-distribution:pressure", "press."], ["plc-distribution:flow", "flow"]]},
  {id: "network", label: "Network", device: "plc-distribution", shape: "network", values: [["plc-distribution:network.pressure", "press."]]},
  {id: "booster", label: "Booster", device: "rtu-reservoir", shape: "pumps", pumps: ["rtu-reservoir:pump1", "rtu-reservoir:pump2"], values: [["rtu-reservoir:flow", "flow"], ["rtu-reservoir:suction", "suct."]]},
  {id: "reservoir", label: "Reservoir", device: "rtu-reservoir", shape: "tank", level: "rtu-reservoir:level", values: [["rtu-reservoir:level", "level"], ["rtu-reservoir:reservoir.chlorine", "Cl"]]},
];

const unitW = 120, pipeY = 150;

function buildMimic(svg) {
  svg.replaceChildren();
  svg.append(h("svg:title", {id: "mimic-title", text: "Riverside Water Treatment process mimic"}));
  svg.append(h("svg:line", {x1: 40, x2: unitW * UNITS.length - 40, y1: pipeY, y2: pipeY, class: "pipe"}));
  UNITS.forEach((u, i) => {
    const x = i * unitW + unitW / 2;
    const g = h("svg:g", {id: "unit-" + u.id, class: "unit", "data-device": u.device || ""});
    g.append(h("svg:text", {x, y: 22, class: "unit-label", "text-anchor": "middle", text: u.label}));
    if (u.device) g.append(h("svg:text", {x, y: 38, class: "unit-dev", "text-anchor": "middle", "data-devstate": u.device, text: u.device}));
    switch (u.shape) {
      case "river":
        g.append(h("svg:path", {d: `M${x - 45} ${pipeY - 20} q 15 -12 30 0 t 30 0 t 30 0 v 40 h -90 z`, class: "water"}));
        break;
      case "tank":
        g.append(h("svg:rect", {x: x - 30, y: 60, width: 60, height: 110, class: "tank-wall"}));
        g.append(h("svg:rect", {x: x - 28, y: 168, width: 56, height: 0, class: "tank-fill", "data-level": u.level}));
        break;
      case "pumps":
        u.pumps.forEach((p, j) => {
          const cy = 80 + j * 34;
          g.append(h("svg:circle", {cx: x, cy, r: 13, class: "pump", "data-pump": p},
            h("svg:title", {text: p.split(":")[1]})));
          g.append(h("svg:text", {x: x + 18, y: cy + 4, class: "pump-label", text: "P" + (j + 1)}));
        });
        break;
      case "filters":
        for (const dx of [-24, 6]) g.append(h("svg:rect", {x: x + dx, y: 80, width: 18, height: 80, class: "filter"}));
        break;
      case "dosing":
        g.append(h("svg:rect", {x: x - 34, y: 60, width: 26, height: 40, class: "chem", rx: 3}));
        g.append(h("svg:rect", {x: x + 8, y: 60, width: 26, height: 40, class: "chem", rx: 3}));
        g.append(h("svg:text", {x: x - 21, y: 84, class: "chem-label", "text-anchor": "middle", text: "NaOH"}));
        g.append(h("svg:text", {x: x + 21, y: 84, class: "chem-label", "text-anchor": "middle", text: "Cl"}));
        g.append(h("svg:line", {x1: x - 21, x2: x - 21, y1: 100, y2: pipeY, class: "dose-line"}));
        g.append(h("svg:line", {x1: x + 21, x2: x + 21, y1: 100, y2: pipeY, class: "dose-line"}));
        break;
      case "network":
        g.append(h("svg:path", {d: `M${x - 40} ${pipeY} h 80 M${x - 20} ${pipeY} v -40 M${x + 20} ${pipeY} v -40 M${x} ${pipeY} v 30`, class: "pipe thin"}));
        break;
    }
    u.values.forEach(([key, label], j) => {
      g.append(h("svg:text", {x: x - 52, y: 200 + j * 16, class: "val-label", text: label}));
      g.append(h("svg:text", {x: x + 52, y: 200 + j * 16, class: "val", "text-anchor": "end", "data-tag": key, text: "–"}));
    });
    svg.append(g);
  });
}

// tagText formats a tag's value with its unit.
export function tagText(tag, v) {
  if (v === undefined || v === null) return "–";
  if (tag && tag.bool) return v ? "ON" : "OFF";
  return fmtNum(v) + (tag && tag.unit ? " " + tag.unit : "");
}

function updateMimic(svg, view) {
  const tags = indexTags(view);
  const values = view.values || {};
  const online = new Map((view.devices || []).map((d) => [d.name, d.online]));
  const alarmed = new Set((view.alarms || []).filter((a) => a.active).map((a) => a.device));
  for (const el of svg.querySelectorAll("[data-tag]")) {
    const k = el.dataset.tag;
    el.textContent = k in values ? tagText(tags.get(k), values[k]) : "–";
  }
  for (const el of svg.querySelectorAll("[data-level]")) {
    const k = el.dataset.level, v = values[k], t = tags.get(k);
    const max = t && t.max > 0 ? t.max : 5;
    const frac = typeof v === "number" ? Math.max(0, Math.min(1, v / max)) : 0;
    el.setAttribute("height", String(106 * frac));
    el.setAttribute("y", String(168 - 106 * frac));
  }
  for (const el of svg.querySelectorAll("[data-pump]")) {
    const p = el.dataset.pump;
    const run = values[p + ".running"], trip = values[p + ".tripped"];
    const st = trip ? "tripped" : run ? "running" : run === undefined ? "unknown" : "stopped";
    el.setAttribute("class", "pump pump-" + st);
    el.firstChild.textContent = p.split(":")[1] + ": " + st;
  }
  for (const g of svg.querySelectorAll("g.unit")) {
    const d = g.dataset.device;
    if (!d) continue;
    const off = online.has(d) && !online.get(d);
    g.classList.toggle("offline", off);
    g.classList.toggle("alarmed", alarmed.has(d));
    const label = g.querySelector("[data-devstate]");
    if (label) label.textContent = off ? "OFFLINE" : d;
  }
}

// mountHMI renders the operator's HMI into root and returns its view object.
// readOnly hides the command controls.
export function mountHMI(root, ctx, feed) {
  const svg = root.querySelector("#mimic");
  buildMimic(svg);
  const status = root.querySelector("#plant-status");
  const alarms = root.querySelector("#alarm-list");
  const body = root.querySelector("#tag-table tbody");
  const cmdStatus = root.querySelector("#cmd-status");
  const devices = root.querySelector("#device-strip");
  let built = "";
  const rows = new Map();

  function buildTable(view) {
    body.replaceChildren();
    rows.clear();
    for (const t of view.tags || []) {
      const val = h("td", {class: "num", "data-value": t.key});
      const ctl = h("td");
      if (t.writable && ctx.canCommand) ctl.append(commandControl(t));
      const tr = h("tr", {"data-key": t.key},
        h("td", {}, h("button", {type: "button", class: "link", title: "Show the trend of " + t.key, onclick: () => showTrend(root, t)}, t.key)),
        h("td", {text: t.description || ""}), val, ctl);
      rows.set(t.key, {tr, val, tag: t});
      body.append(tr);
    }
  }

  function commandControl(t) {
    const send = async (value) => {
      const cur = (feed.view && feed.view.values || {})[t.key];
      const ok = await confirmDialog(`Send ${t.key} = ${t.bool ? (value ? "ON" : "OFF") : value}${t.unit && !t.bool ? " " + t.unit : ""} (now ${tagText(t, cur)})? This changes the process.`, "Send command");
      if (!ok) return;
      cmdStatus.textContent = "Sending " + t.key + "…";
      try {
        const ev = await ctx.call("POST", "/commands", {tag: t.key, value});
        const err = ev.payload && ev.payload.error;
        cmdStatus.textContent = err ? "Command refused: " + err : "Sent " + t.key + " = " + value;
        cmdStatus.className = err ? "status bad" : "status ok";
      } catch (e) {
        cmdStatus.textContent = "Command failed: " + e.message;
        cmdStatus.className = "status bad";
      }
      announce(cmdStatus.textContent);
    };
    if (t.bool) {
      return h("span", {class: "cmd"},
        h("button", {type: "button", "data-cmd-set": t.key, "data-v": "1", onclick: () => send(1)}, "On"),
        h("button", {type: "button", "data-cmd-set": t.key, "data-v": "0", onclick: () => send(0)}, "Off"));
    }
    const input = h("input", {type: "number", step: "any", "data-cmd": t.key, "aria-label": "New value for " + t.key,
      min: t.min ?? undefined, max: t.max || undefined, required: true});
    return h("form", {class: "cmd", onsubmit: (e) => {
      e.preventDefault();
      const v = Number(input.value);
      if (input.value === "" || !isFinite(v)) {
        cmdStatus.textContent = "Enter a number for " + t.key;
        return;
      }
      send(v);
    }}, input, h("button", {type: "submit", "data-cmd-send": t.key}, "Set"));
  }

  feed.subscribe((view, err) => {
    if (err) {
      status.textContent = err.status === 503 ? "No plant is attached to this server." : "Plant unreachable: " + err.message;
      status.className = "status bad";
      root.classList.add("stale");
      return;
    }
    root.classList.remove("stale");
    status.textContent = (view.plant || "Plant") + " — updated " + new Date(view.time).toLocaleTimeString();
    status.className = "status";
    const sig = (view.tags || []).map((t) => t.key + (t.writable ? "w" : "")).join(",");
    if (sig !== built) {
      buildTable(view);
      built = sig;
    }
    const tags = indexTags(view);
    for (const [k, r] of rows) r.val.textContent = tagText(tags.get(k), (view.values || {})[k]);
    updateMimic(svg, view);
    const active = (view.alarms || []).filter((a) => a.active);
    alarms.replaceChildren(...(active.length ? active.map((a) => h("li", {class: "alarm-on"}, a.device + ": " + a.name))
      : [h("li", {class: "muted"}, "No active alarms")]));
    devices.replaceChildren(...(view.devices || []).map((d) => h("li", {class: d.online ? "dev-on" : "dev-off", title: d.error || ""},
      d.name + " " + (d.online ? "online" : "OFFLINE"))));
  });
  return {onEvent() {}, reset() {}};
}

// showTrend opens the trend panel for a tag: the last 10 minutes from the
// historian, refreshed every 5 s while open.
let trendTimer = 0;
export function showTrend(root, tag) {
  const panel = root.querySelector("#trend");
  panel.hidden = false;
  root.querySelector("#trend-title").textContent = "Trend: " + tag.key + (tag.unit ? " (" + tag.unit + ")" : "");
  const chart = root.querySelector("#trend-chart");
  const msg = root.querySelector("#trend-msg");
  clearTimeout(trendTimer);
  const load = async () => {
    const to = new Date(), from = new Date(to.getTime() - 10 * 60 * 1000);
    try {
      const res = await api("GET", `/api/plant/trend?tag=${encodeURIComponent(tag.key)}&from=${from.toISOString().replace(/\.\d+Z$/, "Z")}&to=${to.toISOString().replace(/\.\d+Z$/, "Z")}`);
      const pts = trendPoints(res);
      msg.textContent = pts.length ? pts.length + " points, last 10 minutes" : "No samples in the last 10 minutes.";
      drawTrend(chart, pts, from.getTime(), to.getTime());
    } catch (e) {
      msg.textContent = e.status === 404 ? "The historian does not record " + tag.key + "." : "Trend unavailable: " + e.message;
      chart.replaceChildren();
    }
    if (!panel.hidden) trendTimer = setTimeout(load, 5000);
  };
  root.querySelector("#trend-close").onclick = () => {
    panel.hidden = true;
    clearTimeout(trendTimer);
  };
  load();
}

// trendPoints accepts the historian's points ({Time, Min, Avg, Max, Last})
// in either key case, bare or under "points".
export function trendPoints(res) {
  const arr = Array.isArray(res) ? res : (res && (res.points || res.Points)) || [];
  const out = [];
  for (const p of arr) {
    const t = Date.parse(p.time || p.Time);
    const v = p.avg ?? p.Avg ?? p.value ?? p.Value ?? p.last ?? p.Last;
    if (!isNaN(t) && typeof v === "number") out.push({t, v, min: p.min ?? p.Min ?? v, max: p.max ?? p.Max ?? v});
  }
  return out;
}

function drawTrend(svg, pts, from, to) {
  svg.replaceChildren();
  if (!pts.length) return;
  const W = 600, H = 160, pad = 30;
  let lo = Math.min(...pts.map((p) => p.min)), hi = Math.max(...pts.map((p) => p.max));
  if (hi === lo) { hi += 1; lo -= 1; }
  const X = (t) => pad + (W - 2 * pad) * (t - from) / (to - from);
  const Y = (v) => H - pad + -(H - 2 * pad) * (v - lo) / (hi - lo);
  const band = pts.map((p) => X(p.t) + "," + Y(p.max)).concat(pts.slice().reverse().map((p) => X(p.t) + "," + Y(p.min)));
  svg.append(h("svg:polygon", {points: band.join(" "), class: "trend-band"}));
  svg.append(h("svg:polyline", {points: pts.map((p) => X(p.t) + "," + Y(p.v)).join(" "), class: "trend-line"}));
  svg.append(h("svg:text", {x: 2, y: pad, class: "axis", text: fmtNum(hi)}));
  svg.append(h("svg:text", {x: 2, y: H - pad, class: "axis", text: fmtNum(lo)}));
  svg.append(h("svg:text", {x: W - pad, y: H - 8, class: "axis", "text-anchor": "end", text: "now"}));
  svg.append(h("svg:text", {x: pad, y: H - 8, class: "axis", text: "−10 min"}));
}

