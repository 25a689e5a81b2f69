// Drives auth pages (see page.jsx) in headless Debian Chromium with playwright-core (from
// tests/clients/web/node_modules).
//
//   node run_auth_page.mjs <config json>
//
// config: {"chromium": path, "pages": [{"name": "alice", "url": "...", "note": "..."}, ...],
//          "observeMs": 12000, "minRefreshes": 2, "readyMs": 60000}
//
// Prints JSON lines on stdout:
//   {"event": "ready", "pages": {name: {"me": ..., "t": ms}}}  once every page shows its user
// then, in order, each page adds its note with a mutation made in the page (window.__addNote)
// and waits until its own notes:mine subscription shows it; then it watches the pages until
// `observeMs` have passed since "ready" and every page has had `minRefreshes` proactive token
// refreshes confirmed by the server (deadline: observeMs + 40 s), and prints
//   {"event": "result", "ok": bool, "failures": [...], "pages": {name: {...}}}
// with, per page: renders since ready, token fetcher calls, sockets opened, the client's
// connectionState(), Authenticate / identity Transition / AuthError / Connect frames.
// The pages stay open until stdin ends (the test closes it, at most 30 s): the test samples
// the server's open sockets until it reads the result, and a page closing in between would
// show up as a socket lost.
import { createRequire } from "node:module";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "..", "web"), "package.json"));
const { chromium } = require("playwright-core");

const config = JSON.parse(process.argv[2] ?? "{}");
const observeMs = config.observeMs ?? 12000;
const minRefreshes = config.minRefreshes ?? 2;
const readyMs = config.readyMs ?? 60000;
const stepMs = config.stepMs ?? 20000;

const started = Date.now();
const elapsed = () => Date.now() - started;
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const stdinEnded = new Promise((done) => {
  process.stdin.on("end", done);
  process.stdin.on("error", done);
  process.stdin.resume();
});
const failures = [];

function watch(page, name, book) {
  page.on("console", (msg) => book.console.push(`[${elapsed()}ms] ${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => book.pageErrors.push(`[${elapsed()}ms] ${err.stack ?? err}`));
  page.on("websocket", (ws) => {
    book.wsEvents.push(`[${elapsed()}ms] open ${ws.url()}`);
    const record = (dir) => (data) => {
      const text = typeof data.payload === "string" ? data.payload : "";
      book.raw.push({ t: elapsed(), dir, data: text.length > 400 ? text.slice(0, 400) + "…" : text });
      if (book.raw.length > 80) book.raw.splice(0, book.raw.length - 80);
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      const t = elapsed();
      if (dir === "sent" && msg.type === "Authenticate") {
        book.authenticates.push({ t, baseVersion: msg.baseVersion, tokenType: msg.tokenType });
      } else if (dir === "sent" && msg.type === "Connect") {
        book.connects.push({ t, connectionCount: msg.connectionCount, lastCloseReason: msg.lastCloseReason });
      } else if (dir === "recv" && msg.type === "Transition") {
        const from = msg.startVersion.identity;
        const to = msg.endVersion.identity;
        if (to !== from) book.identityTransitions.push({ t, from, to });
        for (const m of msg.modifications ?? []) {
          if (m.type === "QueryFailed") book.queryFailures.push({ t, ...m });
        }
      } else if (dir === "recv" && msg.type === "AuthError") {
        book.authErrors.push({ t, ...msg });
      }
    };
    ws.on("framesent", record("sent"));
    ws.on("framereceived", record("recv"));
    ws.on("close", () => book.wsEvents.push(`[${elapsed()}ms] close ${ws.url()}`));
  });
}

const status = (page) =>
  page.$eval("#status", (el) => ({
    loading: el.dataset.loading,
    authenticated: el.dataset.authenticated,
    me: el.dataset.me ? JSON.parse(el.dataset.me) : undefined,
    notes: el.dataset.notes ? JSON.parse(el.dataset.notes) : undefined,
  }));

let userDataDir;
let context;
const pages = [];
const result = { event: "result", ok: false, failures, pages: {} };
try {
  userDataDir = await mkdtemp(join(tmpdir(), "livebase-auth-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: config.chromium ?? "/usr/bin/chromium",
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
      // Several pages at once: none of them may have its timers throttled as a background tab
      // (the token refresh is a setTimeout).
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
    ],
  });
  for (const spec of config.pages) {
    const page = await context.newPage();
    const book = {
      console: [], pageErrors: [], wsEvents: [], raw: [],
      authenticates: [], connects: [], identityTransitions: [], authErrors: [], queryFailures: [],
    };
    watch(page, spec.name, book);
    pages.push({ spec, page, book });
  }
  await Promise.all(pages.map(({ spec, page }) => page.goto(spec.url, { waitUntil: "load" })));

  // 1. Every page signed in and showing its user.
  const ready = {};
  for (const { spec, page } of pages) {
    await page.waitForFunction(
      () => {
        const el = document.querySelector("#status");
        return el && el.dataset.authenticated === "true" && el.dataset.me && el.dataset.me !== "null";
      },
      null,
      { timeout: readyMs, polling: 20 },
    );
    const s = await status(page);
    ready[spec.name] = { t: elapsed(), me: s.me, notes: s.notes };
  }
  const readyAt = elapsed();
  const readyRenders = {};
  for (const { spec, page } of pages) {
    readyRenders[spec.name] = await page.evaluate(() => window.__renders.length);
  }
  emit({ event: "ready", t: readyAt, pages: ready });

  // 2. Each page, in turn, adds a note as its user and waits for its own list to show it.
  const mutations = {};
  for (const { spec, page } of pages) {
    if (!spec.note) continue;
    const sentAt = elapsed();
    const returned = await page.evaluate((body) => window.__addNote(body), spec.note);
    await page.waitForFunction(
      (body) => {
        const raw = document.querySelector("#status")?.dataset.notes;
        return raw && JSON.parse(raw).includes(body);
      },
      spec.note,
      { timeout: stepMs, polling: 20 },
    );
    mutations[spec.name] = { returned, sentAt, shownAt: elapsed() };
  }

  // 3. Watch: at least observeMs since ready, and minRefreshes confirmed refreshes on each page.
  const deadline = readyAt + observeMs + 40000;
  const refreshed = () =>
    pages.every(({ book }) => book.identityTransitions.filter((x) => x.to >= 3).length >= minRefreshes);
  while (elapsed() < readyAt + observeMs || !refreshed()) {
    if (elapsed() > deadline) {
      failures.push(`fewer than ${minRefreshes} confirmed refreshes on some page by the deadline`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const observedMs = elapsed() - readyAt;

  for (const { spec, page, book } of pages) {
    const pageSide = await page.evaluate(
      (from) => ({
        renders: window.__renders.slice(from),
        rendersBefore: window.__renders.slice(0, from),
        tokenCalls: window.__tokenCalls,
        setAuthCalls: window.__setAuthCalls,
        authChanges: window.__authChanges,
        sockets: window.__sockets,
        connection: window.__convexClient?.connectionState?.() ?? null,
      }),
      readyRenders[spec.name],
    );
    result.pages[spec.name] = {
      ready: ready[spec.name],
      final: await status(page),
      mutation: mutations[spec.name] ?? null,
      ...pageSide,
      ...book,
    };
  }
  result.readyAt = readyAt;
  result.observedMs = observedMs;
  result.ok = failures.length === 0;
} catch (err) {
  failures.push(`driver error: ${err.stack ?? err}`);
  for (const { spec, book } of pages) {
    result.pages[spec.name] = result.pages[spec.name] ?? book;
  }
} finally {
  result.elapsedMs = elapsed();
  emit(result);
  await Promise.race([stdinEnded, new Promise((r) => setTimeout(r, 30000))]);
  try {
    if (context) await context.close();
  } catch (err) {
    console.error(`closing the browser failed: ${err}`);
  }
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  process.exit(result.ok ? 0 : 1);
}
