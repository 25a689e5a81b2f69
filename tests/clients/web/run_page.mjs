// Drives the built page (dist/) in headless Debian Chromium with playwright-core.
//
//   node run_page.mjs <page url> <screenshot path> [chromium path]
//
// Prints JSON lines on stdout:
//   {"event": "ready", "count": N, "messages": [...]}   once the first useQuery result is shown
// then reads one JSON line on stdin, {"expect": "<body>", "count": M}, sent by the test after it
// committed a mutation from Python, and waits (no reload) until the page shows it:
//   {"event": "result", "ok": true|false, "failures": [...], "console": [...], "wsFrames": [...], ...}
import { chromium } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pageUrl, screenshotPath, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
if (!pageUrl || !screenshotPath) {
  console.error("usage: node run_page.mjs <page url> <screenshot path> [chromium path]");
  process.exit(2);
}

// Generous: Chromium on a loaded 2-core machine is slow to start and to render.
const READY_TIMEOUT_MS = Number(process.env.READY_TIMEOUT_MS ?? 60000);
const UPDATE_TIMEOUT_MS = Number(process.env.UPDATE_TIMEOUT_MS ?? 20000);
const STDIN_TIMEOUT_MS = Number(process.env.STDIN_TIMEOUT_MS ?? 20000);
const MAX_FRAMES = 200;

const started = Date.now();
const elapsed = () => Date.now() - started;
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const consoleLines = [];
const pageErrors = [];
const failedRequests = [];
const wsFrames = [];
const wsEvents = [];
const failures = [];

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function readCommand() {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no command on stdin within ${STDIN_TIMEOUT_MS} ms`)),
      STDIN_TIMEOUT_MS,
    );
  });
  try {
    const { value, done } = await Promise.race([stdinLines.next(), timeout]);
    if (done) throw new Error("stdin closed before a command arrived");
    return JSON.parse(value);
  } finally {
    clearTimeout(timer);
  }
}

async function shownMessages(page) {
  return page.$$eval("#messages li.message", (lis) => lis.map((li) => li.textContent));
}

let userDataDir;
let context;
let result = { event: "result", ok: false };
try {
  userDataDir = await mkdtemp(join(tmpdir(), "livebase-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 800, height: 600 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());

  page.on("console", (msg) =>
    consoleLines.push(`[${elapsed()}ms] ${msg.type()}: ${msg.text()}`),
  );
  page.on("pageerror", (err) => pageErrors.push(`[${elapsed()}ms] ${err.stack ?? err}`));
  page.on("requestfailed", (req) =>
    failedRequests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText}`),
  );
  page.on("websocket", (ws) => {
    wsEvents.push(`[${elapsed()}ms] open ${ws.url()}`);
    const record = (dir) => (data) => {
      const text = typeof data.payload === "string" ? data.payload : `<${data.payload.length} bytes>`;
      wsFrames.push({ t: elapsed(), dir, data: text.length > 600 ? text.slice(0, 600) + "…" : text });
      if (wsFrames.length > MAX_FRAMES) wsFrames.splice(0, wsFrames.length - MAX_FRAMES);
    };
    ws.on("framesent", record("sent"));
    ws.on("framereceived", record("recv"));
    ws.on("socketerror", (e) => wsEvents.push(`[${elapsed()}ms] socketerror ${e}`));
    ws.on("close", () => wsEvents.push(`[${elapsed()}ms] close ${ws.url()}`));
  });

  await page.goto(pageUrl, { waitUntil: "load" });
  await page.waitForSelector("#chat[data-state=ready]", { timeout: READY_TIMEOUT_MS });
  const loadId = await page.evaluate(() => window.__pageLoadId);
  const initial = await shownMessages(page);
  const initialCount = Number(await page.getAttribute("#count", "data-count"));
  emit({ event: "ready", t: elapsed(), count: initialCount, messages: initial });

  const command = await readCommand();
  const sentAt = Date.now();
  try {
    await page.waitForFunction(
      ({ body, count }) => {
        const lis = [...document.querySelectorAll("#messages li.message")];
        const shownCount = Number(document.querySelector("#count")?.dataset.count);
        return lis.some((li) => li.textContent === body) && shownCount === count;
      },
      { body: command.expect, count: command.count },
      { timeout: UPDATE_TIMEOUT_MS, polling: 50 },
    );
  } catch (err) {
    failures.push(
      `page did not show ${JSON.stringify(command.expect)} (count ${command.count}) within ` +
        `${UPDATE_TIMEOUT_MS} ms: ${err.message.split("\n")[0]}`,
    );
  }
  const updateMs = Date.now() - sentAt;
  const finalMessages = await shownMessages(page);
  const finalCount = Number(await page.getAttribute("#count", "data-count"));
  const sameLoad = (await page.evaluate(() => window.__pageLoadId)) === loadId;
  if (!sameLoad) failures.push("the page was reloaded (window.__pageLoadId changed)");
  const connection = await page.evaluate(() => {
    const c = window.__convexClient;
    return c && typeof c.connectionState === "function" ? c.connectionState() : null;
  });
  await page.screenshot({ path: screenshotPath, fullPage: true });
  result = {
    event: "result",
    ok: failures.length === 0,
    failures,
    updateMs,
    initialCount,
    initialMessages: initial,
    finalCount,
    finalMessages,
    sameLoad,
    connection,
    screenshot: screenshotPath,
  };
} catch (err) {
  failures.push(`driver error: ${err.stack ?? err}`);
  result = { event: "result", ok: false, failures };
} finally {
  Object.assign(result, {
    console: consoleLines,
    pageErrors,
    failedRequests,
    wsEvents,
    wsFrames,
    elapsedMs: elapsed(),
  });
  emit(result);
  try {
    if (context) await context.close();
  } catch (err) {
    console.error(`closing the browser failed: ${err}`);
  }
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  process.exit(result.ok ? 0 : 1);
}
