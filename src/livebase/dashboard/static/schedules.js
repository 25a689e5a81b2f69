// Schedules: crons (schedule, next and last run, their recent runs with outcome) and scheduled
// functions (state, when, history),
// live from the system tables; a pending job can be cancelled.
import { el, cellText, relativeTime, dateTime, dataTable } from "/_dashboard/values.js";

const STATES = ["pending", "inProgress", "success", "failed", "canceled"];

export function mount(ctx, root) {
  const state = { data: null, filter: "", error: null };
  const filter = el("select", { id: "job-state", "aria-label": "Job state" },
    el("option", { value: "", text: "All states" }), ...STATES.map((s) => el("option", { value: s, text: s })));
  const cronBody = el("div");
  const jobBody = el("div");
  const notice = el("div");
  root.append(
    el("div", { class: "toolbar" }, el("h1", { class: "grow", text: "Schedules" })),
    notice,
    el("h2", { text: "Crons" }), cronBody,
    el("div", { class: "toolbar" }, el("h2", { class: "grow", text: "Scheduled functions" }), filter), jobBody);

  const stop = ctx.client.subscribe("_system/dashboard:schedules", {}, (data) => {
    state.data = data;
    notice.replaceChildren();
    render();
  }, (error) => {
    notice.replaceChildren(el("div", { class: "notice", role: "alert" }, `Schedules could not be read: ${error.message}`));
  });
  const clock = setInterval(() => state.data && render(), 5000); // keep "in 5 s" honest

  function render() {
    const { crons, jobs } = state.data;
    const now = Date.now();
    cronBody.replaceChildren(crons.length ? dataTable("Crons", ["Name", "Schedule", "Function", "Next run", "Last run", "Recent runs"],
      crons.map((c) => el("tr", { dataset: { cron: c.name } },
        el("td", { class: "mono", text: c.name }),
        el("td", { class: "mono", text: scheduleText(c.schedule) }),
        el("td", { class: "mono", text: c.function }),
        el("td", { class: "time", title: dateTime(c.nextRunTime), text: relativeTime(c.nextRunTime, now) }),
        el("td", { class: "time", text: c.lastRunTime ? relativeTime(c.lastRunTime, now) : "never" }),
        el("td", { class: "history" }, ...(c.history?.length ? c.history.map((run) => el("span", {
          class: `badge ${run.state?.kind ?? ""}`,
          title: `${run.state?.kind ?? "?"}: due ${dateTime(run.scheduledTime)}${run.completedTime ? `, finished ${dateTime(run.completedTime)}` : ""}${run.state?.error ? ` — ${run.state.error}` : ""}`,
        }, `${run.state?.kind === "success" ? "✓" : run.state?.kind === "failed" ? "✗" : "•"} ${relativeTime(run.completedTime ?? run.scheduledTime, now)}`)) : [el("span", { class: "muted", text: "no runs yet" })])))))
      : el("p", { class: "muted", text: "No crons. Declare them in the app's crons.py (interval or cron expression); they appear here with their next run." }));

    const shown = jobs.filter((j) => !state.filter || j.state.kind === state.filter);
    jobBody.replaceChildren(shown.length ? dataTable("Scheduled functions", ["Function", "State", "Scheduled", "Finished", "Arguments", ""],
      shown.map((j) => el("tr", { dataset: { id: j._id } },
        el("td", {}, el("span", { class: "mono", text: j.name }), j.cron ? el("div", { class: "muted", text: `cron ${j.cron}` }) : null),
        el("td", {}, el("span", { class: `badge ${j.state.kind}`, text: j.state.kind }), j.state.error ? el("div", { class: "error-text", text: j.state.error }) : null),
        el("td", { class: "time", title: dateTime(j.scheduledTime), text: relativeTime(j.scheduledTime, now) }),
        el("td", { class: "time", text: j.completedTime ? relativeTime(j.completedTime, now) : "—" }),
        el("td", { class: "mono", text: argsText((j.args ?? [])[0]) }),
        el("td", {}, j.state.kind === "pending" ? el("button", {
          class: "button danger", type: "button", "aria-label": `Cancel ${j.name} scheduled ${relativeTime(j.scheduledTime, now)}`,
          onclick: () => cancel(j),
        }, "Cancel") : null))))
      : el("p", { class: "muted", text: state.filter
        ? `No ${state.filter} jobs. Pick "All states" to see the rest.`
        : "Nothing scheduled. Functions scheduled with ctx.scheduler.run_after / run_at appear here, and stay for a while after they run." }));
  }

  function cancel(job) {
    return ctx.confirmedMutation({
      title: `Cancel ${job.name}?`,
      body: `It was due ${relativeTime(job.scheduledTime)}. A cancelled job never runs; this cannot be undone.`,
      confirm: "Cancel the job",
    }, "_system/dashboard:cancel", { id: job._id }, { done: `Cancelled ${job.name}`, failed: "Not cancelled" });
  }

  filter.addEventListener("change", () => { state.filter = filter.value; if (state.data) render(); });
  cronBody.append(el("p", { class: "muted", text: "Loading…" }));
  return { unmount() { stop(); clearInterval(clock); } };
}

function scheduleText(schedule) {
  if (typeof schedule === "string") return schedule;
  if (schedule && typeof schedule === "object") {
    if (schedule.cron) return schedule.cron;
    if (typeof schedule.interval === "number") return `every ${duration(schedule.interval)}`;
    const parts = Object.entries(schedule).filter(([k]) => k !== "type").map(([k, v]) => `${v} ${k}`);
    return parts.length ? `every ${parts.join(" ")}` : cellText(schedule);
  }
  return cellText(schedule);
}

function duration(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

function argsText(args) {
  if (!args || typeof args !== "object") return "—";
  const parts = Object.entries(args).map(([k, v]) => `${k}: ${typeof v === "string" ? JSON.stringify(v) : cellText(v)}`);
  const text = parts.join(", ");
  return text.length > 80 ? text.slice(0, 79) + "…" : text || "—";
}
