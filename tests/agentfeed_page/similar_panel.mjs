// The "similar sessions" panel of a session's view in headless Debian Chromium (playwright-core),
// as an anonymous visitor (the public view): it lists the given session's similar sessions, best
// first; a prompt posted meanwhile for a new similar session shows up in it without a reload;
// it fits a 1280 px and a 390 px wide window (screenshots of both); and a session without a
// prompt says so.
//
//   node similar_panel.mjs <config.json>
//   config: {url, chromium, key, session, expected, newSession, newPrompt, project, quiet,
//            screenshot1280, screenshot390}
// Prints one JSON line: {"ok", "failures", "pageErrors", "shown", "live", "widths"}.
import { readFileSync } from "node:fs";

import { drive } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));

const listed = (page) => page.evaluate(() =>
  [...document.querySelectorAll("#similar-list > li")].map((li) => li.dataset.sessionId));

async function waitFor(failures, page, what, predicate, arg, timeout = 20000) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
    return true;
  } catch (err) {
    const state = await page.evaluate(() => ({
      status: document.querySelector("#similar")?.dataset.status,
      note: document.querySelector("#similar-note")?.innerText,
      items: [...document.querySelectorAll("#similar-list > li")].map((li) => li.innerText),
    })).catch(() => null);
    failures.push(`${what}: ${err.message.split("\n")[0]} (${JSON.stringify(state)})`);
    return false;
  }
}

async function fits(failures, page, width) {
  const widths = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    panel: document.querySelector("#similar").getBoundingClientRect().right,
  }));
  if (widths.page > width || widths.panel > width) {
    failures.push(`at ${width} px the page is ${widths.page} px wide, the panel ends at ${widths.panel}`);
  }
  return widths;
}

await drive(config.chromium, async ({ browser, failures, out, watch }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = watch(await context.newPage());
  await page.goto(`${config.url}/#session/${encodeURIComponent(config.session)}`, { waitUntil: "load" });
  await waitFor(failures, page, "the panel lists the expected sessions", (expected) => {
    const ids = [...document.querySelectorAll("#similar-list > li")].map((li) => li.dataset.sessionId);
    return document.querySelector("#similar")?.dataset.status === "ready"
      && expected.every((id, n) => ids[n] === id);
  }, config.expected);
  out.shown = await page.evaluate(() =>
    [...document.querySelectorAll("#similar-list > li")].map((li) => li.innerText));
  out.widths = { 1280: await fits(failures, page, 1280) };
  await page.screenshot({ path: config.screenshot1280, fullPage: false });

  // live: a new session whose prompt reads like this one appears without a reload
  const posted = Date.now();
  const response = await fetch(`${config.url}/event`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-agentfeed-key": config.key },
    body: JSON.stringify({ hook_event_name: "UserPromptSubmit", session_id: config.newSession,
      cwd: config.project, prompt: config.newPrompt, event_id: `live-${posted}`,
      timestamp: posted, transcript_path: "/tmp/t.jsonl", permission_mode: "default" }),
  });
  if (!response.ok) failures.push(`POST /event answered ${response.status}`);
  if (await waitFor(failures, page, "the new session shows in the panel", (id) =>
    [...document.querySelectorAll("#similar-list > li")].some((li) => li.dataset.sessionId === id),
  config.newSession)) {
    out.live = { ms: Date.now() - posted, listed: await listed(page) };
  }

  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => document.querySelector("#similar").scrollIntoView());
  out.widths[390] = await fits(failures, page, 390);
  await page.screenshot({ path: config.screenshot390, fullPage: false });

  await page.goto(`${config.url}/#session/${encodeURIComponent(config.quiet)}`, { waitUntil: "load" });
  await waitFor(failures, page, "a session without prompts says so", () =>
    document.querySelector("#similar")?.dataset.status === "no_prompts"
      && /No prompt in this session yet/.test(document.querySelector("#similar-note").innerText));
});
