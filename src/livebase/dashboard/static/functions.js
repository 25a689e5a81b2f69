// Functions: every function of the app with its argument validators, and a runner that calls
// one through the public HTTP API as anonymous, as a given user (the admin key acting as that
// identity) or as admin, showing the result, its log lines and the time it took.
import { el, describe, toEditorText, fromEditorText, check } from "/_dashboard/values.js";

const AS_STORE = "livebase.dashboard.runAs";

export function mount(ctx, root, route) {
  const state = { functions: null, selected: route.join("/") || null };
  const list = el("div", { class: "fn-list" });
  const side = el("nav", { class: "side card", "aria-label": "Functions" }, el("h2", { text: "Functions" }), list);
  const detail = el("section", { class: "content", "aria-live": "off" });
  root.append(el("div", { class: "split" }, side, detail));

  const stop = ctx.client.subscribe("_system/dashboard:functions", {}, (fns) => {
    state.functions = fns;
    if (!state.selected && fns.length) location.replace(`#functions/${fns[0].path}`);
    renderList();
    renderDetail();
  }, (error) => {
    detail.replaceChildren(el("div", { class: "notice", role: "alert" }, `The function list could not be read: ${error.message}`));
  });

  function renderList() {
    const groups = new Map();
    for (const fn of state.functions ?? []) {
      const module = fn.path.split(":")[0];
      if (!groups.has(module)) groups.set(module, []);
      groups.get(module).push(fn);
    }
    if (state.functions && !state.functions.length) {
      list.replaceChildren(el("p", { class: "muted", text: "No functions yet." }));
      return;
    }
    list.replaceChildren(...[...groups].map(([module, fns]) => el("div", { class: "fn-group" },
      el("h3", { text: module }),
      ...fns.map((fn) => el("button", {
        class: "list-button", type: "button", "aria-current": String(fn.path === state.selected),
        onclick: () => { location.hash = `#functions/${fn.path}`; },
      }, el("span", { text: fn.path.split(":")[1] }), el("span", { class: `badge ${fn.kind}`, text: fn.kind }))))));
  }

  function renderDetail() {
    if (state.functions && !state.functions.length) {
      detail.replaceChildren(el("div", { class: "empty" }, el("h2", { text: "This app has no functions" }),
        el("p", { text: "Add @query, @mutation or @action functions to a module in the app folder; livebase dev reloads them and they appear here." })));
      return;
    }
    const fn = state.functions?.find((f) => f.path === state.selected);
    if (!fn) {
      if (state.functions) detail.replaceChildren(el("div", { class: "empty" }, el("h2", { text: "Pick a function" }), el("p", { text: "Choose one from the list to see its arguments and run it." })));
      return;
    }
    detail.replaceChildren(runner(fn));
  }

  function runner(fn) {
    const argsV = fn.args;
    const fields = argsV?.type === "object" ? Object.entries(argsV.value) : null;
    const inputs = [];
    const argGrid = el("div", { class: "args" });
    if (fields) {
      for (const [name, spec] of fields) {
        const t = spec.fieldType.type === "optional" ? spec.fieldType.value : spec.fieldType;
        const id = `arg-${name}`;
        let input;
        if (t.type === "boolean") {
          input = el("select", { id }, el("option", { value: "", text: spec.optional ? "(omit)" : "choose…" }), el("option", { value: "true", text: "true" }), el("option", { value: "false", text: "false" }));
        } else if (["string", "id", "float64", "number", "int64"].includes(t.type)) {
          const numeric = t.type !== "string" && t.type !== "id";
          input = el("input", { id, type: "text", inputmode: numeric ? "decimal" : null, autocomplete: "off", placeholder: spec.optional ? "optional" : "" });
        } else {
          input = el("textarea", { id, rows: "3", placeholder: "JSON" });
        }
        inputs.push({ name, spec, t, input });
        argGrid.append(el("div", { class: "field" },
          el("label", { for: id }, name, spec.optional ? el("span", { class: "muted", text: " (optional)" }) : null),
          input, el("span", { class: "sig", text: describe(spec.fieldType) })));
      }
    }
    const rawArgs = fields ? null : el("textarea", { id: "arg-json", rows: "4", placeholder: "{}" });
    if (rawArgs) argGrid.append(el("div", { class: "field" }, el("label", { for: "arg-json", text: "Arguments (JSON object)" }), rawArgs));
    if (fields && !fields.length) argGrid.append(el("p", { class: "muted", text: "This function takes no arguments." }));

    const saved = JSON.parse(sessionStorage.getItem(AS_STORE) || '{"kind":"admin"}');
    const asKind = fn.visibility === "internal" ? "admin" : saved.kind;
    const radio = (value, label) => el("label", {}, el("input", {
      type: "radio", name: "run-as", value, checked: asKind === value,
      disabled: fn.visibility === "internal" && value !== "admin",
    }), label);
    const subject = el("input", { id: "run-subject", type: "text", autocomplete: "off", value: saved.subject ?? "", placeholder: "user id (subject)" });
    const name = el("input", { id: "run-name", type: "text", autocomplete: "off", value: saved.name ?? "", placeholder: "name (optional)" });
    const userFields = el("div", { class: "toolbar", hidden: asKind !== "user" },
      el("label", { for: "run-subject", text: "Subject" }), subject,
      el("label", { for: "run-name", text: "Name" }), name);
    const asGroup = el("div", { class: "segmented", role: "radiogroup", "aria-label": "Run as" },
      radio("anonymous", "Anonymous"), radio("user", "User"), radio("admin", "Admin"));
    asGroup.addEventListener("change", () => { userFields.hidden = currentAs() !== "user"; });
    const currentAs = () => asGroup.querySelector("input:checked")?.value ?? "admin";

    const run = el("button", { class: "button primary", type: "submit", text: `Run ${fn.kind}` });
    const output = el("div", { class: "result", "aria-live": "polite" },
      el("p", { class: "muted", text: "The result, the call's log lines and its time appear here. Ctrl+Enter runs it from any field." }));
    const form = el("form", { class: "runner card" },
      el("div", { class: "toolbar" },
        el("h1", { class: "mono", text: fn.path }),
        el("span", { class: `badge ${fn.kind}`, text: fn.kind }),
        fn.visibility === "internal" ? el("span", { class: "badge internal", text: "internal: admin only" }) : null),
      el("p", { class: "sig" }, `args: ${describe(argsV)}`, fn.returns ? ` → ${describe(fn.returns)}` : ""),
      argGrid,
      el("div", { class: "toolbar" }, el("span", { class: "muted", text: "Run as" }), asGroup, userFields, el("span", { class: "grow" }), run),
      output);

    form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    function collect() {
      const problems = [];
      let args = {};
      if (rawArgs) {
        try {
          args = rawArgs.value.trim() ? fromEditorText(rawArgs.value, argsV) : {};
        } catch (error) {
          problems.push(`Arguments: not valid JSON (${error.message})`);
        }
        return { args, problems };
      }
      for (const { name, spec, t, input } of inputs) {
        const raw = input.value.trim();
        if (!raw) {
          if (!spec.optional) problems.push(`${name}: is required`);
          continue;
        }
        try {
          if (t.type === "boolean") args[name] = raw === "true";
          else if (t.type === "string" || t.type === "id") args[name] = input.value;
          else if (t.type === "int64") args[name] = BigInt(raw);
          else if (t.type === "float64" || t.type === "number") {
            const n = Number(raw);
            if (Number.isNaN(n)) throw new Error("not a number");
            args[name] = n;
          } else args[name] = fromEditorText(raw, t);
        } catch (error) {
          problems.push(`${name}: ${error.message}`);
        }
      }
      if (!problems.length && argsV) problems.push(...check(args, argsV, "args"));
      return { args, problems };
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const { args, problems } = collect();
      if (problems.length) {
        output.replaceChildren(el("ul", { class: "problems", role: "alert" }, ...problems.map((p) => el("li", { text: p }))));
        return;
      }
      const kind = currentAs();
      if (kind === "user" && !subject.value.trim()) {
        output.replaceChildren(el("p", { class: "error-text", role: "alert", text: "Give the user's subject (their user id) to run as that user." }));
        subject.focus();
        return;
      }
      const as = kind === "user" ? { kind, subject: subject.value.trim(), name: name.value.trim() || undefined } : { kind };
      sessionStorage.setItem(AS_STORE, JSON.stringify({ kind, subject: subject.value.trim(), name: name.value.trim() }));
      run.disabled = true;
      output.replaceChildren(el("p", { class: "muted", text: "Running…" }));
      const result = await ctx.call(fn.kind, fn.path, args, as);
      run.disabled = false;
      showResult(result, as);
    });

    function showResult(result, as) {
      const who = as.kind === "user" ? `user ${as.subject}` : as.kind;
      const head = el("div", { class: "kv", "data-outcome": result.ok ? "success" : "failed" },
        el("span", { class: `badge ${result.ok ? "success" : "failed"}`, text: result.ok ? "success" : "failed" }),
        el("span", {}, "time ", el("b", { class: "run-ms", text: `${result.ms.toFixed(1)} ms` })),
        el("span", {}, "as ", el("b", { text: who })));
      const parts = [head];
      if (result.ok) {
        parts.push(el("h3", { text: "Result" }), el("pre", { class: "run-value", tabindex: "0" }, result.value === undefined ? "null" : toEditorText(result.value)));
      } else {
        parts.push(el("p", { class: "error-text run-error", text: result.error }));
        if (result.errorData !== undefined) parts.push(el("h3", { text: "Error data" }), el("pre", { tabindex: "0" }, toEditorText(result.errorData)));
      }
      parts.push(el("h3", { text: `Log lines (${result.logLines.length})` }));
      parts.push(result.logLines.length
        ? el("pre", { class: "run-logs", tabindex: "0" }, result.logLines.join("\n"))
        : el("p", { class: "muted", text: "The call wrote no log lines." }));
      output.replaceChildren(...parts);
    }

    return form;
  }

  return {
    update(rest) {
      state.selected = rest.join("/") || null;
      renderList();
      renderDetail();
    },
    unmount() { stop(); },
  };
}
