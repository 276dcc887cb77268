// otrange live view: one WebSocket, the HMI values and the alert list.
"use strict";

const $ = (id) => document.getElementById(id);
const maxAlerts = 200;
let alertCount = 0;

function setConn(up) {
  const el = $("conn");
  el.textContent = up ? "live" : "disconnected";
  el.className = "conn " + (up ? "conn-up" : "conn-down");
}

function showSensor(st) {
  const banner = $("sensor-banner");
  if (st && !st.running) {
    banner.textContent = "Sensor is off: " + (st.reason || "unknown reason");
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function showHMI(h) {
  if (!h) return;
  $("level").textContent = h.level_mm;
  $("setpoint").textContent = h.setpoint_mm;
  $("pump").textContent = h.pump_on ? "RUNNING" : "stopped";
  const alarm = $("alarm");
  alarm.textContent = h.alarm || "none";
  alarm.className = h.alarm ? "alarm-on" : "";
  $("plc").textContent = h.online ? "online" : "OFFLINE";
  $("updated").textContent = new Date(h.time).toLocaleTimeString();
  const cap = h.capacity_mm || 1;
  const frac = Math.max(0, Math.min(1, h.level_mm / cap));
  const fill = $("tank-fill");
  fill.setAttribute("height", String(196 * frac));
  fill.setAttribute("y", String(208 - 196 * frac));
  const spFrac = Math.max(0, Math.min(1, h.setpoint_mm / cap));
  $("tank-sp").setAttribute("y1", String(208 - 196 * spFrac));
  $("tank-sp").setAttribute("y2", String(208 - 196 * spFrac));
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function addAlert(a, fresh) {
  const body = $("alerts");
  const empty = body.querySelector("tr.empty");
  if (empty) empty.remove();
  const tr = document.createElement("tr");
  tr.dataset.rule = a.rule_id;
  if (fresh) tr.className = "new";
  tr.appendChild(cell(new Date(a.time).toLocaleTimeString()));
  const sev = cell("");
  const badge = document.createElement("span");
  badge.className = "sev sev-" + a.severity;
  badge.textContent = a.severity;
  sev.appendChild(badge);
  tr.appendChild(sev);
  tr.appendChild(cell(a.rule_name));
  tr.appendChild(cell((a.techniques || []).join(" "), "tech"));
  tr.appendChild(cell(a.src_addr + " → " + a.dst_addr + ":" + a.dst_port));
  tr.appendChild(cell(a.message));
  body.insertBefore(tr, body.firstChild);
  while (body.children.length > maxAlerts) body.lastChild.remove();
  alertCount++;
  $("alert-count").textContent = String(alertCount);
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/ws");
  ws.onopen = () => setConn(true);
  ws.onclose = () => { setConn(false); setTimeout(connect, 1000); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    switch (msg.type) {
      case "hello":
        showHMI(msg.data.state.hmi);
        showSensor(msg.data.state.sensor);
        $("alerts").replaceChildren();
        alertCount = 0;
        for (const a of msg.data.alerts || []) addAlert(a, false);
        if (alertCount === 0) {
          $("alerts").innerHTML = '<tr class="empty"><td colspan="6">No alerts yet.</td></tr>';
        }
        break;
      case "hmi": showHMI(msg.data); break;
      case "sensor": showSensor(msg.data); break;
      case "alert": addAlert(msg.data, true); break;
    }
  };
}

connect();
