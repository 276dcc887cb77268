// join.html#ex=ID&invite=TOKEN: asks for a name, joins with the role's
// invitation, keeps the participant's own token in this tab's
// sessionStorage and opens the exercise.
import {$, api, hashParams, setToken} from "./lib.js";

const params = hashParams();
const ex = params.get("ex") || "";
const invite = params.get("invite") || "";

async function showTitle() {
  try {
    const list = await api("GET", "/api/exercises");
    const x = (list || []).find((e) => e.id === ex);
    if (x) $("join-ex").textContent = "“" + x.title + "” (" + x.state + ")";
  } catch { /* the title is a nicety */ }
}

if (!ex || !invite) {
  $("join-error").textContent = "This invitation link is incomplete: it needs #ex=…&invite=….";
  $("join-btn").disabled = true;
} else {
  showTitle();
  $("join-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("join-name").value.trim();
    if (!name) return;
    $("join-btn").disabled = true;
    $("join-error").textContent = "";
    try {
      const res = await api("POST", `/api/exercises/${encodeURIComponent(ex)}/join`, {body: {invite, name}});
      setToken(ex, res.token);
      location.replace("/exercise.html#ex=" + encodeURIComponent(ex));
    } catch (err) {
      $("join-error").textContent = err.status === 401 ? "This invitation is not valid for this exercise." : "Could not join: " + err.message;
      $("join-btn").disabled = false;
    }
  });
  $("join-name").focus();
}
