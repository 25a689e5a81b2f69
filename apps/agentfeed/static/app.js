// The agentfeed page: a live feed of events (events:feed, newest first, paginated with infinite
// scroll), filters, active sessions, projects and a session timeline, over Livebase's browser
// client. No build step. Rendering is batched per animation frame and the feed keeps at most
// MAX_ROWS rows in the DOM: a window over the loaded events that slides as you scroll.
//
// Query parameters: ?key=<owner key> (kept in localStorage; ?key= with no value forgets it),
// ?pageSize=<n> (events per page, default 50), ?maxRows=<n> (rows in the DOM, default 400).
//
// The owner key is checked with the server (delivery:status) before anything is subscribed: a
// key it refuses gives the public view and a notice saying so, never the owner badge. The empty
// feed says what is true (nothing yet and how to connect Claude Code, for the owner; nothing
// public yet, for the public), and a notice shows posts refused for their key (401) and
// bodies rejected as unusable (counts only, for the public).
import { LivebaseClient } from "/_livebase/client.js";

const params = new URLSearchParams(location.search);
const PAGE_SIZE = Number(params.get("pageSize")) || 50;
const MAX_ROWS = Math.max(Number(params.get("maxRows")) || 400, 2 * PAGE_SIZE);
const KEY_STORE = "agentfeed.ownerKey";
const TYPES = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
  "PostToolUseFailure", "PermissionRequest", "PermissionDenied", "Notification", "Stop",
  "StopFailure", "SubagentStart", "SubagentStop", "PreCompact", "PostCompact", "SessionEnd"];

const $ = (selector) => document.querySelector(selector);
const debug = (window.__agentfeed = { loadId: Math.random(), seen: {}, renders: 0, status: "" });

// The owner key (AGENTFEED_OWNER_KEY on the server, else $AGENTFEED_HOME/owner_key) travels as
// the `ownerKey` argument of every public function (access.py); without it the page shows the
// public view: public projects only, redacted.
if (params.has("key")) {
  if (params.get("key")) localStorage.setItem(KEY_STORE, params.get("key"));
  else localStorage.removeItem(KEY_STORE);
}
const storedKey = localStorage.getItem(KEY_STORE);
let ownerKey = null; // the stored key, once the server has accepted it
let keyProblem = null; // the server's reason for refusing the stored key

const client = new LivebaseClient(location.origin, {
  onConnectionChange: (up) => ($("#conn").dataset.connected = String(up)),
});
const owned = (args) => (ownerKey ? { ...args, ownerKey } : args);
const forbidden = (error) => error?.data?.code === "Forbidden";
window.__livebase = client;

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

async function checkKey() {
  if (!storedKey) return;
  try {
    const status = await client.query("delivery:status", { ownerKey: storedKey });
    if (status.owner) ownerKey = storedKey;
  } catch (error) {
    if (!forbidden(error)) throw error;
    keyProblem = error.data.message ?? "wrong owner key";
  }
}

function drawRole() {
  $("#owner").hidden = !ownerKey;
  $("#public-note").hidden = Boolean(ownerKey);
  document.body.dataset.role = ownerKey ? "owner" : keyProblem ? "wrong-key" : "public";
  const notice = $("#key-notice");
  notice.hidden = !keyProblem;
  if (!keyProblem) return;
  notice.replaceChildren(
    el("strong", { textContent: `Owner key not accepted: ${keyProblem}.` }),
    ` This page was opened with an owner key this server refuses, so it shows the public view. ` +
    `Open the owner link that agentfeed serve printed (/?key=… with the key in ` +
    `$AGENTFEED_HOME/owner_key, default ~/.agentfeed/owner_key, or AGENTFEED_OWNER_KEY), or `,
    el("a", { href: "?key=", textContent: "forget this key" }), ".");
}

// ------------------------------------------------------------------ rendering one event

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const clip = (text, n) => (text && text.length > n ? `${text.slice(0, n)}…` : text ?? "");
const base = (path) => (path ? path.split("/").filter(Boolean).pop() ?? path : "");
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

function duration(ms) {
  if (ms == null) return null;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

const LABELS = {
  UserPromptSubmit: "prompt", PreToolUse: "tool", PostToolUse: "result",
  PostToolUseFailure: "failed", PermissionRequest: "permission", PermissionDenied: "denied",
  Stop: "stop", StopFailure: "stop failed", SubagentStart: "subagent", SubagentStop: "subagent",
  PreCompact: "compact", PostCompact: "compact", Notification: "notice",
  SessionStart: "start", SessionEnd: "end",
};

function failed(ev) {
  return ev.success === false || /Failure|Denied/.test(ev.type) || Boolean(ev.error);
}

function renderEvent(ev) {
  const kind = LABELS[ev.type] ?? ev.type;
  const li = el("li", { className: `event type-${ev.type}${failed(ev) ? " failed" : ""}` });
  li.dataset.id = ev._id;
  li.dataset.eventId = ev.event_id;
  li.dataset.type = ev.type;
  const session = ev.session_id
    ? el("a", { className: "session", href: `#session/${encodeURIComponent(ev.session_id)}`,
                textContent: ev.session_id.slice(0, 8), title: ev.session_id })
    : null;
  li.append(el("div", { className: "line" },
    el("time", { textContent: clock(ev.timestamp), title: new Date(ev.timestamp).toISOString() }),
    el("span", { className: "badge", textContent: kind, title: ev.type }),
    ev.project ? el("span", { className: "project", textContent: base(ev.project), title: ev.project }) : null,
    session,
    ev.duration_ms != null ? el("span", { className: "duration", textContent: duration(ev.duration_ms) }) : null,
    el("span", { className: "summary", textContent: ev.summary })));
  if (ev.type === "UserPromptSubmit" && ev.prompt) {
    li.append(el("blockquote", { className: "prompt", textContent: clip(ev.prompt, 800) }));
  } else if (ev.type === "PreToolUse" && ev.tool_input) {
    li.append(el("code", { className: "input", textContent: clip(ev.tool_input, 300) }));
  } else if (ev.error) {
    li.append(el("pre", { className: "error", textContent: clip(String(ev.error), 800) }));
  }
  if (ev.tool_response) {
    li.append(el("details", {},
      el("summary", { textContent: failed(ev) ? "error output" : "result" }),
      el("pre", { textContent: ev.tool_response })));
  }
  debug.seen[ev.event_id] ??= Date.now();
  return li;
}

// Keyed reconciliation: reuse the rows still wanted, move or insert the others, drop the rest.
function reconcile(list, events, cache) {
  const next = new Map();
  for (const ev of events) next.set(ev._id, cache.get(ev._id) ?? renderEvent(ev));
  for (const child of [...list.children]) if (!next.has(child.dataset.id)) child.remove();
  let expected = list.firstChild;
  for (const node of next.values()) {
    if (node !== expected) list.insertBefore(node, expected);
    else expected = expected.nextSibling;
  }
  return next;
}

// ------------------------------------------------------------------ batched rendering

const dirty = new Set();
let frame = null;

function schedule(part) {
  dirty.add(part);
  if (frame !== null) return;
  const run = () => {
    frame = null;
    const parts = [...dirty];
    dirty.clear();
    debug.renders++;
    for (const draw of parts) draw();
  };
  frame = document.hidden ? setTimeout(run, 100) : requestAnimationFrame(run);
}

// ------------------------------------------------------------------ the feed

const feed = { pager: null, state: { results: [], status: "LoadingFirstPage" },
               start: 0, anchor: null, rows: new Map(), args: {} };

function filterArgs() {
  const form = new FormData($("#filters"));
  const args = {};
  for (const [name, value] of form) if (String(value).trim()) args[name] = String(value).trim();
  return args;
}

function openFeed() {
  feed.pager?.unsubscribe();
  feed.args = filterArgs();
  feed.start = 0;
  feed.anchor = null;
  feed.state = { results: [], status: "LoadingFirstPage" };
  document.body.dataset.state = "loading";
  feed.pager = client.paginatedSubscribe("events:feed", owned(feed.args), { pageSize: PAGE_SIZE },
    (state) => {
      feed.state = state;
      schedule(drawFeed);
    }, (error) => showError(error));
  schedule(drawFeed);
}

function drawFeed() {
  const { results, status } = feed.state;
  if (feed.anchor !== null) {
    const at = results.findIndex((ev) => ev._id === feed.anchor);
    if (at >= 0) feed.start = at;
  }
  feed.start = Math.max(0, Math.min(feed.start, Math.max(0, results.length - MAX_ROWS)));
  feed.anchor = feed.start > 0 ? results[feed.start]._id : null;
  const shown = results.slice(feed.start, feed.start + MAX_ROWS);
  feed.rows = reconcile($("#feed"), shown, feed.rows);
  const end = feed.start + shown.length;
  const empty = status === "Exhausted" && results.length === 0;
  $("#feed-end").textContent =
    end < results.length ? "…" : status === "Exhausted" ? (empty ? "" : "end of history") : "loading…";
  $("#feed-count").textContent = `${plural(results.length, "event")} loaded`;
  drawEmpty(empty);
  const list = $("#feed");
  list.dataset.start = String(feed.start);
  list.dataset.loaded = String(results.length);
  list.dataset.status = status;
  list.dataset.filters = JSON.stringify(feed.args); // what this list shows (tests wait on it)
  debug.status = status;
  if (status !== "LoadingFirstPage") document.body.dataset.state = "ready";
  queueMicrotask(pump);
}

function visible(node) {
  const box = node.getBoundingClientRect();
  return box.top < innerHeight + 200 && box.bottom > -200;
}

// Slide the window, or load an older page, when a sentinel is (still) on screen.
function pump() {
  if ($("#feed-view").hidden) return;
  const total = feed.state.results.length;
  if (visible($("#feed-end"))) {
    if (feed.start + MAX_ROWS < total) {
      feed.start = Math.min(feed.start + MAX_ROWS / 2, total - MAX_ROWS);
      feed.anchor = null;
      schedule(drawFeed);
    } else {
      feed.pager?.loadMore();
    }
  } else if (feed.start > 0 && visible($("#feed-top"))) {
    feed.start = Math.max(0, feed.start - MAX_ROWS / 2);
    feed.anchor = null;
    schedule(drawFeed);
  }
}

// What an empty feed says: it depends on the filters and on who is looking.
function drawEmpty(empty) {
  const box = $("#empty");
  box.hidden = !empty;
  document.body.dataset.empty = String(empty);
  if (!empty) return;
  const connect = el("p", {}, "To send Claude Code's events here, run on the machine where it runs: ",
    el("code", { textContent: `agentfeed install-hook --url ${location.origin}` }),
    " (it uses the key of the agentfeed serve on the same machine; elsewhere add ",
    el("code", { textContent: "--key <the server's key>" }), "). New events show here at once.");
  if (Object.keys(feed.args).length) {
    box.dataset.kind = "filtered";
    box.replaceChildren(el("p", { textContent: "No events match these filters." }));
  } else if (ownerKey) {
    box.dataset.kind = "connect";
    box.replaceChildren(el("strong", { textContent: "No events yet." }), connect);
  } else {
    box.dataset.kind = "nothing-public";
    box.replaceChildren(
      el("strong", { textContent: "Nothing is public here yet — the owner has not shared any project." }),
      el("p", { textContent: "Are you the owner? Open the owner link that agentfeed serve printed " +
        "(/?key=…) to see every event and to share projects." }), connect);
  }
  schedule(drawDelivery);
}

new IntersectionObserver(pump, { rootMargin: "200px" }).observe($("#feed-end"));
new IntersectionObserver(pump, { rootMargin: "200px" }).observe($("#feed-top"));

let typing = null;
$("#filters").addEventListener("input", (event) => {
  clearTimeout(typing);
  typing = setTimeout(openFeed, event.target.tagName === "SELECT" ? 0 : 250);
});
$("#filters").addEventListener("reset", () => setTimeout(openFeed, 0));
$("#filters").addEventListener("submit", (event) => event.preventDefault());
for (const type of TYPES) $("#filters [name=type]").append(el("option", { value: type, textContent: type }));

function showError(error) {
  console.error(error);
  if (forbidden(error) && ownerKey) { // the key stopped working (the server's key changed)
    keyProblem = error.data.message ?? "wrong owner key";
    ownerKey = null;
    start();
    return;
  }
  const message = error?.data?.message ?? String(error?.message ?? error).split("\n")[0];
  $("#feed-end").textContent = `error: ${message}`;
}

// ------------------------------------------------------------------ sessions and projects

let activeSessions = [];

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function drawSessions() {
  $("#active-count").textContent = String(activeSessions.length);
  $("#sessions").replaceChildren(...activeSessions.slice(0, 50).map((s) => {
    const li = el("li", { className: "session-item" },
      el("a", { href: `#session/${encodeURIComponent(s.session_id)}`,
                textContent: `${base(s.project) || "?"} · ${s.session_id.slice(0, 8)}` }),
      el("div", { className: "meta", textContent: `${plural(s.event_count, "event")} · ${ago(s.last_event_at)}` }),
      el("div", { className: "last", textContent: clip(s.last_summary, 90) }));
    li.dataset.sessionId = s.session_id;
    return li;
  }));
}

let projects = [];

function drawProjects() {
  const select = $("#filters [name=project]");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", textContent: "all projects" }),
    ...projects.map((p) => el("option", { value: p.path, textContent: p.name })));
  select.value = chosen;
  const editing = document.activeElement?.closest?.("#projects");
  if (editing) return; // do not replace a form the owner is typing in
  $("#projects").replaceChildren(...projects.map((p) => {
    const li = el("li", { className: "project-item" });
    li.dataset.path = p.path;
    const status = `${p.public ? "public" : "private"} · ${plural(p.event_count, "event")} · ${p.active_sessions} active`;
    if (!ownerKey) {
      li.append(el("strong", { textContent: p.name, title: p.path }),
        el("div", { className: "meta", textContent: status }),
        p.description ? el("div", { className: "last", textContent: p.description }) : null);
      return li;
    }
    const form = el("form", { className: "owner" },
      el("input", { name: "name", value: p.name, title: p.path }),
      el("input", { name: "description", value: p.description, placeholder: "description" }),
      el("label", {}, el("input", { type: "checkbox", name: "public", checked: p.public }), " public"),
      el("button", { textContent: "save" }),
      el("div", { className: "meta", textContent: status }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const args = { path: p.path, name: String(data.get("name")),
                     description: String(data.get("description")), public: data.has("public") };
      try {
        await client.mutation("projects:update", owned(args));
        form.dataset.saved = "true";
      } catch (error) {
        showError(error);
      }
      document.activeElement?.blur();
      schedule(drawProjects);
    });
    li.append(form);
    return li;
  }));
}

// ------------------------------------------------------------------ the session view

const view = { stopHead: null, pager: null, rows: new Map(), state: null, session: null };

function openSession(sessionId) {
  closeSession();
  $("#feed-view").hidden = true;
  $("#session-view").hidden = false;
  $("#session-view").dataset.sessionId = sessionId;
  view.stopHead = client.subscribe("sessions:session", owned({ session_id: sessionId }), (s) => {
    view.session = s;
    schedule(drawSession);
  }, showError);
  view.pager = client.paginatedSubscribe("events:session_timeline", owned({ session_id: sessionId }),
    { pageSize: 100 }, (state) => {
      view.state = state;
      schedule(drawSession);
    }, showError);
}

function closeSession() {
  view.stopHead?.();
  view.pager?.unsubscribe();
  view.stopHead = view.pager = view.session = view.state = null;
  view.rows = new Map();
  $("#timeline").replaceChildren();
  $("#session-head").replaceChildren();
  $("#session-view").hidden = true;
  $("#feed-view").hidden = false;
}

function drawSession() {
  const s = view.session;
  if (s) {
    $("#session-head").replaceChildren(
      el("h2", { textContent: `${base(s.project) || "session"} · ${s.session_id}` }),
      el("div", { className: "meta", textContent:
        `${s.status}${s.end_reason ? ` (${s.end_reason})` : ""} · started ${new Date(s.started_at).toLocaleString()} · ` +
        `${plural(s.event_count, "event")} · ${plural(s.prompt_count, "prompt")} · ${plural(s.tool_count, "tool call")}` +
        (s.model ? ` · ${s.model}` : "") }));
  }
  if (view.state) {
    view.rows = reconcile($("#timeline"), view.state.results.slice(0, 5000), view.rows);
    $("#timeline").dataset.status = view.state.status;
    $("#timeline-more").hidden = view.state.status !== "CanLoadMore";
  }
}

$("#timeline-more").addEventListener("click", () => view.pager?.loadMore());

function route() {
  const match = location.hash.match(/^#session\/(.+)$/);
  if (match) openSession(decodeURIComponent(match[1]));
  else if (!$("#session-view").hidden) closeSession();
}

// ------------------------------------------------------------------ refused and rejected posts

let delivery = null;
const DAY_MS = 86_400_000;

function drawDelivery() {
  const box = $("#delivery-notice");
  const s = delivery;
  const empty = document.body.dataset.empty === "true";
  const shown = (kind) => s && s[kind].count > 0 && (empty || Date.now() - s[kind].last_at < DAY_MS);
  const parts = [];
  if (shown("refused")) {
    parts.push(el("p", {},
      el("strong", { textContent: "Events are being refused: " }),
      `${plural(s.refused.count, "post")} in the last ${s.window_days} days ` +
      `(${s.refused.today} today, the last ${ago(s.refused.last_at)}) came with a missing or wrong ` +
      "X-Agentfeed-Key and were refused (401); the hook keeps them in its spool and sends them " +
      "again once its key is right. ",
      ownerKey ? el("span", {}, "Run ",
        el("code", { textContent: `agentfeed install-hook --url ${location.origin}` }),
        " again where Claude Code runs (it picks up this server's key on the same machine; " +
        "elsewhere pass --key).") : null));
  }
  if (shown("rejected")) {
    parts.push(el("p", {},
      el("strong", { textContent: "Unusable posts: " }),
      `${plural(s.rejected.count, "body", "bodies")} in the last ${s.window_days} days could not ` +
      `be used (the last ${ago(s.rejected.last_at)}); they are kept in rejected_events.` +
      (ownerKey && s.last_rejected_reason ? ` Last reason: ${s.last_rejected_reason}` : "")));
  }
  box.hidden = parts.length === 0;
  box.replaceChildren(...parts);
}

// ------------------------------------------------------------------ start

const subscriptions = [];

function start() {
  while (subscriptions.length) subscriptions.pop()();
  drawRole();
  subscriptions.push(
    client.subscribe("sessions:active_sessions", owned({}), (rows) => {
      activeSessions = rows;
      schedule(drawSessions);
    }, showError),
    client.subscribe("projects:projects_with_stats", owned({}), (rows) => {
      projects = rows;
      schedule(drawProjects);
    }, showError),
    client.subscribe("delivery:status", owned({}), (status) => {
      delivery = status;
      schedule(drawDelivery);
    }, showError));
  openFeed();
  if (!$("#session-view").hidden) openSession($("#session-view").dataset.sessionId);
}

addEventListener("hashchange", route);
checkKey().catch((error) => {
  console.error(error);
  ownerKey = storedKey; // not about the key (e.g. an older server): use it as given
}).finally(() => {
  start();
  route();
});
setInterval(() => {
  schedule(drawSessions);
  schedule(drawDelivery);
}, 15_000); // keep the "… ago" labels fresh
