// The overview at the top of the feed: the last 14 days as two inline SVG bar charts (events
// and API cost, from overview:days) and the latest sessions as cards (overview:sessions): what
// each was for (the owner's guessed intent, else its last step), its status, duration, tokens
// and cost, and for an active one the tool it is running now, kept live by the subscription.
import { base, clip, count, el, figures, money, plural, span, svg } from "/static/dom.js";

const DAYS = 14;
const CARDS = 12;
const W = 280;
const H = 96;

function dayName(day, long = false) {
  const d = new Date(`${day}T12:00:00Z`);
  return new Intl.DateTimeFormat("en-GB", long ? { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" }
    : { day: "numeric", timeZone: "UTC" }).format(d).replace(",", "");
}

/** A bar chart of `values` (one per day) as an SVG with an accessible name and a title per bar. */
function barChart(id, title, days, values, say) {
  const max = Math.max(...values, 0);
  const total = values.reduce((a, b) => a + b, 0);
  const busiest = days[values.indexOf(max)];
  const label = `${title}, last ${days.length} days: ${say(total)} in all` +
    (max > 0 ? `, most on ${dayName(busiest, true)} (${say(max)})` : "");
  const step = W / days.length;
  const bars = days.map((day, i) => {
    const h = max > 0 ? Math.max(values[i] > 0 ? 2 : 0, (values[i] / max) * (H - 4)) : 0;
    return svg("rect", { x: (i * step + 2).toFixed(1), y: (H - h).toFixed(1), width: (step - 4).toFixed(1),
      height: h.toFixed(1), rx: 2, class: i === days.length - 1 ? "bar today" : "bar" },
    svg("title", {}, `${dayName(day, true)}: ${say(values[i])}`));
  });
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, id,
    preserveAspectRatio: "none" },
  svg("line", { x1: 0, x2: W, y1: H, y2: H, class: "axis" }), ...bars);
  // the day labels in HTML: SVG text would stretch with the chart's width
  const ticks = el("div", { className: "ticks", ariaHidden: "true" },
    el("span", { textContent: dayName(days[0], true) }),
    el("span", { textContent: dayName(days[Math.floor(days.length / 2)], true) }),
    el("span", { textContent: "today" }));
  return el("figure", { className: "chart" },
    el("figcaption", {}, el("span", { textContent: title }), el("strong", { textContent: say(total) })),
    chart, ticks);
}

function drawCharts(days) {
  const box = document.querySelector("#charts");
  if (!days) return;
  const names = days.map((d) => d.day);
  box.replaceChildren(
    barChart("chart-activity", "Events", names, days.map((d) => d.events), (n) => plural(Math.round(n), "event")),
    barChart("chart-cost", "API cost", names, days.map((d) => d.cost_usd), (usd) => money(usd)));
  box.dataset.loaded = "true";
  // what a visitor reads first (shown in the public view only: style.css)
  const sum = (key) => days.reduce((n, d) => n + d[key], 0);
  // nothing shared yet: the empty feed says so, an introduction of zeros would not
  const intro = document.querySelector("#intro");
  intro.hidden = sum("sessions") === 0;
  intro.textContent = intro.hidden ? "" : `Building in the open with a coding agent: ` +
    `${plural(sum("sessions"), "session")}, ${plural(sum("prompts"), "prompt")} and ` +
    `${plural(sum("tool_calls"), "tool call")} over the last ${days.length} days, shown live as they happen.`;
}

/** What an active session is doing now: the tool it runs (a PreToolUse not yet answered). */
function nowLine(s) {
  const running = s.last_event_type === "PreToolUse" || s.last_event_type === "PermissionRequest";
  if (s.status !== "active" || !running) return null;
  return el("div", { className: "now running" },
    el("span", { className: "pulse", ariaHidden: "true" }),
    el("span", { className: "label", textContent: "running" }), " ",
    el("code", { className: "tool", textContent: clip(s.last_summary, 120), title: s.last_summary }));
}

function card(s) {
  const title = s.intent?.text ?? s.last_summary;
  const usage = s.usage;
  const stats = [
    ["duration", span(s.duration_ms)],
    ["events", count(s.event_count)],
    ["tokens", usage ? count(usage.tokens) : "—"],
    ["cost", usage?.cost_usd != null ? money(usage.cost_usd) : "—"],
  ];
  const node = el("article", { className: "session-card" },
    el("header", {},
      el("span", { className: "project", textContent: base(s.project) || "no project", title: s.project ?? "" }),
      el("span", { className: `status ${s.status}`, textContent: s.status })),
    el("a", { className: "title", href: `#session/${encodeURIComponent(s.session_id)}`,
              textContent: clip(title, 140), title }),
    s.intent ? el("div", { className: "meta", textContent:
      `${s.intent.source === "owner" ? "confirmed" : `${Math.round(s.intent.confidence * 100)}% sure`}` +
      ` · ${plural(s.prompt_count, "prompt")}` }) : null,
    nowLine(s),
    figures(stats));
  node.dataset.sessionId = s.session_id;
  node.dataset.status = s.status;
  if (usage?.cost_usd != null) node.dataset.cost = String(usage.cost_usd);
  return node;
}

function drawCards(sessions) {
  const list = document.querySelector("#cards");
  list.replaceChildren(...(sessions.length ? sessions.map(card)
    : [el("p", { className: "meta empty", textContent: "No sessions yet." })]));
  list.dataset.loaded = "true";
}

/** Subscribe to the overview's two queries and keep it drawn; returns the unsubscribe function. */
export function mountOverview(client, onError) {
  const stops = [
    client.subscribe("overview:days", { days: DAYS }, drawCharts, onError),
    client.subscribe("overview:sessions", { limit: CARDS }, drawCards, onError),
  ];
  return () => stops.forEach((stop) => stop());
}
