// Session replay: plays a session's events back in the timeline at 1x, 4x or 16x their real
// pace, with play/pause and a scrubber. Pauses longer than MAX_GAP_MS (real time) are shortened
// to it, so a session that sat idle for an hour does not replay an hour of nothing. While a
// replay is on, the timeline shows the events up to the scrubber's position; "All events"
// leaves it.
import { clock, el } from "/static/dom.js";

const SPEEDS = [1, 4, 16];
const MAX_GAP_MS = 2000;

/** Mount the controls in `box`; `redraw()` is called whenever what the timeline shows changes.
 * Returns {setEvents(events), shown(events), reset()}. */
export function mountReplay(box, redraw) {
  const state = { events: [], at: null, playing: false, speed: 4, timer: null };
  const play = el("button", { type: "button", id: "replay-play", className: "primary", textContent: "▶ Replay" });
  const scrub = el("input", { type: "range", id: "replay-scrub", min: "1", max: "1", value: "1", step: "1" });
  scrub.setAttribute("aria-label", "replay position (event number)");
  const where = el("span", { id: "replay-pos", className: "meta" });
  where.setAttribute("aria-live", "polite");
  const all = el("button", { type: "button", id: "replay-all", className: "link", textContent: "All events" });
  const speeds = el("div", { className: "speeds", role: "radiogroup" });
  speeds.setAttribute("aria-label", "replay speed");
  for (const speed of SPEEDS) {
    const id = `replay-speed-${speed}`;
    const input = el("input", { type: "radio", name: "replay-speed", id, value: String(speed), checked: speed === state.speed });
    input.addEventListener("change", () => { state.speed = speed; if (state.playing) schedule(); });
    speeds.append(input, el("label", { htmlFor: id, textContent: `${speed}×` }));
  }
  box.replaceChildren(play, speeds, scrub, where, all);

  function stopTimer() {
    clearTimeout(state.timer);
    state.timer = null;
  }

  function schedule() {
    stopTimer();
    const { events, at } = state;
    if (at >= events.length) {
      state.playing = false;
      return update();
    }
    const gap = Math.min(Math.max(events[at].timestamp - events[at - 1].timestamp, 0), MAX_GAP_MS);
    state.timer = setTimeout(() => {
      state.at += 1;
      update();
      schedule();
    }, Math.max(gap / state.speed, 16));
  }

  function update() {
    const n = state.events.length;
    box.dataset.state = state.at === null ? "off" : state.playing ? "playing" : "paused";
    box.dataset.at = String(state.at ?? n);
    scrub.max = String(Math.max(n, 1));
    scrub.value = String(state.at ?? n);
    scrub.disabled = n === 0;
    play.disabled = n === 0;
    play.textContent = state.playing ? "❚❚ Pause" : state.at === null ? "▶ Replay" : "▶ Play";
    play.setAttribute("aria-label", state.playing ? "pause the replay" : "play the session back");
    all.hidden = state.at === null;
    const ev = state.events[(state.at ?? n) - 1];
    where.textContent = !n ? "" : state.at === null ? `${n} events`
      : `event ${state.at} of ${n}${ev ? ` · ${clock(ev.timestamp)}` : ""}`;
    redraw();
  }

  play.addEventListener("click", () => {
    if (state.playing) {
      state.playing = false;
      stopTimer();
      return update();
    }
    if (state.at === null || state.at >= state.events.length) state.at = 1;
    state.playing = true;
    update();
    schedule();
  });
  scrub.addEventListener("input", () => {
    state.at = Number(scrub.value);
    update();
    if (state.playing) schedule();
  });
  all.addEventListener("click", () => {
    state.at = null;
    state.playing = false;
    stopTimer();
    update();
  });

  return {
    setEvents(events) {
      const changed = events.length !== state.events.length;
      state.events = events;
      if (changed) update();
    },
    /** The events the timeline shows now. */
    shown(events) {
      return state.at === null ? events : events.slice(0, state.at);
    },
    reset() {
      stopTimer();
      Object.assign(state, { events: [], at: null, playing: false });
      update();
    },
  };
}
