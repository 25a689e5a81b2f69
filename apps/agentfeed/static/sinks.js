// The forwarding panel (owner only; the public never gets sinks/state:status): each sink
// agentfeed sinks runs (delivering, or failing since when and why; delivered count; last
// delivery), its dead letters (how many, the latest with their errors) with a Replay button,
// and per project what leaves the machine (off / metadata / content). With no sink set up it
// says how to set one. Uses the page's client (app.js), so it answers as whoever is signed in.
const LEVELS = {
  off: "off — nothing leaves",
  metadata: "metadata — ids, type, times, redacted summary",
  content: "content — plus prompt, tool input and output",
};
const SETUP = "AGENTFEED_MQTT_URL, AGENTFEED_POSTHOG_HOST + AGENTFEED_POSTHOG_API_KEY or " +
  "AGENTFEED_WEBHOOK_URL + AGENTFEED_WEBHOOK_SECRET";

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const count = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const when = (ms) => (ms ? new Date(ms).toLocaleString() : "never");

function panel() {
  let node = document.querySelector("#sinks");
  if (node) return node;
  node = el("details", { id: "sinks", className: "notice" });
  node.hidden = true;
  const home = document.querySelector("#notices") ?? document.querySelector("main") ?? document.body;
  home.append(node);
  return node;
}

function sinkRow(client, sink) {
  const failing = sink.failing_since != null;
  const pending = sink.pending_dead_letters;
  const state = el("span", {
    className: `sink-state ${failing ? "failing" : "ok"}`,
    textContent: failing ? `failing since ${when(sink.failing_since)}` : "delivering",
  });
  const row = el("li", { className: "sink" }, el("strong", { textContent: sink.sink }), " ", state,
    el("span", { className: "meta", textContent:
      ` · ${count(sink.delivered, "event")} delivered · last ${when(sink.last_delivered_at)}` +
      (sink.skipped ? ` · ${sink.skipped} not forwarded` : "") }));
  if (pending > 0) {
    const button = el("button", { type: "button", className: "replay",
      textContent: sink.replaying ? `Replaying ${sink.replaying}…` : `Replay ${count(pending, "dead letter")}` });
    button.disabled = sink.replaying > 0;
    button.onclick = async () => {
      button.disabled = true;
      try {
        await client.mutation("sinks/state:replay", { sink: sink.sink });
      } catch (error) {
        button.disabled = false;
        row.append(el("p", { className: "error", textContent: `Replay failed: ${error.message}` }));
      }
    };
    row.append(" ", el("span", { className: "dead", textContent: count(pending, "dead letter") }), " ", button);
  }
  if (failing && sink.last_error) row.append(el("p", { className: "error", textContent: sink.last_error }));
  return row;
}

function projectRow(client, project) {
  const select = el("select", { title: `what leaves this machine for ${project.name}` });
  for (const [value, label] of Object.entries(LEVELS)) {
    select.append(el("option", { value, textContent: label, selected: value === project.forward }));
  }
  const note = el("span", { className: "meta" });
  select.onchange = async () => {
    note.textContent = "saving…";
    try {
      await client.mutation("sinks/state:set_forward", { project: project.path, forward: select.value });
      note.textContent = "";
    } catch (error) {
      note.textContent = `not saved: ${error.message}`;
    }
  };
  return el("li", {}, el("span", { className: "name", textContent: project.name }),
    project.public ? el("span", { className: "public", textContent: "public · redacted" }) : null,
    select, note);
}

function draw(client, status) {
  const node = panel();
  node.hidden = status == null; // the public view
  if (status == null) return;
  const dead = status.sinks.reduce((n, s) => n + s.pending_dead_letters, 0);
  const failing = status.sinks.filter((s) => s.failing_since != null);
  node.classList.toggle("warn", dead > 0 || failing.length > 0);
  const summary = status.sinks.length === 0 ? "Forwarding: no sink set up"
    : `Forwarding to ${status.sinks.map((s) => s.sink).join(", ")}` +
      (failing.length ? ` · ${failing.map((s) => s.sink).join(", ")} failing` : " · delivering") +
      (dead ? ` · ${count(dead, "dead letter")}` : "");
  const body = [el("summary", { id: "sinks-summary", textContent: summary })];
  if (status.sinks.length === 0) {
    body.push(el("p", {}, "Set ", el("code", { textContent: SETUP }),
      " before ", el("code", { textContent: "agentfeed serve" }),
      " to forward events to MQTT (Home Assistant), PostHog or a webhook."));
  } else {
    body.push(el("ul", { className: "sink-list" }, ...status.sinks.map((s) => sinkRow(client, s))));
  }
  if (status.dead_letters.length) {
    body.push(el("h3", { textContent: "Latest dead letters" }), el("ol", { className: "dead-letters" },
      ...status.dead_letters.map((d) => el("li", {}, el("code", { textContent: d.event_id }),
        ` · ${d.sink} · ${count(d.attempts, "attempt")}${d.replay ? " · replaying" : ""}`,
        el("p", { className: "error", textContent: d.error })))));
  }
  if (status.projects.length) {
    body.push(el("h3", { textContent: "What leaves this machine, per project" }),
      el("ul", { className: "forwarding" }, ...status.projects.map((p) => projectRow(client, p))));
  }
  const open = node.open;
  node.replaceChildren(...body);
  node.open = open;
}

function start() {
  const client = window.__livebase;
  if (!client) return setTimeout(start, 50);
  client.subscribe("sinks/state:status", {}, (status) => draw(client, status),
    () => draw(client, null));
}

start();
