// Files: the stored files (`_storage`), live: id, content type, size, when, a download link
// (the file's bearer URL from ctx.storage.get_url) and delete after a confirmation.
import { el, dataTable, byteSize, dateTime } from "/_dashboard/values.js";

export function mount(ctx, root) {
  const body = el("div", {}, el("p", { class: "muted", text: "Loading…" }));
  const notice = el("div");
  const summary = el("span", { class: "muted" });
  root.append(el("div", { class: "toolbar" }, el("h1", { class: "grow", text: "Files" }), summary), notice, body);

  const stop = ctx.client.subscribe("_system/dashboard:files", {}, ({ files, more }) => {
    notice.replaceChildren();
    const total = files.reduce((sum, f) => sum + (f.size ?? 0), 0);
    const n = files.length;
    summary.textContent = n ? `${n.toLocaleString()}${more ? "+" : ""} file${n === 1 && !more ? "" : "s"} · ${byteSize(total)}${more ? " shown (newest first)" : ""}` : "";
    body.replaceChildren(files.length ? dataTable("Stored files, newest first", ["File", "Type", "Size", "Uploaded", ""],
      files.map((f) => el("tr", { dataset: { id: f._id } },
        el("td", { class: "mono file-id", title: f._id, text: f._id }),
        el("td", { text: f.contentType ?? "—" }),
        el("td", { class: "num", text: byteSize(f.size) }),
        el("td", { class: "time", text: dateTime(f._creationTime) }),
        el("td", { class: "actions-cell" },
          el("a", { class: "button", href: f.url, download: "", rel: "noreferrer", "aria-label": `Download ${f._id}`, text: "Download" }),
          el("button", { class: "button danger", type: "button", "aria-label": `Delete ${f._id}`, text: "Delete", onclick: () => remove(f) })))), { id: "files-table" })
      : el("div", { class: "empty" }, el("h2", { text: "No stored files" }),
        el("p", { text: "Files uploaded to a URL from ctx.storage.generate_upload_url(), or stored by an action with ctx.storage.store(...), appear here live." })));
  }, (error) => {
    notice.replaceChildren(el("div", { class: "notice", role: "alert", text: `Files could not be read: ${error.message}` }));
  });

  function remove(file) {
    return ctx.confirmedMutation({
      title: "Delete this file?",
      body: `${file._id} (${byteSize(file.size)}) is deleted for good; its URLs stop working and documents that name it keep a dangling id.`,
      confirm: "Delete",
    }, "_system/dashboard:deleteFile", { id: file._id }, { done: `Deleted ${file._id}`, failed: "Not deleted" });
  }

  return { unmount: stop };
}
