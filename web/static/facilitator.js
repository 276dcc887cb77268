// The facilitator's console: state controls, ad-hoc injects, participants
// and teams, the scenario's steps as executed, the score, and the report
// downloads. Mounted only for the facilitator (the server enforces it too).
import {h, api, fmtClock, fmtDur, roleLabel, team, describe, download, confirmDialog, announce} from "./lib.js";

// Moves allowed from each state (as server/exercise.transitions).
const moves = {
  draft: ["scheduled", "running", "cancelled"],
  scheduled: ["draft", "running", "cancelled"],
  running: ["paused", "finished", "cancelled"],
  paused: ["running", "finished", "cancelled"],
};

export function mountFacilitator(root, ctx) {
  const controls = root.querySelector("#state-controls");
  const stateStatus = root.querySelector("#state-status");
  const injectForm = root.querySelector("#inject-form");
  const injectRoles = root.querySelector("#inject-roles");
  const injectStatus = root.querySelector("#inject-status");
  const people = root.querySelector("#people");
  const teams = root.querySelector("#teams tbody");
  const steps = root.querySelector("#steps");
  const scoreBox = root.querySelector("#score");
  const activity = new Map(); // team → {count, last}

  // State controls.
  for (const btn of controls.querySelectorAll("button[data-state]")) {
    btn.onclick = async () => {
      const to = btn.dataset.state;
      const body = {state: to};
      if (to === "scheduled") {
        const v = root.querySelector("#start-at").value;
        if (!v) {
          stateStatus.textContent = "Choose a start time to schedule.";
          return;
        }
        body.start_at = new Date(v).toISOString();
      }
      if ((to === "finished" || to === "cancelled") && !(await confirmDialog(`Move the exercise to ${to}? This cannot be undone.`, to === "finished" ? "Finish" : "Cancel exercise"))) return;
      try {
        const x = await ctx.call("POST", "/state", body);
        ctx.setExercise(x);
        stateStatus.textContent = "Exercise is " + x.state + ".";
      } catch (e) {
        stateStatus.textContent = "Refused: " + e.message;
      }
      announce(stateStatus.textContent);
    };
  }

  function renderControls(x) {
    const ok = moves[x.state] || [];
    for (const btn of controls.querySelectorAll("button[data-state]")) {
      const to = btn.dataset.state;
      // "Start" is a move to running from draft or scheduled, "Resume" from paused.
      const allowed = ok.includes(to) && (btn.dataset.from ? btn.dataset.from.split(" ").includes(x.state) : true);
      btn.disabled = !allowed;
    }
    if (injectRoles.dataset.roles !== x.roles.join(",")) {
      injectRoles.dataset.roles = x.roles.join(",");
      injectRoles.replaceChildren(...x.roles.map((r) => h("label", {class: "check"},
        h("input", {type: "checkbox", name: "inject-role", value: r}), " " + roleLabel(r))));
    }
    people.replaceChildren(...(x.people.length ? x.people.map((p) => h("li", {}, p.name + " — " + roleLabel(p.role) + " (joined " + new Date(p.joined).toLocaleTimeString() + ")"))
      : [h("li", {class: "muted"}, "Nobody has joined yet.")]));
    renderTeams(x);
  }

  function renderTeams(x) {
    const sides = [...x.roles, "sensor", "plant", "scenario"];
    teams.replaceChildren(...sides.map((s) => {
      const a = activity.get(s) || {count: 0};
      const who = x.people.filter((p) => p.role === s).map((p) => p.name).join(", ");
      return h("tr", {"data-team": s},
        h("th", {scope: "row"}, roleLabel(s)),
        h("td", {}, who || (x.roles.includes(s) ? "—" : "")),
        h("td", {class: "num"}, String(a.count)),
        h("td", {}, a.last ? fmtClock(a.last.clock) + " " + describe(a.last) : "–"));
    }));
  }

  injectForm.onsubmit = async (e) => {
    e.preventDefault();
    const text = root.querySelector("#inject-text").value.trim();
    const roles = [...injectRoles.querySelectorAll("input:checked")].map((i) => i.value);
    if (!text) return;
    try {
      await ctx.call("POST", "/injects", {text, roles});
      root.querySelector("#inject-text").value = "";
      injectStatus.textContent = "Inject released to " + (roles.length ? roles.map(roleLabel).join(", ") : "everyone") + ".";
    } catch (err) {
      injectStatus.textContent = "Not released: " + err.message;
    }
    announce(injectStatus.textContent);
  };

  // Held injects: while held, the scenario's injects wait here for the
  // facilitator to release or drop each one.
  const holdToggle = root.querySelector("#hold-toggle");
  const holdStatus = root.querySelector("#hold-status");
  const held = root.querySelector("#held");
  const heldCount = root.querySelector("#held-count");
  const finished = () => ctx.x.state === "finished" || ctx.x.state === "cancelled";
  holdToggle.onchange = async () => {
    const hold = holdToggle.checked;
    holdToggle.disabled = true;
    try {
      await ctx.call("POST", "/injects/hold", {hold});
      holdStatus.textContent = hold ? "The scenario's injects now wait for you below." : "The scenario's injects now go straight to their roles.";
    } catch (e) {
      holdToggle.checked = !hold;
      holdStatus.textContent = "Not changed: " + e.message;
    }
    holdToggle.disabled = ctx.replay;
    announce(holdStatus.textContent);
  };
  holdToggle.disabled = ctx.replay;

  let pendingTimer = 0;
  function schedulePending(ms) {
    clearTimeout(pendingTimer);
    pendingTimer = setTimeout(loadPending, ms);
  }
  async function loadPending() {
    let list;
    try {
      list = await ctx.call("GET", "/injects/pending");
    } catch (e) {
      holdStatus.textContent = "Held injects unavailable: " + e.message;
      return;
    }
    heldCount.textContent = String(list.length);
    const focusKey = held.contains(document.activeElement) ? document.activeElement.dataset.key : "";
    held.replaceChildren(...(list.length ? list.slice(0, 200).map((p) => h("li", {"data-event": p.event_id, class: "inject"},
      h("div", {class: "meta"}, fmtClock(p.clock) + " · step " + (p.step || "–") + " · to " + ((p.roles || []).length ? p.roles.map(roleLabel).join(", ") : "everyone")),
      h("div", {class: "text"}, p.text || ""),
      finished() || ctx.replay ? h("div", {class: "muted"}, "never released") : h("div", {class: "row"},
        h("button", {type: "button", class: "primary small", "data-key": "rel-" + p.event_id, "data-release": p.event_id, onclick: () => settle(p, "release")}, "Release"),
        h("button", {type: "button", class: "small", "data-key": "drop-" + p.event_id, "data-drop": p.event_id, onclick: () => settle(p, "drop")}, "Drop"))))
      : [h("li", {class: "muted"}, "No inject is waiting.")]));
    if (list.length > 200) held.append(h("li", {class: "muted"}, (list.length - 200) + " more not shown"));
    if (focusKey) held.querySelector(`[data-key="${focusKey}"]`)?.focus();
  }
  async function settle(p, action) {
    if (action === "drop" && !(await confirmDialog(`Drop the inject to ${(p.roles || []).map(roleLabel).join(", ") || "everyone"}? Nobody will get it.`, "Drop inject"))) return;
    try {
      await ctx.call("POST", "/injects/pending/" + encodeURIComponent(p.event_id), {action});
      holdStatus.textContent = action === "release" ? "Released to " + ((p.roles || []).map(roleLabel).join(", ") || "everyone") + "." : "Dropped.";
    } catch (e) {
      holdStatus.textContent = (action === "release" ? "Not released: " : "Not dropped: ") + e.message;
    }
    announce(holdStatus.textContent);
    loadPending();
  }

  // Score.
  let scoreTimer = 0, scoreDue = false;
  async function loadScore() {
    scoreDue = false;
    try {
      renderScore(await ctx.call("GET", "/score"));
    } catch (e) {
      scoreBox.replaceChildren(h("p", {class: "status bad"}, "Score unavailable: " + e.message));
    }
  }
  function scheduleScore() { // at most every 5 s while events flow
    if (scoreTimer) { scoreDue = true; return; }
    loadScore();
    scoreTimer = setTimeout(() => { scoreTimer = 0; if (scoreDue) scheduleScore(); }, 5000);
  }
  root.querySelector("#score-refresh").onclick = loadScore;

  function renderScore(s) {
    const item = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    const pb = s.playbooks || {};
    scoreBox.replaceChildren(
      h("dl", {class: "kv score"},
        item("Detections hit", (s.detections_hit ?? 0) + " of " + (s.detections_expected ?? 0)),
        item("Alerts", (s.alerts ?? 0) + " (" + (s.unmatched_alerts ?? 0) + " unexplained)"),
        item("Mean time to detect", fmtDur(s.mean_time_to_detect)),
        item("Mean time to contain", fmtDur(s.mean_time_to_contain)),
        item("Injects", String(s.injects ?? 0)),
        item("Decisions", String((s.decisions || []).length)),
        item("Actions", String((s.actions || []).length)),
        item("Consequences", String((s.consequences || []).length)),
        item("Playbook steps", `${pb.Done ?? pb.done ?? 0} done, ${pb.Late ?? pb.late ?? 0} late, ${pb.Skipped ?? pb.skipped ?? 0} skipped`)),
      (s.steps || []).length ? h("table", {class: "grid"},
        h("caption", {}, "Per scenario step"),
        h("thead", {}, h("tr", {}, ["Step", "Start", "On the wire", "Detected", "Contained"].map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, s.steps.map((st) => h("tr", {},
          h("td", {}, st.name || st.step),
          h("td", {}, fmtClock(st.start)),
          h("td", {}, st.succeeded ? "succeeded" : "failed"),
          h("td", {}, st.time_to_detect !== undefined ? "after " + fmtDur(st.time_to_detect) : "missed"),
          h("td", {}, st.time_to_contain !== undefined ? "after " + fmtDur(st.time_to_contain) + (st.contained_by ? " (" + st.contained_by + ")" : "") : "–"))))) : "");
  }

  // Report downloads: fetched with the bearer token, never put in a URL.
  async function fetchBlob(path) {
    const res = await api("GET", `/api/exercises/${encodeURIComponent(ctx.ex)}${path}`, {token: ctx.token, raw: true});
    return res.blob();
  }
  const reportStatus = root.querySelector("#report-status");
  const guard = (fn) => async () => {
    reportStatus.textContent = "Preparing…";
    try {
      await fn();
      reportStatus.textContent = "";
    } catch (e) {
      reportStatus.textContent = "Failed: " + e.message;
    }
  };
  root.querySelector("#report-html").onclick = async () => {
    const w = window.open("", "_blank"); // opened on the click, filled when ready
    await guard(async () => {
      const blob = await fetchBlob("/report");
      const url = URL.createObjectURL(blob);
      if (w) w.location = url;
      else download(blob, "after-action-report.html");
    })();
  };
  root.querySelector("#report-md").onclick = guard(async () => download(await fetchBlob("/report?format=md"), "after-action-report.md"));
  root.querySelector("#navigator").onclick = guard(async () => download(await fetchBlob("/navigator"), "navigator-layer.json"));
  root.querySelector("#journal").onclick = guard(async () => download(await fetchBlob("/journal"), "journal.jsonl"));

  renderControls(ctx.x);
  loadScore();
  loadPending();
  return {
    onExercise(x) { renderControls(x); },
    onEvent(ev, live) {
      const tm = team(ev);
      const a = activity.get(tm) || {count: 0};
      a.count++;
      a.last = ev;
      activity.set(tm, a);
      if (ev.kind === "inject.mode") holdToggle.checked = !!(ev.payload && ev.payload.hold);
      if (ev.kind === "inject.held" || ev.kind === "inject.released") schedulePending(live ? 100 : 300);
      if (ev.kind === "scenario.step") {
        root.querySelector("#steps-empty")?.remove();
        const p = ev.payload || {};
        steps.append(h("li", {"data-id": ev.id, class: p.succeeded ? "ok" : "bad"},
          h("span", {class: "clock"}, fmtClock(ev.clock)), " ",
          h("strong", {}, p.name || p.step), " — " + p.action + (p.target ? " → " + p.target : "") +
          (p.techniques && p.techniques.length ? " [" + p.techniques.join(" ") + "]" : "") +
          (p.succeeded ? " succeeded" : " failed" + (p.error ? ": " + p.error : ""))));
      }
      renderTeams(ctx.x);
      if (live) scheduleScore();
    },
    reset() {
      activity.clear();
      steps.replaceChildren();
      renderTeams(ctx.x);
    },
  };
}
