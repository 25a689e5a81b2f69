// The document editor: a document as JSON, checked against the table's schema as it is typed
// (Save stays disabled while there are problems), then written through
// `_system/dashboard:insert|replace` (the server checks again; triggers run).
import { el, toEditorText, fromEditorText, check, describe, skeleton } from "/_dashboard/values.js";

/** Edit `doc` of `table` (or insert a new document when `doc` is null). */
export function showEditor(ctx, { table, validator: v, doc, onDelete, onClose }) {
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
    await onDelete(doc);
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
  dialog.addEventListener("close", () => { dialog.remove(); onClose?.(); });
  dialog.showModal();
  textarea.focus();
}
