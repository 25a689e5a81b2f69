// Drives /_dashboard in headless Debian Chromium (playwright-core) through every panel against a
// running livebase server that serves a copy of examples/chat plus tests/dashboard/app_extra.
//
//   node drive.mjs <server url> <screenshot dir> [chromium path]
//
// The admin key comes from the environment (DASHBOARD_ADMIN_KEY), never from argv. Prints one
// JSON line: {"ok": bool, "failures": [...], "checks": {...}, "axe": [...], "console": [...]}.
import { chromium } from "playwright-core";
import { readFile, mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";

const [base, shotDir, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const adminKey = process.env.DASHBOARD_ADMIN_KEY;
if (!base || !shotDir || !adminKey) {
  console.error("usage: DASHBOARD_ADMIN_KEY=... node drive.mjs <server url> <screenshot dir> [chromium]");
  process.exit(2);
}
const WAIT = Number(process.env.DASHBOARD_WAIT_MS ?? 20000);
const require = createRequire(import.meta.url);
const axeSource = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");

const failures = [];
const checks = {};
const consoleLines = [];
const axeResults = [];
const urls = [];
const fail = (what) => failures.push(what);
const ENV_SECRET = "s3cret-value-from-the-dashboard"; // must never reach a URL or the console

async function step(name, fn) {
  const started = Date.now();
  try {
    checks[name] = { ok: true, ...(await fn()), ms: Date.now() - started };
  } catch (error) {
    checks[name] = { ok: false, error: String(error?.stack ?? error), ms: Date.now() - started };
    fail(`${name}: ${error?.message ?? error}`);
  }
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  const page = await context.newPage();
  page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => fail(`page error: ${e.message}`));
  page.on("framenavigated", (f) => { if (f === page.mainFrame()) urls.push(f.url()); });

  // -- a plain subscribed client (no admin key), on another page of the same origin
  const watcher = await context.newPage();
  await watcher.goto(`${base}/version`);
  await watcher.evaluate(async () => {
    const { LivebaseClient } = await import("/_livebase/client.js");
    const client = new LivebaseClient(location.origin);
    window.latest = null;
    client.subscribe("messages:list", { channel: "general" }, (v) => { window.latest = v; });
  });
  await watcher.waitForFunction(() => Array.isArray(window.latest), null, { timeout: WAIT });
  await page.bringToFront();

  await step("sign in", async () => {
    await page.goto(`${base}/_dashboard`);
    await page.fill("#admin-key", "not-the-key");
    await page.click("#sign-in-form button[type=submit]");
    await page.waitForSelector("#sign-in-error:not([hidden])", { timeout: WAIT });
    const refusal = await page.textContent("#sign-in-error");
    await page.fill("#admin-key", adminKey);
    await page.click("#sign-in-form button[type=submit]");
    await page.waitForSelector("#tabs:not([hidden])", { timeout: WAIT });
    await page.waitForSelector('#conn[data-connected="true"]', { timeout: WAIT });
    return { refusal };
  });

  await step("data: 10,000 documents scroll virtualised", async () => {
    await page.goto(`${base}/_dashboard#data/messages`);
    await page.bringToFront(); // a background page gets one animation frame a second
    await page.waitForFunction(() => /1[0-9],[0-9]{3} documents/.test(document.querySelector(".grid-foot")?.textContent ?? ""), null, { timeout: WAIT });
    const result = await page.evaluate(async () => {
      const scroller = document.querySelector(".grid-scroll");
      const frames = [];
      let last = performance.now();
      let maxRows = 0;
      const end = scroller.scrollHeight - scroller.clientHeight;
      for (let i = 1; i <= 60; i++) {
        scroller.scrollTop = (end * i) / 60;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const now = performance.now();
        frames.push(now - last);
        last = now;
        maxRows = Math.max(maxRows, document.querySelectorAll(".grid-row").length);
      }
      frames.sort((a, b) => a - b);
      const lastRow = [...document.querySelectorAll(".grid-row")].some((r) => r.getAttribute("aria-rowindex") === String(Number(scroller.getAttribute("aria-rowcount"))));
      return { maxRows, median: frames[30], p95: frames[57], lastRowShown: lastRow, rowcount: scroller.getAttribute("aria-rowcount") };
    });
    if (result.maxRows > 120) throw new Error(`${result.maxRows} rows in the DOM: not virtualised`);
    if (!result.lastRowShown) throw new Error("scrolling to the end did not show the last document");
    // two animation frames per step: 60 fps is ~33 ms; jank would be hundreds of ms
    if (result.p95 > 250) throw new Error(`scroll frames too slow: p95 ${result.p95.toFixed(0)} ms`);
    return result;
  });

  let docId = null;
  await step("data: insert, schema check, edit -> subscribed client updates", async () => {
    await page.goto(`${base}/_dashboard#data/messages`);
    await page.waitForSelector(".grid-row", { timeout: WAIT });
    await page.click("button:has-text('Insert document')");
    await page.waitForSelector("dialog[open] #editor-text");
    await page.fill("#editor-text", JSON.stringify({ channel: "general", body: 42 }));
    await page.waitForSelector("#editor-problems li");
    const problem = await page.textContent("#editor-problems");
    if (!/body/.test(problem) || !(await page.isDisabled("dialog[open] button[value=save]"))) throw new Error(`schema problem not shown: ${problem}`);
    await page.fill("#editor-text", JSON.stringify({ channel: "general", body: "written in the dashboard" }));
    await page.click("dialog[open] button[value=save]");
    await page.waitForSelector("dialog[open]", { state: "detached", timeout: WAIT });
    await watcher.waitForFunction(() => window.latest.some((m) => m.body === "written in the dashboard"), null, { timeout: WAIT });
    docId = await watcher.evaluate(() => window.latest.find((m) => m.body === "written in the dashboard")._id);

    await page.fill("#filter-text", "written in the dashboard");
    await page.waitForSelector(`.grid-row[data-id="${docId}"]`, { timeout: WAIT });
    await page.click(`.grid-row[data-id="${docId}"]`);
    await page.waitForSelector("dialog[open] #editor-text");
    const text = await page.inputValue("#editor-text");
    const doc = JSON.parse(text);
    doc.body = "edited in the dashboard";
    await page.fill("#editor-text", JSON.stringify(doc, null, 2));
    await page.click("dialog[open] button[value=save]");
    await watcher.waitForFunction((id) => window.latest.some((m) => m._id === id && m.body === "edited in the dashboard"), docId, { timeout: WAIT });
    await page.fill("#filter-text", "");
    return { docId };
  });

  await step("functions: run as a user", async () => {
    await page.goto(`${base}/_dashboard#functions/dash:whoami`);
    await page.waitForSelector("form.runner");
    await page.check('input[name=run-as][value=user]', { force: true });
    await page.fill("#run-subject", "alice");
    await page.fill("#run-name", "Alice Example");
    await page.click("form.runner button[type=submit]");
    await page.waitForSelector('[data-outcome="success"]', { timeout: WAIT });
    const value = await page.textContent(".run-value");
    if (!value.includes('"alice"') || !value.includes("true")) throw new Error(`whoami as alice gave ${value}`);
    await page.check('input[name=run-as][value=anonymous]', { force: true });
    await page.click("form.runner button[type=submit]");
    await page.waitForFunction(() => document.querySelector(".run-value")?.textContent.includes("false"), null, { timeout: WAIT });
    const ms = await page.textContent(".run-ms");
    return { value, ms };
  });

  await step("functions: run a mutation with typed arguments; logs show its line", async () => {
    await page.goto(`${base}/_dashboard#functions/dash:later`);
    await page.waitForSelector("#arg-channel");
    await page.fill("#arg-channel", "general");
    await page.fill("#arg-body", "scheduled from the dashboard");
    await page.fill("#arg-minutes", "30");
    await page.check('input[name=run-as][value=admin]', { force: true });
    await page.click("form.runner button[type=submit]");
    await page.waitForSelector('[data-outcome="success"]', { timeout: WAIT });
    const logs = await page.textContent(".run-logs");
    if (!logs.includes("scheduling a message to general in 30")) throw new Error(`log lines: ${logs}`);
    await page.goto(`${base}/_dashboard#logs`);
    await page.waitForSelector("td.msg", { timeout: WAIT });
    // a new line, written while the panel is open, appears live
    await page.evaluate(async (key) => {
      await fetch("/api/mutation", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Convex ${key}` },
        body: JSON.stringify({ path: "messages:send", args: { channel: "logs", body: "watch me" }, format: "json" }),
      });
    }, adminKey);
    await page.waitForFunction(() => [...document.querySelectorAll("td.msg")].some((td) => td.textContent === "sending to logs"), null, { timeout: WAIT });
    await page.fill("#log-text", "sending to logs");
    const rows = await page.$$eval("tbody tr", (trs) => trs.length);
    // the line links to the call that wrote it
    await page.click("tbody tr .linkish");
    await page.waitForSelector("#call-dialog #call-outcome", { timeout: WAIT });
    const call = await page.textContent("#call-dialog");
    if (!call.includes("messages:send") || !call.includes("succeeded") || !call.includes("sending to logs")) throw new Error(`call view: ${call}`);
    // its arguments, result and timing, kept by the runner under the same request id
    const args = await page.textContent("#call-dialog #call-args");
    if (!args.includes('"body": "watch me"')) throw new Error(`the call's arguments show ${args}`);
    if (!(await page.textContent("#call-duration")).endsWith(" ms")) throw new Error("no duration in the call view");
    if ((await page.textContent("#call-caller")) !== "admin") throw new Error("the caller is not admin");
    await page.click("#call-dialog button:has-text('Only this call')");
    await page.waitForSelector("button:has-text('Request ')");
    await page.click("button:has-text('Request ')");
    await page.fill("#log-text", "");
    // a failed call: its line leads to the error
    await page.evaluate(async (key) => {
      await fetch("/api/mutation", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Convex ${key}` },
        body: JSON.stringify({ path: "dash:shout", args: { text: "dashboard" }, format: "json" }),
      });
    }, adminKey);
    await page.waitForFunction(() => [...document.querySelectorAll("td.msg")].some((td) => td.textContent === "about to fail on dashboard"), null, { timeout: WAIT });
    await page.fill("#log-text", "about to fail on dashboard");
    await page.click("tbody tr .linkish");
    await page.waitForSelector("#call-dialog #call-error", { timeout: WAIT });
    const outcome = await page.textContent("#call-outcome");
    const error = await page.textContent("#call-error");
    if (outcome !== "failed" || !error.includes("cannot shout 'dashboard'")) throw new Error(`failed call shows ${outcome}: ${error}`);
    await page.keyboard.press("Escape");
    await page.fill("#log-text", "");
    return { rows, error };
  });

  await step("schedules: cancel a pending job", async () => {
    await page.goto(`${base}/_dashboard#schedules`);
    await page.waitForSelector("td .badge.pending", { timeout: WAIT });
    const row = page.locator("tr", { has: page.locator(".badge.pending") }).filter({ hasText: "messages:send" }).first();
    const id = await row.getAttribute("data-id");
    await row.locator("button:has-text('Cancel')").click();
    await page.click("dialog[open] button[value=ok]");
    await page.waitForSelector(`tr[data-id="${id}"] .badge.canceled`, { timeout: WAIT });
    const crons = await page.$$eval("h2 + div td.mono", (tds) => tds.map((t) => t.textContent));
    // the interval cron ran once at start: its history shows that run and its outcome
    await page.waitForSelector('tr[data-cron="tidy up"] td.history .badge.success', { timeout: WAIT });
    const history = await page.textContent('tr[data-cron="tidy up"] td.history');
    return { id, crons, history };
  });

  await step("health: live charts", async () => {
    await page.goto(`${base}/_dashboard#health`);
    await page.waitForFunction(() => document.querySelector("#health-commits")?.textContent !== "—", null, { timeout: WAIT });
    await page.waitForFunction(() => (document.querySelector(".chart .line")?.getAttribute("d") ?? "").includes("L"), null, { timeout: WAIT });
    const connections = await page.textContent("#health-connections");
    if (Number.parseInt(connections, 10) < 2) throw new Error(`connections shows ${connections}; two pages are connected`);
    return { connections };
  });

  await step("data: delete with confirmation", async () => {
    await page.goto(`${base}/_dashboard#data/messages`);
    await page.fill("#filter-text", "edited in the dashboard");
    await page.click(`.grid-row[data-id="${docId}"]`);
    await page.click("dialog[open] button:has-text('Delete')");
    await page.click("dialog[open] button[value=ok]");
    await watcher.waitForFunction((id) => !window.latest.some((m) => m._id === id), docId, { timeout: WAIT });
    await page.fill("#filter-text", "");
    return {};
  });

  // -- calls made from the page (same origin), as a script holding the admin key would
  const serverCall = (kind, path, args) => page.evaluate(async ({ key, kind, path, args }) => {
    const r = await fetch(`/api/${kind}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Convex ${key}` },
      body: JSON.stringify({ path, args, format: "json" }),
    });
    return r.json();
  }, { key: adminKey, kind, path, args });
  const signInStatus = (email, password) => page.evaluate(async ({ email, password }) => {
    const r = await fetch("/auth/token", { method: "POST", body: new URLSearchParams({ grant_type: "password", username: email, password }) });
    return { status: r.status, body: await r.json() };
  }, { email, password });

  await step("data: index range, server-side filter and sort", async () => {
    await page.goto(`${base}/_dashboard#data/messages`);
    await page.waitForSelector(".grid-row[data-id]", { timeout: WAIT });
    await page.selectOption("#range-index", "by_channel");
    await page.selectOption("#range-op-0", "eq");
    await page.fill("#range-value-0", "bulk");
    await page.press("#range-value-0", "Enter");
    await page.waitForFunction(() => /^12,000 of 1[0-9],[0-9]{3} documents match/.test(document.querySelector(".grid-foot")?.textContent ?? ""), null, { timeout: WAIT });
    await page.fill("#filter-text", "message 0042");
    await page.waitForFunction(() => /^10 of /.test(document.querySelector(".grid-foot")?.textContent ?? ""), null, { timeout: WAIT });
    await page.click(".grid-head button:has-text('body')"); // ascending, on the server
    await page.waitForFunction(() => document.querySelector("#doc-row-0")?.textContent.includes("message 00420"), null, { timeout: WAIT });
    await page.click(".grid-head button:has-text('body')"); // descending
    await page.waitForFunction(() => document.querySelector("#doc-row-0")?.textContent.includes("message 00429"), null, { timeout: WAIT });
    const foot = await page.textContent(".grid-foot");
    await page.fill("#filter-text", "");
    await page.selectOption("#range-index", "by_creation_time");
    return { foot };
  });

  await step("data: import JSONL and CSV with a progress bar; a bad line is named", async () => {
    await page.goto(`${base}/_dashboard#data/messages`);
    await page.waitForSelector(".grid-row[data-id]", { timeout: WAIT });
    const lines = Array.from({ length: 600 }, (_, i) => JSON.stringify({ channel: "imported", body: `imported ${i}` }));
    const bad = [...lines];
    bad[6] = JSON.stringify({ channel: "imported", body: 5 });
    bad[9] = "{not json";
    await page.click("#import-open");
    await page.setInputFiles("#import-file", { name: "bad.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(bad.join("\n")) });
    await page.waitForSelector("#import-problems li", { timeout: WAIT });
    const problems = await page.textContent("#import-problems");
    if (!/line 7: .*body/.test(problems) || !/line 10:/.test(problems)) throw new Error(`bad lines not named: ${problems}`);
    if (!(await page.isDisabled("dialog[open] button:has-text('Import')"))) throw new Error("import allowed with bad lines");
    await page.setInputFiles("#import-file", { name: "array.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify([{ channel: "imported", body: "x" }])) });
    await page.waitForFunction(() => /JSON array, not JSON Lines/.test(document.querySelector("#import-problems")?.textContent ?? ""), null, { timeout: WAIT });
    await page.setInputFiles("#import-file", { name: "good.jsonl", mimeType: "application/x-ndjson", buffer: Buffer.from(lines.join("\n") + "\n") });
    await page.waitForSelector("dialog[open] button:has-text('Import'):not([disabled])", { timeout: WAIT });
    await page.click("dialog[open] button:has-text('Import')");
    await page.waitForFunction(() => /Imported 600 documents/.test(document.querySelector("#import-status")?.textContent ?? ""), null, { timeout: WAIT });
    const bar = await page.$eval("#import-progress", (p) => ({ value: p.value, max: p.max, shown: !p.hidden }));
    if (bar.value !== 600 || bar.max !== 600 || !bar.shown) throw new Error(`progress bar: ${JSON.stringify(bar)}`);
    // CSV: a header row, a quoted comma, an optional field left empty
    const csv = 'channel,body,author\nimported,"hello, csv",ann\nimported,"second ""quoted""",\n';
    await page.setInputFiles("#import-file", { name: "rows.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.waitForSelector("dialog[open] button:has-text('Import'):not([disabled])", { timeout: WAIT });
    await page.click("dialog[open] button:has-text('Import')");
    await page.waitForFunction(() => /Imported 2 documents/.test(document.querySelector("#import-status")?.textContent ?? ""), null, { timeout: WAIT });
    await page.keyboard.press("Escape");
    const count = await serverCall("query", "messages:count", { channel: "imported" });
    if (count.value !== 602) throw new Error(`the server has ${JSON.stringify(count)} imported messages, not 602`);
    const listed = await serverCall("query", "messages:list", { channel: "imported" });
    const quoted = listed.value.find((m) => m.body === 'second "quoted"');
    if (!listed.value.some((m) => m.body === "hello, csv" && m.author === "ann") || !quoted || "author" in quoted) throw new Error("CSV values not imported as written");
    return { problems, bar };
  });

  await step("schema and indexes", async () => {
    await page.goto(`${base}/_dashboard#schema`);
    await page.waitForSelector("#schema-messages", { timeout: WAIT });
    const text = await page.textContent("section[aria-labelledby=schema-messages]");
    if (!text.includes("by_channel") || !text.includes("channel") || !text.includes("optional")) throw new Error(`schema card: ${text}`);
    const counters = await page.textContent("section[aria-labelledby=schema-counters]");
    if (!counters.includes("int64") || !counters.includes("by_name")) throw new Error(`counters card: ${counters}`);
    return {};
  });

  await step("files: list, download, delete", async () => {
    await page.goto(`${base}/_dashboard#files`);
    await page.waitForSelector("#panel h1", { timeout: WAIT });
    const stored = await serverCall("action", "dash:store_note", { text: "a note from the dashboard test" });
    const id = stored.value;
    await page.waitForSelector(`tr[data-id="${id}"]`, { timeout: WAIT }); // live
    const row = await page.textContent(`tr[data-id="${id}"]`);
    if (!row.includes("text/plain") || !row.includes("30 B")) throw new Error(`file row: ${row}`);
    const href = await page.getAttribute(`tr[data-id="${id}"] a`, "href");
    const body = await page.evaluate(async (url) => (await fetch(url, { cache: "no-store" })).text(), href);
    if (body !== "a note from the dashboard test") throw new Error(`download gave ${body}`);
    await page.click(`tr[data-id="${id}"] button:has-text('Delete')`);
    await page.click("dialog[open] button[value=ok]");
    await page.waitForSelector(`tr[data-id="${id}"]`, { state: "detached", timeout: WAIT });
    const gone = await page.evaluate(async (url) => (await fetch(url, { cache: "no-store" })).status, href);
    if (gone !== 404) throw new Error(`a deleted file still downloads (${gone})`);
    await serverCall("action", "dash:store_note", { text: "kept for the screenshots" });
    await page.waitForSelector("tr[data-id]", { timeout: WAIT });
    return { id };
  });

  await step("environment variables: set masked, show, delete", async () => {
    await page.goto(`${base}/_dashboard#env`);
    await page.waitForSelector("#panel .empty", { timeout: WAIT });
    await page.click("#panel .toolbar button:has-text('Add variable')");
    await page.fill("#env-name", "DASH_SECRET");
    await page.fill("#env-value", ENV_SECRET);
    await page.click("dialog[open] button[value=save]");
    await page.waitForSelector('tr[data-name="DASH_SECRET"]', { timeout: WAIT });
    if ((await page.textContent("#panel")).includes(ENV_SECRET)) throw new Error("the value is shown before Show");
    await page.click('tr[data-name="DASH_SECRET"] button:has-text("Show")');
    await page.waitForFunction((v) => document.querySelector('tr[data-name="DASH_SECRET"] .env-value')?.textContent === v, ENV_SECRET, { timeout: WAIT });
    await page.click('tr[data-name="DASH_SECRET"] button:has-text("Hide")');
    // a bad name is refused with the server's reason
    await page.click("#panel .toolbar button:has-text('Add variable')");
    await page.fill("#env-name", "1BAD");
    await page.fill("#env-value", "x");
    await page.click("dialog[open] button[value=save]");
    await page.waitForFunction(() => /must start with a letter/.test(document.querySelector("#env-problem")?.textContent ?? ""), null, { timeout: WAIT });
    await page.fill("#env-name", "FEATURE_FLAG");
    await page.fill("#env-value", "on");
    await page.click("dialog[open] button[value=save]");
    await page.waitForSelector('tr[data-name="FEATURE_FLAG"]', { timeout: WAIT });
    await page.click('tr[data-name="DASH_SECRET"] button:has-text("Delete")');
    await page.click("dialog[open] button[value=ok]");
    await page.waitForSelector('tr[data-name="DASH_SECRET"]', { state: "detached", timeout: WAIT });
    const left = await page.evaluate(async (key) => (await fetch("/api/admin/env", { headers: { authorization: `Convex ${key}` } })).json(), adminKey);
    if (JSON.stringify(left.names) !== JSON.stringify(["FEATURE_FLAG"])) throw new Error(`server has ${JSON.stringify(left)}`);
    return {};
  });

  await step("users: add, disable, enable, reset password", async () => {
    await page.goto(`${base}/_dashboard#users`);
    await page.waitForSelector("#panel .empty", { timeout: WAIT });
    await page.click("#panel .toolbar button:has-text('Add account')");
    await page.fill("#user-email", "Dana@Example.com");
    await page.fill("#user-password", "first-password");
    await page.fill("#user-password-again", "first-password");
    await page.click("dialog[open] button[value=save]");
    const row = 'tr[data-email="dana@example.com"]';
    await page.waitForSelector(`${row} .badge.success`, { timeout: WAIT });
    const created = await page.textContent(`${row} td.time`);
    if (!created.includes(String(new Date().getFullYear()))) throw new Error(`created shows ${created}`);
    if ((await signInStatus("dana@example.com", "first-password")).status !== 200) throw new Error("the new account cannot sign in");
    await page.click(`${row} button:has-text('Disable')`);
    await page.click("dialog[open] button[value=ok]");
    await page.waitForSelector(`${row} .badge.failed`, { timeout: WAIT });
    const refused = await signInStatus("dana@example.com", "first-password");
    if (refused.status !== 400 || !/disabled/.test(refused.body.error_description)) throw new Error(`a disabled account signed in: ${JSON.stringify(refused)}`);
    await page.click(`${row} button:has-text('Enable')`);
    await page.waitForSelector(`${row} .badge.success`, { timeout: WAIT });
    await page.click(`${row} button:has-text('Reset password')`);
    await page.fill("#user-password", "second-password");
    await page.fill("#user-password-again", "not-the-same");
    await page.click("dialog[open] button[value=save]");
    await page.waitForFunction(() => /differ/.test(document.querySelector("#user-problem")?.textContent ?? ""), null, { timeout: WAIT });
    await page.fill("#user-password-again", "second-password");
    await page.click("dialog[open] button[value=save]");
    await page.waitForSelector("dialog[open]", { state: "detached", timeout: WAIT });
    if ((await signInStatus("dana@example.com", "first-password")).status === 200) throw new Error("the old password still works");
    if ((await signInStatus("dana@example.com", "second-password")).status !== 200) throw new Error("the new password does not work");
    return {};
  });

  await step("keyboard", async () => {
    await page.goto(`${base}/_dashboard#data/messages`);
    await page.waitForSelector(".grid-row");
    await page.focus(".grid-scroll");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    const active = await page.getAttribute(".grid-scroll", "aria-activedescendant");
    if (active !== "doc-row-2") throw new Error(`arrow keys moved to ${active}`);
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog[open]");
    await page.keyboard.press("Escape");
    await page.waitForSelector("dialog[open]", { state: "detached" });
    await page.keyboard.press("2");
    await page.waitForSelector("form.runner, #panel[data-panel=functions]");
    return {};
  });

  // -- accessibility and screenshots: every panel, both themes, desktop and phone
  await mkdir(shotDir, { recursive: true });
  const panels = ["data/messages", "functions/messages:send", "logs", "schedules", "health", "schema", "files", "env", "users"];
  const ready = {
    "data/messages": ".grid-row[data-id]",
    "functions/messages:send": "form.runner",
    logs: "td.msg",
    schedules: "td .badge",
    health: "#health-commits small",
    schema: "#schema-messages",
    files: "tr[data-id]",
    env: "#env-table",
    users: "tr[data-email]",
  };
  for (const theme of ["light", "dark"]) {
    for (const [width, height] of [[1280, 800], [390, 844]]) {
      await page.setViewportSize({ width, height });
      await page.emulateMedia({ colorScheme: theme });
      for (const panel of panels) {
        await page.goto(`${base}/_dashboard#${panel}`);
        await page.waitForSelector(ready[panel], { timeout: WAIT });
        if (panel === "health") {
          // some traffic while the charts gather samples, so they show a shape
          await page.evaluate(async ({ key, ms }) => {
            const end = Date.now() + ms;
            let i = 0;
            while (Date.now() < end) {
              await fetch("/api/mutation", {
                method: "POST",
                headers: { "content-type": "application/json", authorization: `Convex ${key}` },
                body: JSON.stringify({ path: "messages:send", args: { channel: "load", body: `tick ${i++}` }, format: "json" }),
              });
              await new Promise((r) => setTimeout(r, 40 + 160 * Math.abs(Math.sin(i / 9))));
            }
          }, { key: adminKey, ms: 6000 });
        } else {
          await page.waitForTimeout(400); // fonts and layout settle
        }
        const name = panel.split("/")[0];
        await page.screenshot({ path: join(shotDir, `${name}-${width}-${theme}.png`) });
        {
          await page.addScriptTag({ content: axeSource });
          const result = await page.evaluate(async () => {
            const r = await window.axe.run(document, { resultTypes: ["violations"] });
            return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
          });
          for (const v of result) axeResults.push({ panel, theme, width, ...v });
        }
      }
    }
  }
  // the sign-in page too
  const fresh = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  const signIn = await fresh.newPage();
  await signIn.goto(`${base}/_dashboard`);
  await signIn.screenshot({ path: join(shotDir, "sign-in-390-dark.png") });
  await signIn.addScriptTag({ content: axeSource });
  for (const v of await signIn.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })))) {
    axeResults.push({ panel: "sign-in", theme: "dark", width: 390, ...v });
  }
  await fresh.close();

  for (const v of axeResults) if (v.impact === "serious" || v.impact === "critical") fail(`axe ${v.impact} on ${v.panel} (${v.theme}, ${v.width}px): ${v.id}: ${v.help} at ${v.nodes.join(", ")}`);
  for (const u of urls) if (u.includes(adminKey)) fail(`the admin key is in a URL: ${u}`);
  for (const line of consoleLines) if (line.includes(adminKey)) fail("the admin key was written to the console");
  for (const u of urls) if (u.includes(ENV_SECRET)) fail(`an environment variable's value is in a URL: ${u}`);
  for (const line of consoleLines) if (line.includes(ENV_SECRET)) fail("an environment variable's value was written to the console");
} catch (error) {
  fail(`driver: ${error?.stack ?? error}`);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ ok: failures.length === 0, failures, checks, axe: axeResults, console: consoleLines.slice(-50) }) + "\n");
