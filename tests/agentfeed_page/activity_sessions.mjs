// The owner's activity sessions on the agentfeed page, in headless Debian Chromium
// (playwright-core): signed in, the section lists the sessions with their guessed intent, the
// low-confidence one marked "check"; Confirm and Correct change them live. Screenshots at
// 390 px and 1280 px. A visitor (own context, not signed in) does not see the section.
//
//   node activity_sessions.mjs <config.json>
//     config: {url, chromium, email, password, unclear, clear, corrected, screenshots: {390, 1280}}
// Prints one JSON line: {"ok", "failures", "cards", "flagged", "afterConfirm", "afterCorrect",
// "overflow", "visitor"}.
import { readFileSync } from "node:fs";

import { openReady, runDriver, signIn } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const card = (page, text) => page.locator(".activity-item", { hasText: text });

await runDriver(config.chromium, async ({ browser, failures, pageErrors, out }) => {
  const open = async (width, height) =>
    openReady(await browser.newContext({ viewport: { width, height } }), config.url, pageErrors);

  async function waitCard(page, text, check, what) {
    try {
      await page.waitForFunction(([t, c]) => [...document.querySelectorAll(".activity-item")]
        .some((li) => li.innerText.includes(t) && (!c || li.innerText.includes(c))),
      [text, check], { timeout: 20000, polling: 50 });
    } catch (err) {
      failures.push(`${what}: ${err.message.split("\n")[0]}`);
    }
  }

  const owner = await open(1280, 900);
  const problem = await signIn(owner, config.email, config.password);
  if (problem) failures.push(`sign in: ${problem}`);
  await owner.waitForSelector("#activity:not([hidden])", { timeout: 20000 });
  await waitCard(owner, config.unclear, "check", "the unclear session is not marked to check");
  await waitCard(owner, config.clear, null, "the clear session is not listed");
  out.cards = await owner.$$eval(".activity-item", (rows) => rows.map((li) => li.innerText));
  out.flagged = await owner.$$eval(".activity-item[data-check=true]", (rows) => rows.length);
  out.count = await owner.innerText("#activity-count");
  await owner.screenshot({ path: config.screenshots["1280"], fullPage: true });

  await card(owner, config.clear).locator("button.confirm").click();
  await waitCard(owner, config.clear, "confirmed by you", "Confirm did not take");
  out.afterConfirm = await card(owner, config.clear).innerText();

  await card(owner, config.unclear).locator("button.edit").click();
  const input = owner.locator(".activity-item form.correct input");
  const save = owner.locator(".activity-item form.correct button[type=submit]");
  await input.fill("");
  await save.click();
  out.emptyRefused = await input.evaluate((node) => !node.checkValidity());
  await input.fill(config.corrected);
  await save.click();
  await waitCard(owner, config.corrected, "confirmed by you", "Correct did not take");
  out.afterCorrect = await card(owner, config.corrected).innerText();
  out.flaggedAfter = await owner.$$eval(".activity-item[data-check=true]", (rows) => rows.length);

  await owner.setViewportSize({ width: 390, height: 844 });
  await owner.locator("#activity").scrollIntoViewIfNeeded();
  out.overflow = await owner.evaluate(() => document.documentElement.scrollWidth > innerWidth);
  await owner.screenshot({ path: config.screenshots["390"], fullPage: true });

  const visitor = await open(1280, 900);
  await visitor.waitForSelector("#activity[data-loaded]", { state: "attached", timeout: 20000 });
  out.visitor = await visitor.evaluate(() => ({
    shown: !document.querySelector("#activity").hidden,
    cards: document.querySelectorAll(".activity-item").length,
  }));
});
