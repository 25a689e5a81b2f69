// Logs: the deployment's function log, live (pushed: a subscription to the log head that a new
// line re-runs, then the lines after the cursor), newest first; filter by function, level, text
// and request id. A request id opens the call that wrote the line (`_system/dashboard:call`).
import { el, clockTime, dateTime } from "/_dashboard/values.js";

const KEEP = 5000;
const SHOW = 500;
const RANK = { DEBUG: 0, LOG: 1, INFO: 1, WARN: 2, ERROR: 3 };

export function mount(ctx, root) {
  const state = { entries: [], cursor: 0, function: "", level: "", text: "", request: "", error: null, loaded: false };
  const fnSelect = el("select", { id: "log-function", "aria-label": "Function" }, el("option", { value: "", text: "All functions" }));
  const levelSelect = el("select", { id: "log-level", "aria-label": "Lowest level" },
    el("option", { value: "", text: "All levels" }), el("option", { value: "INFO", text: "Info and above" }),
    el("option", { value: "WARN", text: "Warnings and errors" }), el("option", { value: "ERROR", text: "Errors only" }));
  const text = el("input", { id: "log-text", type: "search", placeholder: "Search messages  ( / )", "aria-label": "Search messages", "data-search": true });
  const requestChip = el("button", { class: "button", type: "button", hidden: true });
  const count = el("span", { class: "muted" });
  const tbody = el("tbody");
  const table = el("table", { class: "logs-table" },
    el("caption", { class: "visually-hidden", text: "Function log, newest first" }),
    el("thead", {}, el("tr", {}, ...["Time", "Level", "Function", "Message", "Request"].map((h) => el("th", { scope: "col", text: h })))),
    tbody);
  const wrap = el("div", { class: "table-wrap" }, table);
  const empty = el("div", { class: "empty" });
  const notice = el("div");
  root.append(
    el("div", { class: "toolbar" }, el("h1", { class: "grow", text: "Logs" }), fnSelect, levelSelect, text, requestChip),
    notice, wrap, empty, el("div", { class: "muted" }, count));

  // The log head is a live subscription the server re-runs when a line is written; each push
  // fetches the lines after the cursor (no polling).
  let busy = false;
  let wanted = 0;
  async function catchUp() {
    if (busy) return; // the running fetch loop sees the new `wanted`
    busy = true;
    try {
      while (!state.loaded || wanted > state.cursor) {
        const page = await ctx.client.query("_system/dashboard:logs", { after: state.cursor, limit: 1000 });
        const moved = page.cursor !== state.cursor;
        state.cursor = page.cursor;
        const first = !state.loaded;
        state.loaded = true;
        if (page.entries.length) {
          state.entries.push(...page.entries);
          if (state.entries.length > KEEP) state.entries.splice(0, state.entries.length - KEEP);
          updateFunctions();
        }
        if (first || page.entries.length) render(); // unchanged rows keep their focus
        if (!moved) break;
      }
    } catch (error) {
      showError(error);
    } finally {
      busy = false;
    }
  }
  const stop = ctx.client.subscribe("_system/dashboard:logHead", {}, (head) => {
    notice.replaceChildren();
    if (head.last < state.cursor) { state.entries = []; state.cursor = 0; state.loaded = false; } // a new log
    wanted = head.last;
    catchUp();
  }, showError);

  function showError(error) {
    notice.replaceChildren(el("div", { class: "notice", role: "alert" }, `The log could not be read (${error.message}); the page reconnects on its own.`));
  }

  function updateFunctions() {
    const paths = [...new Set(state.entries.map((e) => e.path))].sort();
    const have = [...fnSelect.options].slice(1).map((o) => o.value);
    if (paths.join() === have.join()) return;
    fnSelect.replaceChildren(el("option", { value: "", text: "All functions" }), ...paths.map((p) => el("option", { value: p, text: p })));
    fnSelect.value = paths.includes(state.function) ? state.function : "";
  }

  function visible() {
    const floor = state.level ? RANK[state.level] : 0;
    const needle = state.text.toLowerCase();
    const out = [];
    for (let i = state.entries.length - 1; i >= 0 && out.length < SHOW; i--) {
      const e = state.entries[i];
      if (state.function && e.path !== state.function) continue;
      if ((RANK[e.level] ?? 1) < floor) continue;
      if (state.request && e.requestId !== state.request) continue;
      if (needle && !e.message.toLowerCase().includes(needle) && !e.path.toLowerCase().includes(needle)) continue;
      out.push(e);
    }
    return out;
  }

  function render() {
    const rows = visible();
    tbody.replaceChildren(...rows.map((e) => el("tr", { class: e.failure ? "failure" : "", dataset: { request: e.requestId } },
      el("td", { class: "time", title: new Date(e.timestamp).toISOString(), text: clockTime(e.timestamp) }),
      el("td", {}, el("span", { class: `badge ${e.level}`, text: e.level })),
      el("td", { class: "mono fn", text: e.path }),
      el("td", { class: "msg", text: e.message }),
      el("td", {}, e.requestId ? el("button", {
        class: "linkish", type: "button", title: "Open the call that wrote this line",
        "aria-label": `Call ${e.requestId.slice(0, 10)} of ${e.path}`,
        onclick: () => openCall(ctx, e.requestId, setRequest),
      }, e.requestId.slice(0, 10)) : ""))));
    const filtered = state.function || state.level || state.text || state.request;
    wrap.hidden = rows.length === 0;
    empty.hidden = rows.length > 0;
    if (!rows.length) {
      empty.replaceChildren(state.loaded && !state.entries.length
        ? el("div", {}, el("h2", { text: "No log lines yet" }), el("p", { text: "Every function call's print() and logging output, and every failure, appears here live. Run a function (the Functions panel) to see one." }))
        : state.loaded ? el("div", {}, el("h2", { text: "Nothing matches these filters" }), el("p", { text: "Widen the level, pick all functions or clear the search." }),
          el("button", { class: "button", type: "button", text: "Clear filters", onclick: clearFilters }))
          : el("p", { text: "Loading…" }));
    }
    count.textContent = state.entries.length
      ? `${rows.length === SHOW ? `newest ${SHOW} shown of ` : `${rows.length} shown of `}${state.entries.length} lines${filtered ? " (filtered)" : ""} · live`
      : "";
  }

  function setRequest(id) {
    state.request = id;
    requestChip.hidden = !id;
    requestChip.textContent = id ? `Request ${id.slice(0, 10)} ✕` : "";
    requestChip.setAttribute("aria-label", id ? `Stop showing only request ${id}` : "");
    render();
    if (id) requestChip.focus();
  }

  function clearFilters() {
    state.function = state.level = state.text = "";
    fnSelect.value = levelSelect.value = text.value = "";
    setRequest("");
  }

  requestChip.addEventListener("click", () => setRequest(""));
  fnSelect.addEventListener("change", () => { state.function = fnSelect.value; render(); });
  levelSelect.addEventListener("change", () => { state.level = levelSelect.value; render(); });
  text.addEventListener("input", () => { state.text = text.value; render(); });
  render();
  return { unmount: stop };
}

/** The call `requestId`: its function, when, how it ended, every line it wrote. */
async function openCall(ctx, requestId, onlyThisCall) {
  const body = el("div", { class: "call-body" }, el("p", { class: "muted", text: "Loading…" }));
  const only = el("button", { class: "button", type: "button", text: "Only this call's lines" });
  const dialog = el("dialog", { "aria-labelledby": "call-title", id: "call-dialog", class: "editor" },
    el("form", { method: "dialog" },
      el("h2", { id: "call-title" }, "Call ", el("span", { class: "mono", text: requestId })),
      body,
      el("div", { class: "actions" }, only, el("button", { class: "button primary", type: "submit", value: "close", text: "Close" }))));
  only.addEventListener("click", () => { dialog.close(); onlyThisCall(requestId); });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  let call;
  try {
    call = await ctx.client.query("_system/dashboard:call", { requestId });
  } catch (error) {
    body.replaceChildren(el("div", { class: "notice", role: "alert", text: `The call could not be read: ${error.message}` }));
    return;
  }
  if (!call) {
    body.replaceChildren(el("p", { text: "This call's lines have left the log (it keeps the newest LIVEBASE_LOG_ENTRIES lines)." }));
    return;
  }
  body.replaceChildren(
    el("dl", { class: "facts" },
      el("dt", { text: "Function" }), el("dd", {}, el("a", { class: "mono", href: `#functions/${encodeURIComponent(call.path)}`, text: call.path, onclick: () => dialog.close() }), " ", el("span", { class: `badge ${call.kind}`, text: call.kind })),
      el("dt", { text: "Outcome" }), el("dd", {}, el("span", { class: `badge ${call.outcome === "failure" ? "failed" : "success"}`, id: "call-outcome", text: call.outcome === "failure" ? "failed" : "succeeded" })),
      el("dt", { text: "Ended" }), el("dd", { text: dateTime(call.timestamp) }),
      el("dt", { text: "Started by" }), el("dd", { text: call.source === "call" ? "a client or another function" : call.source })),
    call.error ? el("pre", { class: "error-text", id: "call-error", text: call.error }) : null,
    el("h3", { text: `Lines (${call.lines.length})` }),
    call.lines.length ? el("pre", { id: "call-lines", text: call.lines.map((l) => `[${l.level}] ${l.message}`).join("\n") }) : el("p", { class: "muted", text: "It wrote no lines." }),
    ...callRecord(call.record));
}

/** The call's arguments, result and timing (secret-looking keys redacted, long values cut), when
 * the server still holds them (its newest 2,000 calls). */
function callRecord(record) {
  if (!record) return [el("p", { class: "muted", text: "Its arguments, result and timing are no longer kept (the server holds its newest 2,000 calls'); run the function again from the Functions panel to see them." })];
  return [
    el("dl", { class: "facts" },
      el("dt", { text: "Caller" }), el("dd", { id: "call-caller", text: record.caller }),
      el("dt", { text: "Duration" }), el("dd", { id: "call-duration", text: `${record.durationMs.toFixed(1)} ms` })),
    el("h3", { text: "Arguments" }), el("pre", { id: "call-args", text: record.args }),
    record.result === null ? null : el("h3", { text: "Result" }),
    record.result === null ? null : el("pre", { id: "call-result", text: record.result }),
  ];
}
