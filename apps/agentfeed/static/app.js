// The agentfeed page: a live feed of events (events:feed, newest first, paginated with infinite
// scroll), filters, active sessions, projects and a session timeline, over Livebase's browser
// client. No build step. Rendering is batched per animation frame and the feed keeps at most
// MAX_ROWS rows in the DOM: a window over the loaded events that slides as you scroll.
//
// Query parameters: ?key=<owner key> (kept in localStorage; ?key= with no value forgets it),
// ?pageSize=<n> (events per page, default 50), ?maxRows=<n> (rows in the DOM, default 400).
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

// The owner key (AGENTFEED_OWNER_KEY on the server) travels as the `ownerKey` argument of every
// public function (access.py); without it the page shows the public view: public projects only,
// redacted.
if (params.has("key")) {
  if (params.get("key")) localStorage.setItem(KEY_STORE, params.get("key"));
  else localStorage.removeItem(KEY_STORE);
}
const ownerKey = localStorage.getItem(KEY_STORE);

const client = new LivebaseClient(location.origin, {
  onConnectionChange: (up) => ($("#conn").dataset.connected = String(up)),
});
const owned = (args) => (ownerKey ? { ...args, ownerKey } : args);
$("#owner").hidden = !ownerKey;
$("#public-note").hidden = Boolean(ownerKey);
window.__livebase = client;

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
  $("#feed-end").textContent =
    end < results.length ? "…" : status === "Exhausted" ? (results.length ? "end of history" : "no events yet")
      : "loading…";
  $("#feed-count").textContent = `${results.length} events loaded`;
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
  $("#feed-end").textContent = `error: ${error.message}`;
}

// ------------------------------------------------------------------ sessions and projects

let activeSessions = [];
client.subscribe("sessions:active_sessions", owned({}), (rows) => {
  activeSessions = rows;
  schedule(drawSessions);
}, showError);

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
      el("div", { className: "meta", textContent: `${s.event_count} events · ${ago(s.last_event_at)}` }),
      el("div", { className: "last", textContent: clip(s.last_summary, 90) }));
    li.dataset.sessionId = s.session_id;
    return li;
  }));
}

let projects = [];
client.subscribe("projects:projects_with_stats", owned({}), (rows) => {
  projects = rows;
  schedule(drawProjects);
}, showError);

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
    const status = `${p.public ? "public" : "private"} · ${p.event_count} events · ${p.active_sessions} active`;
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
        `${s.event_count} events · ${s.prompt_count} prompts · ${s.tool_count} tool calls` +
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

addEventListener("hashchange", route);
openFeed();
route();
setInterval(() => schedule(drawSessions), 15_000); // keep the "… ago" labels fresh
