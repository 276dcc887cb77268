// Shared helpers of the exercise pages: DOM building, the JSON API, tokens,
// formatting. Nothing here writes HTML from strings: text from the log or
// from people always goes through textContent.

export const $ = (id) => document.getElementById(id);

// h builds an element: h("button", {class: "x", onclick: fn, "aria-label": "..."}, "text", child).
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (!svg && (k === "hidden" || k === "disabled" || k === "checked" || k === "value" || k === "selected")) el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// hashParams reads the page's #a=b&c=d fragment (tokens travel there, never
// to the server in a URL).
export function hashParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

// APIError carries the server's {"error": ...} message and the status.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// api calls the JSON API. opts: token (Bearer), body (sent as JSON), raw
// (return the Response, for downloads).
export async function api(method, path, opts = {}) {
  const headers = {Accept: "application/json"};
  if (opts.token) headers.Authorization = "Bearer " + opts.token;
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, {method, headers, body, cache: "no-store"});
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try {
      const j = await res.json();
      if (j && j.error) msg = j.error;
    } catch { /* not JSON */ }
    throw new APIError(res.status, msg);
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

// Tokens: a participant's lives in sessionStorage (this tab only); the
// facilitator's exercises are remembered in localStorage by the lobby.
const tokenKey = (ex) => "otrange.token." + ex;
export function getToken(ex) {
  return sessionStorage.getItem(tokenKey(ex)) || (facilitated()[ex] || {}).token || "";
}
export function setToken(ex, token) { sessionStorage.setItem(tokenKey(ex), token); }

export function facilitated() {
  try {
    return JSON.parse(localStorage.getItem("otrange.facilitated") || "{}") || {};
  } catch {
    return {};
  }
}
export function rememberFacilitated(id, entry) {
  const all = facilitated();
  all[id] = entry;
  const ids = Object.keys(all);
  for (const old of ids.slice(0, Math.max(0, ids.length - 50))) delete all[old]; // bounded
  localStorage.setItem("otrange.facilitated", JSON.stringify(all));
}

const roleNames = {
  facilitator: "Facilitator",
  it_soc_analyst: "IT SOC analyst",
  ot_engineer: "OT engineer",
  operator: "Operator",
  incident_commander: "Incident commander",
  comms_legal: "Communications / legal",
  observer: "Observer",
  plant_manager: "Plant manager",
};
export const roleLabel = (r) => roleNames[r] || r;
export const defaultRoles = ["it_soc_analyst", "ot_engineer", "operator", "incident_commander", "plant_manager", "comms_legal", "observer"];

// fmtClock formats an exercise clock (nanoseconds) as h:mm:ss.
export function fmtClock(ns) {
  const s = Math.max(0, Math.floor((ns || 0) / 1e9));
  const hh = Math.floor(s / 3600), mm = Math.floor(s / 60) % 60, ss = s % 60;
  return hh + ":" + String(mm).padStart(2, "0") + ":" + String(ss).padStart(2, "0");
}

// fmtDur formats a duration (nanoseconds) briefly: 850ms, 12.3s, 4m05s.
export function fmtDur(ns) {
  if (ns === undefined || ns === null) return "–";
  const ms = ns / 1e6;
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  return m + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
}

export function fmtTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "–" : d.toLocaleTimeString();
}

export function fmtNum(v) {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(2);
}

// download saves a blob under a file name.
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", {href: url, download: name, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// confirmDialog asks a yes/no question in the page's <dialog id="confirm">
// (keyboard and screen-reader friendly, unlike window.confirm in some
// kiosks) and resolves to true when confirmed.
export function confirmDialog(question, okLabel = "Confirm") {
  const dlg = $("confirm");
  if (!dlg || typeof dlg.showModal !== "function") return Promise.resolve(window.confirm(question));
  $("confirm-text").textContent = question;
  $("confirm-ok").textContent = okLabel;
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), {once: true});
  });
}

// announce tells screen readers (and the status line) something happened.
export function announce(text) {
  const el = $("announce");
  if (el) el.textContent = text;
}

// describe turns a log event into one line of text for timelines.
export function describe(ev) {
  const p = ev.payload || {};
  switch (ev.kind) {
    case "exercise.created": return "Exercise created: " + (p.title || "");
    case "exercise.state": return "Exercise " + p.from + " → " + p.to;
    case "participant.joined": return (p.name || "someone") + " joined as " + roleLabel(p.role);
    case "inject": return "Inject" + (p.roles && p.roles.length ? " to " + p.roles.map(roleLabel).join(", ") : " to everyone") + ": " + p.text;
    case "alert": return "Alert [" + p.severity + "] " + p.rule_name + " — " + p.src_addr + " → " + p.dst_addr + (p.techniques && p.techniques.length ? " (" + p.techniques.join(" ") + ")" : "");
    case "plant.alarm": return "Plant alarm " + [p.device, p.name || p.alarm].filter(Boolean).join(" ") + (p.active === false ? " cleared" : "");
    case "plant.consequence": return "Consequence: " + p.condition + (p.device ? " at " + p.device : "") + (p.active ? " began" : " ended") + (p.detail ? " — " + p.detail : "");
    case "scenario.step": return "Step " + (p.name || p.step) + " (" + p.action + (p.target ? " → " + p.target : "") + "): " + (p.succeeded ? "succeeded" : "failed" + (p.error ? " — " + p.error : ""));
    case "action": {
      const a = p.action || {};
      return roleLabel(p.by) + ": " + a.kind + (a.device ? " " + a.device : "") + (a.source ? " " + a.source : "") + (a.mode ? " → " + a.mode : "") + (p.error ? " FAILED: " + p.error : p.result ? " — " + p.result : "");
    }
    case "operator.command": return roleLabel(p.by) + " set " + p.tag + " = " + p.value + (p.error ? " FAILED: " + p.error : "");
    case "decision": return "Decision" + (p.name ? " by " + p.name : "") + ": " + p.text + (p.rationale ? " — because " + p.rationale : "");
    case "chat": return (p.name || roleLabel(p.role)) + ": " + p.text;
    case "playbook": return "Playbook " + p.playbook + ": step " + p.step + " " + playbookVerb(p) + (p.role ? " by " + roleLabel(p.role) : "") +
      (p.approver && p.kind !== "playbook.step.approved" ? ", approved by " + roleLabel(p.approver) : "") +
      (p.action ? " (range action " + p.action.kind + (p.action.device ? " " + p.action.device : "") + (p.action.source ? " " + p.action.source : "") + ")" : "") +
      (p.error ? " — " + p.error : "") + (p.late ? " (late)" : "") + (p.out_of_order ? " (out of order)" : "");
    case "playbook.activated": return "Playbook " + p.playbook + " opened by " + roleLabel(p.by) + bindingText(p.bindings);
    case "inject.held": return "Inject held for the facilitator" + (p.roles && p.roles.length ? " (to " + p.roles.map(roleLabel).join(", ") + ")" : "") + ": " + p.text;
    case "inject.released": return "Held inject " + p.held + (p.action === "drop" ? " dropped" : " released");
    case "inject.mode": return p.hold ? "Scenario injects are held for the facilitator" : "Scenario injects go straight to their roles";
  }
  const s = JSON.stringify(p);
  return ev.kind + (s && s !== "null" ? " " + (s.length > 160 ? s.slice(0, 160) + "…" : s) : "");
}

// playbookVerb says what a checklist event did to its step.
export function playbookVerb(p) {
  switch (p.kind) {
    case "playbook.step.requested": return "checked, waiting for " + (p.approver ? roleLabel(p.approver) : "its approver");
    case "playbook.step.approved": return "approved (waiting for its owner)";
    case "playbook.step.done": return "done";
    case "playbook.step.skipped": return "skipped" + (p.reason ? " (" + p.reason + ")" : "");
    case "playbook.step.decided": return "decided: " + p.branch + (p.next ? " → " + p.next : "");
    case "playbook.action.failed": return "range action FAILED";
  }
  return p.kind || "updated";
}

function bindingText(b) {
  if (!b) return "";
  const parts = Object.entries(b).map(([k, v]) => k + " " + v);
  return parts.length ? " (" + parts.join(", ") + ")" : "";
}

// team names the side an event came from, for the facilitator's filter.
export function team(ev) {
  const src = ev.source || "";
  if (src.startsWith("participant:")) return src.slice("participant:".length);
  if (src.startsWith("rule:") || src.startsWith("sensor")) return "sensor";
  if (src.startsWith("step:")) return "scenario";
  if (src === "plant") return "plant";
  return "facilitator";
}
