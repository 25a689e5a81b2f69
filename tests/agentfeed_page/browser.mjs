// What the Chromium drivers of these tests share: Debian Chromium started through playwright-core
// (from tests/clients/web/node_modules), a browser context per person (each has its own
// localStorage, so a visitor never shares the owner's session), and the owner's sign-in on the
// page (the header's Sign in button, the form, then body[data-role=owner] once the server says
// so).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const { chromium } = createRequire(`${here}../clients/web/package.json`)("playwright-core");

const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Headless Chromium at `executablePath`; `browser.newContext()` gives each person their own
 * storage. */
export function launchChromium(executablePath) {
  return chromium.launch({ executablePath, headless: true, args: ARGS });
}

/** What the page shows about who it takes us for (for checks and for failure messages). */
export function roleInfo(page) {
  return page.evaluate(() => {
    const shown = (selector) => {
      const node = document.querySelector(selector);
      return Boolean(node && !node.hidden && node.getBoundingClientRect().height > 0);
    };
    return {
      role: document.body.dataset.role ?? null,
      owner: shown("#owner"),
      who: document.querySelector("#who")?.innerText ?? null,
      signIn: shown("#sign-in"),
      signOut: shown("#sign-out"),
      form: shown("#sign-in-form"),
      error: shown("#sign-in-form .error") ? document.querySelector("#sign-in-form .error").innerText : null,
      notice: shown("#key-notice") ? document.querySelector("#key-notice").innerText : null,
      stored: localStorage.getItem("agentfeed.session") !== null,
    };
  }).catch((err) => ({ error: `cannot read the page: ${err.message.split("\n")[0]}` }));
}

/** Poll until `document.body.dataset.role === role`, at most `timeout` ms: null when it is,
 * else why not (what the page showed last). */
export async function waitRole(page, role, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let info = null;
  for (;;) {
    info = await roleInfo(page);
    if (info.role === role) return null;
    if (Date.now() > deadline) break;
    await sleep(50);
  }
  return `role ${JSON.stringify(role)} not within ${timeout} ms: ${JSON.stringify(info)}`;
}

/** Open the sign-in form from the header's Sign in button (waits for the button and the form). */
export async function openSignInForm(page, timeout = 10000) {
  await page.waitForSelector("#sign-in", { state: "visible", timeout });
  await page.click("#sign-in");
  await page.waitForSelector("#sign-in-form", { state: "visible", timeout });
}

/** Fill the open sign-in form and submit it. */
export async function submitSignIn(page, email, password) {
  await page.fill("#sign-in-form input[name=email]", email);
  await page.fill("#sign-in-form input[name=password]", password);
  await page.click("#sign-in-form button[type=submit]");
}

/** Sign in as the owner on the open page: null once the page shows the owner view (the server
 * confirmed), else why not. */
export async function signIn(page, email, password, timeout = 20000) {
  try {
    await openSignInForm(page);
    await submitSignIn(page, email, password);
  } catch (err) {
    return `sign-in form: ${err.message.split("\n")[0]} (${JSON.stringify(await roleInfo(page))})`;
  }
  return waitRole(page, "owner", timeout);
}

/** A new page of `context` at `url` once the feed page is ready; uncaught page errors go to
 * `pageErrors`. */
export async function openReady(context, url, pageErrors) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("body[data-state=ready]", { timeout: 20000 });
  return page;
}

/** Run `drive({browser, failures, pageErrors, out})` in headless Chromium, then print the one
 * JSON line the Python test reads: {ok, failures, pageErrors, ...out}. */
export async function runDriver(executablePath, drive) {
  const run = { failures: [], pageErrors: [], out: {} };
  let browser;
  try {
    browser = await launchChromium(executablePath);
    await drive({ browser, ...run });
  } catch (err) {
    run.failures.push(`driver error: ${err.stack ?? err}`);
  } finally {
    await browser?.close();
  }
  const { failures, pageErrors, out } = run;
  if (pageErrors.length) failures.push(`page errors: ${JSON.stringify(pageErrors)}`);
  console.log(JSON.stringify({ ok: failures.length === 0, failures, pageErrors, ...out }));
}

/** Run a driver: `body({ browser, failures, pageErrors, out, watch })` with headless Chromium at
 * `executablePath` (`watch(page)` records the page's uncaught errors), then close the browser and
 * print the one JSON result line the Python side reads: `{ok, failures, pageErrors, ...out}`. */
export async function drive(executablePath, body) {
  const failures = [];
  const pageErrors = [];
  const out = {};
  const watch = (page) => {
    page.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));
    return page;
  };
  let browser;
  try {
    browser = await launchChromium(executablePath);
    await body({ browser, failures, pageErrors, out, watch });
  } catch (err) {
    failures.push(`driver error: ${err.stack ?? err}`);
  } finally {
    await browser?.close();
  }
  if (pageErrors.length) failures.push(`page errors: ${JSON.stringify(pageErrors)}`);
  console.log(JSON.stringify({ ok: failures.length === 0, failures, pageErrors, ...out }));
}
