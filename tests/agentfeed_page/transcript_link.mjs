// The owner's transcript link in a session's view, in headless Debian Chromium (playwright-core):
// signed in, the session header shows "transcript (<size>)" and the link downloads the file as
// uploaded; signed out (the public view of the same session), there is no link.
//
//   node transcript_link.mjs <config.json>
//   config: {url, chromium, session, email, password, expectedBytes}
// Prints one JSON line: {"ok", "failures", "pageErrors", "text", "downloaded"}.
import { readFileSync } from "node:fs";

import { drive, signIn } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const sessionUrl = `${config.url}/#session/${encodeURIComponent(config.session)}`;

await drive(config.chromium, async ({ browser, failures, out, watch }) => {
  const visitor = watch(await (await browser.newContext()).newPage());
  await visitor.goto(sessionUrl, { waitUntil: "load" });
  await visitor.waitForSelector("#session-head h2", { timeout: 20000 });
  if (await visitor.$("a.transcript")) failures.push("the public view shows a transcript link");

  const page = watch(await (await browser.newContext()).newPage());
  await page.goto(config.url, { waitUntil: "load" });
  const problem = await signIn(page, config.email, config.password);
  if (problem) failures.push(`sign in: ${problem}`);
  await page.goto(sessionUrl, { waitUntil: "load" });
  try {
    await page.waitForSelector("a.transcript", { timeout: 20000 });
    out.text = await page.innerText("a.transcript");
    const href = await page.getAttribute("a.transcript", "href");
    const response = await fetch(href);
    out.downloaded = (await response.arrayBuffer()).byteLength;
    if (out.downloaded !== config.expectedBytes) failures.push(`downloaded ${out.downloaded} bytes`);
  } catch (err) {
    failures.push(`no transcript link for the owner: ${err.message.split("\n")[0]}`);
  }
});
