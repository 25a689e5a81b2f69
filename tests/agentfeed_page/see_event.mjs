// Opens the agentfeed page in headless Debian Chromium (playwright-core), signs in as the owner
// with the page's form when an email is given, and waits until a feed row shows the given text;
// takes a screenshot; then reloads the page and checks it is still signed in and shows the row.
//
//   node see_event.mjs <config.json>      config: {url, chromium, text, screenshot, email?, password?}
// Prints one JSON line: {"ok", "failures", "role", "owner", "who", "reloadedRole", "pageErrors"}.
import { readFileSync } from "node:fs";

import { drive, roleInfo, signIn, waitRole } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));

async function seeRow(failures, page, what) {
  try {
    await page.waitForFunction((text) => [...document.querySelectorAll("#feed > li")]
      .some((li) => li.innerText.includes(text)), config.text, { timeout: 20000, polling: 50 });
  } catch (err) {
    failures.push(`${what}: no feed row shows ${JSON.stringify(config.text)}: ` +
      `${err.message.split("\n")[0]} (${JSON.stringify(await roleInfo(page))})`);
  }
}

await drive(config.chromium, async ({ browser, failures, out, watch }) => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = watch(await context.newPage());
  await page.goto(config.url, { waitUntil: "load" });
  await page.waitForSelector("body[data-state=ready]", { timeout: 20000 });
  if (config.email) {
    const problem = await signIn(page, config.email, config.password);
    if (problem) failures.push(`sign in: ${problem}`);
  }
  await seeRow(failures, page, "opened");
  const info = await roleInfo(page);
  Object.assign(out, { role: info.role, owner: info.owner, who: info.who });
  await page.screenshot({ path: config.screenshot });
  await page.reload({ waitUntil: "load" });
  if (config.email) {
    const problem = await waitRole(page, "owner");
    if (problem) failures.push(`after a reload: ${problem}`);
  }
  await seeRow(failures, page, "after a reload");
  out.reloadedRole = (await roleInfo(page)).role;
});
