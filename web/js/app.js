// The Caro front end: sign in, list patients, open one, add a note.
//
// Security rules this file keeps (the browser attack suite checks them):
//   - text from the API is only ever written with textContent / attributes set through the DOM
//     (never innerHTML, never URLs built from data), so a patient named <img onerror=...> stays text;
//   - no inline script or style and no eval: the CSP allows only same-origin files;
//   - the token lives in memory (see auth.js).
import { Api, ApiError } from "./api.js";
import { Session, tokenSource } from "./auth.js";

const $ = (id) => document.getElementById(id);
const session = new Session();
let api = null;
let source = null;

async function main() {
  const config = await loadConfig();
  source = tokenSource(config);
  api = new Api(config.apiBase || "/api", session);
  $("signin-hint").textContent = source.describe();
  $("signin-form").addEventListener("submit", onSignIn);
  $("patient-form").addEventListener("submit", onAddPatient);
  $("note-form").addEventListener("submit", onAddNote);
  $("signout").addEventListener("click", () => { session.clear(); navigate(""); });
  window.addEventListener("hashchange", route);
  route();
}

async function loadConfig() {
  const res = await fetch("/config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`cannot load /config.json (${res.status})`);
  return res.json();
}

function show(view) {
  for (const id of ["signin-view", "patients-view", "patient-view"]) {
    $(id).hidden = id !== view;
  }
  $("signout").hidden = !session.signedIn;
  const c = session.claims || {};
  $("whoami").textContent = session.signedIn
    ? `${c.sub || "?"} · tenant ${c["custom:tenant_id"] || "?"} · ${c["custom:roles"] || ""}`
    : "";
}

function status(message, isError = false) {
  const el = $("status");
  el.textContent = message;
  el.classList.toggle("error", isError);
}

// navigate shows the view of hash; setting a different hash routes through the hashchange event.
function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (!session.signedIn) {
    show("signin-view");
    return;
  }
  const m = location.hash.match(/^#\/patients\/([^/]+)$/);
  try {
    if (m) {
      await showPatient(decodeURIComponent(m[1]));
    } else {
      await showPatients();
    }
    status("");
  } catch (err) {
    fail(err);
  }
}

function fail(err) {
  if (err instanceof ApiError && err.status === 401) {
    session.clear();
    show("signin-view");
  }
  status(err.message, true);
}

async function showPatients() {
  const patients = await api.listPatients();
  const list = $("patient-list");
  list.replaceChildren(...patients.map((p) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#/patients/${encodeURIComponent(p.id)}`;
    a.textContent = nameOf(p);
    a.className = "patient-link";
    li.append(a);
    return li;
  }));
  if (patients.length === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "No patients yet.";
    list.append(li);
  }
  show("patients-view");
}

async function showPatient(id) {
  const [patient, notes] = await Promise.all([api.getPatient(id), api.listNotes(id)]);
  $("patient-name").textContent = nameOf(patient);
  const details = $("patient-details");
  details.replaceChildren();
  for (const [k, v] of Object.entries(patient || {})) {
    if (k === "givenName" || k === "familyName" || v === null || typeof v === "object") continue;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    details.append(dt, dd);
  }
  $("note-list").replaceChildren(...notes.map((n) => {
    const li = document.createElement("li");
    li.textContent = n.text;
    return li;
  }));
  $("note-form").dataset.patientId = id;
  show("patient-view");
}

async function onSignIn(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const roles = String(f.get("roles") || "").split(",").map((r) => r.trim()).filter(Boolean);
  try {
    session.set(await source.signIn({ sub: String(f.get("sub")), tenant: String(f.get("tenant")), roles }));
    navigate("#/patients");
  } catch (err) {
    fail(err);
  }
}

async function onAddPatient(ev) {
  ev.preventDefault();
  const form = ev.target;
  try {
    const f = new FormData(form);
    await api.createPatient({
      givenName: String(f.get("givenName")),
      familyName: String(f.get("familyName")),
      birthDate: String(f.get("birthDate")),
    });
    form.reset();
    await showPatients();
    status("Patient added.");
  } catch (err) {
    fail(err);
  }
}

async function onAddNote(ev) {
  ev.preventDefault();
  const form = ev.target;
  const id = form.dataset.patientId;
  try {
    await api.addNote(id, String(new FormData(form).get("text")));
    form.reset();
    await showPatient(id);
    status("Note added.");
  } catch (err) {
    fail(err);
  }
}

const nameOf = (p) => [p?.givenName, p?.familyName].filter(Boolean).join(" ") || "(no name)";

main().catch((err) => status(err.message, true));
