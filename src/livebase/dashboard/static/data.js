// Data: the tables with live counts, a virtualised grid of a table's documents and a document
// editor checked against the table's schema. The grid subscribes to a window of rows around what
// is on screen (`_system/dashboard:page`): the server applies the index range, the field filter
// and the sort and sends only that window, so a change to a 10,000-document table re-sends a
// few hundred rows. Writes go through `_system/dashboard:insert|replace|delete` and imports
// through `importDocuments`: the normal write path (schema, triggers).
import { el, cellText, fromEditorText, dateTime } from "/_dashboard/values.js";
import { openImport } from "/_dashboard/import.js";
import { showEditor } from "/_dashboard/editor.js";

const ROW = 36;
const OVERSCAN = 12;
const WINDOW = 300; // rows per subscription
const STEP = 100; // window offsets are multiples of this, so small scrolls keep the window
const OPS = [["", "any"], ["eq", "="], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"]];

export function mount(ctx, root, route) {
  const state = {
    tables: null,
    table: route[0] ?? null,
    page: null, // {documents, offset, total, capped}
    error: null,
    filterField: "",
    filterText: "",
    index: "by_creation_time",
    range: {}, // field -> {op, text}
    sort: null, // {column, dir: 1 | -1}
    active: 0,
    columns: [],
    offset: 0,
  };
  let stopTable = null;
  const replaced = []; // windows left for a new one, kept on screen until it arrives
  let windowKey = "";

  // -- layout
  const side = el("nav", { class: "side card", "aria-label": "Tables" }, el("h2", { text: "Tables" }));
  const tableList = el("div", { class: "table-list" });
  side.append(tableList);
  const title = el("h1", { id: "data-title", text: "Data" });
  const meta = el("span", { class: "muted" });
  const filterField = el("select", { "aria-label": "Filter on field", id: "filter-field" });
  const filterText = el("input", { type: "search", placeholder: "Filter documents  ( / )", "aria-label": "Filter text", "data-search": true, id: "filter-text" });
  const importButton = el("button", { class: "button", type: "button", text: "Import…", id: "import-open" });
  const insertButton = el("button", { class: "button primary", type: "button", text: "Insert document" });
  const toolbar = el("div", { class: "toolbar" },
    el("div", { class: "grow title-line" }, title, meta), filterField, filterText, importButton, insertButton);
  const indexSelect = el("select", { id: "range-index", "aria-label": "Index" });
  const rangeFields = el("div", { class: "range-fields" });
  const rangeBar = el("div", { class: "toolbar range", role: "group", "aria-label": "Index range" },
    el("label", { for: "range-index", text: "Index" }), indexSelect, rangeFields);
  const headRow = el("div", { class: "grid-head", role: "row", "aria-rowindex": "1" });
  const body = el("div", { class: "grid-body", role: "rowgroup" });
  const scroller = el("div", {
    class: "grid-scroll", role: "grid", tabindex: "0", "aria-labelledby": "data-title",
  }, el("div", { role: "rowgroup", class: "head-group" }, headRow), body);
  const foot = el("div", { class: "grid-foot" }, el("span"), el("span", { class: "hide-narrow", text: "↑↓ move · Enter edit · Delete remove · / filter" }));
  const grid = el("div", { class: "grid" }, scroller, foot);
  const message = el("div", { class: "message-slot" });
  const content = el("section", { class: "content" }, toolbar, rangeBar, message, grid);
  root.append(el("div", { class: "split" }, side, content));

  // -- tables (live)
  const stopTables = ctx.client.subscribe("_system/dashboard:tables", {}, (tables) => {
    state.tables = tables;
    if (!state.table && tables.length) {
      location.replace(`#data/${encodeURIComponent(tables[0].name)}`);
    }
    renderTables();
    renderHeader();
    renderRangeBar();
    if (state.page && state.page.total == null) renderGrid(); // a plain window counts on the table's count
  }, (error) => {
    state.tables = [];
    showMessage(error, "The table list could not be read");
  });

  function renderTables() {
    const tables = state.tables ?? [];
    if (state.tables && !tables.length) {
      tableList.replaceChildren(el("p", { class: "muted", text: "No tables yet." }));
      return;
    }
    tableList.replaceChildren(...tables.map((t) => el("button", {
      class: "list-button", type: "button", "aria-current": String(t.name === state.table),
      onclick: () => { location.hash = `#data/${encodeURIComponent(t.name)}`; },
    }, el("span", { text: t.name }), el("span", { class: "count", text: t.count.toLocaleString() }))));
  }

  function tableInfo() {
    return state.tables?.find((t) => t.name === state.table) ?? null;
  }

  function validator() {
    return tableInfo()?.schema?.document ?? null;
  }

  function indexes() {
    return { by_creation_time: ["_creationTime"], ...(tableInfo()?.schema?.indexes ?? {}) };
  }

  function showMessage(error, what) {
    message.replaceChildren(el("div", { class: "notice", role: "alert" },
      el("strong", { text: `${what}: ` }), error?.message ?? String(error),
      el("div", { class: "muted", text: "Check the index range and the filter; the page reconnects on its own if the server went away." })));
  }

  // -- the index range
  function renderRangeBar() {
    const all = indexes();
    const names = Object.keys(all);
    if (!names.includes(state.index)) state.index = "by_creation_time";
    const have = [...indexSelect.options].map((o) => o.value).join();
    if (have !== names.join()) {
      indexSelect.replaceChildren(...names.map((n) => el("option", { value: n, text: `${n} (${all[n].join(", ")})` })));
    }
    indexSelect.value = state.index;
    const fields = all[state.index] ?? [];
    rangeFields.replaceChildren(...fields.map((f, i) => {
      const current = state.range[f] ?? { op: "", text: "" };
      const op = el("select", { id: `range-op-${i}`, "aria-label": `${f}: comparison` },
        ...OPS.map(([value, label]) => el("option", { value, text: label })));
      op.value = current.op;
      const value = el("input", { id: `range-value-${i}`, "aria-label": `${f}: value`, placeholder: f, value: current.text, class: "range-value" });
      const apply = () => {
        state.range[f] = { op: op.value, text: value.value };
        resubscribe();
      };
      op.addEventListener("change", apply);
      value.addEventListener("change", apply);
      value.addEventListener("keydown", (event) => { if (event.key === "Enter") apply(); });
      return el("span", { class: "range-field" }, el("span", { class: "mono muted", text: f }), op, value);
    }));
  }

  function fieldValidator(field) {
    const v = validator();
    let t = v?.type === "object" ? v.value[field]?.fieldType : null;
    while (t?.type === "optional") t = t.value;
    return t;
  }

  /** The range conditions for the server: in the index's field order, typed by the schema. */
  function rangeArgs() {
    const out = [];
    for (const f of indexes()[state.index] ?? []) {
      const r = state.range[f];
      if (!r?.op) continue;
      const t = f === "_creationTime" ? { type: "number" } : fieldValidator(f);
      let value = r.text;
      if (t?.type === "number" || t?.type === "float64") value = Number(r.text);
      else if (t?.type === "int64") value = /^-?\d+$/.test(r.text.trim()) ? BigInt(r.text.trim()) : r.text;
      else if (t?.type === "boolean") value = r.text.trim() === "true";
      else if (t?.type !== "string" && t?.type !== "id" && /^\s*[[{"\d-]/.test(r.text)) {
        try { value = fromEditorText(r.text, t); } catch { /* keep the text */ }
      }
      out.push({ field: f, op: r.op, value });
    }
    return out;
  }

  // -- one table's window of documents (live)
  function openTable(name) {
    for (const stop of replaced.splice(0)) stop();
    stopTable?.();
    stopTable = null;
    windowKey = "";
    state.table = name;
    state.page = null;
    state.active = 0;
    state.sort = null;
    state.range = {};
    state.index = "by_creation_time";
    state.offset = 0;
    message.replaceChildren();
    scroller.scrollTop = 0;
    renderTables();
    renderHeader();
    renderRangeBar();
    computeColumns();
    renderGrid();
    if (name) subscribeWindow();
  }

  /** No index range, filter or sort: the server reads the table only up to the window's end. */
  function plainView() {
    return !state.filterText.trim() && !state.sort && !rangeArgs().length;
  }

  /** The window's arguments, and whether it is asked from the other end (`flipped`): a plain
   * window past the middle of the table is read oldest first, so the server never reads more
   * than half the table. */
  function windowArgs() {
    const args = {
      table: state.table, index: state.index, order: "desc", range: rangeArgs(),
      offset: state.offset, limit: WINDOW,
    };
    if (state.filterText.trim()) {
      args.contains = state.filterText.trim();
      if (state.filterField) args.field = state.filterField;
    }
    if (state.sort) { args.sortField = state.sort.column; args.sortOrder = state.sort.dir > 0 ? "asc" : "desc"; }
    const count = tableInfo()?.count;
    const flipped = plainView() && count != null && state.offset + WINDOW / 2 > count / 2;
    if (flipped) {
      args.order = "asc";
      args.offset = Math.max(0, count - state.offset - WINDOW);
    }
    return { args, flipped };
  }

  function subscribeWindow() {
    const { args, flipped } = windowArgs();
    const key = JSON.stringify(args, (k, v) => (typeof v === "bigint" ? `${v}n` : v));
    if (key === windowKey) return;
    windowKey = key;
    if (stopTable) replaced.push(stopTable);
    const table = state.table;
    const dropPrevious = () => { for (const stop of replaced.splice(0)) stop(); };
    stopTable = ctx.client.subscribe("_system/dashboard:page", args, (page) => {
      if (windowKey !== key) return;
      dropPrevious(); // the old window stays on screen until this one arrives
      if (flipped) {
        const count = tableInfo()?.count ?? 0;
        const documents = page.documents.slice().reverse();
        page = { ...page, documents, offset: Math.max(0, count - page.offset - documents.length) };
      }
      state.page = page;
      message.replaceChildren();
      computeColumns();
      renderGrid();
    }, (error) => {
      if (windowKey !== key) return;
      dropPrevious();
      state.page = { documents: [], offset: 0, total: 0, capped: false, failed: true };
      showMessage(error, `Documents of ${table} could not be read`);
      renderGrid();
    });
  }

  /** Start over at the top with new arguments (filter, range, sort). */
  function resubscribe() {
    state.offset = 0;
    state.active = 0;
    scroller.scrollTop = 0;
    subscribeWindow();
  }

  /** Move the window when the rows on screen leave it, once scrolling pauses (a fast scroll
   * through 10,000 rows asks for one window, not one per frame; rows not received show …). */
  let moveTimer = 0;
  function followScroll() {
    if (!state.page || !state.table) return;
    const first = Math.floor(scroller.scrollTop / ROW);
    const visible = Math.ceil((scroller.clientHeight || 600) / ROW);
    const { offset } = state.page;
    if (first >= offset && first + visible <= offset + Math.max(state.page.documents.length, visible)) return;
    clearTimeout(moveTimer);
    moveTimer = setTimeout(() => {
      const top = Math.floor(scroller.scrollTop / ROW);
      state.offset = Math.max(0, Math.floor((top - (WINDOW - visible) / 2) / STEP) * STEP);
      subscribeWindow();
    }, 120);
  }

  function renderHeader() {
    const info = tableInfo();
    title.textContent = state.table ?? "Data";
    meta.textContent = info ? `${info.count.toLocaleString()} document${info.count === 1 ? "" : "s"}${info.schema?.document ? "" : " · no schema"}` : "";
    insertButton.disabled = importButton.disabled = !state.table;
  }

  function computeColumns() {
    const names = new Set();
    const v = validator();
    if (v?.type === "object") for (const k of Object.keys(v.value)) names.add(k);
    for (const doc of (state.page?.documents ?? []).slice(0, 300)) for (const k of Object.keys(doc)) if (!k.startsWith("_")) names.add(k);
    const columns = ["_id", ...names, "_creationTime"];
    if (columns.join() !== state.columns.join()) {
      state.columns = columns;
      const previous = state.filterField;
      filterField.replaceChildren(el("option", { value: "", text: "Any field" }),
        ...columns.map((c) => el("option", { value: c, text: c })));
      filterField.value = columns.includes(previous) ? previous : "";
      state.filterField = filterField.value;
    }
    const widths = columns.map((c) => (c === "_id" ? "minmax(150px, 220px)" : c === "_creationTime" ? "minmax(170px, 190px)" : "minmax(120px, 1fr)"));
    grid.style.setProperty("--cols", widths.join(" "));
    headRow.replaceChildren(...columns.map((c, i) => {
      const sorted = state.sort?.column === c;
      return el("div", {
        role: "columnheader", "aria-colindex": String(i + 1),
        "aria-sort": sorted ? (state.sort.dir > 0 ? "ascending" : "descending") : "none",
      }, el("button", {
        type: "button", title: `Sort by ${c} (on the server)`,
        onclick: () => toggleSort(c),
      }, c + (sorted ? (state.sort.dir > 0 ? " ▲" : " ▼") : "")));
    }));
  }

  function toggleSort(column) {
    if (state.sort?.column !== column) state.sort = { column, dir: 1 };
    else if (state.sort.dir === 1) state.sort = { column, dir: -1 };
    else state.sort = null;
    computeColumns();
    resubscribe();
  }

  function total() {
    if (!state.page) return 0;
    return state.page.total ?? tableInfo()?.count ?? state.page.documents.length;
  }

  function docAt(i) {
    const page = state.page;
    if (!page) return null;
    return page.documents[i - page.offset] ?? null;
  }

  // -- the virtualised rows
  const pool = new Map(); // index -> row element
  let frame = 0;

  function renderGrid() {
    const n = total();
    state.active = Math.min(state.active, Math.max(0, n - 1));
    body.style.height = `${n * ROW}px`;
    scroller.setAttribute("aria-rowcount", String(n + 1));
    for (const row of pool.values()) row.remove();
    pool.clear();
    const filtered = state.filterText.trim() || rangeArgs().length;
    const size = tableInfo()?.count;
    foot.firstChild.textContent = state.page == null ? "Loading…"
      : `${n.toLocaleString()}${state.page.capped ? "+" : ""} ${filtered && size != null ? `of ${size.toLocaleString()} documents match` : "documents"}`
        + (state.page.capped ? " (the first 30,000 read; narrow the index range to see the rest)" : "");
    renderEmpty();
    paint();
  }

  function renderEmpty() {
    grid.querySelector(".empty")?.remove();
    let empty = null;
    const filtered = state.filterText.trim() || rangeArgs().length;
    if (state.tables && !state.tables.length) {
      empty = el("div", { class: "empty" }, el("h2", { text: "No tables yet" }),
        el("p", { text: "Declare tables in the app's schema.py, or insert a document from a mutation; they appear here as soon as they exist." }));
    } else if (state.page && !state.page.failed && !total() && state.table && !filtered) {
      empty = el("div", { class: "empty" }, el("h2", { text: `${state.table} is empty` }),
        el("p", { text: "Documents appear here live as the app writes them. Or add some by hand or from a file:" }),
        el("div", { class: "toolbar center" },
          el("button", { class: "button primary", type: "button", text: "Insert document", onclick: () => openEditor(null) }),
          el("button", { class: "button", type: "button", text: "Import…", onclick: () => openImport(ctx, state.table, validator()) })));
    } else if (state.page && !state.page.failed && !total()) {
      empty = el("div", { class: "empty" }, el("h2", { text: "No document matches" }),
        el("p", { text: state.filterText.trim() ? `Nothing in ${state.filterField || "any field"} contains “${state.filterText}” in this index range.` : "Nothing lies in this index range." }),
        el("button", { class: "button", type: "button", text: "Clear the filter and range", onclick: clearFilters }));
    }
    scroller.hidden = Boolean(empty);
    if (empty) grid.insertBefore(empty, foot);
  }

  function clearFilters() {
    filterText.value = "";
    state.filterText = "";
    state.range = {};
    renderRangeBar();
    resubscribe();
    filterText.focus();
  }

  function paint() {
    frame = 0;
    const n = total();
    const top = scroller.scrollTop;
    const height = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(n - 1, Math.ceil((top + height) / ROW) + OVERSCAN);
    for (const [i, row] of pool) {
      if (i < first || i > last || (row.dataset.placeholder && docAt(i))) { row.remove(); pool.delete(i); }
    }
    for (let i = first; i <= last; i++) {
      let row = pool.get(i);
      if (!row) {
        row = makeRow(docAt(i), i);
        pool.set(i, row);
        body.append(row);
      }
      row.setAttribute("aria-selected", String(i === state.active));
    }
    if (n) scroller.setAttribute("aria-activedescendant", `doc-row-${state.active}`);
    else scroller.removeAttribute("aria-activedescendant");
    followScroll();
  }

  function makeRow(doc, i) {
    const row = el("div", {
      class: "grid-row", role: "row", id: `doc-row-${i}`, "aria-rowindex": String(i + 2),
      style: `transform: translateY(${i * ROW}px)`, dataset: doc ? { id: doc._id } : { placeholder: "1" },
    });
    if (!doc) {
      row.append(el("div", { class: "cell muted", role: "gridcell", "aria-colindex": "1", text: "…" }));
      return row;
    }
    state.columns.forEach((c, ci) => {
      const value = doc[c];
      const text = c === "_creationTime" ? dateTime(value) : cellText(value);
      row.append(el("div", {
        class: "cell" + (c === "_id" ? " id" : ""), role: "gridcell", "aria-colindex": String(ci + 1), title: text,
      }, value === null ? el("span", { class: "null", text: "null" }) : text));
    });
    row.addEventListener("click", () => { state.active = i; paint(); openEditor(doc); });
    return row;
  }

  scroller.addEventListener("scroll", () => { if (!frame) frame = requestAnimationFrame(paint); }, { passive: true });
  new ResizeObserver(() => { if (!frame) frame = requestAnimationFrame(paint); }).observe(scroller);

  function moveTo(i) {
    const n = total();
    if (!n) return;
    state.active = Math.max(0, Math.min(n - 1, i));
    const y = state.active * ROW;
    const headH = headRow.offsetHeight;
    if (y < scroller.scrollTop) scroller.scrollTop = y;
    else if (y + ROW > scroller.scrollTop + scroller.clientHeight - headH) scroller.scrollTop = y + ROW - scroller.clientHeight + headH;
    paint();
  }

  scroller.addEventListener("keydown", (event) => {
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW) - 1);
    const doc = docAt(state.active);
    switch (event.key) {
      case "ArrowDown": moveTo(state.active + 1); break;
      case "ArrowUp": moveTo(state.active - 1); break;
      case "PageDown": moveTo(state.active + page); break;
      case "PageUp": moveTo(state.active - page); break;
      case "Home": moveTo(0); break;
      case "End": moveTo(total() - 1); break;
      case "Enter": if (doc) openEditor(doc); break;
      case "Delete": case "Backspace": if (doc) removeDocument(doc); break;
      default: return;
    }
    event.preventDefault();
  });

  let typing = 0;
  filterText.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.filterText = filterText.value; resubscribe(); }, 200);
  });
  filterField.addEventListener("change", () => { state.filterField = filterField.value; if (state.filterText.trim()) resubscribe(); });
  indexSelect.addEventListener("change", () => { state.index = indexSelect.value; state.range = {}; renderRangeBar(); resubscribe(); });
  insertButton.addEventListener("click", () => openEditor(null));
  importButton.addEventListener("click", () => openImport(ctx, state.table, validator()));


  // -- the editor
  function removeDocument(doc) {
    return ctx.confirmedMutation({
      title: `Delete this document from ${state.table}?`,
      body: `${doc._id} is deleted for good (triggers run). Subscribed clients see it go at once.`,
      confirm: "Delete",
    }, "_system/dashboard:delete", { id: doc._id }, { done: `Deleted ${doc._id}`, failed: "Not deleted" });
  }

  function openEditor(doc) {
    showEditor(ctx, {
      table: state.table, validator: validator(), doc,
      onDelete: removeDocument, onClose: () => scroller.focus(),
    });
  }

  openTable(state.table);

  return {
    update(rest) {
      if ((rest[0] ?? null) !== state.table) openTable(rest[0] ?? null);
    },
    unmount() {
      clearTimeout(moveTimer);
      stopTables();
      for (const stop of replaced.splice(0)) stop();
      stopTable?.();
    },
  };
}
