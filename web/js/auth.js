// Token sources: where the front end gets the bearer token it sends to the API.
//
// The source is chosen by "tokenSource" in /config.json, so the same files work locally and in
// production:
//   - "dev": the local runner (`caro local up`) issues development JWTs at POST /dev/token for any
//     user, tenant and roles typed into the sign-in form. It exists only in the local runner.
//   - "cognito" (production, cognito.js): the serving region's Cognito user pool, signed in with
//     SRP (the password never leaves the browser) and the required second factor; the pool and web
//     client come from the API (GET /api/auth/config), so after a region failover users sign in to
//     the standby region's pool. The config.json deployed to the asset bucket names it.
//
// The token is kept in memory only (never in cookies, localStorage or sessionStorage), so a reload
// signs the user out and no script running later on another page can read it.

const sources = new Map();

/**
 * registerTokenSource adds a token source. factory(config) returns an object with
 *   describe(): string               text shown above the sign-in form
 *   fields: string[]                 the sign-in form's inputs it reads (sub, tenant, roles, phone,
 *                                    password); default: sub, tenant, roles
 *   signIn(fields, ask): Promise<string>  resolves to a bearer token; ask(step) shows a second step
 *                                    ({kind: "code"|"newPassword", message, error}) and resolves to
 *                                    what the person typed
 */
export function registerTokenSource(name, factory) {
  sources.set(name, factory);
}

/** tokenSource returns the source named in config, or throws saying which names exist. */
export function tokenSource(config) {
  const factory = sources.get(config.tokenSource);
  if (!factory) {
    throw new Error(`unknown token source "${config.tokenSource}" in config.json: use one of ${[...sources.keys()].join(", ")}`);
  }
  return factory(config);
}

registerTokenSource("dev", () => ({
  fields: ["sub", "tenant", "roles"],
  describe: () => "Local development: any user, tenant and roles; the local runner signs the token.",
  async signIn({ sub, tenant, roles }) {
    const res = await fetch("/dev/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ sub, tenant_id: tenant, roles }),
    });
    if (!res.ok) {
      throw new Error(`sign-in failed: the local runner answered ${res.status}; is this \`caro local up\`?`);
    }
    const { token } = await res.json();
    if (typeof token !== "string" || token === "") {
      throw new Error("sign-in failed: /dev/token returned no token");
    }
    return token;
  },
}));

/** Session holds the signed-in user's token in memory. */
export class Session {
  #token = "";
  #claims = null;

  get signedIn() { return this.#token !== ""; }
  get token() { return this.#token; }
  get claims() { return this.#claims; }

  set(token) {
    this.#token = token;
    this.#claims = decodeClaims(token);
  }

  clear() {
    this.#token = "";
    this.#claims = null;
  }
}

// decodeClaims reads (does not verify: the API does) the JWT payload for display only.
function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}
