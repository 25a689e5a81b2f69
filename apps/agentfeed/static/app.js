// The agentfeed page: a live feed of events (events:feed, newest first, paginated with infinite
// scroll), filters, active sessions, projects and a session timeline, over Livebase's browser
// client. No build step. Rendering is batched per animation frame and the feed keeps at most
// MAX_ROWS rows in the DOM: a window over the loaded events that slides as you scroll. Rows
// and their day headings are drawn by rows.js (tool calls by tools.js), the charts and session
// cards by overview.js, the session replay by replay.js, the theme by theme.js.
//
// Query parameters: ?pageSize=<n> (events per page, default 50), ?maxRows=<n> (rows in the DOM,
// default 400).
//
// Anyone who can reach the server sees the public view (public projects only, redacted). The
// owner signs in (signin.js: a Livebase built-in account); every function then answers as the
// owner, with no argument of ours: the server knows who calls, and re-runs each subscription
// when that changes. The page shows the owner view when the server says so (delivery:status's
// `owner`), never on the strength of a stored token alone. The empty feed says what is true
// (nothing yet and how to connect Claude Code, for the owner; nothing public yet, for the
// public), and a notice shows posts refused for their key (401) and bodies rejected as
// unusable (counts only, for the public).
import { LivebaseClient } from "/_livebase/client.js";
import { Session } from "/static/signin.js";
import { mountActivitySessions } from "/static/activity.js";
import { ago, base, clip, count, el, figures, money, plural, span } from "/static/dom.js";
import { mountOverview } from "/static/overview.js";
import { mountReplay } from "/static/replay.js";
import { reconcile } from "/static/rows.js";

const params = new URLSearchParams(location.search);
const PAGE_SIZE = Number(params.get("pageSize")) || 50;
const MAX_ROWS = Math.max(Number(params.get("maxRows")) || 400, 2 * PAGE_SIZE);
const OLD_KEY_STORE = "agentfeed.ownerKey"; // owner links (?key=…) from before sign-in
const TYPES = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
  "PostToolUseFailure", "PermissionRequest", "PermissionDenied", "Notification", "Stop",
  "StopFailure", "SubagentStart", "SubagentStop", "PreCompact", "PostCompact", "SessionEnd"];

const $ = (selector) => document.querySelector(selector);
const debug = (window.__agentfeed = { loadId: Math.random(), seen: {}, renders: 0, status: "" });

const oldOwnerLink = params.has("key") || localStorage.getItem(OLD_KEY_STORE) !== null;
localStorage.removeItem(OLD_KEY_STORE);

const session = new Session();
let owner = false; // what the server says (delivery:status), not what this page hopes
let signedOut = null; // why the owner's session ended, shown until they sign in again

const client = new LivebaseClient(location.origin, {
  onConnectionChange: (up) => ($("#conn").dataset.connected = String(up)),
});
const forbidden = (error) => error?.data?.code === "Forbidden";
window.__livebase = client;

function authenticate() {
  client.setAuth(session.fetchToken, (signedIn) => {
    if (!signedIn && session.ended) signedOut = session.ended;
    schedule(drawRole);
  });
}

function setOwner(value) {
  if (owner === value) return;
  owner = value;
  for (const draw of [drawRole, drawProjects, drawFeed, drawDelivery, drawRejected]) schedule(draw);
}

function drawRole() {
  const email = session.email;
  $("#owner").hidden = !owner;
  $("#who").textContent = owner && email ? email : "";
  $("#public-note").hidden = owner;
  $("#sign-in").hidden = owner || Boolean(email);
  $("#sign-out").hidden = !email;
  document.body.dataset.role = owner ? "owner" : email ? "signing-in" : "public";
  const notice = $("#key-notice");
  // The server's reason may end with its own advice (": sign in again"); the link below says it.
  const reason = signedOut?.replace(/[:;,.]?\s*sign in again\.?$/i, "");
  const problem = signedOut ? `You were signed out (${reason}).`
    : oldOwnerLink && !owner ? "Owner links (/?key=…) are no longer used." : null;
  notice.hidden = !problem || Boolean(email);
  if (notice.hidden) return;
  notice.replaceChildren(el("strong", { textContent: problem }),
    " This page shows the public view. ",
    el("a", { href: "#", textContent: "Sign in", onclick: openSignIn }), " to see everything.");
}

function openSignIn(event) {
  event?.preventDefault();
  const form = $("#sign-in-form");
  form.hidden = false;
  form.querySelector(".error").hidden = true;
  form.elements.email.focus();
}

$("#sign-in").addEventListener("click", openSignIn);
$("#sign-in-form .cancel").addEventListener("click", () => ($("#sign-in-form").hidden = true));
$("#sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = form.querySelector(".error");
  form.dataset.busy = "true";
  try {
    await session.signIn(form.elements.email.value.trim(), form.elements.password.value);
    form.reset();
    form.hidden = true;
    signedOut = null;
    authenticate();
  } catch (err) {
    error.textContent = `Not signed in: ${err.message}`;
    error.hidden = false;
  } finally {
    delete form.dataset.busy;
    schedule(drawRole);
  }
});
$("#sign-out").addEventListener("click", async () => {
  await session.signOut();
  client.setAuth(null);
  signedOut = null;
  schedule(drawRole);
});

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
  feed.pager = client.paginatedSubscribe("events:feed", feed.args, { pageSize: PAGE_SIZE },
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
  feed.rows = reconcile($("#feed"), shown, feed.rows, debug.seen);
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
  } else if (owner) {
    box.dataset.kind = "connect";
    box.replaceChildren(el("strong", { textContent: "No events yet." }), connect);
  } else {
    box.dataset.kind = "nothing-public";
    box.replaceChildren(
      el("strong", { textContent: "Nothing is public here yet — the owner has not shared any project." }),
      el("p", {}, "Are you the owner? ",
        el("a", { href: "#", textContent: "Sign in", onclick: openSignIn }),
        " to see every event and to share projects."), connect);
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
  if (forbidden(error)) { // signed out meanwhile: the owner's view is gone
    signedOut = error.data.message ?? "the server no longer takes this page as the owner";
    setOwner(false);
    return;
  }
  const message = error?.data?.message ?? String(error?.message ?? error).split("\n")[0];
  $("#feed-end").textContent = `error: ${message}`;
}

// ------------------------------------------------------------------ sessions and projects

let activeSessions = [];

function drawSessions() {
  $("#active-count").textContent = String(activeSessions.length);
  $("#sessions").replaceChildren(...activeSessions.slice(0, 50).map((s) => {
    const li = el("li", { className: "session-item" },
      el("a", { href: `#session/${encodeURIComponent(s.session_id)}`,
                textContent: `${base(s.project) || "?"} · ${s.session_id.slice(0, 8)}` }),
      el("div", { className: "meta", textContent: `${plural(s.event_count, "event")} · ${ago(s.last_event_at)}` }),
      el("div", { className: "last", title: s.last_summary, textContent: clip(s.last_summary, 90) }));
    // the tool it runs now (a PreToolUse not yet answered), live: each event re-runs the query
    if (s.last_event_type === "PreToolUse") li.classList.add("running");
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
    if (!owner) {
      li.append(el("strong", { textContent: p.name, title: p.path }), // append(null) writes "null"
        el("div", { className: "meta", textContent: status }),
        ...(p.description ? [el("div", { className: "last", textContent: p.description })] : []));
      return li;
    }
    const form = el("form", { className: "owner" },
      el("input", { name: "name", value: p.name, title: p.path, ariaLabel: `name of ${p.path}` }),
      el("input", { name: "description", value: p.description, placeholder: "description",
                    ariaLabel: `description of ${p.name}` }),
      el("label", {}, el("input", { type: "checkbox", name: "public", checked: p.public }), " public"),
      el("button", { textContent: "save" }),
      el("div", { className: "meta", textContent: status }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const args = { path: p.path, name: String(data.get("name")),
                     description: String(data.get("description")), public: data.has("public") };
      try {
        await client.mutation("projects:update", args);
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

const view = { stopHead: null, pager: null, rows: new Map(), state: null, session: null,
               stopSimilar: null, similar: null, stopTranscript: null, transcriptUrl: null };

function openSession(sessionId) {
  closeSession();
  $("#feed-view").hidden = true;
  $("#session-view").hidden = false;
  $("#session-view").dataset.sessionId = sessionId;
  view.stopHead = client.subscribe("sessions:session", { session_id: sessionId }, (s) => {
    view.session = s;
    schedule(drawSession);
  }, showError);
  view.stopTranscript = client.subscribe("transcript_files:url", { session_id: sessionId }, (url) => {
    view.transcriptUrl = url;
    schedule(drawSession);
  }, showError);
  view.stopSimilar = client.subscribe("similar:sessions", { session_id: sessionId }, (result) => {
    view.similar = result;
    schedule(drawSimilar);
  }, showError);
  view.pager = client.paginatedSubscribe("events:session_timeline", { session_id: sessionId },
    { pageSize: 100 }, (state) => {
      view.state = state;
      schedule(drawSession);
    }, showError);
}

function closeSession() {
  view.stopHead?.();
  view.stopSimilar?.();
  view.stopTranscript?.();
  view.transcriptUrl = null;
  view.pager?.unsubscribe();
  view.stopHead = view.pager = view.session = view.state = null;
  view.stopSimilar = view.similar = null;
  drawSimilar();
  view.rows = new Map();
  replay.reset();
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
        (s.model ? ` · ${s.model}` : "") + usageLine(s) }),
      headFigures(s),
      ...transcriptLink(s));
  }
  if (view.state) {
    const events = view.state.results.slice(0, 5000);
    replay.setEvents(events);
    view.rows = reconcile($("#timeline"), replay.shown(events), view.rows, debug.seen);
    $("#timeline").dataset.status = view.state.status;
    $("#timeline-more").hidden = view.state.status !== "CanLoadMore";
  }
}

// The owner's link to the session's transcript as Claude Code wrote it (transcript_files:url:
// null for the public, who never gets a transcript).
function transcriptLink(s) {
  const file = s.transcript_file;
  if (!file || !view.transcriptUrl) return [];
  const size = file.bytes < 1e6 ? `${Math.ceil(file.bytes / 1e3)} kB` : `${(file.bytes / 1e6).toFixed(1)} MB`;
  return [el("div", { className: "meta" }, el("a", { className: "transcript", href: view.transcriptUrl,
    textContent: `transcript (${size})`, title: `sha256 ${file.sha256}`, download: `${s.session_id}.jsonl` }))];
}

// The session's figures, as its card shows them (overview.js).
function headFigures(s) {
  const t = s.telemetry;
  const tokens = t ? t.tokens : s.tokens;
  const total = tokens ? Object.values(tokens).reduce((a, b) => a + b, 0) : 0;
  const cost = t ? t.cost_usd : s.cost_usd;
  return figures([["duration", span((s.ended_at ?? s.last_event_at) - s.started_at)],
    ["events", count(s.event_count)], ["tokens", total ? count(total) : "—"],
    ["cost", cost != null ? money(cost) : "—"]]);
}

function usageLine(s) {
  // tokens and cost: from Claude Code's telemetry (live), else from a transcript import
  const t = s.telemetry;
  const tokens = t ? t.tokens : s.tokens;
  const total = tokens ? tokens.input + tokens.output + tokens.cache_read + tokens.cache_creation : 0;
  const cost = t ? t.cost_usd : s.cost_usd;
  if (!total && cost == null) return "";
  const money = cost == null ? "" : ` · $${cost.toFixed(cost < 1 ? 4 : 2)}`;
  const source = t ? `${plural(t.requests, "API request")}, telemetry` : "transcript";
  return ` · ${total.toLocaleString()} tokens${money} (${source})`;
}

$("#timeline-more").addEventListener("click", () => view.pager?.loadMore());
const replay = mountReplay($("#replay"), () => schedule(drawSession));

// Sessions whose prompts read alike (similar:sessions: a live vector search over the sessions'
// prompts as the public sees them), best first, with how alike they are.
const SIMILAR_NOTES = {
  loading: "looking for similar sessions…",
  no_prompts: "No prompt in this session yet: similar sessions show once it has one.",
  not_found: "This session is not shown here.",
  none: "No other session reads like this one yet.",
};

function drawSimilar() {
  const box = $("#similar");
  const result = view.similar;
  const found = result?.sessions ?? [];
  const status = !result ? "loading" : result.status === "ready" && !found.length ? "none" : result.status;
  box.dataset.status = status;
  $("#similar-note").textContent = SIMILAR_NOTES[status] ?? "";
  $("#similar-list").replaceChildren(...found.map((s) => {
    const li = el("li", { className: "similar-item" },
      el("span", { className: "score", textContent: `${Math.round(s.similarity * 100)}% alike`,
                   title: `cosine similarity ${s.similarity.toFixed(3)}` }),
      el("a", { href: `#session/${encodeURIComponent(s.session_id)}`,
                textContent: `${base(s.project) || "?"} · ${s.session_id.slice(0, 8)}` }),
      el("div", { className: "meta", textContent:
        `${s.status} · ${plural(s.prompt_count, "prompt")} · ${ago(s.last_event_at)}` }),
      el("div", { className: "last", textContent: clip(s.last_summary, 120), title: s.last_summary }));
    li.dataset.sessionId = s.session_id;
    return li;
  }));
}

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
      owner ? el("span", {}, "Run ",
        el("code", { textContent: `agentfeed install-hook --url ${location.origin}` }),
        " again where Claude Code runs (it picks up this server's key on the same machine; " +
        "elsewhere pass --key).") : null));
  }
  if (shown("rejected")) {
    parts.push(el("p", {},
      el("strong", { textContent: "Unusable posts: " }),
      `${plural(s.rejected.count, "body", "bodies")} in the last ${s.window_days} days could not ` +
      `be used (the last ${ago(s.rejected.last_at)}); they are kept for the owner.` +
      (owner && s.last_rejected_reason ? ` Last reason: ${s.last_rejected_reason}` : "") +
      (owner ? " The list below shows each one and re-ingests it once its cause is fixed." : "")));
  }
  box.hidden = parts.length === 0;
  box.replaceChildren(...parts);
}

// ------------------------------------------------------------------ rejected posts (owner)
// rejected:summary and rejected:latest answer the owner only (the public gets nothing): the
// kinds of reason with their counts, the latest bodies as received, and a button that
// re-ingests one (rejected:retry) once its cause is fixed.

let rejected = { summary: null, rows: [] };
const retrying = new Map(); // id -> message of the last retry

function drawRejected() {
  const box = $("#rejected");
  const s = rejected.summary;
  box.hidden = !owner || !s || s.count === 0;
  if (box.hidden) return;
  const kinds = s.kinds.map((k) => `${k.kind} (${k.count})`).join(" · ");
  $("#rejected-summary").textContent =
    `${plural(s.count, "rejected post")} kept (the latest ${s.keep}): ${kinds}`;
  $("#rejected-list").replaceChildren(...rejected.rows.map((row) => {
    const button = el("button", { type: "button", className: "retry", textContent: "Re-ingest" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const result = await client.mutation("rejected:retry", { id: row._id });
        retrying.set(row._id, result.status === "rejected"
          ? `still rejected: ${result.reason}`
          : result.event_id ? `${result.status} as ${result.event_id}`
          : `${plural(result.stored, "telemetry record")} stored`);
      } catch (error) {
        retrying.set(row._id, `failed: ${error.message || error}`);
      }
      button.disabled = false;
      schedule(drawRejected);
    });
    const note = retrying.get(row._id);
    return el("li", { className: "rejected-row" },
      el("div", { className: "meta", textContent:
        `${new Date(row.received_at).toLocaleString()} · POST /${row.endpoint} · ` +
        `${row.body_bytes} bytes · ${plural(row.attempts ?? 1, "attempt")}` +
        (row.event_id ? ` · event_id ${row.event_id}` : "") }),
      el("div", { className: "error", textContent: row.reason }),
      el("details", {}, el("summary", { textContent: "payload" }),
        el("pre", { textContent: row.body })),
      button,
      note ? el("span", { className: "meta", textContent: ` ${note}` }) : null);
  }));
}

// ------------------------------------------------------------------ start

const subscriptions = [];

function start() {
  while (subscriptions.length) subscriptions.pop()();
  drawRole();
  subscriptions.push(
    client.subscribe("sessions:active_sessions", {}, (rows) => {
      activeSessions = rows;
      schedule(drawSessions);
    }, showError),
    client.subscribe("projects:projects_with_stats", {}, (rows) => {
      projects = rows;
      schedule(drawProjects);
    }, showError),
    client.subscribe("delivery:status", {}, (status) => {
      delivery = status;
      setOwner(status.owner === true);
      schedule(drawDelivery);
    }, showError),
    client.subscribe("rejected:summary", {}, (summary) => {
      rejected.summary = summary;
      schedule(drawRejected);
    }, showError),
    client.subscribe("rejected:latest", { paginationOpts: { numItems: 20, cursor: null } },
      (page) => {
        rejected.rows = page.page;
        schedule(drawRejected);
      }, showError));
  subscriptions.push(mountActivitySessions(client), mountOverview(client, showError));
  openFeed();
  if (!$("#session-view").hidden) openSession($("#session-view").dataset.sessionId);
}

addEventListener("hashchange", route);
if (session.email) authenticate(); // before the first subscription: it runs as the owner
start();
route();
setInterval(() => {
  schedule(drawSessions);
  schedule(drawDelivery);
}, 15_000); // keep the "… ago" labels fresh
