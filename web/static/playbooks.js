// The response playbooks panel, for every role: the checklists open in the
// exercise with each step's state, owner and safety gate, the caller's
// to-do (steps it owns, gates it must approve) with the buttons to check,
// approve, decide or skip them; the facilitator and the incident commander
// also see the playbooks matched to what happened and open one with its
// $device and $source bound; the facilitator sees each checklist's adherence.
// The server decides who may do what (403 otherwise); the buttons only follow
// GET .../playbooks/{pb}'s to-do for the caller's role.
import {h, api, roleLabel, fmtDur, fmtTime, announce, confirmDialog} from "./lib.js";

const openers = ["facilitator", "incident_commander"];
const maxChecklists = 20; // rendered at once; more are counted
const phaseNames = {
  prepare: "Prepare",
  detect_analyze: "Detect and analyze",
  contain: "Contain",
  eradicate: "Eradicate",
  recover: "Recover",
  post_incident: "Post-incident",
};
const stateNames = {pending: "to do", waiting: "waiting for approval", done: "done", skipped: "skipped", bypassed: "bypassed"};

const enc = encodeURIComponent;

// stepDetails reads what the checklist API does not carry (what to do, the
// gate's confirmation, the range action, the decision's branches, the
// message and the evidence of each step) from the playbook's handout as
// JSON.
const detailCache = new Map();
export function stepDetails(pb) {
  if (!detailCache.has(pb)) {
    const p = (async () => {
      const res = await api("GET", `/api/playbooks/${enc(pb)}/handout?format=json`);
      const out = new Map();
      for (const s of res.steps || []) {
        const d = {do: s.do || ""};
        if (s.gate) d.confirm = s.gate.confirm;
        if (s.action_text) d.action = s.action_text;
        if (s.decision) {
          d.question = s.decision.question;
          d.branches = (s.decision.branches || []).map((b) => ({when: b.when, next: b.next}));
        }
        if (s.communicate) d.message = {to: `Message to ${s.to}:`, text: s.communicate.template};
        if (s.evidence) d.evidence = s.evidence.slice();
        out.set(s.id, d);
      }
      return out;
    })();
    p.catch(() => detailCache.delete(pb)); // try again next time
    detailCache.set(pb, p);
  }
  return detailCache.get(pb);
}

export function mountPlaybooks(root, ctx) {
  const me = ctx.me.role;
  const isFac = me === "facilitator";
  const canOpen = openers.includes(me) && !ctx.replay;
  const status = root.querySelector("#pb-status");
  const todoList = root.querySelector("#pb-todo");
  const todoCount = root.querySelector("#pb-todo-count");
  const box = root.querySelector("#pb-checklists");
  const openBox = root.querySelector("#pb-open-box");
  const matchedList = root.querySelector("#pb-matched");
  const form = root.querySelector("#pb-open-form");
  const choice = root.querySelector("#pb-choice");
  const devInput = root.querySelector("#pb-device");
  const srcInput = root.querySelector("#pb-source");
  const handout = root.querySelector("#pb-handout");
  const bindings = new Map(); // playbook → {bindings, by} from playbook.activated
  let last = null; // the latest GET .../playbooks
  let lastAlert = null; // prefills $device and $source
  let devices = []; // [{name, address}] of the plant
  const touched = {device: false, source: false};
  const sel = (s) => "/playbooks" + (s ? "/" + enc(s) : "");

  openBox.hidden = !canOpen;
  if (ctx.replay) root.querySelector("#pb-todo-box").hidden = true;

  // UI state kept across re-renders: the focused control, typed text, open
  // <details>, by data-key.
  const kept = {values: new Map(), open: new Set()};
  function remember() {
    const a = document.activeElement;
    kept.focus = a && root.contains(a) ? a.dataset.key : undefined;
    for (const el of root.querySelectorAll("#pb-checklists [data-key]")) {
      if (el.tagName === "DETAILS") {
        if (el.open) kept.open.add(el.dataset.key);
        else kept.open.delete(el.dataset.key);
      } else if (el.tagName === "INPUT" || el.tagName === "SELECT") kept.values.set(el.dataset.key, el.value);
    }
  }
  function restore() {
    for (const el of root.querySelectorAll("#pb-checklists [data-key]")) {
      if (el.tagName === "DETAILS") el.open = kept.open.has(el.dataset.key);
      else if ((el.tagName === "INPUT" || el.tagName === "SELECT") && kept.values.has(el.dataset.key)) el.value = kept.values.get(el.dataset.key);
    }
    if (kept.focus) root.querySelector(`[data-key="${CSS.escape(kept.focus)}"]`)?.focus();
  }

  // Refreshes are coalesced: at most one in flight, one more queued.
  let timer = 0, due = 0, running = false, again = false;
  function schedule(ms) {
    const at = Date.now() + ms;
    if (timer && due <= at) return;
    clearTimeout(timer);
    due = at;
    timer = setTimeout(() => { timer = 0; refresh(); }, ms);
  }
  async function refresh() {
    if (running) { again = true; return; }
    running = true;
    try {
      const list = await ctx.call("GET", sel());
      const active = list.active || [];
      const cls = await Promise.all(active.slice(0, maxChecklists).map(async (id) => {
        try {
          const [cl, det] = await Promise.all([ctx.call("GET", sel(id)), stepDetails(id).catch(() => new Map())]);
          return {cl, det};
        } catch (e) {
          return {error: e, id};
        }
      }));
      last = list;
      remember();
      renderOpen(list);
      renderChecklists(cls, active.length);
      restore();
      status.textContent = active.length > maxChecklists ? `${active.length} playbooks are open; the first ${maxChecklists} are shown.` : "";
    } catch (e) {
      status.textContent = "Playbooks unavailable: " + e.message;
    } finally {
      running = false;
      if (again) { again = false; schedule(0); }
    }
  }

  // --- Opening a playbook (facilitator, incident commander) ---
  function renderOpen(list) {
    if (!canOpen) return;
    const active = new Set(list.active || []);
    const matched = list.matched || [];
    matchedList.replaceChildren(...(matched.length ? matched.map((m) => {
      const why = [...(m.rules || []).map((r) => "rule " + r), ...(m.conditions || []), ...(m.techniques || [])].join(", ");
      return h("li", {"data-playbook": m.id, class: active.has(m.id) ? "is-open" : ""},
        h("strong", {}, m.title), " ", h("code", {class: "muted"}, m.id),
        h("span", {class: "count", title: "match score"}, "score " + m.score),
        h("div", {class: "meta"}, "answers " + (why || "what was seen")),
        active.has(m.id) ? h("span", {class: "ok"}, " open") :
          h("button", {type: "button", class: "small", "data-choose": m.id, onclick: () => { choice.value = m.id; choiceChanged(); devInput.focus(); }}, "Choose"));
    }) : [h("li", {class: "muted"}, "No playbook matches yet.")]));
    const cur = choice.value;
    const lib = (list.library || []).filter((p) => !active.has(p.id));
    const mids = new Set(matched.map((m) => m.id));
    choice.replaceChildren(
      h("option", {value: ""}, "— choose a playbook —"),
      h("optgroup", {label: "Matched"}, matched.filter((m) => !active.has(m.id)).map((m) => h("option", {value: m.id}, m.title))),
      h("optgroup", {label: "Library"}, lib.filter((p) => !mids.has(p.id)).map((p) => h("option", {value: p.id}, p.title))));
    if (cur && [...choice.options].some((o) => o.value === cur)) choice.value = cur;
    choiceChanged();
  }
  function choiceChanged() {
    handout.disabled = !choice.value;
  }
  choice.onchange = choiceChanged;
  handout.onclick = () => {
    if (choice.value) window.open(`/api/playbooks/${enc(choice.value)}/handout`, "_blank", "noopener");
  };
  devInput.oninput = () => { touched.device = true; };
  srcInput.oninput = () => { touched.source = true; };
  function prefill() {
    if (!lastAlert) return;
    if (!touched.source && lastAlert.src_addr) srcInput.value = lastAlert.src_addr;
    const d = devices.find((x) => x.address && x.address.split(":")[0] === lastAlert.dst_addr);
    if (!touched.device && d) devInput.value = d.name;
  }
  form.onsubmit = async (e) => {
    e.preventDefault();
    const playbook = choice.value;
    if (!playbook) {
      status.textContent = "Choose a playbook to open.";
      return;
    }
    const body = {playbook};
    if (devInput.value.trim()) body.device = devInput.value.trim();
    if (srcInput.value.trim()) body.source = srcInput.value.trim();
    try {
      await ctx.call("POST", sel(), body);
      status.textContent = "Opened " + playbook + ".";
      choice.value = "";
      touched.device = touched.source = false;
      schedule(0);
    } catch (err) {
      status.textContent = "Not opened: " + err.message;
    }
    announce(status.textContent);
  };
  if (canOpen) {
    api("GET", "/api/plant").then((v) => {
      devices = (v.devices || []).filter((d) => ["plc", "sis", "rtu"].includes(d.kind));
      root.querySelector("#pb-devices").replaceChildren(...devices.map((d) => h("option", {value: d.name})));
      prefill();
    }).catch(() => { /* no plant: the device is typed */ });
  }

  // --- Checklists ---
  async function act(pb, s, action, extra, question) {
    if (question && !(await confirmDialog(question, "Go ahead"))) return;
    const body = {action, ...extra};
    try {
      const ev = await ctx.call("POST", sel(pb) + "/steps/" + enc(s.id), body);
      status.textContent = `${s.title}: ${action === "check" && ev.kind === "playbook.step.requested" ? "checked; waiting for " + roleLabel(s.approver) + " to approve" : ev.kind === "playbook.step.approved" ? "approved; waiting for " + roleLabel(s.owner) : action === "skip" ? "skipped" : action === "decide" ? "decided" : "done"}.`;
      status.className = "status ok";
    } catch (err) {
      status.textContent = `${s.title}: ${err.status === 403 ? "not yours to do" : "refused"}: ${err.message}`;
      status.className = "status bad";
    }
    announce(status.textContent);
    schedule(0);
  }

  // actionText is a step's range action with this run's bindings.
  function actionText(pb, d) {
    const b = (bindings.get(pb) || {}).bindings || {};
    const bound = Object.entries(b).map(([k, v]) => "$" + k + " = " + v).join(", ");
    return d.action + (bound ? " (" + bound + ")" : "");
  }

  // controls returns the buttons of a step the caller can act on now.
  function controls(pb, s, d) {
    const key = pb + "/" + s.id;
    const out = [];
    if (s.approver === me && !s.approved_at) {
      const runs = s.state === "waiting" && d && d.action;
      out.push(h("button", {type: "button", class: "primary", "data-key": key + "/approve", "data-act": "approve",
        onclick: () => act(pb, s, "approve", {}, runs ? `Approve "${s.title}"? This runs the range action now: ${actionText(pb, d)}` : "")},
      "Approve gate"));
    }
    if (s.owner !== me && !isFac) return out;
    if (d && d.branches && d.branches.length) {
      const pick = h("select", {"data-key": key + "/branch", "aria-label": "Answer to " + s.title},
        d.branches.map((b) => h("option", {value: b.next}, b.when + " → " + b.next)));
      out.push(h("span", {class: "cmd"}, pick, h("button", {type: "button", "data-key": key + "/decide", "data-act": "decide",
        onclick: () => act(pb, s, "decide", {branch: pick.value})}, "Decide")));
    } else if (d && d.question !== undefined) {
      out.push(h("span", {class: "muted"}, "decision without branches"));
    } else if (!d) {
      const branch = h("input", {"data-key": key + "/branch", "aria-label": "Branch (decision steps only)", placeholder: "branch (decisions)", size: 14});
      out.push(h("span", {class: "cmd"}, branch, h("button", {type: "button", "data-key": key + "/decide", "data-act": "decide",
        onclick: () => act(pb, s, "decide", {branch: branch.value.trim()})}, "Decide")));
    }
    if (s.state === "pending" && !(d && d.branches)) {
      const gated = !!s.approver && !s.approved_at;
      const runsNow = !gated && d && d.action;
      out.push(h("button", {type: "button", class: gated ? "" : "primary", "data-key": key + "/check", "data-act": "check",
        onclick: () => act(pb, s, "check", {}, runsNow ? `Mark "${s.title}" done? This runs the range action now: ${actionText(pb, d)}` : "")},
      gated ? "Check, ask " + roleLabel(s.approver) : "Done"));
    }
    const reason = h("input", {"data-key": key + "/reason", "aria-label": "Why skip " + s.title, placeholder: "reason", size: 18});
    out.push(h("details", {class: "skip-step", "data-key": key + "/skip"}, h("summary", {}, "Skip…"),
      h("span", {class: "cmd"}, reason, h("button", {type: "button", "data-key": key + "/skip-btn", "data-act": "skip",
        onclick: () => act(pb, s, "skip", {reason: reason.value.trim() || undefined})}, "Skip step"))));
    return out;
  }

  function gateText(s) {
    if (!s.approver) return null;
    return h("div", {class: "gate-note" + (s.approved_at ? " ok" : "")},
      "Safety gate: " + roleLabel(s.approver) + " must approve" +
        (!s.approved_at && s.approver !== "facilitator" && !(ctx.x.roles || []).includes(s.approver) ? " (nobody in this exercise has that role)" : "") + (s.approved_at ? " — approved " + fmtTime(s.approved_at) : s.state === "waiting" ? " — checked, waiting for approval" : ""));
  }

  function stepItem(pb, s, d, todo) {
    const key = pb + "/" + s.id;
    const info = [];
    if (d) {
      if (d.do) info.push(h("p", {}, d.do));
      if (d.confirm) info.push(h("p", {class: "gate-note"}, "The approver confirms: " + d.confirm));
      if (d.action) info.push(h("p", {class: "action-note"}, "Range action: " + actionText(pb, d)));
      if (d.question) info.push(h("p", {}, "Decision: " + d.question));
      if (d.message) info.push(h("div", {}, d.message.to), h("pre", {class: "template"}, d.message.text));
      if (d.evidence && d.evidence.length) info.push(h("div", {}, "Evidence to preserve:"), h("ul", {}, d.evidence.map((e) => h("li", {}, e))));
    }
    const done = s.state === "done" || s.state === "skipped";
    return h("li", {"data-step": s.id, "data-state": s.state, "data-owner": s.owner, class: "pb-step state-" + s.state + (todo ? " todo" : ""), tabindex: -1, id: "pbstep-" + pb + "-" + s.id},
      h("div", {class: "pb-line"},
        h("span", {class: "pb-state"}, stateNames[s.state] || s.state),
        h("strong", {}, s.title), " ", h("code", {class: "muted"}, s.id),
        h("span", {class: "meta"}, " · " + roleLabel(s.owner) + (s.due ? " · due " + fmtDur(s.due) : "") +
          (done && s.by ? " · by " + roleLabel(s.by) + (s.at ? " at " + fmtTime(s.done || s.at) : "") : "") +
          (s.branch ? " · chose " + s.branch : "") + (s.reason ? " · " + s.reason : "") +
          (s.late ? " · LATE" : "") + (s.out_of_order ? " · out of order" : ""))),
      gateText(s),
      info.length ? h("details", {"data-key": key + "/info"}, h("summary", {}, "What to do"), info) : null,
      todo && !ctx.replay ? h("div", {class: "actions"}, controls(pb, s, d)) : null);
  }

  function adherenceText(a) {
    const pct = (x) => Math.round((x || 0) * 100) + " %";
    return `${a.done} of ${a.applicable} applicable steps done (${pct(a.completion)}); ${a.late} late, ${a.skipped} skipped, ` +
      `${a.bypassed} bypassed, ${a.out_of_order} out of order, ${a.waiting} waiting for approval, ${a.pending} to do; on time ${pct(a.on_time)}`;
  }

  function renderChecklists(cls, total) {
    const todos = [];
    const cards = cls.map(({cl, det, error, id}) => {
      if (error) return h("article", {class: "checklist", "data-playbook": id}, h("h3", {}, id), h("p", {class: "status bad"}, "Cannot load: " + error.message));
      const pb = cl.playbook;
      const todo = new Set((cl.todo || []).map((s) => s.id));
      for (const s of cl.todo || []) todos.push({pb, title: cl.title, s, det: det.get(s.id)});
      const b = bindings.get(pb);
      const phases = [];
      for (const s of cl.steps || []) {
        if (!phases.length || phases[phases.length - 1].phase !== s.phase) phases.push({phase: s.phase, steps: []});
        phases[phases.length - 1].steps.push(s);
      }
      const a = cl.adherence || {};
      return h("article", {class: "checklist", "data-playbook": pb, "aria-labelledby": "pbt-" + pb},
        h("h3", {id: "pbt-" + pb}, cl.title, " ", h("code", {class: "muted"}, pb), " ",
          h("a", {href: `/api/playbooks/${enc(pb)}/handout`, target: "_blank", rel: "noopener", class: "small"}, "handout")),
        b ? h("p", {class: "meta"}, "Opened by " + roleLabel(b.by) + (b.bindings && Object.keys(b.bindings).length ? " for " + Object.entries(b.bindings).map(([k, v]) => k + " " + v).join(", ") : "")) : null,
        isFac && cl.adherence ? h("p", {class: "adherence", "data-adherence": pb}, "Adherence: " + adherenceText(a)) : null,
        phases.map((ph) => h("section", {class: "pb-phase"},
          h("h4", {}, phaseNames[ph.phase] || ph.phase),
          h("ol", {class: "plain"}, ph.steps.map((s) => stepItem(pb, s, det.get(s.id), todo.has(s.id)))))));
    });
    box.replaceChildren(...(cards.length ? cards : [h("p", {class: "muted", id: "pb-none"}, "No playbook is open in this exercise yet.")]));
    if (total > cards.length) box.append(h("p", {class: "muted"}, `${total - cards.length} more open playbooks are not shown.`));
    renderTodo(todos);
  }

  function renderTodo(todos) {
    // The facilitator may act on every open step: list only the gates and
    // steps that are the facilitator's own, or everything would be "to do".
    const mineOnly = todos.filter(({s}) => !isFac || s.owner === me || s.approver === me);
    todoCount.textContent = String(mineOnly.length);
    todoList.replaceChildren(...(mineOnly.length ? mineOnly.map(({pb, title, s, det}) => {
      const what = s.approver === me && !s.approved_at ? "approve the gate" : det && det.branches ? "decide" : s.state === "waiting" ? "waiting for " + roleLabel(s.approver) : "do it";
      return h("li", {"data-step": s.id, "data-playbook": pb},
        h("button", {type: "button", class: "link", onclick: () => document.getElementById("pbstep-" + pb + "-" + s.id)?.focus()}, s.title),
        h("span", {class: "meta"}, " — " + what + " · " + title));
    }) : [h("li", {class: "muted"}, isFac ? "Nothing is addressed to the facilitator; every open step can be acted on below." : "Nothing waits for you.")]));
  }

  root.querySelector("#pb-refresh").onclick = () => schedule(0);
  schedule(0);
  return {
    onEvent(ev, live) {
      const p = ev.payload || {};
      switch (ev.kind) {
        case "playbook.activated":
          bindings.set(p.playbook, {bindings: p.bindings, by: p.by});
          schedule(live ? 100 : 500);
          break;
        case "playbook":
          schedule(live ? 100 : 500);
          break;
        case "alert":
          lastAlert = p;
          if (canOpen) {
            prefill();
            schedule(2000);
          }
          break;
        case "plant.consequence":
          if (canOpen) schedule(2000);
          break;
      }
    },
    reset() { bindings.clear(); },
    get last() { return last; },
  };
}
