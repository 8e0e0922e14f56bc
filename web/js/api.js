// A small client for the Caro API. Every call sends the bearer token; nothing is cached.

/** ApiError carries the HTTP status so the UI can say what happened. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Api {
  constructor(base, session) {
    this.base = base.replace(/\/$/, "");
    this.session = session;
  }

  async #call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.session.token}`, Accept: "application/json" };
    const init = { method, headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(this.base + path, init);
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const why = (data && (data.error || data.message)) || res.statusText;
      throw new ApiError(res.status, `${method} ${path} failed (${res.status}): ${why}`);
    }
    return data;
  }

  listPatients() { return this.#call("GET", "/patients").then(items); }
  getPatient(id) { return this.#call("GET", `/patients/${encodeURIComponent(id)}`); }
  /** createPatient sends {givenName, familyName, birthDate: "YYYY-MM-DD"}. */
  createPatient(input) { return this.#call("POST", "/patients", input); }
  listNotes(patientId) { return this.#call("GET", `/patients/${encodeURIComponent(patientId)}/notes`).then(items); }
  addNote(patientId, text) { return this.#call("POST", `/patients/${encodeURIComponent(patientId)}/notes`, { text }); }
}

// items unwraps a list page ({items, nextCursor}, internal/api PatientList and NoteList).
// TODO(pagination): only the first page is shown; follow nextCursor when lists grow.
const items = (page) => page?.items ?? [];
