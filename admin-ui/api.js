// The admin API client: attaches the session token, turns error bodies into readable messages,
// reports an expired or invalid session once, and saves CSV downloads as local files.
import { API_BASE } from "./config.js";

const TOKEN_KEY = "kaixu.admin.token";
const EXPIRES_KEY = "kaixu.admin.expires_at";
const WHO_KEY = "kaixu.admin.who"; // {id, email, role, totp_enabled} of the signed-in admin

export class ApiError extends Error {
  constructor(status, type, message, param) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get expired() {
    const expires = Date.parse(sessionStorage.getItem(EXPIRES_KEY) || "");
    return Number.isFinite(expires) && expires <= Date.now();
  },
  // Who is signed in; the role only decides what the dashboard shows: the gateway enforces it.
  get who() {
    try {
      return JSON.parse(sessionStorage.getItem(WHO_KEY) || "null") || { role: "viewer" };
    } catch {
      return { role: "viewer" };
    }
  },
  remember(who) {
    sessionStorage.setItem(WHO_KEY, JSON.stringify(who));
  },
  start(token, expiresAt, who) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (expiresAt) sessionStorage.setItem(EXPIRES_KEY, expiresAt);
    else sessionStorage.removeItem(EXPIRES_KEY);
    if (who) this.remember(who);
  },
  end() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(EXPIRES_KEY);
    sessionStorage.removeItem(WHO_KEY);
  },
};

// Called with the gateway's message when a signed-in call answers 401 (expired or invalid token).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

async function send(method, path, { body, auth = true, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(API_BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The gateway could not be reached. Is it running?");
  }
  if (response.ok) return response;
  return failure(response, auth);
}

/** A failed answer as an ApiError (a 401 of a signed-in call first reports the ended session). */
async function failure(response, auth) {
  let error = null;
  try {
    error = (await response.json()).error || null;
  } catch {
    error = null;
  }
  const message = (error && error.message) || `The gateway answered ${response.status}.`;
  if (response.status === 401 && auth) onUnauthorized(message);
  const failed = new ApiError(response.status, error ? error.type : "http_error", message, error && error.param);
  failed.totpRequired = Boolean(error && error.totp_required);
  throw failed;
}

/**
 * Sign out: end the session on the gateway first, so the token is refused from then on by
 * every gateway process, then forget it here. A gateway that cannot be reached, or a session
 * that already ended, still leaves this browser signed out.
 */
export async function signOut() {
  const token = session.token;
  if (token) {
    try {
      await fetch(API_BASE + "/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    } catch {
      // The token expires by itself; nothing more can be done from here.
    }
  }
  session.end();
}

/** A JSON call; `auth: false` for the sign-in itself (its 401 means a wrong password). */
export async function api(method, path, body, options = {}) {
  const response = await send(method, path, { ...options, body });
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** A file (a File or Blob) sent as the request body itself; the JSON answer. */
export async function sendFile(method, path, file) {
  const headers = { Accept: "application/json", "Content-Type": file.type || "application/octet-stream" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch(API_BASE + path, { method, headers, body: file });
  } catch {
    throw new ApiError(0, "network", "The gateway could not be reached. Is it running?");
  }
  if (!response.ok) await failure(response, true);
  return response.json();
}

/** A query string from the non-empty values of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function filenameFrom(response, fallback) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  return match ? decodeURIComponent(match[1]) : fallback;
}

/**
 * Download a file with the Authorization header (a plain link could not send it) and save it
 * locally through a Blob, an object URL and an <a download>. Returns the file name.
 */
export async function download(path, fallbackName) {
  const response = await send("GET", path, { accept: "text/csv" });
  const blob = await response.blob();
  const name = filenameFrom(response, fallbackName);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The browser has taken the file once the click is handled; free the blob a little later.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}
