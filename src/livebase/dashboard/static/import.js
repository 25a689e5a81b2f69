// Import of JSONL or CSV into a table: the file is parsed and every document checked against the
// table's schema in the page first (every bad line is listed, nothing is sent); then it is sent in
// batches of BATCH documents through `_system/dashboard:importDocuments`, one transaction each
// (schema validated again, triggers run): a batch is written whole or not at all, and the import
// stops at the first batch the server refuses, naming the line.
import { el, fromEditorText, check } from "/_dashboard/values.js";

const BATCH = 250;
const SHOWN_PROBLEMS = 20;

/** Split CSV text (RFC 4180: quoted fields may hold commas, quotes "" and line breaks) into rows
 * of {line, cells}; `line` is where the row starts in the file. */
export function parseCsv(text) {
  const rows = [];
  let cells = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let sawCell = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else { if (c === "\n") line++; cell += c; }
      continue;
    }
    if (c === '"' && cell === "") { quoted = true; sawCell = true; }
    else if (c === ",") { cells.push(cell); cell = ""; sawCell = true; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      if (sawCell || cell !== "") { cells.push(cell); rows.push({ line: rowLine, cells }); }
      cells = []; cell = ""; sawCell = false;
      line++;
      rowLine = line;
    } else { cell += c; sawCell = true; }
  }
  if (quoted) throw new SyntaxError(`line ${rowLine}: a quoted field is not closed`);
  if (sawCell || cell !== "") { cells.push(cell); rows.push({ line: rowLine, cells }); }
  return rows;
}

function fieldType(validator, name) {
  const spec = validator?.type === "object" ? validator.value[name] : null;
  let type = spec?.fieldType;
  while (type?.type === "optional") type = type.value;
  return { type, optional: Boolean(spec?.optional) };
}

/** One CSV cell as the value the schema wants: numbers, int64, booleans, JSON for arrays and
 * objects; an empty cell leaves an optional field out. Throws with what was wrong. */
function csvValue(text, { type, optional }) {
  if (text === "" && (optional || !type)) return undefined;
  switch (type?.type) {
    case "number": case "float64": {
      const n = Number(text);
      if (text.trim() === "" || Number.isNaN(n)) throw new Error(`“${text}” is not a number`);
      return n;
    }
    case "int64":
      if (!/^-?\d+$/.test(text.trim())) throw new Error(`“${text}” is not a whole number`);
      return BigInt(text.trim());
    case "boolean":
      if (!/^(true|false)$/i.test(text.trim())) throw new Error(`“${text}” is not true or false`);
      return text.trim().toLowerCase() === "true";
    case "array": case "object": case "record": case "any":
      if (/^\s*[[{]/.test(text)) return fromEditorText(text, type);
      return text;
    default:
      return text;
  }
}

/** The documents of a file's text: [{line, doc}] and [problems as "line N: what"]. */
export function parseFile(name, text, validator) {
  const docs = [];
  const problems = [];
  const csv = /\.csv$/i.test(name) || (!/^\s*[{[]/.test(text) && text.includes(","));
  if (csv) {
    const rows = parseCsv(text);
    if (!rows.length) return { docs, problems: ["the file is empty"], format: "CSV" };
    const header = rows[0].cells.map((h) => h.trim());
    const empty = header.findIndex((h) => !h);
    if (empty >= 0) problems.push(`line ${rows[0].line}: column ${empty + 1} of the header has no name`);
    for (const { line, cells } of rows.slice(1)) {
      if (cells.length !== header.length) {
        problems.push(`line ${line}: ${cells.length} cells, the header has ${header.length}`);
        continue;
      }
      const doc = {};
      try {
        header.forEach((h, i) => {
          const value = csvValue(cells[i], fieldType(validator, h));
          if (value !== undefined) doc[h] = value;
        });
      } catch (error) {
        problems.push(`line ${line}: ${error.message}`);
        continue;
      }
      docs.push({ line, doc });
    }
    return { docs, problems, format: "CSV" };
  }
  if (/^\s*\[/.test(text)) {
    return { docs, problems: ["this is a JSON array, not JSON Lines: write one document per line (jq -c '.[]' file.json > file.jsonl)"], format: "JSON" };
  }
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    try {
      const doc = fromEditorText(raw, validator);
      if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error("a document is a JSON object");
      docs.push({ line: i + 1, doc });
    } catch (error) {
      problems.push(`line ${i + 1}: ${error.message}`);
    }
  });
  return { docs, problems, format: "JSONL" };
}

/** The import dialog for `table` (its document validator `validator` or null). */
export function openImport(ctx, table, validator) {
  const input = el("input", { type: "file", id: "import-file", accept: ".jsonl,.ndjson,.csv,text/csv,application/x-ndjson" });
  const summary = el("p", { class: "muted", id: "import-summary", text: "JSON Lines (one document per line) or CSV with a header row." });
  const problemList = el("ul", { class: "problems", id: "import-problems", "aria-live": "polite" });
  const progress = el("progress", { id: "import-progress", max: "1", value: "0", "aria-label": "Import progress", hidden: true });
  const status = el("p", { id: "import-status", role: "status" });
  const start = el("button", { class: "button primary", type: "button", text: "Import", disabled: true });
  const close = el("button", { class: "button", type: "submit", value: "cancel", text: "Close" });
  const dialog = el("dialog", { "aria-labelledby": "import-title", class: "editor" },
    el("form", { method: "dialog" },
      el("h2", { id: "import-title", text: `Import into ${table}` }),
      el("div", { class: "schema-hint" }, "Every document is checked against the schema before anything is sent. ",
        `Then batches of ${BATCH} are written, each in one transaction (triggers run): a batch is written whole or not at all, and the import stops at the first one refused.`),
      el("label", { for: "import-file", text: "File" }), input, summary, problemList, progress, status,
      el("div", { class: "actions" }, close, start)));
  document.body.append(dialog);

  let parsed = null;
  let running = false;
  input.addEventListener("change", async () => {
    problemList.replaceChildren();
    status.textContent = "";
    progress.hidden = true;
    start.disabled = true;
    const file = input.files?.[0];
    if (!file) return;
    let result;
    try {
      result = parseFile(file.name, await file.text(), validator);
    } catch (error) {
      result = { docs: [], problems: [error.message], format: "" };
    }
    for (const { line, doc } of result.docs) {
      if (!validator) break;
      const fields = Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith("_")));
      for (const p of check(fields, validator)) result.problems.push(`line ${line}: ${p}`);
    }
    parsed = result;
    const n = result.docs.length;
    summary.textContent = `${file.name}: ${result.format}, ${n.toLocaleString()} document${n === 1 ? "" : "s"}.`;
    if (result.problems.length) {
      problemList.replaceChildren(...result.problems.slice(0, SHOWN_PROBLEMS).map((p) => el("li", { text: p })),
        result.problems.length > SHOWN_PROBLEMS ? el("li", { text: `…and ${result.problems.length - SHOWN_PROBLEMS} more` }) : null);
      status.textContent = "Fix these lines and choose the file again: nothing was imported.";
    } else if (n) {
      start.disabled = false;
    } else {
      status.textContent = "No documents in this file.";
    }
  });

  start.addEventListener("click", async () => {
    if (!parsed || running) return;
    running = true;
    start.disabled = true;
    input.disabled = true;
    const docs = parsed.docs;
    progress.hidden = false;
    progress.max = docs.length;
    let done = 0;
    try {
      for (let i = 0; i < docs.length; i += BATCH) {
        const batch = docs.slice(i, i + BATCH);
        status.textContent = `Importing… ${done.toLocaleString()} of ${docs.length.toLocaleString()}`;
        await ctx.client.mutation("_system/dashboard:importDocuments", {
          table, documents: batch.map((d) => d.doc), lines: batch.map((d) => d.line),
        });
        done += batch.length;
        progress.value = done;
      }
      status.textContent = `Imported ${done.toLocaleString()} documents into ${table}.`;
      ctx.toast(`Imported ${done.toLocaleString()} documents into ${table}`);
    } catch (error) {
      const batchEnd = Math.min(done + BATCH, docs.length) - 1;
      status.textContent = `Stopped: ${error.message}. ${done.toLocaleString()} documents (before line ${docs[done].line}) were imported; nothing from lines ${docs[done].line}–${docs[batchEnd].line} was written.`;
      status.classList.add("error-text");
    } finally {
      running = false;
      input.disabled = false;
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  dialog.showModal();
  input.focus();
}
