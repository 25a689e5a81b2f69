// Data: the tables with live counts, a virtualised grid of a table's documents (filter, sort,
// keyboard), and a document editor checked against the table's schema. Writes go through
// `_system/dashboard:insert|replace|delete`: the normal write path (schema, triggers).
import { el, cellText, compareValues, toEditorText, fromEditorText, check, describe, skeleton, dateTime } from "/_dashboard/values.js";

const ROW = 36;
const OVERSCAN = 12;
const LIMIT = 20000;

export function mount(ctx, root, route) {
  const state = {
    tables: null,
    table: route[0] ?? null,
    docs: null,
    error: null,
    filterField: "",
    filterText: "",
    sort: null, // {column, dir: 1 | -1}
    active: 0,
    view: [],
    columns: [],
  };
  let stopTable = null;

  // -- layout
  const side = el("nav", { class: "side card", "aria-label": "Tables" }, el("h2", { text: "Tables" }));
  const tableList = el("div", { class: "table-list" });
  side.append(tableList);
  const title = el("h1", { id: "data-title", text: "Data" });
  const meta = el("span", { class: "muted" });
  const filterField = el("select", { "aria-label": "Filter on field", id: "filter-field" });
  const filterText = el("input", { type: "search", placeholder: "Filter documents  ( / )", "aria-label": "Filter text", "data-search": true, id: "filter-text" });
  const insertButton = el("button", { class: "button primary", type: "button", text: "Insert document" });
  const toolbar = el("div", { class: "toolbar" },
    el("div", { class: "grow title-line" }, title, meta), filterField, filterText, insertButton);
  const headRow = el("div", { class: "grid-head", role: "row", "aria-rowindex": "1" });
  const body = el("div", { class: "grid-body", role: "rowgroup" });
  const scroller = el("div", {
    class: "grid-scroll", role: "grid", tabindex: "0", "aria-labelledby": "data-title",
  }, el("div", { role: "rowgroup", class: "head-group" }, headRow), body);
  const foot = el("div", { class: "grid-foot" }, el("span"), el("span", { class: "hide-narrow", text: "↑↓ move · Enter edit · Delete remove · / filter" }));
  const grid = el("div", { class: "grid" }, scroller, foot);
  const message = el("div", { class: "message-slot" });
  const content = el("section", { class: "content" }, toolbar, message, grid);
  root.append(el("div", { class: "split" }, side, content));

  // -- tables (live)
  const stopTables = ctx.client.subscribe("_system/dashboard:tables", {}, (tables) => {
    state.tables = tables;
    if (!state.table && tables.length) {
      location.replace(`#data/${encodeURIComponent(tables[0].name)}`);
    }
    renderTables();
    renderHeader();
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

  function showMessage(error, what) {
    message.replaceChildren(el("div", { class: "notice", role: "alert" },
      el("strong", { text: `${what}: ` }), error?.message ?? String(error),
      el("div", { class: "muted", text: "Check that the server is running and that you are signed in with this deployment's admin key; the page reconnects on its own." })));
  }

  // -- one table's documents (live)
  function openTable(name) {
    stopTable?.();
    state.table = name;
    state.docs = null;
    state.active = 0;
    state.sort = null;
    message.replaceChildren();
    scroller.scrollTop = 0;
    renderTables();
    renderHeader();
    renderGrid();
    if (!name) return;
    stopTable = ctx.client.subscribe("_system/dashboard:documents", { table: name, order: "desc", limit: LIMIT }, (docs) => {
      state.docs = docs;
      message.replaceChildren();
      computeColumns();
      renderGrid();
    }, (error) => {
      state.docs = [];
      showMessage(error, `Documents of ${name} could not be read`);
      renderGrid();
    });
  }

  function renderHeader() {
    const info = tableInfo();
    title.textContent = state.table ?? "Data";
    meta.textContent = info ? `${info.count.toLocaleString()} document${info.count === 1 ? "" : "s"}${info.schema?.document ? "" : " · no schema"}` : "";
    insertButton.disabled = !state.table;
  }

  function computeColumns() {
    const names = new Set();
    const v = validator();
    if (v?.type === "object") for (const k of Object.keys(v.value)) names.add(k);
    for (const doc of (state.docs ?? []).slice(0, 300)) for (const k of Object.keys(doc)) if (!k.startsWith("_")) names.add(k);
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
        type: "button", title: `Sort by ${c}`,
        onclick: () => toggleSort(c),
      }, c + (sorted ? (state.sort.dir > 0 ? " ▲" : " ▼") : "")));
    }));
  }

  function toggleSort(column) {
    if (state.sort?.column !== column) state.sort = { column, dir: 1 };
    else if (state.sort.dir === 1) state.sort = { column, dir: -1 };
    else state.sort = null;
    computeColumns();
    renderGrid();
  }

  function applyView() {
    let docs = state.docs ?? [];
    const text = state.filterText.trim().toLowerCase();
    if (text) {
      const fields = state.filterField ? [state.filterField] : state.columns;
      docs = docs.filter((d) => fields.some((f) => cellText(d[f]).toLowerCase().includes(text)));
    }
    if (state.sort) {
      const { column, dir } = state.sort;
      docs = docs.slice().sort((a, b) => dir * compareValues(a[column], b[column]));
    }
    state.view = docs;
    state.active = Math.min(state.active, Math.max(0, docs.length - 1));
  }

  // -- the virtualised rows
  const pool = new Map(); // index -> row element
  let frame = 0;

  function renderGrid() {
    applyView();
    const docs = state.view;
    body.style.height = `${docs.length * ROW}px`;
    scroller.setAttribute("aria-rowcount", String(docs.length + 1));
    for (const row of pool.values()) row.remove();
    pool.clear();
    const total = state.docs?.length ?? 0;
    foot.firstChild.textContent = state.docs == null ? "Loading…"
      : docs.length === total ? `${total.toLocaleString()} documents${total >= LIMIT ? ` (the newest ${LIMIT.toLocaleString()})` : ""}`
      : `${docs.length.toLocaleString()} of ${total.toLocaleString()} documents match`;
    renderEmpty();
    paint();
  }

  function renderEmpty() {
    grid.querySelector(".empty")?.remove();
    let empty = null;
    if (state.tables && !state.tables.length) {
      empty = el("div", { class: "empty" }, el("h2", { text: "No tables yet" }),
        el("p", { text: "Declare tables in the app's schema.py, or insert a document from a mutation; they appear here as soon as they exist." }));
    } else if (state.docs && !state.docs.length && state.table) {
      empty = el("div", { class: "empty" }, el("h2", { text: `${state.table} is empty` }),
        el("p", { text: "Documents appear here live as the app writes them. Or add one by hand:" }),
        el("button", { class: "button primary", type: "button", text: "Insert document", onclick: () => openEditor(null) }));
    } else if (state.docs && state.docs.length && !state.view.length) {
      empty = el("div", { class: "empty" }, el("h2", { text: "No document matches" }),
        el("p", { text: `Nothing in ${state.filterField || "any field"} contains “${state.filterText}”.` }),
        el("button", { class: "button", type: "button", text: "Clear the filter", onclick: () => { filterText.value = ""; state.filterText = ""; renderGrid(); filterText.focus(); } }));
    }
    scroller.hidden = Boolean(empty);
    if (empty) grid.insertBefore(empty, foot);
  }

  function paint() {
    frame = 0;
    const docs = state.view;
    const top = scroller.scrollTop;
    const height = scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(docs.length - 1, Math.ceil((top + height) / ROW) + OVERSCAN);
    for (const [i, row] of pool) {
      if (i < first || i > last) { row.remove(); pool.delete(i); }
    }
    for (let i = first; i <= last; i++) {
      let row = pool.get(i);
      if (!row) {
        row = makeRow(docs[i], i);
        pool.set(i, row);
        body.append(row);
      }
      row.setAttribute("aria-selected", String(i === state.active));
    }
    if (docs.length) scroller.setAttribute("aria-activedescendant", `doc-row-${state.active}`);
    else scroller.removeAttribute("aria-activedescendant");
  }

  function makeRow(doc, i) {
    const row = el("div", {
      class: "grid-row", role: "row", id: `doc-row-${i}`, "aria-rowindex": String(i + 2),
      style: `transform: translateY(${i * ROW}px)`, dataset: { id: doc._id },
    });
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
    const n = state.view.length;
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
    const doc = state.view[state.active];
    switch (event.key) {
      case "ArrowDown": moveTo(state.active + 1); break;
      case "ArrowUp": moveTo(state.active - 1); break;
      case "PageDown": moveTo(state.active + page); break;
      case "PageUp": moveTo(state.active - page); break;
      case "Home": moveTo(0); break;
      case "End": moveTo(state.view.length - 1); break;
      case "Enter": if (doc) openEditor(doc); break;
      case "Delete": case "Backspace": if (doc) removeDocument(doc); break;
      default: return;
    }
    event.preventDefault();
  });

  filterText.addEventListener("input", () => { state.filterText = filterText.value; scroller.scrollTop = 0; renderGrid(); });
  filterField.addEventListener("change", () => { state.filterField = filterField.value; renderGrid(); });
  insertButton.addEventListener("click", () => openEditor(null));

  // -- the editor
  async function removeDocument(doc) {
    const ok = await ctx.confirm({
      title: `Delete this document from ${state.table}?`,
      body: `${doc._id} is deleted for good (triggers run). Subscribed clients see it go at once.`,
      confirm: "Delete", danger: true,
    });
    if (!ok) return false;
    try {
      await ctx.client.mutation("_system/dashboard:delete", { id: doc._id });
      ctx.toast(`Deleted ${doc._id}`);
      return true;
    } catch (error) {
      ctx.toast(`Not deleted: ${error.message}`, { error: true });
      return false;
    }
  }

  function openEditor(doc) {
    const table = state.table;
    const v = validator();
    const initial = doc ? doc : skeleton(v);
    const dialog = el("dialog", { "aria-labelledby": "editor-title", class: "editor" });
    const textarea = el("textarea", { id: "editor-text", spellcheck: "false", "aria-describedby": "editor-problems editor-schema", rows: "14" });
    textarea.value = toEditorText(initial);
    const problems = el("ul", { class: "problems", id: "editor-problems", "aria-live": "polite" });
    const save = el("button", { class: "button primary", type: "submit", value: "save", text: doc ? "Save" : "Insert" });
    const del = doc ? el("button", { class: "button danger left", type: "button", text: "Delete…" }) : null;
    const form = el("form", { method: "dialog" },
      el("h2", { id: "editor-title", text: doc ? `Edit ${table} document` : `Insert into ${table}` }),
      doc ? el("p", { class: "muted mono", text: doc._id }) : null,
      el("div", { class: "schema-hint", id: "editor-schema" }, v ? `Schema: ${describe(v)}` : "This table has no schema: any fields are accepted.",
        el("br"), "Whole numbers become int64 where the schema says int64; bytes are {\"$bytes\": \"base64\"}."),
      el("label", { for: "editor-text", text: "Document (JSON)" }),
      textarea, problems,
      el("div", { class: "actions" }, del,
        el("button", { class: "button", type: "submit", value: "cancel", formnovalidate: true, text: "Cancel" }), save));
    dialog.append(form);
    document.body.append(dialog);

    let parsed = null;
    const validate = () => {
      const found = [];
      try {
        parsed = fromEditorText(textarea.value, v);
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) found.push("A document is a JSON object: { \"field\": value, … }");
        else {
          const fields = Object.fromEntries(Object.entries(parsed).filter(([k]) => !k.startsWith("_")));
          if (v) found.push(...check(fields, v));
        }
      } catch (error) {
        parsed = null;
        found.push(`Not valid JSON: ${error.message}`);
      }
      problems.replaceChildren(...found.map((p) => el("li", { text: p })));
      save.disabled = found.length > 0;
      textarea.setAttribute("aria-invalid", String(found.length > 0));
      return found.length === 0;
    };
    textarea.addEventListener("input", validate);
    validate();

    del?.addEventListener("click", async () => {
      dialog.close();
      await removeDocument(doc);
    });
    form.addEventListener("submit", async (event) => {
      if (event.submitter?.value !== "save") return;
      event.preventDefault();
      if (!validate()) return;
      const fields = Object.fromEntries(Object.entries(parsed).filter(([k]) => !k.startsWith("_")));
      save.disabled = true;
      try {
        if (doc) await ctx.client.mutation("_system/dashboard:replace", { id: doc._id, document: fields });
        else await ctx.client.mutation("_system/dashboard:insert", { table, document: fields });
        ctx.toast(doc ? `Saved ${doc._id}` : `Inserted into ${table}`);
        dialog.close();
      } catch (error) {
        problems.replaceChildren(el("li", { text: `The server refused it: ${error.message}` }));
        save.disabled = false;
      }
    });
    dialog.addEventListener("close", () => { dialog.remove(); scroller.focus(); });
    dialog.showModal();
    textarea.focus();
  }

  openTable(state.table);

  return {
    update(rest) {
      if ((rest[0] ?? null) !== state.table) openTable(rest[0] ?? null);
    },
    unmount() {
      stopTables();
      stopTable?.();
    },
  };
}
