// Production sign-in: an Amazon Cognito user pool, USER_SRP_AUTH (Secure Remote Password, so the
// password never leaves the browser) followed by the pool's required second factor.
//
// The web client is public (no secret) and allows only SRP and token refresh; there is no hosted UI.
// Steps:
//   1. GET {apiBase}/auth/config: the serving region's pool and web client (after a region failover
//      the API answers the standby region, so users sign in to that region's pool).
//   2. InitiateAuth USER_SRP_AUTH with the phone number (the pool's sign-in alias) and SRP_A.
//   3. RespondToAuthChallenge PASSWORD_VERIFIER with the password claim (proof of the password).
//   4. the second factor (SOFTWARE_TOKEN_MFA or SMS_MFA: a 6-digit code), a new password on the
//      first sign-in (NEW_PASSWORD_REQUIRED), SELECT_MFA_TYPE (the authenticator app is chosen);
//      MFA_SETUP stops: only an administrator can set up a user's second factor.
//   5. the ID token (custom:tenant_id, custom:roles: what the API's authorizer reads) is the bearer
//      token, held in memory only (auth.js Session). The refresh token is not kept: a reload or the
//      token's expiry (1 hour) means signing in again.
//
// The Cognito endpoint is https://cognito-idp.<region>.amazonaws.com/ (the CSP's connect-src lists
// the platform's regions). Only config.json may override it ("cognitoEndpoint", for tests against
// a fake); the API's answer never chooses where the password proof goes.
//
// SRP follows Cognito's variant as implemented by amazon-cognito-identity-js (AuthenticationHelper):
// RFC 5054's 3072-bit group, g = 2, SHA-256, k = H(pad(N) | pad(g)), u = H(pad(A) | pad(B)),
// x = H(pad(salt) | H(poolName | userId | ":" | password)), S = (B - k·g^x)^(a + u·x) mod N,
// key = HKDF-SHA256(ikm = pad(S), salt = pad(u), info = "Caldera Derived Key")[0:16],
// signature = HMAC-SHA256(key, poolName | userId | secretBlock | timestamp). pad() is the minimal
// big-endian two's-complement encoding (a leading 00 byte when the top bit is set), and each hash
// result is read back as a number (leading zeros dropped) before it is padded again.
//
// It runs unchanged in Node 20 (globalThis.crypto.subtle, fetch): the attack suite signs its test
// users in with it (pentest/lib/cognito-users.js).
import { registerTokenSource } from "./auth.js";

// RFC 5054 3072-bit group prime (the one Cognito uses).
const N_HEX =
  "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
  "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
  "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
  "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
  "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
  "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
  "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C" +
  "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

/** N is the SRP group prime, g its generator. */
export const N = BigInt(`0x${N_HEX}`);
export const g = 2n;

const subtle = () => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new SignInError("no-crypto", "sign-in is not possible here: this browser has no Web Crypto (it needs a secure https:// page): use a current browser over https");
  return s;
};
const utf8 = new TextEncoder();

/** SignInError says what went wrong and what to do; code is a short reason for programs and tests. */
export class SignInError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SignInError";
    this.code = code;
  }
}

// ------------------------------------------------------------------------------ SRP arithmetic

/** mod returns a mod m in [0, m). */
export const mod = (a, m) => ((a % m) + m) % m;

/** modPow returns base^exp mod m (square and multiply; exp >= 0). */
export function modPow(base, exp, m) {
  let result = 1n;
  let b = mod(base, m);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

/** padHex is Cognito's hex encoding of a non-negative number: even length, "00" before a set top bit. */
export function padHex(n) {
  if (typeof n !== "bigint" || n < 0n) throw new TypeError("padHex: a non-negative BigInt is required");
  let h = n.toString(16);
  if (h.length % 2) h = `0${h}`;
  if (/^[89a-f]/.test(h)) h = `00${h}`;
  return h;
}

/** hexToBytes decodes an even-length hex string. */
export function hexToBytes(hex) {
  if (hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) throw new TypeError("hexToBytes: not an even-length hex string");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** bytesToHex encodes bytes as lower-case hex. */
export const bytesToHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** toBase64 / fromBase64 convert between bytes and standard base64. */
export const toBase64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
export function fromBase64(s) {
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** sha256Hex hashes bytes (or a UTF-8 string) to 64 hex digits. */
export async function sha256Hex(data) {
  const bytes = typeof data === "string" ? utf8.encode(data) : data;
  return bytesToHex(new Uint8Array(await subtle().digest("SHA-256", bytes)));
}

/** hexHash hashes the bytes a hex string encodes and returns the digest as a number. */
export const hexHash = async (hex) => BigInt(`0x${await sha256Hex(hexToBytes(hex))}`);

let kPromise;
/** multiplier returns Cognito's k = H(pad(N) | pad(g)). */
export const multiplier = () => (kPromise ??= hexHash(padHex(N) + padHex(g)));

/** scrambler returns u = H(pad(A) | pad(B)). */
export const scrambler = (A, B) => hexHash(padHex(A) + padHex(B));

/** passwordExponent returns x = H(pad(salt) | H(poolName | userId | ":" | password)). */
export async function passwordExponent(salt, poolName, userId, password) {
  const inner = await sha256Hex(`${poolName}${userId}:${password}`);
  return hexHash(padHex(salt) + inner);
}

/** hmacSha256 signs message with key (both bytes). */
export async function hmacSha256(key, message) {
  const k = await subtle().importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle().sign("HMAC", k, message));
}

/** derivedKey is HKDF-SHA256(ikm = pad(S), salt = pad(u), info = "Caldera Derived Key"), 16 bytes. */
export async function derivedKey(S, u) {
  const ikm = await subtle().importKey("raw", hexToBytes(padHex(S)), "HKDF", false, ["deriveBits"]);
  const bits = await subtle().deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: hexToBytes(padHex(u)), info: utf8.encode("Caldera Derived Key") },
    ikm,
    128,
  );
  return new Uint8Array(bits);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n) => String(n).padStart(2, "0");

/** cognitoTimestamp formats a date as Cognito's TIMESTAMP: "EEE MMM D HH:mm:ss UTC YYYY" (day unpadded). */
export function cognitoTimestamp(date) {
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} UTC ${date.getUTCFullYear()}`;
}

/** randomBigInt returns a uniformly random non-negative number of the given byte length. */
export function randomBigInt(bytes) {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return BigInt(`0x${bytesToHex(b)}`);
}

const HEX = /^[0-9a-fA-F]{1,2048}$/;
const BASE64 = /^[A-Za-z0-9+/]{1,8192}={0,2}$/;

/**
 * SrpClient is one SRP exchange: a fresh secret a (128 random bytes, as Cognito's own clients use)
 * and its public A = g^a mod N.
 */
export class SrpClient {
  #a;

  /** poolName is the part of the user pool ID after the underscore. a is for known-answer tests only. */
  constructor(poolName, a = randomBigInt(128)) {
    this.poolName = poolName;
    this.#a = a;
    this.A = modPow(g, a, N);
    if (this.A % N === 0n) throw new SignInError("srp", "sign-in failed: could not create an SRP value: try again");
  }

  /**
   * passwordClaim proves the password for the server's PASSWORD_VERIFIER challenge: SRP_B, SALT and
   * SECRET_BLOCK as sent, userId = USER_ID_FOR_SRP. It refuses server values that would let a
   * forged server learn or bypass the proof (B mod N = 0, u = 0) and malformed ones.
   */
  async passwordClaim({ userId, password, srpB, salt, secretBlock, now = new Date() }) {
    if (!HEX.test(srpB ?? "") || !HEX.test(salt ?? "") || !BASE64.test(secretBlock ?? "") || !userId) {
      throw new SignInError("tampered", "sign-in stopped: the sign-in service sent a malformed password challenge: try again, and tell your administrator if it repeats");
    }
    const B = BigInt(`0x${srpB}`);
    if (B % N === 0n) {
      throw new SignInError("tampered", "sign-in stopped: the sign-in service sent an invalid SRP value (B mod N = 0), as a forged server would: your password was not used; tell your administrator");
    }
    const u = await scrambler(this.A, B);
    if (u === 0n) {
      throw new SignInError("tampered", "sign-in stopped: the sign-in service sent an invalid SRP value (u = 0): your password was not used; try again, and tell your administrator if it repeats");
    }
    const x = await passwordExponent(BigInt(`0x${salt}`), this.poolName, userId, password);
    const k = await multiplier();
    const S = modPow(B - k * modPow(g, x, N), this.#a + u * x, N);
    const key = await derivedKey(S, u);
    const timestamp = cognitoTimestamp(now);
    const message = concat(utf8.encode(this.poolName), utf8.encode(userId), fromBase64(secretBlock), utf8.encode(timestamp));
    return { signature: toBase64(await hmacSha256(key, message)), timestamp };
  }
}

// ------------------------------------------------------------------------------ the Cognito API

const REGION = /^[a-z]{2}(-[a-z]+)+-[0-9]$/;
const CLIENT_ID = /^[0-9A-Za-z]{1,128}$/;

/** loadPoolConfig asks the API which pool and web client serve this region, and checks the answer. */
export async function loadPoolConfig(apiBase, fetchFn) {
  const url = `${(apiBase || "/api").replace(/\/+$/, "")}/auth/config`;
  let res;
  try {
    res = await fetchFn(url, { headers: { Accept: "application/json" }, credentials: "omit", cache: "no-store" });
  } catch (err) {
    throw new SignInError("network", `cannot load the sign-in configuration (${url}): ${err.message}: check your connection and try again`);
  }
  if (res.status === 404) {
    throw new SignInError("not-configured", `sign-in is not configured for this deployment (${url} answered 404): ask an operator to wire the region's user pool`);
  }
  if (!res.ok) {
    throw new SignInError("not-configured", `cannot load the sign-in configuration (${url} answered ${res.status}): try again in a minute`);
  }
  let c;
  try {
    c = await res.json();
  } catch {
    c = null;
  }
  const region = c?.region;
  const userPoolId = c?.userPoolId;
  const clientId = c?.clientId;
  if (typeof region !== "string" || !REGION.test(region) ||
      typeof userPoolId !== "string" || !userPoolId.startsWith(`${region}_`) || !/^[0-9A-Za-z]{1,55}$/.test(userPoolId.slice(region.length + 1)) ||
      typeof clientId !== "string" || !CLIENT_ID.test(clientId)) {
    throw new SignInError("not-configured", `the sign-in configuration from ${url} is invalid (want a region, a user pool of that region and a client ID): tell an operator`);
  }
  return { region, userPoolId, clientId, poolName: userPoolId.slice(region.length + 1) };
}

/** cognitoEndpoint is where sign-in requests go: the region's Cognito, or config.json's override. */
export function cognitoEndpoint(config, region) {
  return config.cognitoEndpoint || `https://cognito-idp.${region}.amazonaws.com/`;
}

// What each Cognito error means for the person signing in.
const THROTTLED = new Set(["TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"]);

/** explain turns a Cognito error answer into a SignInError saying what to do. */
export function explain(type, message = "", status = 400) {
  const m = String(message);
  switch (true) {
    case type === "NotAuthorizedException" && /session/i.test(m):
      return new SignInError("expired", "sign-in took too long and its session expired (each step must be finished within 3 minutes): start again with your phone number and password");
    case type === "NotAuthorizedException" && /attempts exceeded/i.test(m):
      return new SignInError("throttled", "too many failed sign-in attempts: wait 15 minutes before trying again, or ask an administrator to reset your password");
    case type === "NotAuthorizedException" && /disabled/i.test(m):
      return new SignInError("disabled", "this account is disabled: ask an administrator");
    case type === "NotAuthorizedException" || type === "UserNotFoundException":
      return new SignInError("wrong-password", "the phone number or password is wrong: check both (phone number in international format, e.g. +31 6 12345678) and try again");
    case type === "CodeMismatchException":
      return new SignInError("wrong-code", "the code is wrong: enter the current 6-digit code (codes change every 30 seconds)");
    case type === "ExpiredCodeException":
      return new SignInError("wrong-code", "the code has expired or was already used: wait for the next code and enter it");
    case THROTTLED.has(type):
      return new SignInError("throttled", "too many sign-in attempts: wait a few minutes and try again");
    case type === "PasswordResetRequiredException":
      return new SignInError("reset-required", "your password must be reset before you can sign in: ask an administrator");
    case type === "UserNotConfirmedException":
      return new SignInError("not-confirmed", "this account is not confirmed yet: ask an administrator");
    case type === "InvalidPasswordException":
      return new SignInError("weak-password", `the new password was refused: ${m || "it does not meet the password policy"}: choose another one`);
    case type === "ResourceNotFoundException" || (type === "InvalidParameterException" && /client|flow/i.test(m)):
      return new SignInError("not-configured", `the sign-in service refused this app's configuration (${type}: ${m}): tell an operator`);
    default:
      return new SignInError("service", `sign-in failed: the sign-in service answered ${status} ${type || "(no error type)"}${m ? `: ${m}` : ""}: try again in a minute`);
  }
}

/** cognitoCall POSTs one Cognito Identity Provider operation and returns its JSON answer. */
export async function cognitoCall(fetchFn, endpoint, operation, body) {
  let res;
  try {
    res = await fetchFn(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `AWSCognitoIdentityProviderService.${operation}` },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new SignInError("network", `cannot reach the sign-in service (${endpoint}): ${err.message}: check your connection and try again`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!res.ok) {
    const type = String(data?.__type || res.headers.get("x-amzn-errortype") || "").split(/[#:]/).filter(Boolean).pop() || "";
    throw explain(type, data?.message || data?.Message, res.status);
  }
  if (!data || typeof data !== "object") {
    throw new SignInError("service", `sign-in failed: the sign-in service sent an unreadable answer to ${operation}: try again`);
  }
  return data;
}

/** normalizePhone returns the E.164 form of a typed phone number, or throws saying how to type it. */
export function normalizePhone(typed) {
  let p = String(typed ?? "").replace(/[\s().-]/g, "");
  if (p.startsWith("00")) p = `+${p.slice(2)}`;
  if (!/^\+[1-9][0-9]{6,14}$/.test(p)) {
    throw new SignInError("bad-input", "enter your phone number in international format, starting with + and the country code (e.g. +31 6 12345678)");
  }
  return p;
}

const CODE = /^[0-9]{6}$/;
const MAX_TRIES = 3;

/**
 * signInWithCognito runs the whole sign-in and resolves to the ID token. ask(step) is called for
 * what only the person knows and resolves to their answer:
 *   {kind: "code", medium: "totp"|"sms", message, error?}   a 6-digit code
 *   {kind: "newPassword", message, error?}                  the new password (first sign-in)
 * error, when set, says why the previous answer was refused.
 */
export async function signInWithCognito(config, { phone, password }, ask, { fetch: fetchFn = globalThis.fetch.bind(globalThis), now = () => new Date() } = {}) {
  subtle(); // no Web Crypto (a plain-http page): say so before anything is sent
  const username = normalizePhone(phone);
  if (typeof password !== "string" || password === "") throw new SignInError("bad-input", "enter your password");
  if (typeof ask !== "function") throw new TypeError("signInWithCognito: ask(step) is required for the second step");
  const pool = await loadPoolConfig(config.apiBase, fetchFn);
  const endpoint = cognitoEndpoint(config, pool.region);
  const call = (op, body) => cognitoCall(fetchFn, endpoint, op, body);
  const respond = (name, session, responses) =>
    call("RespondToAuthChallenge", { ChallengeName: name, ClientId: pool.clientId, ...(session ? { Session: session } : {}), ChallengeResponses: responses });

  const srp = new SrpClient(pool.poolName);
  let r = await call("InitiateAuth", {
    AuthFlow: "USER_SRP_AUTH",
    ClientId: pool.clientId,
    AuthParameters: { USERNAME: username, SRP_A: srp.A.toString(16) },
  });
  if (r.ChallengeName !== "PASSWORD_VERIFIER") {
    throw new SignInError("service", `sign-in failed: expected the password challenge, got ${r.ChallengeName || "no challenge"}: tell an operator (the web client must allow USER_SRP_AUTH)`);
  }
  const p = r.ChallengeParameters || {};
  const userId = p.USER_ID_FOR_SRP;
  const claim = await srp.passwordClaim({ userId, password, srpB: p.SRP_B, salt: p.SALT, secretBlock: p.SECRET_BLOCK, now: now() });
  r = await respond("PASSWORD_VERIFIER", r.Session, {
    USERNAME: userId,
    PASSWORD_CLAIM_SECRET_BLOCK: p.SECRET_BLOCK,
    TIMESTAMP: claim.timestamp,
    PASSWORD_CLAIM_SIGNATURE: claim.signature,
  });

  for (let step = 0; step < 6; step++) {
    if (r.AuthenticationResult) return idTokenOf(r.AuthenticationResult);
    const name = r.ChallengeName;
    const who = r.ChallengeParameters?.USER_ID_FOR_SRP || userId;
    switch (name) {
      case "SOFTWARE_TOKEN_MFA":
      case "SMS_MFA":
        r = await answerCode(name, r, who, ask, respond);
        break;
      case "NEW_PASSWORD_REQUIRED":
        r = await answerNewPassword(r, who, ask, respond);
        break;
      case "SELECT_MFA_TYPE": {
        // The authenticator app is preferred: it works without mobile reception and cannot be
        // intercepted on the phone network.
        const choices = parseList(r.ChallengeParameters?.MFAS_CAN_CHOOSE);
        const answer = choices.includes("SOFTWARE_TOKEN_MFA") ? "SOFTWARE_TOKEN_MFA" : "SMS_MFA";
        r = await respond("SELECT_MFA_TYPE", r.Session, { USERNAME: who, ANSWER: answer });
        break;
      }
      case "MFA_SETUP":
        throw new SignInError("mfa-setup", "your account has no second factor yet, and this app cannot set one up: ask an administrator to set up your authenticator app or SMS, then sign in again");
      default:
        throw new SignInError("service", `sign-in failed: the sign-in service asked for ${name || "nothing"}, which this app does not support: tell an operator`);
    }
  }
  throw new SignInError("service", "sign-in failed: the sign-in service kept asking for more steps: start again, and tell an operator if it repeats");
}

async function answerCode(name, r, who, ask, respond) {
  const sms = name === "SMS_MFA";
  const where = r.ChallengeParameters?.CODE_DELIVERY_DESTINATION;
  const message = sms
    ? `Enter the 6-digit code sent by SMS${where ? ` to ${where}` : ""}.`
    : "Enter the 6-digit code from your authenticator app.";
  let error;
  for (let attempt = 1; ; attempt++) {
    const code = String(await ask({ kind: "code", medium: sms ? "sms" : "totp", message, error }) ?? "").trim();
    if (!CODE.test(code)) {
      error = "the code must be 6 digits";
      if (attempt < MAX_TRIES) continue;
      throw new SignInError("wrong-code", `${error}: start again`);
    }
    try {
      return await respond(name, r.Session, { USERNAME: who, [sms ? "SMS_MFA_CODE" : "SOFTWARE_TOKEN_MFA_CODE"]: code });
    } catch (err) {
      if (err.code !== "wrong-code" || attempt >= MAX_TRIES) throw err;
      error = err.message;
    }
  }
}

async function answerNewPassword(r, who, ask, respond) {
  const required = parseList(r.ChallengeParameters?.requiredAttributes);
  if (required.length) {
    throw new SignInError("attributes-required", `your account is missing details only an administrator can fill in (${required.join(", ").replace(/userAttributes\./g, "")}): ask an administrator`);
  }
  let error;
  for (let attempt = 1; ; attempt++) {
    const next = await ask({ kind: "newPassword", message: "This is your first sign-in: choose a new password.", error });
    if (typeof next !== "string" || next === "") throw new SignInError("bad-input", "a new password is required: start again");
    try {
      return await respond("NEW_PASSWORD_REQUIRED", r.Session, { USERNAME: who, NEW_PASSWORD: next });
    } catch (err) {
      if (err.code !== "weak-password" || attempt >= MAX_TRIES) throw err;
      error = err.message;
    }
  }
}

function parseList(s) {
  try {
    const v = JSON.parse(s || "[]");
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

function idTokenOf(result) {
  const t = result.IdToken;
  if (typeof t !== "string" || t.split(".").length !== 3) {
    throw new SignInError("service", "sign-in failed: the sign-in service returned no ID token: tell an operator");
  }
  return t;
}

// ------------------------------------------------------------------------------ the token source

/** cognitoSource is the "cognito" token source (auth.js); deps are for tests (fetch, now). */
export function cognitoSource(config, deps) {
  return {
    fields: ["phone", "password"],
    describe: () => "Sign in with your phone number and password. You will then be asked for the code from your authenticator app (or SMS).",
    signIn: (fields, ask) => signInWithCognito(config, fields, ask, deps),
  };
}

registerTokenSource("cognito", (config) => cognitoSource(config));
