// Health: the figures /metrics exports (same counters), pushed every second and drawn as
// small live charts (inline SVG): connections, subscriptions, commits/s, commit-to-push latency,
// function calls/s and failed calls.
import { el } from "/_dashboard/values.js";

const SAMPLES = 90;
const SVG = "http://www.w3.org/2000/svg";

const CHARTS = [
  { id: "connections", title: "Sync connections", unit: "", read: (f) => f.livebase_sync_connections ?? 0, help: "Open WebSocket connections (clients)." },
  { id: "subscriptions", title: "Subscriptions", unit: "", read: (f) => f.livebase_subscriptions ?? 0, help: "Live queries held by those clients." },
  { id: "commits", title: "Commits", unit: "/s", rate: (f) => f.livebase_commits_total ?? 0, help: "Write transactions committed per second." },
  { id: "latency", title: "Commit to push", unit: " ms", latency: true, help: "Mean time from a commit to the update reaching clients, over the last second." },
  { id: "calls", title: "Function calls", unit: "/s", rate: (f) => f.livebase_function_executions_total ?? 0, help: "Queries (re-runs included), mutations and actions per second." },
  { id: "errors", title: "Failed calls", unit: "/s", rate: (f) => f.livebase_function_failures_total ?? 0, bad: true, help: "Calls that raised, per second; the Logs panel has the details." },
];

export function mount(ctx, root) {
  const series = Object.fromEntries(CHARTS.map((c) => [c.id, []]));
  let previous = null;
  const notice = el("div");
  const cards = CHARTS.map((c) => {
    const value = el("div", { class: "value", id: `health-${c.id}` }, "—");
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${SAMPLES - 1} 100`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${c.title}, last ${SAMPLES} seconds`);
    const area = document.createElementNS(SVG, "path");
    area.setAttribute("class", "area");
    const line = document.createElementNS(SVG, "path");
    line.setAttribute("class", "line");
    svg.append(area, line);
    const card = el("div", { class: "card chart" + (c.bad ? " bad" : "") },
      el("h2", { text: c.title }), value, svg, el("p", { class: "muted", text: c.help }));
    return { c, card, value, area, line };
  });
  const totals = el("p", { class: "muted" });
  root.append(el("div", { class: "toolbar" }, el("h1", { class: "grow", text: "Health" }), el("span", { class: "muted", text: "live · every second" })),
    notice, el("div", { class: "charts" }, ...cards.map((x) => x.card)), totals);

  // a live subscription the server re-runs every second while it is watched (no polling)
  const stop = ctx.client.subscribe("_system/dashboard:health", {}, (sample) => {
    notice.replaceChildren();
    const f = sample.figures;
    const dt = previous ? Math.max(0.001, (sample.at - previous.at) / 1000) : null;
    for (const c of CHARTS) {
      let v = null;
      if (c.read) v = c.read(f);
      else if (c.rate && previous) v = Math.max(0, (c.rate(f) - c.rate(previous.figures)) / dt);
      else if (c.latency && previous) {
        const n = (f.livebase_commit_to_push_seconds_count ?? 0) - (previous.figures.livebase_commit_to_push_seconds_count ?? 0);
        const s = (f.livebase_commit_to_push_seconds_sum ?? 0) - (previous.figures.livebase_commit_to_push_seconds_sum ?? 0);
        v = n > 0 ? (s / n) * 1000 : 0;
      }
      if (v === null) continue;
      const list = series[c.id];
      list.push(v);
      if (list.length > SAMPLES) list.shift();
    }
    previous = sample;
    for (const x of cards) draw(x, series[x.c.id]);
    totals.textContent = `Since start: ${(f.livebase_commits_total ?? 0).toLocaleString()} commits, ${(f.livebase_function_executions_total ?? 0).toLocaleString()} function calls. The same figures are at /metrics for Prometheus.`;
  }, (error) => {
    notice.replaceChildren(el("div", { class: "notice", role: "alert" }, `Health figures could not be read (${error.message}); the page reconnects on its own.`));
  });

  function draw({ c, value, area, line }, list) {
    if (!list.length) return;
    const last = list[list.length - 1];
    const digits = last >= 100 || Number.isInteger(last) ? 0 : 1;
    value.replaceChildren(last.toFixed(c.latency ? 1 : digits), el("small", { text: c.unit }));
    const max = Math.max(1, ...list) * 1.15;
    const offset = SAMPLES - list.length;
    const pts = list.map((v, i) => `${offset + i},${(100 - (v / max) * 100).toFixed(2)}`);
    line.setAttribute("d", "M" + pts.join(" L"));
    area.setAttribute("d", `M${offset},100 L` + pts.join(" L") + ` L${SAMPLES - 1},100 Z`);
  }

  return { unmount: stop };
}
