// One feed or timeline row per event, and the day separators between rows of different days.
// A row is an <li class="event"> holding an optional day heading and the event's card: its
// time, kind, project, session and summary, then what a person wants to read of it: the prompt
// (once), the tool call (tools.js), the result's first lines, or the error.
import { base, clip, clock, dayKey, dayLabel, duration, el } from "/static/dom.js";
import { callView, resultView } from "/static/tools.js";

const LABELS = {
  UserPromptSubmit: "prompt", PreToolUse: "tool", PostToolUse: "result",
  PostToolUseFailure: "failed", PermissionRequest: "permission", PermissionDenied: "denied",
  Stop: "stop", StopFailure: "stop failed", SubagentStart: "subagent", SubagentStop: "subagent",
  PreCompact: "compact", PostCompact: "compact", Notification: "notice",
  SessionStart: "start", SessionEnd: "end",
};
const TOOL_TYPES = new Set(["PreToolUse", "PermissionRequest"]);
const RESULT_TYPES = new Set(["PostToolUse", "PostToolUseFailure"]);

export function failed(ev) {
  return ev.success === false || /Failure|Denied/.test(ev.type) || Boolean(ev.error);
}

/** The row of one event; `seen` records when each event was first drawn (tests time it). */
export function renderEvent(ev, seen = {}) {
  const kind = LABELS[ev.type] ?? ev.type;
  const li = el("li", { className: `event type-${ev.type}${failed(ev) ? " failed" : ""}` });
  li.dataset.id = ev._id;
  li.dataset.eventId = ev.event_id;
  li.dataset.type = ev.type;
  li.dataset.ts = String(ev.timestamp);
  const session = ev.session_id
    ? el("a", { className: "session", href: `#session/${encodeURIComponent(ev.session_id)}`,
                textContent: ev.session_id.slice(0, 8), title: `session ${ev.session_id}` })
    : null;
  const richCall = TOOL_TYPES.has(ev.type) && ev.tool_input;
  // A prompt is its own text (below), a rich tool call its tool's name: never the same words twice.
  const summary = ev.type === "UserPromptSubmit" && ev.prompt ? null
    : el("span", { className: "summary", textContent: richCall ? ev.tool_name ?? ev.summary : ev.summary });
  const card = el("div", { className: "card" },
    el("div", { className: "line" },
      el("time", { textContent: clock(ev.timestamp), dateTime: new Date(ev.timestamp).toISOString(),
                   title: new Date(ev.timestamp).toLocaleString() }),
      el("span", { className: "badge", textContent: kind, title: ev.type }),
      ev.project ? el("span", { className: "project", textContent: base(ev.project), title: ev.project }) : null,
      session,
      ev.duration_ms != null ? el("span", { className: "duration", textContent: duration(ev.duration_ms) }) : null,
      summary));
  if (ev.type === "UserPromptSubmit" && ev.prompt) {
    card.append(el("blockquote", { className: "prompt", textContent: clip(ev.prompt, 1200) }));
  } else if (richCall) {
    card.append(callView(ev.tool_name, ev.tool_input));
  } else if (ev.error) {
    card.append(el("pre", { className: "error", textContent: clip(String(ev.error), 800) }));
  }
  if (ev.tool_response && (RESULT_TYPES.has(ev.type) || !ev.error)) {
    const result = resultView(ev.tool_response, failed(ev));
    if (result) card.append(result);
  }
  li.append(card);
  seen[ev.event_id] ??= Date.now();
  return li;
}

/** Keyed reconciliation: reuse the rows still wanted, move or insert the others, drop the rest;
 * then put a day heading on each row whose day differs from the row before it. */
export function reconcile(list, events, cache, seen) {
  const next = new Map();
  for (const ev of events) next.set(ev._id, cache.get(ev._id) ?? renderEvent(ev, seen));
  for (const child of [...list.children]) if (!next.has(child.dataset.id)) child.remove();
  let expected = list.firstChild;
  for (const node of next.values()) {
    if (node !== expected) list.insertBefore(node, expected);
    else expected = expected.nextSibling;
  }
  markDays(list);
  return next;
}

/** Day headings: "Today", "Yesterday", "Mon 30 Nov", on the first row of each day. */
export function markDays(list) {
  let previous = null;
  const now = Date.now();
  for (const li of list.children) {
    const ts = Number(li.dataset.ts);
    const key = dayKey(ts);
    let heading = li.firstElementChild?.classList.contains("day") ? li.firstElementChild : null;
    if (key === previous) {
      heading?.remove();
      delete li.dataset.day;
    } else {
      const label = dayLabel(ts, now);
      if (!heading) li.prepend(heading = el("h3", { className: "day" }));
      if (heading.textContent !== label) heading.textContent = label;
      li.dataset.day = key;
    }
    previous = key;
  }
}
