// Small helpers every module of the page shares: building nodes, and saying numbers, times,
// days and money the way a person reads them.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) if (child != null) node.append(child);
  return node;
}

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
export const clip = (text, n) => (text && text.length > n ? `${text.slice(0, n)}…` : text ?? "");
export const base = (path) => (path ? path.split("/").filter(Boolean).pop() ?? path : "");
export const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

export function duration(ms) {
  if (ms == null) return null;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** A session's length: "45s", "12m", "2h 5m". */
export function span(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m}m` : `${Math.floor(m / 60)}h${m % 60 ? ` ${m % 60}m` : ""}`;
}

/** A row of figures, each a small label over its value: [[label, value], ...]. */
export function figures(pairs) {
  return el("dl", { className: "stats" }, ...pairs.map(([label, value]) =>
    el("div", {}, el("dt", { textContent: label }), el("dd", { className: label, textContent: value }))));
}

export function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

export function money(usd) {
  if (usd == null) return "";
  return usd === 0 ? "$0" : usd < 0.01 ? "<$0.01" : `$${usd.toFixed(2)}`;
}

export function count(n) {
  return n < 1000 ? String(Math.round(n)) : n < 1e6 ? `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)}k`
    : `${(n / 1e6).toFixed(1)}M`;
}

/** The local day of a timestamp, as a key ("2026-11-30"). */
export function dayKey(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** "Today", "Yesterday", or "Mon 30 Nov" (with the year when it is not this year's). */
export function dayLabel(ms, now = Date.now()) {
  const key = dayKey(ms);
  if (key === dayKey(now)) return "Today";
  if (key === dayKey(now - 86_400_000)) return "Yesterday";
  const d = new Date(ms);
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  const parts = { weekday: "short", day: "numeric", month: "short" };
  if (!sameYear) parts.year = "numeric";
  return new Intl.DateTimeFormat("en-GB", parts).format(d).replace(",", "");
}
