// Schema and indexes: every table's fields (type, optional) and its indexes, search indexes and
// vector indexes as the app's schema.py declares them, with live document counts; tables that
// exist without a schema are listed too.
import { el, describe, dataTable } from "/_dashboard/values.js";

export function mount(ctx, root) {
  const body = el("div", { class: "schema-list" }, el("p", { class: "muted", text: "Loading…" }));
  const notice = el("div");
  root.append(el("div", { class: "toolbar" }, el("h1", { class: "grow", text: "Schema and indexes" }),
    el("span", { class: "muted", text: "from schema.py · live" })), notice, body);

  const stop = ctx.client.subscribe("_system/dashboard:tables", {}, (tables) => {
    notice.replaceChildren();
    body.replaceChildren(...(tables.length ? tables.map(tableCard) : [el("div", { class: "empty" },
      el("h2", { text: "No tables yet" }),
      el("p", { text: "Declare tables in the app's schema.py with define_schema({...}) and define_table({...}).index(...); they appear here when the server reloads." }))]));
  }, (error) => {
    notice.replaceChildren(el("div", { class: "notice", role: "alert", text: `The schema could not be read: ${error.message}` }));
  });

  function tableCard(t) {
    const doc = t.schema?.document;
    const fields = doc?.type === "object" ? Object.entries(doc.value) : [];
    const indexes = Object.entries(t.schema?.indexes ?? {});
    const search = Object.entries(t.schema?.searchIndexes ?? {});
    const vector = Object.entries(t.schema?.vectorIndexes ?? {});
    const indexRows = [
      el("tr", {}, el("td", { class: "mono", text: "by_creation_time" }), el("td", { class: "mono", text: "_creationTime" }), el("td", {}, el("span", { class: "badge", text: "built in" }))),
      ...indexes.map(([name, f]) => el("tr", {}, el("td", { class: "mono", text: name }), el("td", { class: "mono", text: f.join(", ") }),
        el("td", {}, el("span", { class: "badge query", text: "index" })))),
      ...search.map(([name, s]) => el("tr", {}, el("td", { class: "mono", text: name }),
        el("td", { class: "mono", text: `${s.searchField}${s.filterFields.length ? ` · filter ${s.filterFields.join(", ")}` : ""}` }),
        el("td", {}, el("span", { class: "badge mutation", text: "search" })))),
      ...vector.map(([name, d]) => el("tr", {}, el("td", { class: "mono", text: name }),
        el("td", { class: "mono", text: `${d.vectorField} · ${d.dimensions} dims${d.filterFields?.length ? ` · filter ${d.filterFields.join(", ")}` : ""}` }),
        el("td", {}, el("span", { class: "badge action", text: "vector" })))),
    ];
    return el("section", { class: "card schema-card", "aria-labelledby": `schema-${t.name}` },
      el("div", { class: "title-line" }, el("h2", { class: "mono", id: `schema-${t.name}`, text: t.name }),
        el("span", { class: "muted", text: `${t.count.toLocaleString()} document${t.count === 1 ? "" : "s"}` }),
        el("a", { href: `#data/${encodeURIComponent(t.name)}`, text: "Open data" })),
      doc == null ? el("p", { class: "muted", text: "No schema: any document is accepted. Declare it in schema.py to have writes checked." })
        : fields.length ? dataTable(`Fields of ${t.name}`, ["Field", "Type", "Required"], fields.map(([name, spec]) => el("tr", {},
          el("td", { class: "mono", text: name }), el("td", { class: "mono", text: describe(spec.fieldType) }),
          el("td", { text: spec.optional ? "optional" : "required" }))))
          : el("p", { class: "mono", text: describe(doc) }),
      el("h3", { text: "Indexes" }),
      dataTable(`Indexes of ${t.name}`, ["Name", "Fields", "Kind"], indexRows));
  }

  return { unmount: stop };
}
