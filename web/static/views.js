// The views every role shares (timeline, injects, chat), the incident
// commander's decision log, the SOC analyst's alert console and asset
// inventory, and the OT engineer's device view. Each mount function fills
// its panel and returns {onEvent(ev, live), reset()}.
import {h, api, describe, team, fmtClock, fmtTime, roleLabel, announce, confirmDialog} from "./lib.js";

const maxItems = 2000; // per list; older entries leave the DOM (counted)

// boundedAppend adds li to list, dropping the oldest beyond maxItems.
function boundedAppend(list, li, counter) {
  list.append(li);
  while (list.children.length > maxItems) {
    list.firstElementChild.remove();
    counter.dropped++;
  }
}

// mountTimeline is the shared timeline. With filter (the facilitator's live
// feed of every team), a select narrows it to one side.
export function mountTimeline(root, ctx, {filter = false} = {}) {
  const list = root.querySelector("#timeline");
  const sel = root.querySelector("#feed-filter");
  const count = {dropped: 0};
  if (filter && sel) {
    sel.hidden = false;
    sel.previousElementSibling.hidden = false;
    sel.onchange = apply;
  }
  function apply() {
    const want = sel ? sel.value : "";
    for (const li of list.children) li.hidden = want !== "" && li.dataset.team !== want;
  }
  function ensureOption(tm) {
    if (!filter || !sel || [...sel.options].some((o) => o.value === tm)) return;
    sel.append(h("option", {value: tm}, roleLabel(tm)));
  }
  return {
    onEvent(ev, live) {
      const tm = team(ev);
      ensureOption(tm);
      const mine = ev.kind === "inject" && isForMe(ev, ctx.me.role);
      const li = h("li", {"data-id": ev.id, "data-kind": ev.kind, "data-team": tm, class: "ev ev-" + ev.kind.replace(/\W/g, "-") + (mine ? " to-me" : "") + (live ? " new" : "")},
        h("span", {class: "clock", title: new Date(ev.time).toLocaleString()}, fmtClock(ev.clock)),
        h("span", {class: "who"}, roleLabel(tm)),
        h("span", {class: "what"}, describe(ev)));
      if (sel && sel.value && sel.value !== tm) li.hidden = true;
      const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
      boundedAppend(list, li, count);
      if (atEnd) list.scrollTop = list.scrollHeight;
    },
    reset() { list.replaceChildren(); count.dropped = 0; },
  };
}

// isForMe: an inject addressed to my role by name (not to everyone).
function isForMe(ev, role) {
  const roles = (ev.payload && ev.payload.roles) || ev.audience || [];
  return roles.includes(role);
}

export function mountInjects(root, ctx) {
  const list = root.querySelector("#injects");
  const count = {dropped: 0};
  return {
    onEvent(ev, live) {
      if (ev.kind !== "inject") return;
      root.querySelector(".empty-note")?.remove();
      const p = ev.payload || {};
      const mine = isForMe(ev, ctx.me.role);
      const to = p.roles && p.roles.length ? p.roles.map(roleLabel).join(", ") : "everyone";
      const li = h("li", {"data-id": ev.id, class: "inject" + (mine ? " to-me" : "") + (live ? " new" : "")},
        h("div", {class: "meta"}, fmtClock(ev.clock) + " · to " + to + (p.adhoc ? " · ad hoc" : p.step ? " · step " + p.step : "")),
        h("div", {class: "text"}, p.text || ""),
        p.attachment ? h("div", {class: "meta"}, "Attachment: " + p.attachment) : null);
      list.prepend(li);
      while (list.children.length > maxItems) { list.lastElementChild.remove(); count.dropped++; }
      if (live && mine) announce("New inject for you: " + p.text);
    },
    reset() { list.replaceChildren(); },
  };
}

export function mountChat(root, ctx) {
  const log = root.querySelector("#chat-log");
  const form = root.querySelector("#chat-form");
  const input = root.querySelector("#chat-text");
  const status = root.querySelector("#chat-status");
  const count = {dropped: 0};
  form.onsubmit = async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    try {
      await ctx.call("POST", "/chat", {text});
      input.value = "";
      status.textContent = "";
    } catch (err) {
      status.textContent = "Not sent: " + err.message;
    }
  };
  if (ctx.replay) form.hidden = true;
  return {
    onEvent(ev) {
      if (ev.kind !== "chat") return;
      const p = ev.payload || {};
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
      boundedAppend(log, h("li", {"data-id": ev.id},
        h("span", {class: "clock"}, fmtClock(ev.clock)),
        h("strong", {}, (p.name || "?") + " (" + roleLabel(p.role) + ")"), " ",
        h("span", {class: "text"}, p.text || "")), count);
      if (atEnd) log.scrollTop = log.scrollHeight;
    },
    reset() { log.replaceChildren(); },
  };
}

export function mountDecisions(root, ctx) {
  const log = root.querySelector("#decision-log");
  const form = root.querySelector("#decision-form");
  const status = root.querySelector("#decision-status");
  const count = {dropped: 0};
  form.onsubmit = async (e) => {
    e.preventDefault();
    const text = root.querySelector("#decision-text").value.trim();
    const rationale = root.querySelector("#decision-rationale").value.trim();
    if (!text) return;
    try {
      await ctx.call("POST", "/decisions", {text, rationale});
      form.reset();
      status.textContent = "Decision logged.";
    } catch (err) {
      status.textContent = "Not logged: " + err.message;
    }
  };
  if (ctx.replay) form.hidden = true;
  return {
    onEvent(ev) {
      if (ev.kind !== "decision") return;
      const p = ev.payload || {};
      boundedAppend(log, h("li", {"data-id": ev.id},
        h("div", {class: "meta"}, fmtClock(ev.clock) + (p.name ? " · " + p.name : "")),
        h("div", {class: "text"}, p.text),
        p.rationale ? h("div", {class: "rationale"}, "Rationale: " + p.rationale) : null), count);
    },
    reset() { log.replaceChildren(); },
  };
}

const sevRank = {critical: 4, high: 3, medium: 2, low: 1, info: 0};

// mountAlerts is the SOC analyst's alert console: filter, sort, drill-down.
export function mountAlerts(root) {
  const body = root.querySelector("#alert-table tbody");
  const filter = root.querySelector("#alert-filter");
  const sevSel = root.querySelector("#alert-sev");
  const counter = root.querySelector("#alert-total");
  const detail = root.querySelector("#alert-detail");
  let alerts = [];
  let dropped = 0;
  let sort = {key: "time", dir: -1};
  let selected = null;

  const keyOf = {
    time: (a) => a.id,
    severity: (a) => sevRank[a.p.severity] ?? -1,
    rule: (a) => a.p.rule_name || "",
  };
  for (const btn of root.querySelectorAll("th button[data-sort]")) {
    btn.onclick = () => {
      const k = btn.dataset.sort;
      sort = {key: k, dir: sort.key === k ? -sort.dir : -1};
      for (const th of root.querySelectorAll("th[aria-sort]")) th.setAttribute("aria-sort", "none");
      btn.parentElement.setAttribute("aria-sort", sort.dir > 0 ? "ascending" : "descending");
      render();
    };
  }
  filter.oninput = render;
  sevSel.onchange = render;

  function matches(a) {
    const q = filter.value.trim().toLowerCase();
    if (sevSel.value && a.p.severity !== sevSel.value) return false;
    if (!q) return true;
    const p = a.p;
    return [p.rule_id, p.rule_name, p.message, p.src_addr, p.dst_addr, p.protocol, p.function, ...(p.techniques || [])]
      .some((s) => s && String(s).toLowerCase().includes(q));
  }

  function render() {
    const k = keyOf[sort.key];
    const rows = alerts.filter(matches).sort((x, y) => {
      const a = k(x), b = k(y);
      return (a < b ? -1 : a > b ? 1 : x.id - y.id) * sort.dir;
    });
    counter.textContent = rows.length === alerts.length ? String(alerts.length) : rows.length + " of " + alerts.length;
    if (!rows.length) {
      body.replaceChildren(h("tr", {class: "empty"}, h("td", {colspan: 7}, alerts.length ? "No alert matches the filter." : "No alerts yet.")));
      return;
    }
    body.replaceChildren(...rows.slice(0, 500).map(row));
  }

  function row(a) {
    const p = a.p;
    const open = () => showDetail(a);
    return h("tr", {"data-id": a.id, "data-rule": p.rule_id, class: selected === a.id ? "selected" : "", tabindex: 0,
      onclick: open, onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } }},
    h("td", {}, fmtTime(p.time || a.ev.time)),
    h("td", {}, h("span", {class: "sev sev-" + p.severity}, p.severity)),
    h("td", {}, p.rule_name || p.rule_id),
    h("td", {class: "tech"}, (p.techniques || []).join(" ")),
    h("td", {}, (p.src_addr || "?") + (p.src_port ? ":" + p.src_port : "") + " → " + (p.dst_addr || "?") + (p.dst_port ? ":" + p.dst_port : "")),
    h("td", {}, [p.protocol, p.function].filter(Boolean).join(" ")),
    h("td", {}, p.message || ""));
  }

  function showDetail(a) {
    selected = a.id;
    const p = a.p, ev = p.evidence || {};
    const item = (k, v) => [h("dt", {}, k), h("dd", {}, v === undefined || v === null || v === "" ? "–" : String(v))];
    detail.hidden = false;
    detail.querySelector("#alert-detail-body").replaceChildren(h("dl", {class: "kv"},
      item("Rule", (p.rule_id || "") + " — " + (p.rule_name || "")),
      item("Severity", p.severity),
      item("Techniques (ATT&CK for ICS)", (p.techniques || []).join(", ")),
      item("Time", p.time ? new Date(p.time).toLocaleString() : ""),
      item("Exercise clock", fmtClock(a.ev.clock)),
      item("Source", (p.src_addr || "") + ":" + (p.src_port ?? "")),
      item("Destination", (p.dst_addr || "") + ":" + (p.dst_port ?? "")),
      item("Protocol / function", [p.protocol, p.function].filter(Boolean).join(" / ")),
      item("Unit / address / value", [p.unit, p.address, p.value].map((v) => v ?? "–").join(" / ")),
      item("Evidence: flow", ev.flow_id),
      item("Evidence: frames", (ev.frames || []).join(", ")),
      item("Sensor", p.sensor),
      item("Alert id / event id", (p.id || "") + " / " + a.id),
      item("Message", p.message)));
    detail.querySelector("#alert-detail-json").textContent = JSON.stringify(p, null, 2);
    render();
    detail.querySelector("h3").focus();
  }
  root.querySelector("#alert-detail-close").onclick = () => { detail.hidden = true; selected = null; render(); };

  render();
  return {
    onEvent(ev) {
      if (ev.kind !== "alert") return;
      alerts.push({id: ev.id, ev, p: ev.payload || {}});
      if (alerts.length > 5000) { alerts.shift(); dropped++; }
      render();
    },
    reset() { alerts = []; dropped = 0; render(); },
    get dropped() { return dropped; },
  };
}

// mountAssets renders whatever GET /api/assets returns (an array of
// objects); until the endpoint exists it says so.
export function mountAssets(root, ctx) {
  const box = root.querySelector("#asset-body");
  const status = root.querySelector("#asset-status");
  async function load() {
    status.textContent = "Loading…";
    try {
      const assets = await api("GET", "/api/assets", {token: ctx.token});
      if (!Array.isArray(assets) || !assets.length) {
        status.textContent = "No assets observed yet.";
        box.replaceChildren();
        return;
      }
      const cols = [];
      for (const a of assets.slice(0, 50)) for (const k of Object.keys(a)) if (!cols.includes(k)) cols.push(k);
      const cell = (v) => v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
      box.replaceChildren(h("table", {class: "grid"},
        h("thead", {}, h("tr", {}, cols.map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, assets.slice(0, 1000).map((a) => h("tr", {}, cols.map((c) => h("td", {}, cell(a[c]))))))));
      status.textContent = assets.length + " assets" + (assets.length > 1000 ? " (first 1000 shown)" : "");
    } catch (e) {
      box.replaceChildren();
      status.textContent = e.status === 404 || e.status === 503
        ? "The asset inventory is not available on this server yet (HTTP " + e.status + ")."
        : "Could not load the asset inventory: " + e.message;
    }
  }
  root.querySelector("#asset-refresh").onclick = load;
  load();
  return {onEvent() {}, reset() {}};
}

const processActions = new Set(["set_mode", "restore_program", "restore_setpoints", "restart_device"]);

// mountDevices is the OT engineer's device view with range actions.
export function mountDevices(root, ctx, feed) {
  const body = root.querySelector("#device-table tbody");
  const fwBody = root.querySelector("#fw-table tbody");
  const status = root.querySelector("#action-status");
  const blockDev = root.querySelector("#block-device");
  let sig = "";

  async function act(action) {
    if (processActions.has(action.kind)) {
      const ok = await confirmDialog(`Run ${action.kind.replace(/_/g, " ")} on ${action.device}${action.mode ? " (mode " + action.mode + ")" : ""}? This touches the process.`, "Run action");
      if (!ok) return;
    }
    status.textContent = "Running " + action.kind + "…";
    status.className = "status";
    try {
      const ev = await ctx.call("POST", "/actions", action);
      const p = ev.payload || {};
      status.textContent = p.error ? action.kind + " failed: " + p.error : action.kind + " done" + (p.result ? ": " + p.result : "");
      status.className = p.error ? "status bad" : "status ok";
    } catch (e) {
      status.textContent = action.kind + " refused: " + e.message;
      status.className = "status bad";
    }
    announce(status.textContent);
  }

  root.querySelector("#block-form").onsubmit = (e) => {
    e.preventDefault();
    const source = root.querySelector("#block-source").value.trim();
    const reason = root.querySelector("#block-reason").value.trim();
    if (!source) return;
    act({kind: "block_host", device: blockDev.value, source, reason: reason || undefined});
  };

  function restartState(d) {
    if (d.up === false || d.back_at) {
      const at = d.back_at ? new Date(d.back_at) : null;
      return at && at > new Date() ? "restarting, back at " + at.toLocaleTimeString() : d.up === false ? "down" : "up";
    }
    return "up";
  }

  function checksum(d) {
    if (!d.known_good_checksum && !d.checksum) return h("span", {class: "muted"}, "–");
    if (d.checksum === d.known_good_checksum) return h("span", {class: "ok"}, "matches known good");
    return h("span", {class: "bad"}, "DIFFERS: " + d.checksum + " (known good " + d.known_good_checksum + ")");
  }

  function render(view) {
    const devs = (view.devices || []).filter((d) => d.kind !== "historian");
    const names = devs.map((d) => d.name).join(",");
    if (names !== sig) {
      sig = names;
      const cur = blockDev.value;
      blockDev.replaceChildren(h("option", {value: "*"}, "every device (*)"), ...devs.map((d) => h("option", {value: d.name}, d.name)));
      if (cur) blockDev.value = cur;
    }
    body.replaceChildren(...devs.map((d) => {
      const mode = h("select", {"aria-label": "Mode for " + d.name}, ["run", "program", "remote", "local"].map((m) => h("option", {value: m, selected: m === d.mode}, m)));
      const canProgram = d.kind === "plc" || d.kind === "sis" || d.kind === "rtu";
      return h("tr", {"data-device": d.name},
        h("th", {scope: "row"}, d.name, h("div", {class: "muted"}, [d.kind, d.protocol, d.address].filter(Boolean).join(" · "))),
        h("td", {class: d.online ? "ok" : "bad"}, d.online ? "online" : "OFFLINE" + (d.error ? ": " + d.error : "")),
        h("td", {}, d.mode || "–"),
        h("td", {}, restartState(d)),
        h("td", {}, checksum(d)),
        h("td", {class: "actions"}, canProgram ? [
          h("span", {class: "cmd"}, mode, h("button", {type: "button", onclick: () => act({kind: "set_mode", device: d.name, mode: mode.value})}, "Set mode")),
          h("button", {type: "button", onclick: () => act({kind: "restore_program", device: d.name})}, "Restore program"),
          h("button", {type: "button", onclick: () => act({kind: "restore_setpoints", device: d.name})}, "Restore setpoints"),
          h("button", {type: "button", onclick: () => act({kind: "restart_device", device: d.name})}, "Restart"),
        ] : h("span", {class: "muted"}, "no actions")));
    }));
    const rules = view.firewall || [];
    fwBody.replaceChildren(...(rules.length ? rules.map((r) => h("tr", {},
      h("td", {}, r.device), h("td", {}, r.source), h("td", {}, r.reason || ""), h("td", {}, r.since ? fmtTime(r.since) : ""),
      h("td", {}, h("button", {type: "button", onclick: () => act({kind: "unblock_host", device: r.device, source: r.source})}, "Unblock"))))
      : [h("tr", {class: "empty"}, h("td", {colspan: 5}, "No block rules."))]));
  }

  feed.subscribe((view) => { if (view) render(view); });
  return {onEvent() {}, reset() {}};
}
