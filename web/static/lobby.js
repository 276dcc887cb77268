// The lobby on the live range view: create an exercise, hand out one
// invitation link per role, list the exercises. The facilitator's tokens are
// remembered in this browser's localStorage so the console stays reachable.
import {$, h, api, roleLabel, defaultRoles, facilitated, rememberFacilitated} from "./lib.js";

const origin = location.origin;
const facLink = (id, token) => `${origin}/exercise.html#ex=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`;
const inviteLink = (id, token) => `${origin}/join.html#ex=${encodeURIComponent(id)}&invite=${encodeURIComponent(token)}`;

$("ex-roles").replaceChildren(...defaultRoles.map((r) => h("label", {class: "check"},
  h("input", {type: "checkbox", name: "ex-role", value: r, checked: true}), " " + roleLabel(r))));

async function copy(text, btn) {
  try {
    await navigator.clipboard.writeText(text);
    btn.textContent = "Copied";
  } catch {
    btn.textContent = "Select and copy the link";
  }
  setTimeout(() => { btn.textContent = "Copy"; }, 2000);
}

function showCreated(id, entry) {
  $("created-title").textContent = entry.title;
  const fac = $("fac-link");
  fac.href = facLink(id, entry.token);
  fac.textContent = "open the facilitator console";
  $("invites").replaceChildren(...Object.entries(entry.invites || {}).map(([role, tok]) => {
    const url = inviteLink(id, tok);
    const btn = h("button", {type: "button", class: "small"}, "Copy");
    btn.onclick = () => copy(url, btn);
    return h("li", {},
      h("strong", {}, roleLabel(role) + ": "),
      h("a", {href: url, "data-role": role, class: "invite", target: "_blank", rel: "noopener"}, url), " ", btn);
  }));
  $("ex-created").hidden = false;
}

document.querySelector("[data-copy=fac-link]").onclick = (e) => copy($("fac-link").href, e.target);

$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const roles = [...document.querySelectorAll("input[name=ex-role]:checked")].map((i) => i.value);
  for (const r of $("ex-custom").value.split(",")) if (r.trim()) roles.push(r.trim());
  const body = {title: $("ex-title").value.trim(), roles};
  const scenario = $("ex-scenario").value.trim();
  if (scenario) body.scenario = scenario;
  const speed = Number($("ex-speed").value);
  if (speed) body.speed = speed;
  $("ex-create").disabled = true;
  try {
    const res = await api("POST", "/api/exercises", {body});
    const x = res.exercise, c = res.credentials;
    const entry = {title: x.title, token: c.facilitator_token, invites: c.invite_tokens};
    rememberFacilitated(x.id, entry);
    showCreated(x.id, entry);
    $("create-status").textContent = "Created " + x.id + ".";
    $("create-form").reset();
    for (const i of document.querySelectorAll("input[name=ex-role]")) i.checked = true;
    list();
  } catch (err) {
    $("create-status").textContent = "Not created: " + err.message;
  }
  $("ex-create").disabled = false;
});

async function list() {
  const body = $("ex-list").querySelector("tbody");
  let xs;
  try {
    xs = await api("GET", "/api/exercises");
  } catch (err) {
    body.replaceChildren(h("tr", {class: "empty"}, h("td", {colspan: 4}, "Cannot list exercises: " + err.message)));
    return;
  }
  const mine = facilitated();
  xs = xs || [];
  if (!xs.length) {
    body.replaceChildren(h("tr", {class: "empty"}, h("td", {colspan: 4}, "No exercise yet.")));
    return;
  }
  body.replaceChildren(...xs.map((x) => {
    const m = mine[x.id];
    return h("tr", {"data-id": x.id},
      h("td", {}, x.title), h("td", {}, x.state), h("td", {class: "tech"}, x.id),
      h("td", {}, m ? [
        h("a", {href: facLink(x.id, m.token)}, "Console"), " ",
        h("button", {type: "button", class: "small", onclick: () => showCreated(x.id, m)}, "Links"),
      ] : h("span", {class: "muted"}, "—")));
  }));
}
$("ex-refresh").onclick = list;
list();
