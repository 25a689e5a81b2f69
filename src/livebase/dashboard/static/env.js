// Environment variables: the deployment's `ctx.env` (the admin API behind `livebase env`):
// list, add or change, delete. Values stay hidden until shown one by one, and are fetched only
// then; they never go into the address bar or the console.
import { el, dataTable } from "/_dashboard/values.js";

export function mount(ctx, root) {
  const body = el("div", {}, el("p", { class: "muted", text: "Loading…" }));
  const notice = el("div");
  const addButton = el("button", { class: "button primary", type: "button", text: "Add variable", onclick: () => edit(null) });
  root.append(el("div", { class: "toolbar" }, el("h1", { class: "grow", text: "Environment variables" }), addButton),
    el("p", { class: "muted", text: "Functions read these as ctx.env; a change applies to the next call without a restart, and live queries that read ctx.env run again. Values are encrypted at rest." }),
    notice, body);
  let alive = true;

  async function load() {
    const r = await ctx.admin("GET", "/api/admin/env");
    if (!alive) return;
    if (!r.ok) {
      notice.replaceChildren(el("div", { class: "notice", role: "alert", text: `The variables could not be read: ${r.body.message ?? `HTTP ${r.status}`}` }));
      body.replaceChildren();
      return;
    }
    notice.replaceChildren();
    const names = r.body.names ?? [];
    body.replaceChildren(names.length ? dataTable("Environment variables", ["Name", "Value", ""], names.map(row), { id: "env-table" })
      : el("div", { class: "empty" }, el("h2", { text: "No environment variables" }),
        el("p", { text: "Add API keys, webhook secrets and feature flags here or with livebase env set NAME VALUE." }),
        el("button", { class: "button primary", type: "button", text: "Add variable", onclick: () => edit(null) })));
  }

  function row(name) {
    const value = el("span", { class: "mono masked", text: "••••••••" });
    const show = el("button", { class: "button", type: "button", "aria-pressed": "false", "aria-label": `Show the value of ${name}`, text: "Show" });
    show.addEventListener("click", async () => {
      if (show.getAttribute("aria-pressed") === "true") {
        value.textContent = "••••••••";
        value.classList.add("masked");
        show.setAttribute("aria-pressed", "false");
        show.textContent = "Show";
        show.setAttribute("aria-label", `Show the value of ${name}`);
        return;
      }
      const r = await ctx.admin("GET", `/api/admin/env/${encodeURIComponent(name)}`);
      if (!r.ok) { ctx.toast(`Not shown: ${r.body.message ?? r.status}`, { error: true }); return; }
      value.textContent = r.body.value;
      value.classList.remove("masked");
      show.setAttribute("aria-pressed", "true");
      show.textContent = "Hide";
      show.setAttribute("aria-label", `Hide the value of ${name}`);
    });
    return el("tr", { dataset: { name } },
      el("td", { class: "mono", text: name }),
      el("td", { class: "env-value" }, value),
      el("td", { class: "actions-cell" }, show,
        el("button", { class: "button", type: "button", "aria-label": `Change ${name}`, text: "Change", onclick: () => edit(name) }),
        el("button", { class: "button danger", type: "button", "aria-label": `Delete ${name}`, text: "Delete", onclick: () => remove(name) })));
  }

  function edit(name) {
    const nameInput = el("input", { id: "env-name", required: true, autocomplete: "off", spellcheck: "false", value: name ?? "", readonly: name ? true : null });
    const valueInput = el("input", { id: "env-value", type: "password", autocomplete: "off", spellcheck: "false" });
    const reveal = el("input", { id: "env-reveal", type: "checkbox" });
    reveal.addEventListener("change", () => { valueInput.type = reveal.checked ? "text" : "password"; });
    const problem = el("p", { class: "error-text", role: "alert", id: "env-problem" });
    const dialog = el("dialog", { "aria-labelledby": "env-title" }, el("form", { method: "dialog" },
      el("h2", { id: "env-title", text: name ? `Change ${name}` : "Add an environment variable" }),
      el("div", { class: "field" }, el("label", { for: "env-name", text: "Name" }), nameInput,
        el("span", { class: "muted", text: "A letter, then letters, digits and _ (at most 256)." })),
      el("div", { class: "field" }, el("label", { for: "env-value", text: "Value" }), valueInput,
        el("label", { class: "check" }, reveal, " Show the value")),
      problem,
      el("div", { class: "actions" },
        el("button", { class: "button", type: "submit", value: "cancel", formnovalidate: true, text: "Cancel" }),
        el("button", { class: "button primary", type: "submit", value: "save", text: "Save" }))));
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      if (event.submitter?.value !== "save") return;
      event.preventDefault();
      const target = nameInput.value.trim();
      const r = await ctx.admin("PUT", `/api/admin/env/${encodeURIComponent(target)}`, { value: valueInput.value });
      if (!r.ok) { problem.textContent = r.body.message ?? `HTTP ${r.status}`; return; }
      dialog.close();
      ctx.toast(r.body.created ? `Added ${target}` : `Updated ${target}`);
      load();
    });
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    (name ? valueInput : nameInput).focus();
  }

  async function remove(name) {
    const ok = await ctx.confirm({
      title: `Delete ${name}?`,
      body: `Functions that read ctx.env["${name}"] fail from the next call on (ctx.env.get gives its default).`,
      confirm: "Delete", danger: true,
    });
    if (!ok) return;
    const r = await ctx.admin("DELETE", `/api/admin/env/${encodeURIComponent(name)}`);
    if (!r.ok) { ctx.toast(`Not deleted: ${r.body.message ?? r.status}`, { error: true }); return; }
    ctx.toast(`Deleted ${name}`);
    load();
  }

  load();
  // Pushed, not polled: a change from the CLI or another tab bumps this counter on the server.
  let seen = null;
  const stop = ctx.client.subscribe("_system/dashboard:adminVersions", {}, (versions) => {
    if (seen !== null && versions.env !== seen) load();
    seen = versions.env;
  });
  return { unmount() { alive = false; stop(); } };
}
