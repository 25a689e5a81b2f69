// Signs in to /_dashboard in headless Debian Chromium with an admin account's email and password
// (not the admin key): a plain account is refused with what to do, `livebase users grant-admin`
// lets it in (every panel, the Users panel without the grant buttons), and `livebase users
// revoke-admin` run from the CLI signs the open page out at once, with a message.
//
//   node admin_account.mjs <server url> <screenshot dir> [chromium path]
//
// From the environment: DASHBOARD_ADMIN_KEY (for the CLI only, never given to the page),
// DASHBOARD_EMAIL, DASHBOARD_PASSWORD, DASHBOARD_PYTHON (the interpreter with livebase).
// Prints one JSON line: {"ok": bool, "failures": [...], "checks": {...}, "axe": [...]}.
import { chromium } from "playwright-core";
import { readFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";

const [base, shotDir, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const { DASHBOARD_ADMIN_KEY: adminKey, DASHBOARD_EMAIL: email, DASHBOARD_PASSWORD: password, DASHBOARD_PYTHON: python } = process.env;
if (!base || !shotDir || !adminKey || !email || !password || !python) {
  console.error("usage: DASHBOARD_ADMIN_KEY=... DASHBOARD_EMAIL=... DASHBOARD_PASSWORD=... DASHBOARD_PYTHON=... node admin_account.mjs <url> <shots> [chromium]");
  process.exit(2);
}
const WAIT = Number(process.env.DASHBOARD_WAIT_MS ?? 20000);
const require = createRequire(import.meta.url);
const axeSource = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");

const failures = [];
const checks = {};
const axeResults = [];
const consoleLines = [];
const urls = [];
const fail = (what) => failures.push(what);

async function step(name, fn) {
  const started = Date.now();
  try {
    checks[name] = { ok: true, ...(await fn()), ms: Date.now() - started };
  } catch (error) {
    checks[name] = { ok: false, error: String(error?.stack ?? error), ms: Date.now() - started };
    fail(`${name}: ${error?.message ?? error}`);
  }
}

/** `livebase ARGS` against the server, the admin key in its environment. */
async function cli(...args) {
  const child = execFile(python, ["-m", "livebase", ...args, "--url", base], {
    env: { ...process.env, LIVEBASE_ADMIN_KEY: adminKey },
  });
  child.stdin.end(args.includes("--password-stdin") ? `${password}\n` : "");
  const [code, stdout] = await new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.on("close", (c) => resolve([c, out]));
  });
  if (code !== 0) throw new Error(`livebase ${args.join(" ")} exited with ${code}`);
  return stdout.trim();
}

const users = (command) => cli("users", command, email);

async function axe(page, panel, width, theme) {
  await page.addScriptTag({ content: axeSource });
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })));
  for (const v of found) axeResults.push({ panel, width, theme, ...v });
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
let token = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  const page = await context.newPage();
  page.on("console", (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => fail(`page error: ${e.message}`));
  page.on("framenavigated", (f) => { if (f === page.mainFrame()) urls.push(f.url()); });

  const submitAccount = async () => {
    await page.fill("#account-email", email);
    await page.fill("#account-password", password);
    await page.click("#sign-in-form button[type=submit]");
  };

  await step("a plain account is refused with what to do", async () => {
    await page.goto(`${base}/_dashboard`);
    await page.click('label:has(input[value="account"])');
    await page.waitForSelector("#account-email:visible", { timeout: WAIT });
    for (const [width, theme] of [[1280, "light"], [390, "dark"]]) {
      await page.setViewportSize({ width, height: width > 500 ? 800 : 844 });
      await page.emulateMedia({ colorScheme: theme });
      await page.screenshot({ path: join(shotDir, `sign-in-account-${width}-${theme}.png`) });
      await axe(page, "sign-in (account)", width, theme);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await submitAccount();
    await page.waitForSelector("#sign-in-error:not([hidden])", { timeout: WAIT });
    const refusal = await page.textContent("#sign-in-error");
    if (!refusal.includes("not an admin") || !refusal.includes("grant-admin")) throw new Error(`unclear refusal: ${refusal}`);
    if (!(await page.isHidden("#tabs"))) throw new Error("the panels opened for a plain account");
    return { refusal };
  });

  await step("an admin account signs in and uses the panels", async () => {
    const said = await users("grant-admin");
    await submitAccount();
    await page.waitForSelector("#tabs:not([hidden])", { timeout: WAIT });
    await page.waitForSelector('#conn[data-connected="true"]', { timeout: WAIT });
    token = await page.evaluate(() => sessionStorage.getItem("livebase.dashboard.adminKey"));
    if (!token?.startsWith("lb_dash_")) throw new Error("no account session was kept");
    await page.goto(`${base}/_dashboard#users`);
    const row = `#users-table tr[data-email="${email}"]`;
    await page.waitForSelector(row, { timeout: WAIT });
    const role = await page.textContent(`${row} .badge.query`);
    if (role !== "admin") throw new Error(`the Users panel shows role ${role}`);
    if (await page.$(`${row} button:text("Revoke admin")`)) throw new Error("an admin account is offered the grant buttons");
    // the runner acts as a user with the account's session where the admin key would go
    await page.goto(`${base}/_dashboard#functions/dash:whoami`);
    await page.waitForSelector("form.runner", { timeout: WAIT });
    await page.check("input[name=run-as][value=user]", { force: true });
    await page.fill("#run-subject", "alice");
    await page.click("form.runner button[type=submit]");
    await page.waitForSelector('[data-outcome="success"]', { timeout: WAIT });
    const value = await page.textContent(".run-value");
    if (!value.includes('"alice"')) throw new Error(`whoami as alice gave ${value}`);
    await page.goto(`${base}/_dashboard#schedules`);
    await page.waitForSelector("#panel h1", { timeout: WAIT });
    await axe(page, "users (as an admin account)", 1280, "light");
    return { said, value };
  });

  await step("Users and Environment panels: CLI changes appear without a reload", async () => {
    const other = `other-${Date.now()}@example.com`;
    await page.goto(`${base}/_dashboard#users`);
    await page.waitForSelector(`#users-table tr[data-email="${email}"]`, { timeout: WAIT });
    let started = Date.now();
    await cli("users", "add", other, "--password-stdin");
    await page.waitForSelector(`#users-table tr[data-email="${other}"]`, { timeout: WAIT });
    const usersMs = Date.now() - started;
    await page.goto(`${base}/_dashboard#env`);
    await page.waitForSelector("#panel h1", { timeout: WAIT });
    await page.waitForFunction(() => !document.querySelector("#panel")?.textContent.includes("Loading…"), null, { timeout: WAIT });
    const navigations = urls.length;
    started = Date.now();
    await cli("env", "set", "LIVE_FROM_CLI", "pushed");
    await page.waitForSelector('#env-table tr[data-name="LIVE_FROM_CLI"]', { timeout: WAIT });
    const envMs = Date.now() - started;
    if (urls.length !== navigations) throw new Error("the page was reloaded");
    return { usersMs, envMs };
  });

  await step("revoke-admin from the CLI signs the open page out at once", async () => {
    await page.goto(`${base}/_dashboard#data`);
    await page.waitForSelector('#conn[data-connected="true"]', { timeout: WAIT });
    const started = Date.now();
    await users("revoke-admin");
    await page.waitForSelector("#sign-in:not([hidden])", { timeout: WAIT });
    const message = await page.textContent("#sign-in-error");
    if (!message.includes("no longer an admin")) throw new Error(`unclear sign-out message: ${message}`);
    const kept = await page.evaluate(() => sessionStorage.getItem("livebase.dashboard.adminKey"));
    if (kept) throw new Error("the revoked session is still kept in the tab");
    await page.screenshot({ path: join(shotDir, "sign-in-revoked-1280-dark.png") });
    return { msAfterCli: Date.now() - started, message };
  });

  for (const v of axeResults) if (v.impact === "serious" || v.impact === "critical") fail(`axe ${v.impact} on ${v.panel} (${v.theme}, ${v.width}px): ${v.id}: ${v.help} at ${v.nodes.join(", ")}`);
  for (const secret of [token, password, adminKey].filter(Boolean)) {
    for (const u of urls) if (u.includes(secret)) fail(`a secret is in a URL: ${u.slice(0, 60)}…`);
    for (const line of consoleLines) if (line.includes(secret)) fail("a secret was written to the console");
  }
} catch (error) {
  fail(`driver: ${error?.stack ?? error}`);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ ok: failures.length === 0, failures, checks, axe: axeResults }) + "\n");
