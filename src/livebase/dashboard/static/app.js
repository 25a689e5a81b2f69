// The dashboard's shell: theme, sign-in with the admin key or an admin account's email and
// password (the key, or the account's session token, kept in sessionStorage, sent on the sync
// socket and in Authorization headers, never in the URL or the console), the live client,
// hash routing between panels and keyboard shortcuts. Panels are modules with
// `mount(ctx, container, route) -> unmount`.
import { LivebaseClient, convexToJson, jsonToConvex } from "/_livebase/client.js";
import { el } from "/_dashboard/values.js";
import * as data from "/_dashboard/data.js";
import * as functions from "/_dashboard/functions.js";
import * as logs from "/_dashboard/logs.js";
import * as schedules from "/_dashboard/schedules.js";
import * as health from "/_dashboard/health.js";
import * as schema from "/_dashboard/schema.js";
import * as files from "/_dashboard/files.js";
import * as env from "/_dashboard/env.js";
import * as users from "/_dashboard/users.js";

const PANELS = { data, functions, logs, schedules, health, schema, files, env, users };
const ORDER = ["data", "functions", "logs", "schedules", "health", "schema", "files", "env", "users"];
const TITLES = { env: "Environment", schema: "Schema" };
const KEY_STORE = "livebase.dashboard.adminKey";
const SESSION_PATH = "/api/admin/dashboard/session";
const isAccountSession = (key) => key.startsWith("lb_dash_");
const THEME_STORE = "livebase.dashboard.theme";

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- theme

function systemTheme() {
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const other = theme === "dark" ? "light" : "dark";
  $("theme").setAttribute("aria-label", `Switch to ${other} theme`);
  $("theme").title = `Switch to ${other} theme`;
}

applyTheme(localStorage.getItem(THEME_STORE) || systemTheme());
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  if (!localStorage.getItem(THEME_STORE)) applyTheme(systemTheme());
});
$("theme").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_STORE, next);
  applyTheme(next);
});

// ---------------------------------------------------------------- toasts and dialogs

function toast(message, { error = false } = {}) {
  const node = el("div", { class: "toast" + (error ? " error" : ""), text: message });
  $("toasts").append(node);
  setTimeout(() => node.remove(), error ? 8000 : 3500);
}

/** A modal confirmation; resolves true when confirmed. */
function confirmDialog({ title, body, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const dialog = el("dialog", { "aria-labelledby": "confirm-title" });
    const form = el("form", { method: "dialog" },
      el("h2", { id: "confirm-title", text: title }),
      el("p", { class: "muted", text: body }),
      el("div", { class: "actions" },
        el("button", { class: "button", value: "cancel", type: "submit", text: "Cancel" }),
        el("button", { class: "button " + (danger ? "danger solid" : "primary"), value: "ok", type: "submit", text: confirm })));
    dialog.append(form);
    document.body.append(dialog);
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    dialog.showModal();
    form.querySelector('[value="cancel"]').focus();
  });
}

// ---------------------------------------------------------------- the HTTP function API

/** Call a function through the public HTTP API, as `as`: {kind: "anonymous"} | {kind: "admin"}
 * | {kind: "user", subject, issuer?, name?, email?}. Resolves with {ok, value | error,
 * logLines, ms, status}. */
async function callFunction(key, kind, path, args, as) {
  const headers = { "content-type": "application/json" };
  if (as.kind === "admin") headers.authorization = `Convex ${key}`;
  if (as.kind === "user") {
    const identity = { subject: as.subject };
    for (const f of ["issuer", "name", "email"]) if (as[f]) identity[f] = as[f];
    const encoded = btoa(unescape(encodeURIComponent(JSON.stringify(identity))));
    headers.authorization = `Convex ${key}:${encoded}`;
  }
  const started = performance.now();
  let response;
  try {
    response = await fetch(`/api/${kind}`, {
      method: "POST",
      headers,
      body: JSON.stringify({ path, args: convexToJson(args), format: "json" }),
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (error) {
    return { ok: false, error: `The server did not answer: ${error.message}`, logLines: [], ms: performance.now() - started, status: 0 };
  }
  const ms = performance.now() - started;
  let body = null;
  try {
    body = await response.json();
  } catch {
    return { ok: false, error: `HTTP ${response.status} with a body that is not JSON`, logLines: [], ms, status: response.status };
  }
  if (body.status === "success") return { ok: true, value: jsonToConvex(body.value), logLines: body.logLines ?? [], ms, status: response.status };
  return {
    ok: false,
    error: body.errorMessage ?? body.message ?? `HTTP ${response.status}`,
    errorData: body.errorData === undefined ? undefined : jsonToConvex(body.errorData),
    code: body.code,
    logLines: body.logLines ?? [],
    ms,
    status: response.status,
  };
}

/** An admin HTTP endpoint (`/api/admin/...`, the API behind `livebase env` and `livebase
 * users`) with the admin key in the Authorization header. Resolves with {ok, status, body};
 * `body.message` says what went wrong. */
async function adminRequest(key, method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { authorization: `Convex ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
    });
  } catch (error) {
    return { ok: false, status: 0, body: { message: `The server did not answer: ${error.message}` } };
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = { message: `HTTP ${response.status} with a body that is not JSON` };
  }
  return { ok: response.ok, status: response.status, body: parsed ?? {} };
}

// ---------------------------------------------------------------- sign in

let session = null; // {key, client}
let current = null; // {name, unmount}

async function verify(key) {
  const result = await callFunction(key, "query", "_system/dashboard:functions", {}, { kind: "admin" });
  if (result.ok) return null;
  if (result.status === 0) return result.error;
  if (result.status === 401 || result.status === 403 || result.status === 404 || /admin|auth|not find/i.test(result.error)) {
    return "That key is not this deployment's admin key. Copy it again from the server's start-up output or .livebase/admin_key.";
  }
  return result.error;
}

/** An admin account's email and password -> {token} or {problem}. */
async function openAccountSession(email, password) {
  let response;
  try {
    response = await fetch(SESSION_PATH, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
      credentials: "omit",
      referrerPolicy: "no-referrer",
      cache: "no-store",
    });
  } catch (error) {
    return { problem: `The server did not answer: ${error.message}` };
  }
  const body = await response.json().catch(() => ({}));
  if (response.ok && body.token) return { token: body.token };
  if (response.status === 401) return { problem: "Wrong email or password (or the account is disabled)." };
  return { problem: body.message ?? `HTTP ${response.status}` };
}

function startSession(key) {
  const conn = $("conn");
  const client = new LivebaseClient(location.origin, {
    onConnectionChange: (connected) => {
      conn.dataset.connected = String(connected);
      conn.querySelector(".label").textContent = connected ? "live" : "reconnecting";
      // The server refused the credential on the live connection (the client then drops it):
      // an admin account whose role was revoked, or a key that changed.
      if (!connected && session?.client === client && client.auth === null) {
        signOut(isAccountSession(key)
          ? "Your dashboard access ended: this account is no longer an admin of this deployment (or it was disabled). Sign in again with the admin key or another admin account."
          : "The admin key is no longer valid for this deployment. Sign in again.");
      }
    },
  });
  client.setAdminAuth(key);
  session = {
    key,
    client,
    toast,
    confirm: confirmDialog,
    call: (kind, path, args, as) => callFunction(key, kind, path, args, as),
    admin: (method, path, body) => adminRequest(key, method, path, body),
    /** Ask first (`question`: {title, body, confirm}), then run the system mutation `path`; a
     * toast says how it went (`done`, or `failed` and the server's reason). True when done. */
    async confirmedMutation(question, path, args, { done, failed }) {
      if (!(await confirmDialog({ ...question, danger: true }))) return false;
      try {
        await client.mutation(path, args);
        toast(done);
        return true;
      } catch (error) {
        toast(`${failed}: ${error.message}`, { error: true });
        return false;
      }
    },
  };
  document.body.dataset.state = "signed-in";
  $("sign-in").hidden = true;
  $("panel").hidden = false;
  $("tabs").hidden = false;
  $("sign-out").hidden = false;
  $("deployment").textContent = location.host;
  route();
}

function signOut(message) {
  const key = session?.key;
  if (key && isAccountSession(key)) {
    fetch(SESSION_PATH, { method: "DELETE", headers: { authorization: `Convex ${key}` }, credentials: "omit", referrerPolicy: "no-referrer" }).catch(() => {});
  }
  sessionStorage.removeItem(KEY_STORE);
  current?.unmount?.();
  current = null;
  session?.client.close();
  session = null;
  document.body.dataset.state = "signed-out";
  $("panel").replaceChildren();
  $("panel").hidden = true;
  $("tabs").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("conn").dataset.connected = "false";
  $("conn").querySelector(".label").textContent = "offline";
  $("admin-key").value = "";
  $("account-password").value = "";
  const error = $("sign-in-error");
  error.textContent = typeof message === "string" ? message : "";
  error.hidden = typeof message !== "string";
  (signInMode() === "account" ? $("account-email") : $("admin-key")).focus();
}

function signInMode() {
  return document.querySelector('input[name="sign-in-with"]:checked').value;
}

function showSignInMode() {
  const account = signInMode() === "account";
  $("with-key").hidden = account;
  $("with-account").hidden = !account;
  $("admin-key").required = !account;
  $("account-email").required = account;
  $("account-password").required = account;
}

for (const radio of document.querySelectorAll('input[name="sign-in-with"]')) {
  radio.addEventListener("change", () => {
    showSignInMode();
    $("sign-in-error").hidden = true;
  });
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const account = signInMode() === "account";
  const input = account ? $("account-password") : $("admin-key");
  const error = $("sign-in-error");
  error.hidden = true;
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  button.textContent = "Checking…";
  let key = input.value.trim();
  let problem = null;
  if (account) {
    const opened = await openAccountSession($("account-email").value.trim(), input.value);
    key = opened.token;
    problem = opened.problem ?? null;
  }
  if (!problem) problem = await verify(key);
  button.disabled = false;
  button.textContent = "Sign in";
  if (problem) {
    error.textContent = problem;
    error.hidden = false;
    input.select();
    return;
  }
  input.value = "";
  sessionStorage.setItem(KEY_STORE, key);
  startSession(key);
});
$("sign-out").addEventListener("click", () => signOut());

// ---------------------------------------------------------------- routing

function parseRoute() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: PANELS[name] ? name : "data", rest: rest.map(decodeURIComponent) };
}

function route() {
  if (!session) return;
  const { name, rest } = parseRoute();
  for (const a of document.querySelectorAll("#tabs a")) {
    if (a.dataset.panel === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (current?.name === name && current.update) {
    current.update(rest);
    return;
  }
  current?.unmount?.();
  const container = $("panel");
  container.replaceChildren();
  container.dataset.panel = name;
  const title = TITLES[name] ?? name[0].toUpperCase() + name.slice(1);
  document.title = `${title} · Livebase dashboard`;
  container.setAttribute("aria-label", `${title} panel`); // it scrolls: focusable, named
  const mounted = PANELS[name].mount(session, container, rest) ?? {};
  current = { name, ...mounted };
}

addEventListener("hashchange", route);

/** Navigate to a panel (and sub-route) without a full reload. */
export function go(...parts) {
  location.hash = parts.map(encodeURIComponent).join("/");
}

// ---------------------------------------------------------------- keyboard

addEventListener("keydown", (event) => {
  if (!session || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  const typing = target.closest?.("input, textarea, select, [contenteditable]") || document.querySelector("dialog[open]");
  if (typing) return;
  if (/^[1-9]$/.test(event.key)) {
    event.preventDefault();
    go(ORDER[Number(event.key) - 1]);
    $("main").focus();
  } else if (event.key === "/") {
    const search = document.querySelector("#panel [data-search]");
    if (search) {
      event.preventDefault();
      search.focus();
    }
  }
});

// ---------------------------------------------------------------- start

const saved = sessionStorage.getItem(KEY_STORE);
if (saved) {
  verify(saved).then((problem) => {
    if (problem) {
      sessionStorage.removeItem(KEY_STORE);
      $("admin-key").focus();
    } else startSession(saved);
  });
} else {
  $("admin-key").focus();
}
