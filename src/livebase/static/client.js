// Livebase browser client: a dependency-free ES module speaking the Convex sync protocol over
// one WebSocket (`/api/sync`), served by Livebase at `GET /_livebase/client.js`.
//
//   import { LivebaseClient } from "/_livebase/client.js";
//   const client = new LivebaseClient(location.origin);
//   const stop = client.subscribe("events:feed", args, (value) => ..., (error) => ...);
//   const pager = client.paginatedSubscribe("events:feed", args, { pageSize: 50 }, (state) => ...);
//   await client.mutation("projects:update", { path, name });
//   client.setAuth(async ({ forceRefreshToken }) => token or null, (isAuthenticated) => ...);
//
// The protocol logic follows the Python client (livebase.client.state): the query set, pending
// mutations and auth survive reconnects; every new socket sends Connect, Authenticate, a
// ModifyQuerySet 0->1 re-adding every query with its journal, then the unanswered mutations.
// A successful mutation resolves at the first Transition at or after its commit ts, after the
// subscriptions have been updated (read your writes). See docs/browser-client.md.
//
// Auth takes a JWT string or, as the official Convex clients do, a token fetcher. With a
// fetcher the client keeps the latest token (sent first on every new socket), refreshes it
// shortly before its `exp` on the same socket (a new Authenticate: no reconnect, no lost
// subscription), and after an AuthError (the server then closes the socket) fetches once more
// with forceRefreshToken before it goes on signed out. The server accepts a token by answering
// with a Transition whose endVersion.identity reaches the version the Authenticate made.

const TS_ZERO = "AAAAAAAAAAA=";
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INACTIVE_MS = 60_000; // the server pings every 15 s when idle
const BACKOFF_MS = [100, 16_000]; // first and largest reconnect delay

// ------------------------------------------------------------------ values (Convex encoded JSON)

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return btoa(text);
}

function unbase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function eightBytes(write) {
  const view = new DataView(new ArrayBuffer(8));
  write(view);
  return base64(new Uint8Array(view.buffer));
}

function readEight(text, read) {
  const bytes = unbase64(text);
  if (bytes.length !== 8) throw new Error(`expected 8 bytes of base64, got ${bytes.length}`);
  return read(new DataView(bytes.buffer));
}

/** A JS value as Convex encoded JSON: bigint -> {$integer}, bytes -> {$bytes}, NaN/±Inf/-0 ->
 * {$float}; object keys sorted, undefined fields dropped. */
export function convexToJson(value) {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case "boolean":
    case "string":
      return value;
    case "number":
      if (Number.isFinite(value) && !Object.is(value, -0)) return value;
      return { $float: eightBytes((v) => v.setFloat64(0, value, true)) };
    case "bigint":
      if (value < INT64_MIN || value > INT64_MAX) throw new Error(`${value} is not an int64`);
      return { $integer: eightBytes((v) => v.setBigInt64(0, value, true)) };
    case "object":
      break;
    default:
      throw new Error(`cannot send a ${typeof value} to Livebase`);
  }
  if (value instanceof ArrayBuffer) return { $bytes: base64(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) {
    return { $bytes: base64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  }
  if (Array.isArray(value)) return value.map((item) => convexToJson(item));
  const out = {};
  for (const key of Object.keys(value).sort()) {
    if (key.startsWith("$")) throw new Error(`field names may not start with '$': ${key}`);
    if (value[key] !== undefined) out[key] = convexToJson(value[key]);
  }
  return out;
}

/** Convex encoded JSON back to JS values: {$integer} -> bigint, {$bytes} -> ArrayBuffer. */
export function jsonToConvex(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => jsonToConvex(item));
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0].startsWith("$")) {
    const [key] = keys;
    if (key === "$integer") return readEight(value.$integer, (v) => v.getBigInt64(0, true));
    if (key === "$float") return readEight(value.$float, (v) => v.getFloat64(0, true));
    if (key === "$bytes") return unbase64(value.$bytes).buffer;
    throw new Error(`unknown special value ${key}`);
  }
  const out = {};
  for (const key of keys) out[key] = jsonToConvex(value[key]);
  return out;
}

function tsValue(text) {
  return readEight(text ?? TS_ZERO, (v) => v.getBigUint64(0, true));
}

/** `dir/mod:fn`, with a missing `:fn` made `:default` and a trailing `.js` dropped. */
export function canonicalPath(path) {
  const at = path.lastIndexOf(":");
  let [module, name] = at < 0 ? [path, "default"] : [path.slice(0, at), path.slice(at + 1)];
  if (module.endsWith(".js")) module = module.slice(0, -3);
  return `${module}:${name}`;
}

/** The sync WebSocket URL of a deployment URL: http(s)://host/prefix -> ws(s)://host/prefix/api/sync. */
export function syncUrl(url) {
  const parsed = new URL(url, globalThis.location?.href);
  const scheme = { "http:": "ws:", "https:": "wss:", "ws:": "ws:", "wss:": "wss:" }[parsed.protocol];
  if (!scheme) throw new Error(`deployment URL must be http(s) or ws(s), got ${url}`);
  const path = parsed.pathname.replace(/\/+$/, "");
  return `${scheme}//${parsed.host}${path.endsWith("/api/sync") ? path : `${path}/api/sync`}`;
}

/** A JWT's payload claims (base64url JSON), or null. Not verified: only read to know when the
 * token expires. */
function jwtClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = unbase64(part + "=".repeat((4 - (part.length % 4)) % 4));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims !== null && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** When to fetch a token anew (ms since the epoch; Infinity without `exp`): ahead of its `exp`
 * by a tenth of its lifetime, at least 2 s and at most 30 s, and at most half of it. The lead
 * also covers a client clock a little ahead of the issuer's. */
function refreshAt(token) {
  const claims = jwtClaims(token);
  if (typeof claims?.exp !== "number") return Infinity;
  const issued = typeof claims.iat === "number" ? claims.iat : Date.now() / 1000;
  const lifetime = claims.exp - issued;
  const lead = Math.max(0, Math.min(30, Math.max(2, lifetime / 10), lifetime / 2));
  return (claims.exp - lead) * 1000;
}

function uuid4() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A function failure: `message` from the server, `data` the AppError data (or undefined). */
export class LivebaseError extends Error {
  constructor(message, data, path) {
    super(message);
    this.name = "LivebaseError";
    this.data = data;
    this.path = path;
  }
}

// ------------------------------------------------------------------ the client

export class LivebaseClient {
  /** `url`: the deployment (default: this page's origin). Options: `WebSocket` (a constructor,
   * for Node < 22), `onConnectionChange(connected)`. */
  constructor(url = globalThis.location?.origin, options = {}) {
    this.url = syncUrl(url);
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (!this.WebSocket) throw new Error("no WebSocket: pass options.WebSocket");
    this.onConnectionChange = options.onConnectionChange ?? (() => {});
    this.sessionId = uuid4();
    this.queries = new Map(); // "path|args json" -> entry
    this.byId = new Map(); // query id -> entry
    this.requests = new Map(); // request id -> pending mutation
    this.nextQueryId = 0;
    this.nextRequestId = 0;
    this.auth = null; // [tokenType, value]: sent first on every new socket
    this.fetchToken = null; // setAuth's token fetcher, while signed in through one
    this.onAuthChange = null; // setAuth's onChange
    this.authReported = undefined; // the last value told to onAuthChange
    this.authRetried = false; // a refused token was fetched again (once, until one is accepted)
    this.awaitingIdentity = null; // the identity version that means "user token accepted"
    this.fetchGen = 0; // bumped by each fetch and setAuth: a late answer to an older one is dropped
    this.refreshTimer = null;
    this.paused = false; // waiting for a token: only Connect and Authenticate go out ...
    this.outbox = []; // ... the rest waits here, in order
    this.maxObservedTs = null;
    this.connected = false;
    this.closed = false;
    this.connectionCount = 0;
    this.lastCloseReason = "InitialConnect";
    this.retries = 0;
    this.socket = null;
    this._connect();
  }

  // ---------------------------------------------------------------- public API

  /** Subscribe to a query; `onUpdate(value)` on every new result, `onError(error)` when it
   * fails. Returns the function that unsubscribes. */
  subscribe(path, args, onUpdate, onError) {
    const entry = this._entry(path, args ?? {});
    const listener = { onUpdate, onError };
    entry.listeners.add(listener);
    if (entry.result) queueMicrotask(() => entry.listeners.has(listener) && this._tell(entry, listener));
    return () => this._release(entry, listener);
  }

  /** The current result of a query: subscribe, wait for the first result, unsubscribe. */
  query(path, args) {
    return new Promise((resolve, reject) => {
      let stop = null;
      let done = false;
      const finish = (fn, v) => {
        if (done) return;
        done = true;
        stop?.(); // before the caller resumes: a new query must not reuse this entry
        fn(v);
      };
      stop = this.subscribe(path, args, (v) => finish(resolve, v), (e) => finish(reject, e));
      if (done) stop();
    });
  }

  /** Run a mutation; resolves with its result once the subscriptions reflect it. */
  mutation(path, args) {
    if (this.closed) return Promise.reject(new Error("the client is closed"));
    const requestId = this.nextRequestId++;
    const udfPath = canonicalPath(path);
    const message = { type: "Mutation", requestId, udfPath, args: [convexToJson(args ?? {})] };
    return new Promise((resolve, reject) => {
      this.requests.set(requestId, { message, resolve, reject, path: udfPath, ts: null });
      if (this.connected) this._send(message);
    });
  }

  /** Reactive pagination, like Convex's usePaginatedQuery: `args` without `paginationOpts`.
   * `onUpdate({results, status, pages})`, status LoadingFirstPage | CanLoadMore | LoadingMore |
   * Exhausted. Each page is its own subscription and keeps its range (journal), so live inserts
   * grow pages instead of shifting them. Returns `{loadMore(n?), unsubscribe(), state()}`. */
  paginatedSubscribe(path, args, { pageSize = 50 } = {}, onUpdate = () => {}, onError) {
    const pager = new Pager(this, path, args ?? {}, pageSize, onUpdate, onError);
    pager.addPage(null, pageSize);
    return pager;
  }

  /** Sign in as a user, with either
   *
   * - a JWT string, sent as is (if the server refuses it, the client goes on signed out), or
   * - a token fetcher, as the official Convex clients take it:
   *   `setAuth(async ({ forceRefreshToken }) => token | null | undefined, onChange?)`.
   *   It is called at once (forceRefreshToken false); until it answers, queries and mutations
   *   wait, so that none is answered as whoever the socket was before. A token is fetched anew
   *   (forceRefreshToken true) shortly before its `exp` and sent on the same socket. A token the
   *   server refuses is fetched anew once (forceRefreshToken true) and the client reconnects
   *   with it; if that one is refused too, or the fetcher gives null/undefined or throws, the
   *   client goes on signed out, every subscription still live.
   *   `onChange(isAuthenticated)`: true once the server has accepted a token, false when signed
   *   out by the fetcher or a refusal; only when that changes, but the first outcome always.
   *
   * `setAuth(null)` signs out (onChange is not called). */
  setAuth(token, onChange) {
    this._dropFetcher();
    this.onAuthChange = null;
    if (typeof token === "function") {
      this.fetchToken = token;
      this.onAuthChange = onChange ?? null;
      this.authReported = undefined; // the first outcome is always told
      this._fetch(false, true);
      return;
    }
    this._setAuth(token == null ? null : ["User", token]);
    this._resume();
  }

  /** Sign out: the same as `setAuth(null)`. */
  clearAuth() {
    this.setAuth(null);
  }

  /** Authenticate with the deployment's admin key (internal functions); `null` logs out. */
  setAdminAuth(key) {
    this._dropFetcher();
    this.onAuthChange = null;
    this._setAuth(key == null ? null : ["Admin", key]);
    this._resume();
  }

  /** Close the socket for good; pending mutations fail. */
  close() {
    this.closed = true;
    this.fetchGen++;
    clearTimeout(this.refreshTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.inactiveTimer);
    for (const req of this.requests.values()) req.reject(new Error("the client was closed"));
    this.requests.clear();
    this.socket?.close();
  }

  // ---------------------------------------------------------------- queries

  _entry(path, args) {
    const udfPath = canonicalPath(path);
    const encoded = convexToJson(args);
    const key = `${udfPath}|${JSON.stringify(encoded)}`;
    let entry = this.queries.get(key);
    if (!entry) {
      entry = { id: this.nextQueryId++, key, path: udfPath, args: encoded, journal: null,
                result: null, listeners: new Set() };
      this.queries.set(key, entry);
      this.byId.set(entry.id, entry);
      this._modify([{ type: "Add", queryId: entry.id, udfPath, args: [encoded] }]);
    }
    return entry;
  }

  _release(entry, listener) {
    if (!entry.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.queries.delete(entry.key);
    this.byId.delete(entry.id);
    if (!this.closed) this._modify([{ type: "Remove", queryId: entry.id }]);
  }

  _modify(modifications) {
    if (!this.connected) return; // the next socket re-adds every query
    const base = this.querySetVersion++;
    this._send({ type: "ModifyQuerySet", baseVersion: base, newVersion: base + 1, modifications });
  }

  _tell(entry, listener) {
    const { value, error } = entry.result;
    try {
      if (error) {
        if (listener.onError) listener.onError(error);
        else console.error(error);
      } else {
        listener.onUpdate?.(value);
      }
    } catch (err) {
      console.error(`a listener of ${entry.path} threw`, err);
    }
  }

  // ---------------------------------------------------------------- auth

  /** `sameUser`: a refreshed token, so cached results stay good for new subscribers. */
  _setAuth(auth, sameUser = false) {
    const had = this.auth !== null;
    this.auth = auth;
    // Results depend on who asks: a new subscriber must not get the last user's.
    if (!sameUser) for (const entry of this.byId.values()) entry.result = null;
    if (this.connected && (had || auth !== null)) this._authenticate();
  }

  _authenticate() {
    const msg = { type: "Authenticate", baseVersion: this.identityVersion++ };
    msg.tokenType = this.auth ? this.auth[0] : "None";
    if (this.auth) msg.value = this.auth[1];
    // The server says yes to a user token with a Transition reaching this identity version.
    this.awaitingIdentity = this.auth?.[0] === "User" ? this.identityVersion : null;
    this._send(msg);
  }

  /** Forget the fetcher, any answer it still owes, and the refresh timer. */
  _dropFetcher() {
    this.fetchGen++;
    clearTimeout(this.refreshTimer);
    this.fetchToken = null;
    this.authRetried = false;
    this.awaitingIdentity = null; // an older token's acceptance is not the new fetcher's
  }

  /** Ask the fetcher for a token and use it. `pause`: hold queries and mutations until then
   * (the first token, or one replacing a refused or expired one); a refresh does not: the
   * current token is still good. `refused`: the token the server just refused. */
  async _fetch(forceRefreshToken, pause, refused = null) {
    const gen = ++this.fetchGen;
    if (pause) this.paused = true;
    let token = null;
    try {
      token = await this.fetchToken({ forceRefreshToken });
    } catch (err) {
      console.warn("Livebase: the token fetcher threw (signed out)", err);
    }
    if (gen !== this.fetchGen || this.closed) return;
    if (typeof token !== "string" || token === "" || token === refused) {
      this._signOut();
      return;
    }
    if (pause || token !== this.auth?.[1]) this._setAuth(["User", token], !pause);
    this._resume();
  }

  _scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const at = refreshAt(this.auth?.[1]);
    if (at === Infinity) return; // a token without exp: nothing to refresh
    const delay = Math.max(1000, at - Date.now());
    this.refreshTimer = setTimeout(() => this.fetchToken && this._fetch(true, false), delay);
  }

  /** The server has accepted the user token last sent. */
  _accepted() {
    if (!this.fetchToken) return; // a plain token: nothing to tell, nothing to refresh
    this.authRetried = false;
    this._report(true);
    this._scheduleRefresh();
  }

  /** Signed out by the fetcher or the server: anonymous from now on, subscriptions kept. */
  _signOut() {
    this._dropFetcher();
    this._setAuth(null);
    this._resume();
    this._report(false);
  }

  _report(isAuthenticated) {
    if (this.authReported === isAuthenticated) return;
    this.authReported = isAuthenticated;
    try {
      this.onAuthChange?.(isAuthenticated);
    } catch (err) {
      console.error("setAuth's onChange threw", err);
    }
  }

  _resume() {
    if (!this.paused) return;
    this.paused = false;
    const held = this.outbox;
    this.outbox = [];
    for (const message of held) if (this.connected) this._send(message);
  }

  _onAuthError(msg) {
    // The server closes the socket: the next one starts from what is decided here.
    const refused = this.auth?.[1] ?? null;
    this.auth = null;
    this.awaitingIdentity = null;
    clearTimeout(this.refreshTimer);
    if (this.fetchToken && !this.authRetried) {
      console.warn(`Livebase refused the token: ${msg.error} (fetching a fresh one)`);
      this.authRetried = true;
      this._fetch(true, true, refused);
    } else if (this.fetchToken) {
      console.warn(`Livebase refused the fresh token too: ${msg.error} (signed out)`);
      this._signOut();
    } else {
      console.warn(`Livebase rejected the credentials: ${msg.error} (auth cleared)`);
    }
    return "AuthError";
  }

  // ---------------------------------------------------------------- the socket

  _connect() {
    if (this.closed) return;
    const socket = new this.WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      this._alive();
      let message;
      try {
        message = JSON.parse(typeof event.data === "string" ? event.data : String(event.data));
      } catch {
        return this._restart("ProtocolFailure");
      }
      const reason = this._handle(message);
      if (reason) this._restart(reason);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this._onClose(event.reason || `closed with code ${event.code}`);
    };
    socket.onerror = () => {}; // a close event follows
    this._alive();
  }

  _onOpen(socket) {
    if (socket !== this.socket) return;
    this.connected = true;
    this.remote = { querySet: 0, identity: 0, ts: 0n };
    this.querySetVersion = 0;
    this.identityVersion = 0;
    const connect = { type: "Connect", sessionId: this.sessionId,
                      connectionCount: this.connectionCount++,
                      lastCloseReason: this.lastCloseReason, clientTs: Date.now() };
    if (this.maxObservedTs !== null) connect.maxObservedTimestamp = this.maxObservedTs.text;
    this._send(connect);
    if (this.fetchToken && this.auth && refreshAt(this.auth[1]) <= Date.now()) {
      // The kept token is (about to be) expired, e.g. after a long time offline: fetch a
      // fresh one, holding the queries and mutations until it is sent.
      this.auth = null;
      this._fetch(true, true);
    }
    if (this.auth) this._authenticate();
    const answered = [...this.requests.values()].some((r) => r.ts !== null);
    if (this.byId.size > 0 || answered) {
      const adds = [...this.byId.values()].map((e) => {
        const add = { type: "Add", queryId: e.id, udfPath: e.path, args: [e.args] };
        if (e.journal !== null) add.journal = e.journal;
        return add;
      });
      this._send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: adds });
      this.querySetVersion = 1;
    }
    for (const req of this.requests.values()) if (req.ts === null) this._send(req.message);
    this.onConnectionChange(true);
  }

  _onClose(reason) {
    const was = this.connected;
    this.connected = false;
    this.socket = null;
    this.outbox = []; // the next socket sends the query set and mutations anew
    this.awaitingIdentity = null;
    clearTimeout(this.inactiveTimer);
    if (was) this.onConnectionChange(false);
    if (this.closed) return;
    this.lastCloseReason = reason;
    const [first, most] = BACKOFF_MS;
    const delay = Math.min(first * 2 ** this.retries++, most) * (0.5 + Math.random());
    this.reconnectTimer = setTimeout(() => this._connect(), delay);
  }

  _restart(reason) {
    const socket = this.socket;
    this._onClose(reason);
    socket?.close();
  }

  _alive() {
    clearTimeout(this.inactiveTimer);
    this.inactiveTimer = setTimeout(() => this._restart("InactiveServer"), INACTIVE_MS);
  }

  _send(message) {
    if (this.paused && message.type !== "Connect" && message.type !== "Authenticate") {
      this.outbox.push(message); // sent after the token's Authenticate
      return;
    }
    try {
      this.socket.send(JSON.stringify(message));
    } catch {
      this._restart("FailedToSendMessage");
    }
  }

  // ---------------------------------------------------------------- incoming

  _handle(msg) {
    switch (msg.type) {
      case "Transition":
        return this._onTransition(msg);
      case "MutationResponse":
        return this._onMutationResponse(msg);
      case "AuthError":
        return this._onAuthError(msg);
      case "FatalError":
        console.error(`Livebase fatal error: ${msg.error}`);
        return "FatalError";
      default:
        return null; // Ping, ActionResponse, unknown types
    }
  }

  _onTransition(t) {
    const start = t.startVersion;
    const remote = this.remote;
    if (start.querySet !== remote.querySet || start.identity !== remote.identity ||
        tsValue(start.ts) !== remote.ts) {
      return "StartVersionMismatch";
    }
    const changed = [];
    for (const mod of t.modifications) {
      const entry = this.byId.get(mod.queryId);
      if (!entry || mod.type === "QueryRemoved") continue;
      entry.journal = mod.journal ?? null;
      const text = JSON.stringify(mod.type === "QueryUpdated" ? mod.value : [mod.errorMessage, mod.errorData]);
      if (entry.result && entry.result.text === text) continue;
      entry.result = mod.type === "QueryUpdated"
        ? { text, value: jsonToConvex(mod.value) }
        : { text, error: new LivebaseError(mod.errorMessage, jsonToConvex(mod.errorData ?? null), entry.path) };
      changed.push(entry);
    }
    const end = t.endVersion;
    const endTs = tsValue(end.ts);
    this.remote = { querySet: end.querySet, identity: end.identity, ts: endTs };
    this._observe(endTs, end.ts);
    this.retries = 0;
    if (this.awaitingIdentity !== null && end.identity >= this.awaitingIdentity) {
      this.awaitingIdentity = null;
      this._accepted();
    }
    for (const entry of changed) for (const l of [...entry.listeners]) this._tell(entry, l);
    const resolved = [...this.requests.entries()].filter(([, r]) => r.ts !== null && r.ts <= endTs);
    for (const [id, req] of resolved.sort((a, b) => a[0] - b[0])) {
      this.requests.delete(id);
      req.resolve(req.result);
    }
    return null;
  }

  _onMutationResponse(r) {
    const req = this.requests.get(r.requestId);
    if (!req || req.ts !== null) return null;
    if (r.success) {
      req.ts = tsValue(r.ts);
      req.result = jsonToConvex(r.result);
      this._observe(req.ts, r.ts);
    } else {
      this.requests.delete(r.requestId);
      req.reject(new LivebaseError(String(r.result), jsonToConvex(r.errorData ?? null), req.path));
    }
    return null;
  }

  _observe(ts, text) {
    if (this.maxObservedTs === null || ts > this.maxObservedTs.ts) this.maxObservedTs = { ts, text };
  }
}

// ------------------------------------------------------------------ pagination

let pagerIds = 0;

class Pager {
  constructor(client, path, args, pageSize, onUpdate, onError) {
    Object.assign(this, { client, path, args, pageSize, onUpdate, onError });
    this.id = ++pagerIds; // paginationOpts.id: keeps two pagers with equal args apart
    this.pages = []; // {cursor, result, stop}
    this.stopped = false;
  }

  addPage(cursor, numItems) {
    const page = { cursor, result: null, stop: null };
    this.pages.push(page);
    const args = { ...this.args, paginationOpts: { cursor, numItems, id: this.id } };
    page.stop = this.client.subscribe(this.path, args, (result) => {
      page.result = result;
      this._emit();
    }, (error) => this._failed(error));
    this._emit();
  }

  _failed(error) {
    if (String(error.message).includes("InvalidCursor") ||
        error.data?.paginationError === "InvalidCursor") {
      this._reset();
      return;
    }
    if (this.onError) this.onError(error);
    else console.error(error);
  }

  _reset() {
    for (const page of this.pages) page.stop();
    this.pages = [];
    this.id = ++pagerIds;
    this.addPage(null, this.pageSize);
  }

  /** Load one more page (of `numItems`, default the page size) if the last one is loaded and
   * not the end; returns whether it did. */
  loadMore(numItems = this.pageSize) {
    const last = this.pages[this.pages.length - 1];
    if (this.stopped || !last?.result || last.result.isDone) return false;
    this.addPage(last.result.continueCursor, numItems);
    return true;
  }

  /** `{results, status, pages}`: every loaded page's items in order. */
  state() {
    const results = [];
    let loading = false;
    for (const page of this.pages) {
      if (page.result === null) loading = true;
      else results.push(...page.result.page);
    }
    const last = this.pages[this.pages.length - 1];
    let status = "CanLoadMore";
    if (loading) status = this.pages.length === 1 ? "LoadingFirstPage" : "LoadingMore";
    else if (last?.result?.isDone) status = "Exhausted";
    return { results, status, pages: this.pages.length };
  }

  _emit() {
    if (this.stopped) return;
    try {
      this.onUpdate(this.state());
    } catch (err) {
      console.error(`a listener of ${this.path} threw`, err);
    }
  }

  unsubscribe() {
    this.stopped = true;
    for (const page of this.pages) page.stop();
    this.pages = [];
  }
}
