// The Caro front end: sign in, list patients, open one, add a note.
//
// Security rules this file keeps (the browser attack suite checks them):
//   - text from the API is only ever written with textContent / attributes set through the DOM
//     (never innerHTML, never URLs built from data), so a patient named <img onerror=...> stays text;
//   - no inline script or style and no eval: the CSP allows only same-origin files;
//   - the token lives in memory (see auth.js).
import { Api, ApiError } from "./api.js";
import { Session, tokenSource } from "./auth.js";
import "./cognito.js"; // registers the production token source "cognito"

const $ = (id) => document.getElementById(id);
const session = new Session();
let api = null;
let source = null;
let signingIn = false;
let pendingStep = null; // {resolve, reject, kind} while the sign-in waits for a code or new password

async function main() {
  const config = await loadConfig();
  source = tokenSource(config);
  api = new Api(config.apiBase || "/api", session);
  $("signin-hint").textContent = source.describe();
  showFields(source.fields || ["sub", "tenant", "roles"]);
  $("signin-form").addEventListener("submit", onSignIn);
  $("challenge-form").addEventListener("submit", onChallenge);
  $("challenge-cancel").addEventListener("click", () => pendingStep?.reject(new Error("sign-in cancelled")));
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

// showFields shows the sign-in inputs the token source asks for; the others are disabled, so they
// are neither required nor submitted.
function showFields(names) {
  for (const label of $("signin-form").querySelectorAll("[data-field]")) {
    const on = names.includes(label.dataset.field);
    label.hidden = !on;
    for (const input of label.querySelectorAll("input")) input.disabled = !on;
  }
}

async function onSignIn(ev) {
  ev.preventDefault();
  if (signingIn) return;
  const form = ev.target;
  const f = new FormData(form);
  const roles = String(f.get("roles") || "").split(",").map((r) => r.trim()).filter(Boolean);
  const fields = {
    sub: String(f.get("sub") ?? ""), tenant: String(f.get("tenant") ?? ""), roles,
    phone: String(f.get("phone") ?? ""), password: String(f.get("password") ?? ""),
  };
  signingIn = true;
  status("Signing in…");
  try {
    session.set(await source.signIn(fields, askStep));
    status("");
    navigate("#/patients");
  } catch (err) {
    fail(err);
  } finally {
    signingIn = false;
    endStep();
    const pw = form.querySelector("input[name=password]");
    if (pw) pw.value = "";
  }
}

// askStep shows the second sign-in step (a code, or a new password on the first sign-in) and
// resolves with what the person types; step.error says why the previous answer was refused.
function askStep(step) {
  return new Promise((resolve, reject) => {
    const form = $("challenge-form");
    form.reset();
    for (const label of form.querySelectorAll("[data-step]")) {
      const on = label.dataset.step === step.kind;
      label.hidden = !on;
      for (const input of label.querySelectorAll("input")) input.disabled = !on;
    }
    $("challenge-prompt").textContent = step.message;
    status(step.error || "", Boolean(step.error));
    $("signin-form").hidden = true;
    form.hidden = false;
    form.querySelector("input:not([disabled])")?.focus();
    pendingStep = { resolve, reject, kind: step.kind };
  });
}

function onChallenge(ev) {
  ev.preventDefault();
  if (!pendingStep) return;
  const f = new FormData(ev.target);
  let answer;
  if (pendingStep.kind === "newPassword") {
    answer = String(f.get("newPassword") ?? "");
    if (answer !== String(f.get("confirm") ?? "")) {
      status("the two new passwords differ: type the same password twice", true);
      return;
    }
  } else {
    answer = String(f.get("code") ?? "").trim();
  }
  const { resolve } = pendingStep;
  pendingStep = null;
  status("Checking…");
  resolve(answer);
}

function endStep() {
  pendingStep = null;
  const form = $("challenge-form");
  form.reset();
  form.hidden = true;
  $("signin-form").hidden = false;
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
