// Activity sessions on the agentfeed page (owner only): the latest stretches of work with their
// guessed intent, confidence and status, those that need validation marked, and the owner's
// two controls: Confirm (the guess is right) and Correct (say what it was). Corrections are
// kept by the server and used by the next guesses. activity:sessions answers the public with
// {owner: false}, which hides the section.
const LIMIT = 20;
const SOURCES = { heuristic: "guessed", learned: "learned from your corrections", llm: "guessed by the LLM",
  owner: "confirmed by you" };

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const base = (path) => (path || "").split("/").filter(Boolean).pop() || "no project";
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const day = (ms) => new Date(ms).toLocaleDateString([], { month: "short", day: "numeric" });

function span(s) {
  const minutes = Math.max(1, Math.round((s.last_at - s.started_at) / 60000));
  return `${day(s.started_at)} ${clock(s.started_at)}–${clock(s.last_at)} (${minutes} min)`;
}

/** Subscribe to the owner's activity sessions and keep #activity drawn; returns the
 * unsubscribe function. */
export function mountActivitySessions(client) {
  const box = document.querySelector("#activity");
  const list = document.querySelector("#activity-list");
  const editing = new Set(); // ids of sessions whose correction form is open
  const notes = new Map(); // id -> the last error of a control
  let latest = null;

  async function act(id, path, args) {
    notes.delete(id);
    try {
      await client.mutation(path, { session: id, ...args });
      editing.delete(id);
    } catch (error) {
      notes.set(id, error?.data?.message || error.message || String(error));
    }
    draw(true);
  }

  function card(s) {
    const li = el("li", { className: "activity-item" });
    li.dataset.id = s._id;
    li.dataset.status = s.status;
    if (s.needs_validation) li.dataset.check = "true";
    const confidence = `${Math.round(s.confidence * 100)}%`;
    li.append(
      el("div", { className: "intent" }, el("strong", { textContent: s.guessed_intent }),
        s.needs_validation ? el("span", { className: "flag", textContent: "check" }) : null),
      el("div", { className: "meta", textContent: [base(s.project), s.branch, s.status,
        plural(s.event_count, "event")].filter(Boolean).join(" · ") }),
      el("div", { className: "meta", textContent: span(s) }),
      el("div", { className: "meta source", title: s.llm_note || "",
        textContent: `${SOURCES[s.intent_source] ?? s.intent_source} · ${confidence} sure` }));
    if (editing.has(s._id)) {
      const form = el("form", { className: "correct" },
        el("input", { name: "intent", value: s.guessed_intent, maxLength: 200, required: true,
          ariaLabel: "what this session was for" }),
        el("button", { type: "submit", textContent: "Save" }),
        el("button", { type: "button", className: "cancel", textContent: "Cancel" }));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        act(s._id, "activity:correct", { intent: form.elements.intent.value });
      });
      form.querySelector(".cancel").addEventListener("click", () => {
        editing.delete(s._id);
        draw(true);
      });
      li.append(form);
    } else {
      const confirm = s.intent_source === "owner" ? null
        : el("button", { type: "button", className: "confirm", textContent: "Confirm" });
      confirm?.addEventListener("click", () => act(s._id, "activity:confirm", {}));
      const correct = el("button", { type: "button", className: "edit", textContent: "Correct" });
      correct.addEventListener("click", () => {
        editing.add(s._id);
        draw();
        li.isConnected && document.querySelector(`[data-id="${s._id}"] input`)?.focus();
      });
      li.append(el("div", { className: "controls" }, confirm, correct));
    }
    const note = notes.get(s._id);
    if (note) li.append(el("div", { className: "error", textContent: note }));
    return li;
  }

  function draw(force = false) {
    box.hidden = !latest?.owner;
    if (box.hidden) return;
    const sessions = latest.sessions;
    const open = document.activeElement?.closest?.("#activity form.correct");
    if (open && !force) return; // do not redraw a correction the owner is typing
    const waiting = sessions.filter((s) => s.needs_validation).length;
    document.querySelector("#activity-count").textContent =
      waiting ? `${waiting} to check` : "";
    list.replaceChildren(...(sessions.length ? sessions.map(card)
      : [el("li", { className: "empty meta",
        textContent: "No activity sessions yet: they appear a moment after the first events." })]));
  }

  return client.subscribe("activity:sessions", { limit: LIMIT }, (result) => {
    latest = result;
    box.dataset.loaded = "true"; // the server has answered (tests wait for it)
    draw();
  }, (error) => {
    latest = null;
    box.hidden = false;
    list.replaceChildren(el("li", { className: "error", textContent:
      `Activity sessions could not be loaded: ${error.message || error}` }));
  });
}
