// The owner's rejected posts on the agentfeed page, in headless Debian Chromium (playwright-core):
// signed in, the page shows the count and the kinds of reason, each rejected body's reason and
// payload; "Re-ingest" on one whose cause was fixed lands it in the feed. A visitor (own browser
// context, not signed in) sees none of it.
//
//   node rejected_page.mjs <config.json>
//     config: {url, chromium, email, password, reason, payloadText, retryText, screenshot}
// Prints one JSON line: {"ok", "failures", "summary", "rows", "visitor"}.
import { readFileSync } from "node:fs";

import { drive, signIn } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const VIEWPORT = { viewport: { width: 1400, height: 900 } };

async function open(page) {
  await page.goto(config.url, { waitUntil: "load" });
  await page.waitForSelector("body[data-state=ready]", { timeout: 20000 });
  return page;
}

await drive(config.chromium, async ({ browser, failures, out, watch }) => {
  const owner = await open(watch(await (await browser.newContext(VIEWPORT)).newPage()));
  const problem = await signIn(owner, config.email, config.password);
  if (problem) failures.push(`sign in: ${problem}`);
  await owner.waitForSelector("#rejected:not([hidden])", { timeout: 20000 });
  out.summary = await owner.innerText("#rejected-summary");
  await owner.click("#rejected-summary"); // open the details
  for (const text of [config.reason, config.payloadText, config.retryText]) {
    try {
      await owner.waitForFunction((t) => [...document.querySelectorAll(".rejected-row")]
        .some((li) => li.textContent.includes(t)), text, { timeout: 10000, polling: 50 });
    } catch (err) {
      failures.push(`no rejected row shows ${JSON.stringify(text)}`);
    }
  }
  out.rows = await owner.$$eval(".rejected-row", (rows) => rows.length);
  await owner.screenshot({ path: config.screenshot });
  // re-ingest the row whose body is now usable: it leaves the list and shows in the feed
  const row = owner.locator(".rejected-row", { hasText: config.retryText });
  await row.locator("button.retry").click();
  try {
    await owner.waitForFunction((text) => [...document.querySelectorAll("#feed > li")]
      .some((li) => li.innerText.includes(text)), config.retryText, { timeout: 20000, polling: 50 });
  } catch (err) {
    failures.push(`the re-ingested event is not in the feed: ${err.message.split("\n")[0]}`);
  }
  try {
    await owner.waitForFunction((text) => ![...document.querySelectorAll(".rejected-row")]
      .some((li) => li.textContent.includes(text)), config.retryText, { timeout: 20000, polling: 50 });
  } catch (err) {
    failures.push("the re-ingested body is still listed as rejected");
  }
  out.rowsAfter = await owner.$$eval(".rejected-row", (rows) => rows.length);

  const visitor = await open(watch(await (await browser.newContext(VIEWPORT)).newPage()));
  await visitor.waitForTimeout(0);
  out.visitor = await visitor.evaluate(() => ({
    shown: !document.querySelector("#rejected").hidden,
    text: document.querySelector("#rejected").textContent,
  }));
});
