// Opens one agentfeed page URL in headless Debian Chromium (playwright-core) and waits until a
// feed row shows the given text; takes a screenshot.
//
//   node see_event.mjs <config.json>      config: {url, chromium, text, screenshot}
// Prints one JSON line: {"ok", "failures", "role", "owner", "pageErrors"}.
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
const pageErrors = [];
const out = {};
let context;
try {
  const userDataDir = await mkdtemp(join(tmpdir(), "agentfeed-see-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: config.chromium,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));
  await page.goto(config.url, { waitUntil: "load" });
  try {
    await page.waitForFunction((text) => [...document.querySelectorAll("#feed > li")]
      .some((li) => li.innerText.includes(text)), config.text, { timeout: 20000, polling: 50 });
  } catch (err) {
    failures.push(`no feed row shows ${JSON.stringify(config.text)}: ${err.message.split("\n")[0]}`);
  }
  out.role = await page.$eval("body", (b) => b.dataset.role ?? null);
  out.owner = await page.$eval("#owner", (n) => !n.hidden);
  await page.screenshot({ path: config.screenshot });
} catch (err) {
  failures.push(`driver error: ${err.stack ?? err}`);
} finally {
  await context?.close();
}
if (pageErrors.length) failures.push(`page errors: ${JSON.stringify(pageErrors)}`);
console.log(JSON.stringify({ ok: failures.length === 0, failures, pageErrors, ...out }));
