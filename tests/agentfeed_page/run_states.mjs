// Drives the agentfeed page in headless Debian Chromium (playwright-core) through the states a
// first visit meets, against a real server that starts empty:
//
//   1. the empty feed: the owner is told how to connect Claude Code; the public that nothing is
//      public yet (never "no events yet");
//   2. posts refused for their key (401) show as a notice with their count;
//   3. long unbroken prompts, errors, tool input, output, paths and URLs wrap: at each width the
//      page has no horizontal scroll and no feed row is wider than the page or clips its
//      content (a screenshot per width);
//   4. counts are pluralised ("1 prompt", "1 event");
//   5. a wrong owner key: a notice saying so, no owner badge, no raw error text;
//   6. the public view of a deployment whose projects are all private.
//
//   node run_states.mjs <config.json>
//   config: {base, agentfeedKey, ownerKey, chromium, shots, widths, long: [payloads],
//            onePrompt: {sessionId, payloads}, oneEvent: {payloads}, longPrompt}
// Prints one JSON line: {"ok", "failures", "steps", "layout", "pageErrors", ...}.
import { createRequire } from "node:module";
import { mkdtemp } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const { chromium } = createRequire(`${here}../clients/web/package.json`)("playwright-core");
const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const steps = [];
const pageErrors = [];
const consoleLines = [];
const result = { layout: {} };
const check = (ok, what) => (ok ? steps.push(what) : failures.push(what));
const ownerUrl = `${config.base}/?key=${encodeURIComponent(config.ownerKey)}`;
const publicUrl = `${config.base}/?key=`;

async function post(payload, key, expectStatus) {
  const headers = { "content-type": "application/json" };
  if (key !== null) headers["x-agentfeed-key"] = key;
  const response = await fetch(`${config.base}/event`, {
    method: "POST", headers, body: JSON.stringify(payload),
  });
  check(response.status === expectStatus, `POST /event answered ${response.status}, expected ${expectStatus}`);
}

async function waitUntil(page, fn, arg, what, timeout = 15000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
    steps.push(what);
    return true;
  } catch (err) {
    failures.push(`${what}: not within ${timeout} ms (${err.message.split("\n")[0]})`);
    return false;
  }
}

const text = (page, selector) => page.$eval(selector, (node) => node.innerText);
const visible = (page, selector) =>
  page.$eval(selector, (node) => !node.hidden && node.getBoundingClientRect().height > 0);

async function open(page, url) {
  await page.goto(url, { waitUntil: "load" });
  await waitUntil(page, () => document.body.dataset.state === "ready" && document.body.dataset.role,
    null, `${url}: ready`);
}

// Every measurement that says the page overflows sideways or a feed row is cut.
function layoutProblems() {
  const vw = window.innerWidth;
  const problems = [];
  const doc = document.documentElement.scrollWidth;
  if (doc > vw) problems.push(`document is ${doc}px wide in a ${vw}px window`);
  for (const details of document.querySelectorAll("#feed details")) details.open = true;
  const rows = [...document.querySelectorAll("#feed > li")];
  for (const li of rows) {
    const box = li.getBoundingClientRect();
    const name = `row ${li.dataset.type} ${li.dataset.eventId.slice(0, 8)}`;
    if (box.left < 0 || box.right > vw) problems.push(`${name}: spans ${box.left}..${box.right}`);
    if (li.scrollWidth > li.clientWidth + 1) {
      problems.push(`${name}: content ${li.scrollWidth}px wide in ${li.clientWidth}px`);
    }
    for (const node of li.querySelectorAll("*")) {
      const style = getComputedStyle(node);
      if (style.display === "none") continue;
      const r = node.getBoundingClientRect();
      if (r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1)) {
        problems.push(`${name}: <${node.tagName.toLowerCase()}.${node.className}> spans ` +
          `${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(box.left)}..${Math.round(box.right)}`);
      }
      if (style.display !== "inline" && node.scrollWidth > node.clientWidth + 1) {
        problems.push(`${name}: <${node.tagName.toLowerCase()}.${node.className}> clips ` +
          `${node.scrollWidth}px of content to ${node.clientWidth}px`);
      }
    }
  }
  return { vw, doc, rows: rows.length, problems: problems.slice(0, 20) };
}

let context;
try {
  const userDataDir = await mkdtemp(join(tmpdir(), "agentfeed-states-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: config.chromium,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));

  // 1. The empty feed, as the owner and as the public.
  await open(page, ownerUrl);
  await waitUntil(page, () => document.body.dataset.empty === "true", null, "owner: empty feed");
  check(await page.$eval("body", (b) => b.dataset.role) === "owner", "owner: the key is accepted");
  check(await visible(page, "#owner"), "owner: the owner badge shows");
  const connect = await text(page, "#empty");
  check(connect.includes(`agentfeed install-hook --url ${config.base}`),
    `owner: the empty feed says how to connect Claude Code (${JSON.stringify(connect)})`);
  await page.screenshot({ path: join(config.shots, "empty-owner-1400.png") });

  await open(page, publicUrl);
  await waitUntil(page, () => document.body.dataset.empty === "true", null, "public: empty feed");
  const nothing = await page.$eval("body", (b) => b.innerText);
  check(nothing.includes("Nothing is public here yet"), "public: 'Nothing is public here yet'");
  check(!/no events yet/i.test(nothing), "public: never 'no events yet'");

  // 2. Posts with a missing or wrong key are refused, and the page says so.
  await post(config.long[0], "wrong-key", 401);
  await post(config.long[0], "another-wrong-key", 401);
  await post(config.long[0], null, 401);
  await open(page, ownerUrl);
  await waitUntil(page, () => !document.querySelector("#delivery-notice").hidden &&
    /3 posts/.test(document.querySelector("#delivery-notice").innerText),
    null, "owner: the refused posts show (3 posts)");
  const refusedText = await text(page, "#delivery-notice");
  check(/refused \(401\)/.test(refusedText) && refusedText.includes("install-hook"),
    `owner: the notice says why and what to do (${JSON.stringify(refusedText)})`);
  await page.screenshot({ path: join(config.shots, "refused-owner-1400.png") });

  // 3. Long content wraps at every width.
  for (const payload of [...config.long, ...config.onePrompt.payloads, ...config.oneEvent.payloads]) {
    await post(payload, config.agentfeedKey, 200);
  }
  const total = config.long.length + config.onePrompt.payloads.length + config.oneEvent.payloads.length;
  for (const width of config.widths) {
    await page.setViewportSize({ width, height: 900 });
    await open(page, ownerUrl);
    await waitUntil(page, (n) => document.querySelectorAll("#feed > li").length >= n, total,
      `${width}px: all ${total} rows`);
    await waitUntil(page, (prompt) => document.body.innerText.includes(prompt.slice(0, 200)),
      config.longPrompt, `${width}px: the long prompt is shown`);
    const layout = await page.evaluate(layoutProblems);
    result.layout[width] = layout;
    check(layout.problems.length === 0,
      `${width}px: no horizontal overflow, no row cut (${JSON.stringify(layout.problems)})`);
    await page.screenshot({ path: join(config.shots, `feed-owner-${width}.png`), fullPage: true });
  }

  // 4. Counts in the singular.
  await page.setViewportSize({ width: 1400, height: 900 });
  await open(page, `${ownerUrl}#session/${encodeURIComponent(config.onePrompt.sessionId)}`);
  await waitUntil(page, () => /prompt/.test(document.querySelector("#session-head")?.innerText ?? ""),
    null, "the session view's header");
  const head = await text(page, "#session-head");
  check(/\b1 prompt\b/.test(head) && /\b1 tool call\b/.test(head) && /\b4 events\b/.test(head),
    `session header: "4 events · 1 prompt · 1 tool call" (${JSON.stringify(head)})`);
  const everything = await page.$eval("body", (b) => b.innerText);
  const wrong = everything.match(/\b1 (events|prompts|tool calls|posts|bodies)\b/g);
  check(wrong === null, `no "1 <plural>" anywhere (${JSON.stringify(wrong)})`);
  check(/\b1 event\b/.test(everything), `"1 event" for the one-event session and project`);
  await page.screenshot({ path: join(config.shots, "session-1400.png") });

  // 5. A wrong owner key.
  await open(page, `${config.base}/?key=not-the-owner-key`);
  await waitUntil(page, () => document.body.dataset.role === "wrong-key", null,
    "wrong key: the page knows");
  check(!(await visible(page, "#owner")), "wrong key: no owner badge");
  const keyNotice = await text(page, "#key-notice");
  check(/wrong owner key/i.test(keyNotice) && keyNotice.includes("forget this key"),
    `wrong key: a notice says so and what to do (${JSON.stringify(keyNotice)})`);
  await waitUntil(page, () => document.body.dataset.empty === "true", null,
    "wrong key: the public view (everything is private)");
  const wrongText = await page.$eval("body", (b) => b.innerText);
  check(!/AppError|Forbidden|\{"/.test(wrongText), "wrong key: no raw error text on the page");
  await page.screenshot({ path: join(config.shots, "wrong-key-1400.png") });

  // 6. The public view when every project is private.
  await open(page, publicUrl);
  await waitUntil(page, () => document.body.dataset.empty === "true", null,
    "public: nothing shown (every project is private)");
  const publicText = await page.$eval("body", (b) => b.innerText);
  check(publicText.includes("Nothing is public here yet — the owner has not shared any project"),
    "public: says that nothing is shared");
  check(!/no events yet/i.test(publicText), "public: not 'no events yet'");
  check(await page.$eval("body", (b) => b.dataset.role) === "public", "public: the public role");
  check(!(await visible(page, "#owner")), "public: no owner badge");
  await page.screenshot({ path: join(config.shots, "public-all-private-1400.png") });
} catch (err) {
  failures.push(`driver error: ${err.stack ?? err}`);
} finally {
  await context?.close();
}
check(pageErrors.length === 0, `no page errors (${JSON.stringify(pageErrors)})`);
console.log(JSON.stringify({ ok: failures.length === 0, failures, steps, pageErrors,
  console: consoleLines.slice(-30), ...result }));
