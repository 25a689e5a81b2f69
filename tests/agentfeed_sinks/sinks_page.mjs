// The forwarding panel on the agentfeed page, in headless Debian Chromium (playwright-core):
// the signed-in owner sees each sink's state and its dead letters, replays them with the
// button and sets a project's forwarding level; the panel is checked at 1280 px and 390 px
// (screenshots); a visitor (own browser context) sees none of it.
//
//   node sinks_page.mjs <config.json>
//     config: {url, chromium, email, password, project, screenshots: {wide, phone}}
// Prints one JSON line: {"ok", "failures", "summary", "after", "visitor", "overflow"}.
import { readFileSync } from "node:fs";

import { launchChromium, signIn } from "../agentfeed_page/browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const pageErrors = [];
const out = {};

async function open(context) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));
  await page.goto(config.url, { waitUntil: "load" });
  await page.waitForSelector("body[data-state=ready]", { timeout: 20000 });
  return page;
}

async function ownerPage(browser, viewport) {
  const page = await open(await browser.newContext({ viewport }));
  const problem = await signIn(page, config.email, config.password);
  if (problem) failures.push(`sign in: ${problem}`);
  await page.waitForSelector("#sinks:not([hidden])", { timeout: 20000 });
  await page.click("#sinks-summary");
  return page;
}

const overflows = (page) => page.evaluate(() =>
  document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);

let browser;
try {
  browser = await launchChromium(config.chromium);
  const owner = await ownerPage(browser, { width: 1280, height: 900 });
  await owner.waitForFunction(() => document.querySelector("#sinks-summary")
    ?.textContent.includes("dead letter"), null, { timeout: 20000, polling: 50 });
  out.summary = await owner.innerText("#sinks-summary");
  out.panel = await owner.innerText("#sinks");
  await owner.locator("#sinks").screenshot({ path: config.screenshots.wide });
  out.overflow = { wide: await overflows(owner) };
  await owner.click("#sinks button.replay");
  try {
    await owner.waitForFunction(() => !document.querySelector("#sinks-summary")
      ?.textContent.includes("dead letter"), null, { timeout: 30000, polling: 50 });
  } catch {
    failures.push(`the dead letter stayed after Replay: ${await owner.innerText("#sinks-summary")}`);
  }
  out.after = await owner.innerText("#sinks-summary");
  const select = owner.locator("#sinks .forwarding select").first();
  await select.selectOption("off");
  await owner.waitForFunction(() => [...document.querySelectorAll("#sinks .forwarding .meta")]
    .every((n) => n.textContent === ""), null, { timeout: 10000, polling: 50 });
  const phone = await ownerPage(browser, { width: 390, height: 844 });
  await phone.locator("#sinks").screenshot({ path: config.screenshots.phone });
  out.overflow.phone = await overflows(phone);
  const visitor = await open(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await visitor.waitForTimeout(1000); // the status query has answered null by now, or never will
  out.visitor = await visitor.evaluate(() => {
    const node = document.querySelector("#sinks");
    return { shown: Boolean(node && !node.hidden), text: document.body.innerText };
  });
} catch (err) {
  failures.push(String(err.stack ?? err));
} finally {
  await browser?.close();
}
failures.push(...pageErrors.map((e) => `page error: ${e}`));
console.log(JSON.stringify({ ok: failures.length === 0, failures, ...out }));
