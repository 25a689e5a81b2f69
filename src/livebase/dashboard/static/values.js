// Convex values in the dashboard: short cell text, the editor's JSON text (int64 as plain
// digits, bytes as {"$bytes": base64}), parsing it back guided by the schema, and checking a
// document against the table's validator (the server checks again on write).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A scrolling table with a caption for screen readers; an empty heading is an actions column. */
export function dataTable(caption, heads, rows, attrs = {}) {
  // focusable, so a table wider or taller than the screen scrolls from the keyboard too
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption }, el("table", attrs,
    el("caption", { class: "visually-hidden", text: caption }),
    el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, h || el("span", { class: "visually-hidden", text: "Actions" }))))),
    el("tbody", {}, ...rows)));
}

/** A byte count as text: 512 B, 1.5 KiB, 3.2 MiB. */
export function byteSize(n) {
  if (n == null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = Number(n);
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return `${i ? x.toFixed(x < 10 ? 1 : 0) : x} ${units[i]}`;
}

function b64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out.buffer;
}

/** One line of text for a grid cell. */
export function cellText(value) {
  if (value === undefined) return "";
  if (value === null) return "null";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return value;
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(+value.toPrecision(6));
  if (typeof value === "boolean") return String(value);
  if (value instanceof ArrayBuffer) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return `[${value.length}] ` + value.slice(0, 4).map(cellText).join(", ");
  return "{" + Object.keys(value).slice(0, 4).join(", ") + (Object.keys(value).length > 4 ? ", …}" : "}");
}

/** Compare two values for sorting (null and missing first, then numbers, strings, others). */
export function compareValues(a, b) {
  const rank = (x) => (x == null ? 0 : typeof x === "number" || typeof x === "bigint" ? 1 : typeof x === "boolean" ? 2 : typeof x === "string" ? 3 : 4);
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 1) return a < b ? -1 : a > b ? 1 : 0;
  if (ra === 2 || ra === 3) return a < b ? -1 : a > b ? 1 : 0;
  if (ra === 4) return cellText(a).localeCompare(cellText(b));
  return 0;
}

/** The editor's JSON text of a value (pretty, 2 spaces). */
export function toEditorText(value, indent = "") {
  const next = indent + "  ";
  if (value === null || value === undefined) return "null";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (Number.isFinite(value)) return JSON.stringify(value);
    return JSON.stringify({ $float: String(value) });
  }
  if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
  if (value instanceof ArrayBuffer) return JSON.stringify({ $bytes: b64(value) });
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return "[\n" + value.map((x) => next + toEditorText(x, next)).join(",\n") + "\n" + indent + "]";
  }
  const keys = Object.keys(value);
  if (!keys.length) return "{}";
  return "{\n" + keys.map((k) => next + JSON.stringify(k) + ": " + toEditorText(value[k], next)).join(",\n") + "\n" + indent + "}";
}

/** Parse the editor's text back into a value, using `validator` (Convex validator JSON) to
 * turn whole numbers into int64 where the schema wants one. Throws SyntaxError. */
export function fromEditorText(text, validator) {
  return revive(JSON.parse(text), validator);
}

function revive(value, validator) {
  const type = validator?.type;
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bytes" && typeof value.$bytes === "string") return unb64(value.$bytes);
    if (keys.length === 1 && keys[0] === "$float") return Number(value.$float);
  }
  if (type === "optional") return revive(value, validator.value);
  if (type === "int64" && typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (type === "union" && typeof value === "number" && Number.isInteger(value)) {
    const wantsInt = validator.value.some((m) => m.type === "int64");
    const wantsFloat = validator.value.some((m) => m.type === "float64" || m.type === "number");
    if (wantsInt && !wantsFloat) return BigInt(value);
  }
  if (Array.isArray(value)) return value.map((x) => revive(x, type === "array" ? validator.value : undefined));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, x] of Object.entries(value)) {
      let inner;
      if (type === "object") inner = validator.value[k]?.fieldType;
      else if (type === "record") inner = validator.values;
      out[k] = revive(x, inner);
    }
    return out;
  }
  return value;
}

/** Problems with `value` against a validator, as "path: what" strings (empty: it conforms). */
export function check(value, validator, path = "document") {
  const problems = [];
  walk(value, validator, path, problems);
  return problems;
}

function kind(value) {
  if (value === null) return "null";
  if (typeof value === "bigint") return "int64";
  if (typeof value === "number") return "float64";
  if (value instanceof ArrayBuffer) return "bytes";
  if (Array.isArray(value)) return "array";
  return typeof value === "object" ? "object" : typeof value;
}

function walk(value, validator, path, problems) {
  if (!validator) return;
  const type = validator.type;
  const got = kind(value);
  switch (type) {
    case "any":
      return;
    case "optional":
      return walk(value, validator.value, path, problems);
    case "union": {
      for (const member of validator.value) if (!check(value, member, path).length) return;
      problems.push(`${path}: is ${got}, expected ${describe(validator)}`);
      return;
    }
    case "literal": {
      const expected = literalValue(validator.value);
      if (value !== expected && !(typeof value === "bigint" && BigInt(expected ?? 0) === value)) problems.push(`${path}: expected ${validator.value}`);
      return;
    }
    case "number":
    case "float64":
      if (got !== "float64") problems.push(`${path}: is ${got}, expected a number`);
      return;
    case "id":
      if (got !== "string") problems.push(`${path}: is ${got}, expected an id of ${validator.tableName}`);
      return;
    case "array":
      if (got !== "array") { problems.push(`${path}: is ${got}, expected an array`); return; }
      value.forEach((x, i) => walk(x, validator.value, `${path}[${i}]`, problems));
      return;
    case "record":
      if (got !== "object") { problems.push(`${path}: is ${got}, expected an object`); return; }
      for (const [k, x] of Object.entries(value)) walk(x, validator.values, `${path}.${k}`, problems);
      return;
    case "object": {
      if (got !== "object") { problems.push(`${path}: is ${got}, expected an object`); return; }
      const fields = validator.value;
      for (const [name, spec] of Object.entries(fields)) {
        if (name in value) walk(value[name], spec.fieldType, `${path}.${name}`, problems);
        else if (!spec.optional) problems.push(`${path}.${name}: is missing (${describe(spec.fieldType)})`);
      }
      for (const name of Object.keys(value)) {
        if (!(name in fields) && !name.startsWith("_")) problems.push(`${path}.${name}: is not in the schema`);
      }
      return;
    }
    default:
      if (got !== type) problems.push(`${path}: is ${got}, expected ${type}`);
  }
}

function literalValue(text) {
  try {
    return JSON.parse(text.replace(/^'(.*)'$/, '"$1"').replace(/^True$/, "true").replace(/^False$/, "false"));
  } catch {
    return text;
  }
}

/** A validator as short TypeScript-like text: `string`, `int64 | null`, `{a: string}`. */
export function describe(validator) {
  if (!validator) return "any";
  switch (validator.type) {
    case "optional": return describe(validator.value);
    case "union": return validator.value.map(describe).join(" | ");
    case "literal": return String(validator.value);
    case "array": return `${describe(validator.value)}[]`;
    case "record": return `Record<${describe(validator.keys)}, ${describe(validator.values)}>`;
    case "id": return `Id<"${validator.tableName}">`;
    case "float64": return "number";
    case "object": {
      const parts = Object.entries(validator.value).map(([k, s]) => `${k}${s.optional ? "?" : ""}: ${describe(s.fieldType)}`);
      return `{ ${parts.join(", ")} }`;
    }
    default: return validator.type;
  }
}

/** A skeleton document for a table's validator (for "Insert document"). */
export function skeleton(validator) {
  if (!validator) return {};
  switch (validator.type) {
    case "object": {
      const out = {};
      for (const [k, s] of Object.entries(validator.value)) if (!s.optional) out[k] = skeleton(s.fieldType);
      return out;
    }
    case "string": case "id": return "";
    case "float64": case "number": return 0;
    case "int64": return 0n;
    case "boolean": return false;
    case "array": return [];
    case "record": return {};
    case "bytes": return new ArrayBuffer(0);
    case "union": return skeleton(validator.value[0]);
    case "literal": return literalValue(validator.value);
    default: return null;
  }
}

export function relativeTime(ms, now = Date.now()) {
  const d = (ms - now) / 1000;
  const a = Math.abs(d);
  const text = a < 1 ? "now" : a < 60 ? `${Math.round(a)} s` : a < 3600 ? `${Math.round(a / 60)} min` : a < 86400 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  if (text === "now") return text;
  return d > 0 ? `in ${text}` : `${text} ago`;
}

export function clockTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function dateTime(ms) {
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}
