// Tool calls as a person reads them: Bash shows its command, Read/Write/Edit the file path, an
// Edit a diff summary (+N −M lines and the first changed lines), a result its first lines with
// "show more". The stored tool_input and tool_response are JSON text cut at 2,000 characters
// (normalize.py's excerpt), so a cut one no longer parses: the fields that matter are then
// read from the text itself. Never shown as a raw one-line JSON string.
import { el } from "/static/dom.js";

const CUT = /…\[\+\d+ chars\]$/;
const SUBJECT = { Bash: "command", PowerShell: "command", Read: "file_path", Write: "file_path",
  Edit: "file_path", MultiEdit: "file_path", NotebookEdit: "notebook_path", Glob: "pattern",
  Grep: "pattern", WebFetch: "url", WebSearch: "query", Task: "description", Agent: "description",
  Skill: "skill" };
const FILE_TOOLS = new Set(["Read", "Write", "Edit", "MultiEdit", "NotebookEdit"]);
const PREVIEW_LINES = 4;
const DIFF_LINES = 3;

/** JSON text as a value; a cut object as the string fields that could still be read (the last
 * one up to the cut, marked with "…"). */
export function parseLoose(text) {
  if (typeof text !== "string") return text ?? null;
  try {
    return JSON.parse(text);
  } catch {
    const body = text.replace(CUT, "");
    const cut = body !== text;
    const fields = {};
    for (const m of body.matchAll(/"([A-Za-z_]+)":"((?:[^"\\]|\\.)*)("|\\?$)/g)) {
      try {
        const value = JSON.parse(`"${m[2].replace(/\\u[0-9a-fA-F]{0,3}$/, "")}"`);
        fields[m[1]] ??= m[3] === '"' ? value : `${value}${cut ? "…" : ""}`;
      } catch { /* a field that does not decode: leave it out */ }
    }
    return Object.keys(fields).length ? fields : body + (cut ? "…" : "");
  }
}

const lines = (text) => String(text ?? "").replace(/\n$/, "").split("\n");

/** Lines of `after` not in `before` and the other way round (a multiset difference: enough for
 * a summary, with no line-matching algorithm). */
export function diffSummary(edits) {
  const added = [];
  const removed = [];
  for (const { old_string: before = "", new_string: after = "" } of edits) {
    const left = new Map();
    for (const line of before ? lines(before) : []) left.set(line, (left.get(line) ?? 0) + 1);
    for (const line of after ? lines(after) : []) {
      if (left.get(line)) left.set(line, left.get(line) - 1);
      else added.push(line);
    }
    for (const line of before ? lines(before) : []) {
      if (left.get(line)) {
        left.set(line, left.get(line) - 1);
        removed.push(line);
      }
    }
  }
  return { added, removed };
}

function pathView(path) {
  const at = path.lastIndexOf("/");
  return el("code", { className: "path", title: path },
    at >= 0 ? el("span", { className: "dir", textContent: path.slice(0, at + 1) }) : null,
    el("span", { className: "file", textContent: path.slice(at + 1) }));
}

function diffView(edits) {
  const { added, removed } = diffSummary(edits);
  const shown = [...removed.slice(0, DIFF_LINES).map((l) => ["del", `− ${l}`]),
    ...added.slice(0, DIFF_LINES).map((l) => ["add", `+ ${l}`])];
  return el("div", { className: "diff" },
    el("span", { className: "stat" },
      el("span", { className: "add", textContent: `+${added.length}` }), " ",
      el("span", { className: "del", textContent: `−${removed.length}` }),
      ` ${added.length + removed.length === 1 ? "line" : "lines"}`),
    shown.length ? el("pre", { className: "diff-lines" },
      ...shown.map(([kind, text]) => el("span", { className: kind, textContent: `${text}\n` }))) : null);
}

/** What a tool call does, as nodes: the command, the file, the diff, or its main fields. */
export function callView(toolName, toolInput) {
  const input = parseLoose(toolInput);
  const box = el("div", { className: "call" });
  box.dataset.tool = toolName ?? "";
  if (!input || typeof input !== "object") {
    if (input) box.append(el("code", { className: "subject", textContent: String(input) }));
    return box;
  }
  const subject = input[SUBJECT[toolName]];
  if ((toolName === "Bash" || toolName === "PowerShell") && subject) {
    box.append(el("pre", { className: "command" }, el("span", { className: "sign", textContent: "$ " }),
      el("code", { textContent: subject })));
    if (input.description) box.append(el("div", { className: "meta", textContent: input.description }));
    return box;
  }
  if (FILE_TOOLS.has(toolName) && subject) {
    box.append(pathView(subject));
    if (toolName === "Edit" || toolName === "MultiEdit") {
      box.append(diffView(Array.isArray(input.edits) ? input.edits : [input]));
    } else if (toolName === "Write" && typeof input.content === "string") {
      box.append(el("span", { className: "meta", textContent: ` ${lines(input.content).length} lines written` }));
    } else if (toolName === "Read" && (input.offset || input.limit)) {
      box.append(el("span", { className: "meta", textContent:
        ` lines ${input.offset ?? 1}–${(input.offset ?? 1) + (input.limit ?? 0)}` }));
    }
    return box;
  }
  if (subject) {
    box.append(el("code", { className: "subject", textContent: String(subject) }));
    if (input.path) box.append(" in ", pathView(String(input.path)));
    return box;
  }
  // Any other tool: its first few fields, one per line.
  const dl = el("dl", { className: "fields" });
  for (const [key, value] of Object.entries(input).slice(0, 4)) {
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 1);
    dl.append(el("dt", { textContent: key }), el("dd", { textContent: text.length > 300 ? `${text.slice(0, 300)}…` : text }));
  }
  box.append(dl);
  return box;
}

/** The text a result holds: Bash's stdout and stderr, Read's file content, MCP text parts. */
export function resultText(response) {
  const value = parseLoose(response);
  if (value == null) return "";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    return value.map((part) => (typeof part === "string" ? part : part?.text ?? JSON.stringify(part, null, 2))).join("\n");
  }
  if ("stdout" in value || "stderr" in value) { // Bash: nothing printed, nothing to show
    return [value.stdout, value.stderr].filter((s) => typeof s === "string" && s).join("\n");
  }
  if (typeof value.file?.content === "string") return value.file.content; // Read
  if (value.type === "text" && typeof value.content === "string") return value.content; // Read, cut
  // Edit and Write answer with the file they changed: the call above already says which
  if (typeof value.filePath === "string") return "";
  for (const key of ["content", "output", "result", "text", "message"]) {
    if (typeof value[key] === "string") return value[key];
    if (Array.isArray(value[key])) return resultText(value[key]);
  }
  if (Array.isArray(value.filenames)) return value.filenames.join("\n");
  return JSON.stringify(value, null, 2);
}

/** A result's first lines, with a button that shows the rest. */
export function resultView(response, failed) {
  const text = resultText(response).replace(/\s+$/, "");
  if (!text) return null;
  const all = lines(text);
  const pre = el("pre", { className: `result${failed ? " error" : ""}`,
    textContent: all.slice(0, PREVIEW_LINES).join("\n") });
  const box = el("div", { className: "result-box" }, pre);
  if (all.length > PREVIEW_LINES) {
    const more = el("button", { type: "button", className: "more link",
      textContent: `show more (${all.length - PREVIEW_LINES} more lines)` });
    more.setAttribute("aria-expanded", "false");
    more.addEventListener("click", () => {
      const open = more.getAttribute("aria-expanded") !== "true";
      pre.textContent = open ? text : all.slice(0, PREVIEW_LINES).join("\n");
      more.textContent = open ? "show less" : `show more (${all.length - PREVIEW_LINES} more lines)`;
      more.setAttribute("aria-expanded", String(open));
    });
    box.append(more);
  }
  return box;
}
