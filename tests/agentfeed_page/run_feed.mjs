// Drives the agentfeed page in headless Debian Chromium with playwright-core (from
// tests/clients/web/node_modules) against a real server, and posts events over HTTP itself so
// that "posted" and "shown" are timed on one clock. The owner signs in on the page (their own
// browser context); the visitor of step 6 has a browser context of their own.
//
//   node run_feed.mjs <config.json>
//   config: {base, pageSize, maxRows, agentfeedKey, ownerEmail, ownerPassword, chromium,
//            screenshot, sessionScreenshot, history: [ids, oldest first, already posted],
//            live: [payloads to post], liveProject, liveSession, historyProject}
// Prints one JSON line: {"ok", "failures", "steps", "latencies", ...diagnostics}.
import { readFileSync } from "node:fs";

import { launchChromium, roleInfo, signIn, sleep, waitRole } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const steps = [];
const consoleLines = [];
const pageErrors = [];
const started = Date.now();
const result = {};
const check = (ok, what) => (ok ? steps.push(what) : failures.push(what));

async function post(payload) {
  const response = await fetch(`${config.base}/event`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-agentfeed-key": config.agentfeedKey },
    body: JSON.stringify(payload),
  });
  const body = await response.json();
  if (body.status !== "stored") throw new Error(`POST /event: ${JSON.stringify(body)}`);
}

const rows = (page, list = "#feed") =>
  page.$$eval(`${list} > li`, (lis) => lis.map((li) => ({ id: li.dataset.eventId, type: li.dataset.type })));

async function waitUntil(page, fn, arg, what, timeout = 10000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 20 });
    return true;
  } catch (err) {
    failures.push(`${what}: not within ${timeout} ms (${err.message.split("\n")[0]})`);
    return false;
  }
}

const feedIs = (page, ids, what, timeout) =>
  waitUntil(page, (want) => {
    const got = [...document.querySelectorAll("#feed > li")].map((li) => li.dataset.eventId);
    return got.length >= want.length && want.every((id, i) => got[i] === id);
  }, ids, what, timeout);

let browser;
try {
  browser = await launchChromium(config.chromium);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => consoleLines.push(`[${Date.now() - started}ms] ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));

  // 1. Open the page (the public view: every project is private) and sign in as the owner:
  //    the newest page of history is shown.
  const url = `${config.base}/?pageSize=${config.pageSize}&maxRows=${config.maxRows}`;
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("body[data-state=ready]", { timeout: 20000 });
  check((await roleInfo(page)).role === "public", "opened signed out: the public view");
  const signedIn = await signIn(page, config.ownerEmail, config.ownerPassword);
  check(signedIn === null, signedIn ?? "signed in on the page as the owner");
  const loadId = await page.evaluate(() => window.__agentfeed.loadId);
  const newest = [...config.history].reverse();
  await feedIs(page, newest.slice(0, config.pageSize), "the first page of history");
  check((await rows(page)).length >= config.pageSize, "opened: the newest page of history shown");

  // 2. Post the live events (a few in flight at once) and time each one to its row.
  const postedAt = {};
  const queue = [...config.live];
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (queue.length) {
      const payload = queue.shift();
      postedAt[payload.event_id] = Date.now();
      await post(payload);
    }
  }));
  result.postMs = Date.now() - t0;
  const liveNewest = config.live.map((p) => p.event_id).reverse();
  await feedIs(page, liveNewest, "the live events at the top, newest first", 10000);
  const seen = await page.evaluate(() => window.__agentfeed.seen);
  const latencies = liveNewest.map((id) => seen[id] - postedAt[id]).sort((a, b) => a - b);
  result.latencies = { min: latencies[0], p50: latencies[latencies.length >> 1],
                       p90: latencies[Math.floor(latencies.length * 0.9)], max: latencies.at(-1) };
  result.allShownMs = Math.max(...liveNewest.map((id) => seen[id])) - t0;
  check(latencies.every((ms) => Number.isFinite(ms) && ms < 5000), "every live event shown in < 5 s");
  check((await page.evaluate(() => window.__agentfeed.loadId)) === loadId, "no reload");
  result.renders = await page.evaluate(() => window.__agentfeed.renders);
  const failedRows = await page.$$eval("#feed > li.failed", (lis) => lis.map((li) => li.dataset.type));
  check(failedRows.length > 0 && failedRows.includes("PostToolUseFailure"), "failures highlighted");
  check((await page.$$("#feed > li .duration")).length > 0, "tool results show a duration");
  await page.waitForSelector(`#sessions li[data-session-id="${config.liveSession}"]`, { timeout: 5000 });
  check(true, "the live session is in the active sessions panel");

  // 3. Filters: an event type, then a project, then clear.
  await page.selectOption("#filters [name=type]", "UserPromptSubmit");
  await waitUntil(page, () => {
    const lis = [...document.querySelectorAll("#feed > li")];
    return document.querySelector("#feed").dataset.status !== "LoadingFirstPage" && lis.length > 0 &&
      lis.every((li) => li.dataset.type === "UserPromptSubmit");
  }, null, "type filter: only prompts");
  const prompts = await rows(page);
  check(prompts.length > 0 && prompts.every((r) => r.type === "UserPromptSubmit"),
    `type filter shows ${prompts.length} prompts`);
  await page.selectOption("#filters [name=type]", "");
  await page.selectOption("#filters [name=project]", config.liveProject);
  const liveSet = new Set(liveNewest);
  await waitUntil(page, ({ ids, n, project }) => {
    const feed = document.querySelector("#feed");
    const shows = JSON.parse(feed.dataset.filters || "{}").project === project;
    const got = [...document.querySelectorAll("#feed > li")].map((li) => li.dataset.eventId);
    return shows && feed.dataset.status !== "LoadingFirstPage" && got.length >= n &&
      got.every((id, i) => id === ids[i]);
  }, { ids: liveNewest, n: config.pageSize, project: config.liveProject },
  "project filter: the live project's events");
  const filtered = await rows(page);
  check(filtered.length > 0 && filtered.every((r) => liveSet.has(r.id)),
    `project filter shows ${filtered.length} rows, all of the live project`);
  await page.click("#filters button[type=reset]");
  await feedIs(page, liveNewest.slice(0, config.pageSize), "cleared filters: all events again");

  // 4. Infinite scroll: load every older page; the DOM stays bounded.
  const total = config.history.length + config.live.length;
  let maxDom = 0;
  for (let i = 0; i < 200; i++) {
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await sleep(50);
    const info = await page.evaluate(() => ({
      dom: document.querySelectorAll("#feed > li").length,
      loaded: Number(document.querySelector("#feed").dataset.loaded),
      status: document.querySelector("#feed").dataset.status,
      last: document.querySelector("#feed > li:last-child")?.dataset.eventId,
    }));
    maxDom = Math.max(maxDom, info.dom);
    if (info.loaded === total && info.status === "Exhausted" && info.last === config.history[0]) break;
  }
  const end = await page.evaluate(() => ({
    loaded: Number(document.querySelector("#feed").dataset.loaded),
    status: document.querySelector("#feed").dataset.status,
    start: Number(document.querySelector("#feed").dataset.start),
    last: document.querySelector("#feed > li:last-child")?.dataset.eventId,
  }));
  result.scroll = { ...end, maxDom };
  check(end.loaded === total && end.status === "Exhausted", `scrolled: all ${total} events loaded`);
  check(end.last === config.history[0], "scrolled: the oldest event is the last row");
  check(maxDom <= config.maxRows, `bounded DOM: at most ${maxDom} rows (limit ${config.maxRows})`);
  for (let i = 0; i < 100; i++) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await sleep(50);
    if ((await page.$eval("#feed", (f) => f.dataset.start)) === "0") break;
  }
  await feedIs(page, liveNewest.slice(0, 5), "back at the top after scrolling up");

  // 5. The session view: the live session's timeline, oldest first.
  await page.click(`#sessions li[data-session-id="${config.liveSession}"] a`);
  const oldestFirst = config.live.filter((p) => p.session_id === config.liveSession).map((p) => p.event_id);
  await waitUntil(page, (ids) => {
    const got = [...document.querySelectorAll("#timeline > li")].map((li) => li.dataset.eventId);
    return got.length === ids.length && ids.every((id, i) => got[i] === id);
  }, oldestFirst, "the session timeline");
  check(await page.isVisible("#session-head h2"), "the session view shows its session");
  check(await page.isHidden("#feed-view"), "the feed is hidden in the session view");
  if (config.sessionScreenshot) await page.screenshot({ path: config.sessionScreenshot });
  await page.click("#session-view a[href='#']");
  await page.waitForSelector("#feed-view", { state: "visible" });
  await page.evaluate(() => window.scrollTo(0, 0));
  await sleep(200);
  await page.screenshot({ path: config.screenshot });

  // 6. The public view: the owner makes the live project public (and describes it) in the
  //    page's project panel; a visitor without the key sees its events, and nothing of the
  //    history project, which stays private.
  const liveForm = await page.evaluateHandle((path) =>
    [...document.querySelectorAll("#projects li")].find((li) => li.dataset.path === path)
      ?.querySelector("form"), config.liveProject);
  check(Boolean(await liveForm.evaluate((f) => f !== undefined && f !== null)),
    "the owner sees a form for the live project");
  await (await liveForm.$("[name=description]")).fill("the live demo");
  await (await liveForm.$("[name=public]")).check();
  await (await liveForm.$("button")).click();
  await waitUntil(page, (path) => {
    const li = [...document.querySelectorAll("#projects li")].find((x) => x.dataset.path === path);
    return li?.querySelector(".meta")?.textContent.startsWith("public") &&
      li.querySelector("[name=description]")?.value === "the live demo";
  }, config.liveProject, "the owner made the live project public from the page");
  const visitorContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const visitor = await visitorContext.newPage();
  visitor.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));
  await visitor.goto(url, { waitUntil: "load" });
  await visitor.waitForSelector("body[data-state=ready]", { timeout: 20000 });
  const visitorRole = await roleInfo(visitor);
  check(visitorRole.role === "public" && !visitorRole.owner && !visitorRole.stored,
    `public view: the visitor is not signed in (${JSON.stringify(visitorRole)})`);
  await feedIs(visitor, liveNewest.slice(0, config.pageSize), "public view: the public project");
  const historyIds = new Set(config.history);
  for (let i = 0; i < 50; i++) {
    await visitor.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await sleep(50);
    if ((await visitor.$eval("#feed", (f) => f.dataset.status)) === "Exhausted") break;
  }
  const publicRows = await rows(visitor);
  const publicText = await visitor.evaluate(() => document.body.innerText);
  const privateName = config.historyProject.split("/").at(-1);
  check(publicRows.length > 0 && publicRows.every((r) => !historyIds.has(r.id)),
    `public view: ${publicRows.length} rows, none of the private project`);
  check(!publicText.includes(privateName), "public view: the private project's name is not shown");
  check(publicText.includes("the live demo"), "public view: the public project's description");
  check((await visitor.$eval("#feed", (f) => f.dataset.status)) === "Exhausted",
    "public view: history fully loaded, still nothing private");

  // 7. The owner stays signed in: their first tab still is, and a new tab of their browser
  //    opens signed in, showing the private project.
  const stillOwner = await waitRole(page, "owner", 2000);
  check(stillOwner === null, stillOwner ?? "the owner's tab is still the owner's");
  const tab = await context.newPage();
  tab.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));
  await tab.goto(url, { waitUntil: "load" });
  const tabOwner = await waitRole(tab, "owner");
  check(tabOwner === null, tabOwner ?? "a new tab of the owner's browser opens signed in");
  await waitUntil(tab, (path) =>
    [...document.querySelectorAll("#projects li")].some((li) => li.dataset.path === path &&
      li.querySelector("form") !== null), config.historyProject,
  "the new tab shows the private project, with the owner's form", 20000);
  await feedIs(tab, liveNewest.slice(0, config.pageSize), "the new tab shows the feed");
  const againOwner = await waitRole(page, "owner", 2000);
  check(againOwner === null, againOwner ?? "the first tab is still signed in after the second opened");
  check(pageErrors.length === 0, "no page errors");
} catch (err) {
  failures.push(`driver error: ${err.stack ?? err}`);
} finally {
  Object.assign(result, { ok: failures.length === 0, failures, steps, console: consoleLines.slice(-50),
                          pageErrors, elapsedMs: Date.now() - started });
  process.stdout.write(JSON.stringify(result) + "\n");
  try {
    await browser?.close();
  } catch {}
  process.stdout.write("", () => process.exit(result.ok ? 0 : 1));
}
