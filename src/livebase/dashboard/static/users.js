// Users: the built-in accounts (the admin API behind `livebase users`): list, add, disable or
// enable, reset a password, grant or revoke the admin role (signed in with the admin key only:
// an admin account cannot hand the role on). An app without the built-in issuer gets a note on how to turn it on.
import { el, dataTable, dateTime } from "/_dashboard/values.js";

export function mount(ctx, root) {
  const body = el("div", {}, el("p", { class: "muted", text: "Loading…" }));
  const notice = el("div");
  const addButton = el("button", { class: "button primary", type: "button", text: "Add account", hidden: true, onclick: () => passwordDialog(null) });
  root.append(el("div", { class: "toolbar" }, el("h1", { class: "grow", text: "Users" }), addButton), notice, body);
  let alive = true;
  const withKey = !ctx.key.startsWith("lb_dash_"); // only the admin key grants the role

  async function load() {
    const r = await ctx.admin("GET", "/api/admin/users");
    if (!alive) return;
    if (r.status === 404 && r.body.code === "BuiltinIssuerDisabled") {
      notice.replaceChildren();
      addButton.hidden = true;
      body.replaceChildren(el("div", { class: "empty" }, el("h2", { text: "No built-in accounts in this app" }),
        el("p", {}, "Turn on Livebase's email and password accounts in the app's auth.py: ",
          el("code", { text: "providers = [builtin()]" }), ". Users signed in through another provider (OIDC, custom JWT) are managed there.")));
      return;
    }
    if (!r.ok) {
      notice.replaceChildren(el("div", { class: "notice", role: "alert", text: `The accounts could not be read: ${r.body.message ?? `HTTP ${r.status}`}` }));
      return;
    }
    notice.replaceChildren();
    addButton.hidden = false;
    const users = r.body.users ?? [];
    body.replaceChildren(users.length ? dataTable("Accounts", ["Email", "Status", "Role", "Created", "Subject", ""], users.map((u) => el("tr", { dataset: { email: u.email } },
      el("td", { text: u.email }),
      el("td", {}, el("span", { class: `badge ${u.disabled ? "failed" : "success"}`, text: u.disabled ? "disabled" : "active" })),
      el("td", {}, el("span", { class: `badge ${u.admin ? "query" : "internal"}`, text: u.admin ? "admin" : "user" })),
      el("td", { class: "time", text: dateTime(u.createdAt * 1000) }), // seconds since the epoch
      el("td", { class: "mono muted", text: u.subject }),
      el("td", { class: "actions-cell" },
        el("button", { class: "button" + (u.disabled ? "" : " danger"), type: "button", "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.email}`, text: u.disabled ? "Enable" : "Disable", onclick: () => toggle(u) }),
        el("button", { class: "button", type: "button", "aria-label": `Reset password of ${u.email}`, text: "Reset password", onclick: () => passwordDialog(u) }),
        withKey ? el("button", { class: "button" + (u.admin ? " danger" : ""), type: "button", "aria-label": `${u.admin ? "Revoke admin from" : "Make admin"} ${u.email}`, text: u.admin ? "Revoke admin" : "Make admin", onclick: () => setAdmin(u) }) : null))), { id: "users-table" })
      : el("div", { class: "empty" }, el("h2", { text: "No accounts yet" }),
        el("p", { text: "Add one here or with livebase users add EMAIL; people then sign in with POST /auth/token." })));
  }

  async function setAdmin(user) {
    if (user.admin) {
      const ok = await ctx.confirm({
        title: `Revoke admin from ${user.email}?`,
        body: "Their dashboard sessions end at once; they keep their account and can still sign in to the app.",
        confirm: "Revoke admin", danger: true,
      });
      if (!ok) return;
    }
    const r = await ctx.admin("POST", `/api/admin/users/${user.admin ? "revoke-admin" : "grant-admin"}`, { email: user.email });
    if (!r.ok) { ctx.toast(`Not changed: ${r.body.message ?? r.status}`, { error: true }); return; }
    ctx.toast(user.admin ? `${user.email} is no longer an admin` : `${user.email} is an admin: it can sign in here`);
    load();
  }

  async function toggle(user) {
    if (!user.disabled) {
      const ok = await ctx.confirm({
        title: `Disable ${user.email}?`,
        body: "They can no longer sign in or refresh; their access tokens are refused from now on. Enable the account to let them sign in again.",
        confirm: "Disable", danger: true,
      });
      if (!ok) return;
    }
    const r = await ctx.admin("POST", `/api/admin/users/${user.disabled ? "enable" : "disable"}`, { email: user.email });
    if (!r.ok) { ctx.toast(`Not changed: ${r.body.message ?? r.status}`, { error: true }); return; }
    ctx.toast(`${user.email} ${user.disabled ? "enabled" : "disabled"}`);
    load();
  }

  /** Add an account (user null) or reset `user`'s password. */
  function passwordDialog(user) {
    const email = el("input", { id: "user-email", type: "email", required: true, autocomplete: "off", value: user?.email ?? "", readonly: user ? true : null });
    const password = el("input", { id: "user-password", type: "password", required: true, minlength: "8", maxlength: "1024", autocomplete: "new-password" });
    const again = el("input", { id: "user-password-again", type: "password", required: true, autocomplete: "new-password" });
    const problem = el("p", { class: "error-text", role: "alert", id: "user-problem" });
    const dialog = el("dialog", { "aria-labelledby": "user-title" }, el("form", { method: "dialog" },
      el("h2", { id: "user-title", text: user ? `Reset the password of ${user.email}` : "Add an account" }),
      el("div", { class: "field" }, el("label", { for: "user-email", text: "Email" }), email),
      el("div", { class: "field" }, el("label", { for: "user-password", text: "New password (at least 8 characters)" }), password),
      el("div", { class: "field" }, el("label", { for: "user-password-again", text: "The password again" }), again),
      user ? el("p", { class: "muted", text: "Sessions begun before the reset cannot refresh any more." }) : null,
      problem,
      el("div", { class: "actions" },
        el("button", { class: "button", type: "submit", value: "cancel", formnovalidate: true, text: "Cancel" }),
        el("button", { class: "button primary", type: "submit", value: "save", text: user ? "Reset" : "Add" }))));
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      if (event.submitter?.value !== "save") return;
      event.preventDefault();
      if (password.value !== again.value) { problem.textContent = "The two passwords differ."; return; }
      const r = user
        ? await ctx.admin("POST", "/api/admin/users/reset-password", { email: user.email, password: password.value })
        : await ctx.admin("POST", "/api/admin/users", { email: email.value, password: password.value });
      if (!r.ok) { problem.textContent = r.body.message ?? `HTTP ${r.status}`; return; }
      dialog.close();
      ctx.toast(user ? `New password set for ${user.email}` : `Added ${r.body.email ?? email.value}`);
      load();
    });
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    (user ? password : email).focus();
  }

  load();
  // Pushed, not polled: a change from the CLI or another tab bumps this counter on the server.
  let seen = null;
  const stop = ctx.client.subscribe("_system/dashboard:adminVersions", {}, (versions) => {
    if (seen !== null && versions.users !== seen) load();
    seen = versions.users;
  });
  return { unmount() { alive = false; stop(); } };
}
