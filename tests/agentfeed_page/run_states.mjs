// Drives the agentfeed page in headless Debian Chromium (playwright-core) through the states a
// first visit meets, against a real server that starts empty. The owner signs in on the page
// (their own browser context, which stays signed in across opens); the visitor has a browser
// context of their own (no shared localStorage).
//
//   1. the empty feed: the public is told that nothing is public yet (never "no events yet");
//      the sign-in form (screenshots at 1400 and 390 px); the owner signs in and is told how to
//      connect Claude Code;
//   2. posts refused for their key (401) show as a notice with their count;
//   3. long unbroken prompts, errors, tool input, output, paths and URLs wrap: at each width the
//      page has no horizontal scroll and no feed row is wider than the page or clips its
//      content (a screenshot per width);
//   4. counts are pluralised ("1 prompt", "1 event");
//   5. (a) a wrong password: the form says why, no owner badge, the public role, no raw error
//      text; (b) an old owner link (/?key=…, or the key an older page kept in localStorage): a
//      notice that such links are no longer used, with a sign-in link, and the public view;
//      (c) Sign out: back to the public view, the private project's events gone from the feed,
//      and still signed out on the next open; (d) a stored session the server refuses: a
//      notice "You were signed out (<reason>)." and the public view;
//   6. the public view of a deployment whose projects are all private.
//
//   node run_states.mjs <config.json>
//   config: {base, agentfeedKey, ownerEmail, ownerPassword, chromium, shots, widths,
//            long: [payloads], onePrompt: {sessionId, payloads}, oneEvent: {payloads}, longPrompt}
// Prints one JSON line: {"ok", "failures", "steps", "layout", "signinLayout", "pageErrors", ...}.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { launchChromium, openSignInForm, roleInfo, signIn, sleep, submitSignIn, waitRole }
  from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const steps = [];
const pageErrors = [];
const consoleLines = [];
const result = { layout: {} };
const check = (ok, what) => (ok ? steps.push(what) : failures.push(what));
const pageUrl = `${config.base}/`;
const RAW = /AppError|Forbidden|invalid_grant|InvalidGrant|InvalidCredentials|\{"|Traceback \(/;

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
    failures.push(`${what}: not within ${timeout} ms (${err.message.split("\n")[0]}; ` +
      `${JSON.stringify(await roleInfo(page))})`);
    return false;
  }
}

const text = (page, selector) => page.$eval(selector, (node) => node.innerText);
const visible = (page, selector) =>
  page.$eval(selector, (node) => !node.hidden && node.getBoundingClientRect().height > 0);

/** Open `url` and wait until the feed is ready and the page takes us for `role`. */
async function open(page, url, role) {
  await page.goto(url, { waitUntil: "load" });
  await waitUntil(page, () => document.body.dataset.state === "ready", null, `${url}: ready`);
  const problem = await waitRole(page, role);
  check(problem === null, problem ?? `${url}: opened as ${role}`);
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

// The open sign-in form and the header: no sideways scroll, every field, button and line of the
// form inside the window and inside the form, none clipping its text, none on top of another.
function signInLayout() {
  const vw = window.innerWidth;
  const problems = [];
  const doc = document.documentElement.scrollWidth;
  if (doc > vw) problems.push(`document is ${doc}px wide in a ${vw}px window`);
  const form = document.querySelector("#sign-in-form");
  const box = form.getBoundingClientRect();
  if (box.left < 0 || box.right > vw) problems.push(`the form spans ${box.left}..${box.right}`);
  const parts = [...form.querySelectorAll("strong, input, button, p:not([hidden])"),
    ...document.querySelectorAll("header > *:not([hidden]), #account > *:not([hidden])")];
  const boxes = [];
  for (const node of parts) {
    const r = node.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const name = `<${node.tagName.toLowerCase()}${node.id ? `#${node.id}` : ""}${node.name ? `[${node.name}]` : ""}>`;
    if (r.left < -1 || r.right > vw + 1) problems.push(`${name} spans ${Math.round(r.left)}..${Math.round(r.right)}`);
    if (form.contains(node) && (r.left < box.left - 1 || r.right > box.right + 1)) {
      problems.push(`${name} sticks out of the form`);
    }
    if (node.tagName !== "INPUT" && node.scrollWidth > node.clientWidth + 1 &&
        getComputedStyle(node).display !== "inline") {
      problems.push(`${name} clips ${node.scrollWidth}px of text to ${node.clientWidth}px`);
    }
    if (["INPUT", "BUTTON"].includes(node.tagName) && r.width < 40) {
      problems.push(`${name} is only ${Math.round(r.width)}px wide`);
    }
    boxes.push([name, r, node]);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, ra, na] = boxes[i];
      const [b, rb, nb] = boxes[j];
      if (na.contains(nb) || nb.contains(na)) continue;
      const x = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      const y = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      if (x > 1 && y > 1) problems.push(`${a} overlaps ${b}`);
    }
  }
  return { vw, doc, problems: problems.slice(0, 20) };
}

let browser;
try {
  browser = await launchChromium(config.chromium);
  const people = [];
  for (const who of ["owner", "visitor"]) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const p = await context.newPage();
    p.on("console", (m) => consoleLines.push(`${who} ${m.type()}: ${m.text()}`));
    p.on("pageerror", (e) => pageErrors.push(`${who}: ${String(e.stack ?? e)}`));
    people.push(p);
  }
  const [page, visitor] = people;

  // 1. The empty feed, as the public, then the sign-in form, then as the owner.
  await open(visitor, pageUrl, "public");
  await waitUntil(visitor, () => document.body.dataset.empty === "true", null, "public: empty feed");
  const nothing = await visitor.$eval("body", (b) => b.innerText);
  check(nothing.includes("Nothing is public here yet"), "public: 'Nothing is public here yet'");
  check(!/no events yet/i.test(nothing), "public: never 'no events yet'");
  await waitUntil(visitor, () => document.querySelector("#charts")?.dataset.loaded === "true", null,
    "public: the 14-day charts drawn");
  check(!(await visitor.$eval("body", (b) => b.innerText)).includes("Building in the open"),
    "public: no introduction of zeros while nothing is shared");
  const before = await roleInfo(visitor);
  check(before.signIn && !before.signOut && !before.owner && !before.form,
    `public: a Sign in button, no Sign out, no owner badge, the form closed (${JSON.stringify(before)})`);

  await openSignInForm(visitor);
  for (const field of ["input[name=email]", "input[name=password]", "button[type=submit]"]) {
    check(await visible(visitor, `#sign-in-form ${field}`), `the sign-in form shows its ${field}`);
  }
  check(await visitor.$eval("#sign-in-form input[name=password]", (i) => i.type) === "password",
    "the password field hides what is typed");
  check(!(await visible(visitor, "#sign-in-form .error")), "the sign-in form opens with no error");
  result.signinLayout = {};
  for (const [width, height] of [[1400, 900], [390, 844]]) {
    await visitor.setViewportSize({ width, height });
    await sleep(100);
    const layout = await visitor.evaluate(signInLayout);
    result.signinLayout[width] = layout;
    check(layout.problems.length === 0,
      `${width}px: the sign-in form and header fit, nothing overlaps (${JSON.stringify(layout.problems)})`);
    await visitor.screenshot({ path: join(config.shots, `signin-${width}.png`) });
  }
  await visitor.setViewportSize({ width: 1400, height: 900 });
  await visitor.click("#sign-in-form .cancel");
  check(await visitor.$eval("#sign-in-form", (f) => f.hidden), "Cancel closes the sign-in form");

  await open(page, pageUrl, "public");
  const signedIn = await signIn(page, config.ownerEmail, config.ownerPassword);
  check(signedIn === null, signedIn ?? "owner: signed in on the page");
  await waitUntil(page, () => document.body.dataset.empty === "true" &&
    document.querySelector("#empty").dataset.kind === "connect", null, "owner: empty feed");
  const ownerInfo = await roleInfo(page);
  check(ownerInfo.role === "owner", "owner: the server takes the page as the owner");
  check(ownerInfo.owner, "owner: the owner badge shows");
  check(ownerInfo.who === config.ownerEmail, `owner: the header shows the email (${ownerInfo.who})`);
  check(ownerInfo.signOut && !ownerInfo.signIn && !ownerInfo.form,
    `owner: Sign out shows, Sign in and the form do not (${JSON.stringify(ownerInfo)})`);
  check(ownerInfo.stored, "owner: the session is kept for the next open");
  const connect = await text(page, "#empty");
  check(connect.includes(`agentfeed install-hook --url ${config.base}`),
    `owner: the empty feed says how to connect Claude Code (${JSON.stringify(connect)})`);
  await page.screenshot({ path: join(config.shots, "empty-owner-1400.png") });
  check((await roleInfo(visitor)).role === "public", "the visitor's page is still the public view");

  // 2. Posts with a missing or wrong key are refused, and the page says so.
  await post(config.long[0], "wrong-key", 401);
  await post(config.long[0], "another-wrong-key", 401);
  await post(config.long[0], null, 401);
  await open(page, pageUrl, "owner");
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
    await open(page, pageUrl, "owner");
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
  await open(page, `${pageUrl}#session/${encodeURIComponent(config.onePrompt.sessionId)}`, "owner");
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

  // 5a. A wrong password: the form says why; the page stays the public view.
  await open(visitor, pageUrl, "public");
  await openSignInForm(visitor);
  await submitSignIn(visitor, config.ownerEmail, `${config.ownerPassword}-wrong`);
  await waitUntil(visitor, () => {
    const error = document.querySelector("#sign-in-form .error");
    return !error.hidden && error.innerText.trim() !== "";
  }, null, "wrong password: the form shows an error");
  await sleep(500); // anything the refusal might still change
  const refused = await roleInfo(visitor);
  check(/invalid email or password/i.test(refused.error ?? ""),
    `wrong password: the error names the reason (${JSON.stringify(refused.error)})`);
  check(refused.form, "wrong password: the form stays open to try again");
  check(refused.role === "public", `wrong password: the public role (${refused.role})`);
  check(!refused.owner && refused.who === "", "wrong password: no owner badge, no email shown");
  check(!refused.stored, "wrong password: no session kept");
  const refusedPage = await visitor.$eval("body", (b) => b.innerText);
  check(!RAW.test(refusedPage), "wrong password: no raw error text on the page");
  check(refusedPage.includes("Nothing is public here yet"), "wrong password: still the public view");
  await visitor.screenshot({ path: join(config.shots, "signin-refused-1400.png") });

  // 5b. An old owner link (/?key=…), or the key an older page kept: a notice, the public view.
  await open(visitor, `${config.base}/?key=whatever`, "public");
  await waitUntil(visitor, () => !document.querySelector("#key-notice").hidden, null,
    "old owner link: a notice shows");
  const oldLink = await roleInfo(visitor);
  check(/no longer used/.test(oldLink.notice ?? "") &&
    (oldLink.notice ?? "").includes("Owner links (/?key=…) are no longer used."),
    `old owner link: the notice says such links are no longer used (${JSON.stringify(oldLink.notice)})`);
  check(oldLink.role === "public" && !oldLink.owner, "old owner link: the public role, no owner badge");
  await waitUntil(visitor, () => document.body.dataset.empty === "true", null,
    "old owner link: the public view (everything is private)");
  check(!RAW.test(await visitor.$eval("body", (b) => b.innerText)), "old owner link: no raw error text");
  await visitor.screenshot({ path: join(config.shots, "old-key-link-1400.png") });
  await open(visitor, pageUrl, "public");
  check((await roleInfo(visitor)).notice === null, "old owner link: not remembered by the next open");
  await visitor.evaluate(() => localStorage.setItem("agentfeed.ownerKey", "an-old-owner-key"));
  await open(visitor, pageUrl, "public");
  await waitUntil(visitor, () => /no longer used/.test(document.querySelector("#key-notice").innerText) &&
    !document.querySelector("#key-notice").hidden, null, "an owner key kept by an older page: the notice");
  check(await visitor.evaluate(() => localStorage.getItem("agentfeed.ownerKey")) === null,
    "the old stored owner key is forgotten");
  await visitor.click("#key-notice a");
  check(await visible(visitor, "#sign-in-form"), "the notice's sign-in link opens the sign-in form");

  // 5c. Sign out: the public view again, the private events gone, and signed out next time.
  await open(page, pageUrl, "owner");
  await waitUntil(page, (n) => document.querySelectorAll("#feed > li").length >= n, total,
    "owner: the private events before signing out");
  const privateIds = await page.$$eval("#feed > li", (lis) => lis.map((li) => li.dataset.eventId));
  await page.click("#sign-out");
  const out = await waitRole(page, "public");
  check(out === null, out ?? "sign out: the public role");
  await waitUntil(page, () => document.querySelectorAll("#feed > li").length === 0 &&
    document.body.dataset.empty === "true", null, "sign out: the private project's events are gone");
  const signedOut = await roleInfo(page);
  check(!signedOut.owner && signedOut.who === "", `sign out: no owner badge, no email (${JSON.stringify(signedOut)})`);
  check(signedOut.signIn && !signedOut.signOut, "sign out: Sign in shows again, Sign out does not");
  check(!signedOut.stored, "sign out: the stored session is gone");
  check(signedOut.notice === null, "sign out: no 'signed out' complaint for a sign-out asked for");
  const outIds = new Set(await page.$$eval("li[data-event-id]", (lis) => lis.map((li) => li.dataset.eventId)));
  check(privateIds.length > 0 && privateIds.every((id) => !outIds.has(id)),
    "sign out: none of the private events is left on the page");
  check((await page.$eval("body", (b) => b.innerText)).includes("Nothing is public here yet"),
    "sign out: the page says nothing is public");
  await page.screenshot({ path: join(config.shots, "signed-out-1400.png") });

  // 5d. A stored session the server refuses (its refresh token ended): signed out, told why.
  await visitor.evaluate((email) => localStorage.setItem("agentfeed.session",
    JSON.stringify({ refreshToken: "not-a-refresh-token", email })), config.ownerEmail);
  await visitor.goto(pageUrl, { waitUntil: "load" });
  await waitUntil(visitor, () => /You were signed out \(.+\)\./.test(document.querySelector("#key-notice").innerText) &&
    !document.querySelector("#key-notice").hidden, null, "a refused session: 'You were signed out (<reason>).'");
  const ended = await roleInfo(visitor);
  check(ended.role === "public" && !ended.owner && !ended.stored,
    `a refused session: the public view, the session forgotten (${JSON.stringify(ended)})`);
  check(!RAW.test(await visitor.$eval("body", (b) => b.innerText)), "a refused session: no raw error text");
  await visitor.screenshot({ path: join(config.shots, "session-ended-1400.png") });

  // 6. The public view when every project is private (the owner's browser, signed out, reopened).
  await open(page, pageUrl, "public");
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
  await browser?.close();
}
check(pageErrors.length === 0, `no page errors (${JSON.stringify(pageErrors)})`);
console.log(JSON.stringify({ ok: failures.length === 0, failures, steps, pageErrors,
  console: consoleLines.slice(-30), ...result }));
