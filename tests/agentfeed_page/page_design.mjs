// Drives the redesigned agentfeed page in headless Debian Chromium (playwright-core) for
// test_page_design.py: readable tool calls, the prompt once, day separators, session cards with
// stored cost and the live current tool, charts, the theme toggle, the replay; then the owner and
// public views in both themes at every width: no sideways overflow, axe-core's serious and
// critical violations, a screenshot each.
//
//   node page_design.mjs <config.json>
// Prints one JSON line: {"ok", "failures", "steps", "axe", "pageErrors", ...}.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

import { drive, signIn, waitRole } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const require = createRequire(new URL("../clients/web/package.json", import.meta.url));
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const HEIGHTS = { 360: 780, 768: 1024, 1280: 900, 1920: 1080 };

const row = (id) => `#feed > li[data-event-id="${id}"]`;

await drive(config.chromium, async ({ browser, failures, out, watch }) => {
  const steps = (out.steps = []);
  out.axe = [];
  const check = (ok, what) => (ok ? steps.push(what) : failures.push(what));
  const waitFor = async (page, fn, arg, what, timeout = 15000) => {
    try {
      await page.waitForFunction(fn, arg, { timeout, polling: 50 });
      return true;
    } catch (err) {
      failures.push(`${what}: not within ${timeout} ms (${err.message.split("\n")[0]})`);
      return false;
    }
  };
  // axe-core on the page as it is: no serious or critical violation
  const axe = async (p, view, theme, width) => {
    await p.addScriptTag({ content: axeSource });
    const found = await p.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] }))
      .violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })));
    for (const v of found) {
      out.axe.push({ view, theme, width, ...v });
      check(v.impact !== "serious" && v.impact !== "critical",
        `axe ${v.impact} (${view}, ${theme}, ${width}px): ${v.id}: ${v.help} at ${v.nodes.join(", ")}`);
    }
  };
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: "UTC",
    colorScheme: "light" });
  const page = watch(await context.newPage());
  await page.goto(config.base, { waitUntil: "load" });
  await page.waitForSelector("body[data-state=ready]", { timeout: 20000 });
  const signedIn = await signIn(page, config.ownerEmail, config.ownerPassword);
  check(signedIn === null, signedIn ?? "signed in as the owner");
  await page.waitForSelector(row(config.bash), { timeout: 20000 });

  // 1. Tool calls as a person reads them; the prompt once; never a raw one-line JSON string.
  const text = (selector) => page.$eval(selector, (node) => node.innerText).catch(() => null);
  check((await text(`${row(config.bash)} .call pre.command`))?.includes(config.command),
    "the Bash call shows its command");
  const readText = await text(`${row(config.read)} .call .path`);
  check(readText === config.readPath, `the Read call shows its file path (${JSON.stringify(readText)})`);
  check((await text(`${row(config.edit)} .call .path`)) === config.editPath, "the Edit call shows its file path");
  const stat = await text(`${row(config.edit)} .diff .stat`);
  check(stat === "+3 −1 lines", `the Edit shows its diff summary (${JSON.stringify(stat)})`);
  const diff = await text(`${row(config.edit)} .diff-lines`);
  check(/\+ +for delay in backoff\(5\):/.test(diff ?? "") && /− +return post\(data\)/.test(diff ?? ""),
    `the Edit shows its first changed lines (${JSON.stringify(diff)})`);
  const result = `${row(config.bashResult)} pre.result`;
  const firstLines = await text(result);
  check(firstLines === config.resultLines.slice(0, 4).join("\n"),
    `the result shows its first 4 lines (${JSON.stringify(firstLines)})`);
  await page.click(`${row(config.bashResult)} button.more`);
  check((await text(result)) === config.resultLines.join("\n"), "show more shows the whole result");
  const promptRow = await text(row(config.promptEvent));
  check(promptRow?.split(config.prompt).length === 2, `the prompt shows once (${JSON.stringify(promptRow)})`);
  const feedText = await text("#feed");
  check(!/\{"(command|file_path|stdout)":/.test(feedText), "no raw JSON string in the feed");

  // 1b. Tool input and output are stored cut at 2,000 characters: a cut one still reads well.
  const cut = await page.evaluate(async () => {
    const tools = await import("/static/tools.js");
    return {
      stdout: tools.resultText('{"stdout":"a\\nb\\nc…[+900 chars]'),
      command: tools.parseLoose('{"command":"make deploy && echo do…[+12 chars]').command,
      read: tools.resultText('{"type":"text","file":{"filePath":"/a.py","content":"x = 1\\ny = 2…[+5 chars]'),
      silent: tools.resultText('{"stdout":"","stderr":"","interrupted":false}'),
      multi: tools.diffSummary([{ old_string: "a\nb", new_string: "a\nc" }, { old_string: "", new_string: "d\ne" }]),
    };
  });
  out.cut = cut;
  check(cut.stdout === "a\nb\nc…" && cut.command === "make deploy && echo do…" && cut.read === "x = 1\ny = 2…",
    `cut JSON is read field by field (${JSON.stringify(cut)})`);
  check(cut.silent === "", "a Bash call that printed nothing shows no result");
  check(cut.multi.added.join() === "c,d,e" && cut.multi.removed.join() === "b", "MultiEdit's edits are added up");

  // 2. Day separators: "Today" on the newest row, "Yesterday" on yesterday's newest, none between.
  const days = await page.$$eval("#feed > li", (lis) => lis.map((li) => [li.dataset.eventId,
    li.querySelector(":scope > h3.day")?.innerText ?? null]));
  const headed = days.filter(([, label]) => label !== null);
  const at = days.findIndex(([id]) => id === config.yesterdayFirst);
  check(days[0][0] === config.todayFirst && days[0][1] === "Today", `"Today" heads the newest row (${JSON.stringify(days[0])})`);
  check(at > 0 && days[at][1] === "Yesterday" && days.slice(1, at).every(([, label]) => label === null),
    `"Yesterday" heads the first row of yesterday, no heading between (${JSON.stringify(headed.slice(0, 4))})`);
  check(headed.length >= 3 && headed[2][1] !== "Yesterday" && /^[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2}$/.test(headed[2][1]),
    `older days read like "Mon 30 Nov" (${JSON.stringify(headed[2])})`);

  // 3. Session cards: the cost from stored telemetry; the running tool, live.
  const card = (sid) => `#cards .session-card[data-session-id="${sid}"]`;
  await waitFor(page, (sel) => document.querySelector(sel), `${card(config.today)} .stats .cost`, "the today card");
  check((await text(`${card(config.today)} .stats .cost`)) === config.todayCost,
    `the card shows the stored cost ${config.todayCost} (${await text(`${card(config.today)} .stats .cost`)})`);
  check((await text(`${card(config.running)} .now.running .tool`))?.includes("make build-nightly"),
    "the running session's card shows the tool it runs");
  const loadId = await page.evaluate(() => window.__agentfeed.loadId);
  const posted = await fetch(`${config.base}/event`, { method: "POST", body: JSON.stringify(config.nextTool),
    headers: { "content-type": "application/json", "x-agentfeed-key": config.agentfeedKey } });
  check(posted.ok, "posted the next tool call");
  await waitFor(page, (sel) => /Grep/.test(document.querySelector(sel)?.innerText ?? ""),
    `${card(config.running)} .now.running .tool`, "the card's current tool follows live");
  check((await page.evaluate(() => window.__agentfeed.loadId)) === loadId, "live: no reload");

  // 4. Charts: 14 bars each, named for screen readers with their totals.
  const charts = await page.$$eval("#charts svg", (svgs) => svgs.map((s) => ({ id: s.id, role: s.getAttribute("role"),
    label: s.getAttribute("aria-label"), bars: s.querySelectorAll("rect.bar").length })));
  out.charts = charts;
  check(charts.length === 2 && charts.every((c) => c.role === "img" && c.bars === 14), "two charts of 14 bars");
  check(/^Events, last 14 days: \d+ events in all, most on /.test(charts[0]?.label ?? ""), "the activity chart's label");
  check(/^API cost, last 14 days: \$11\.74 in all, most on /.test(charts[1]?.label ?? ""),
    `the cost chart's label says the stored total $11.74 (${charts[1]?.label})`);

  // 5. The theme toggle flips the computed background and is remembered.
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await background();
  await page.click("#theme");
  const dark = await background();
  check(light !== dark && (await page.evaluate(() => document.documentElement.dataset.theme)) === "dark",
    `the toggle flips the background (${light} -> ${dark})`);
  await page.reload({ waitUntil: "load" });
  check((await background()) === dark, "the chosen theme is remembered after a reload");
  await page.click("#theme");
  check((await background()) === light, "and toggles back");

  // 6. Replay: scrub to event 3, then play to the end at 16x.
  await page.goto(`${config.base}/#session/${config.today}`, { waitUntil: "load" });
  await waitRole(page, "owner");
  const ids = config.todayEvents;
  await waitFor(page, (n) => document.querySelectorAll("#timeline > li").length === n, ids.length, "the timeline");
  await waitFor(page, () => document.querySelector("#session-head .stats .cost"), null, "the session's figures");
  check((await text("#session-head .stats .cost")) === config.todayCost, "the session view shows the stored cost");
  await page.$eval("#replay-scrub", (input) => {
    input.value = "3";
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await waitFor(page, () => document.querySelectorAll("#timeline > li").length === 3, null, "scrubbed to 3");
  const shown = await page.$$eval("#timeline > li", (lis) => lis.map((li) => li.dataset.eventId));
  check(shown.length === 3 && shown[2] === ids[2], `after scrubbing the replay shows event 3 last (${shown.length})`);
  check((await text("#replay-pos"))?.startsWith(`event 3 of ${ids.length}`), "the position says event 3");
  await page.click("label[for=replay-speed-16]");
  await page.click("#replay-play");
  check((await page.$eval("#replay", (r) => r.dataset.state)) === "playing", "playing");
  await waitFor(page, (n) => {
    const box = document.querySelector("#replay");
    return box.dataset.state === "paused" && box.dataset.at === String(n) &&
      document.querySelectorAll("#timeline > li").length === n;
  }, ids.length, "played to the end at 16x", 10000);
  await page.screenshot({ path: join(config.shots, "agentfeed-session-light-1280.png") });
  await axe(page, "session", "light", 1280);
  await context.close();

  // 7. Owner and public views, light and dark, at every width.
  for (const view of ["owner", "public"]) {
    for (const theme of ["light", "dark"]) {
      const ctx = await browser.newContext({ timezoneId: "UTC", colorScheme: theme,
        viewport: { width: 1280, height: 900 } });
      const p = watch(await ctx.newPage());
      await p.goto(config.base, { waitUntil: "load" });
      if (view === "owner") {
        const problem = await signIn(p, config.ownerEmail, config.ownerPassword);
        check(problem === null, problem ?? `${theme}: signed in`);
      }
      for (const width of config.widths) {
        await p.setViewportSize({ width, height: HEIGHTS[width] ?? 900 });
        await p.reload({ waitUntil: "load" });
        const ready = await waitFor(p, (role) => document.body.dataset.state === "ready" && document.body.dataset.role === role &&
          document.querySelector("#cards").dataset.loaded && document.querySelector("#charts").dataset.loaded &&
          document.querySelectorAll("#feed > li").length > 0, view, `${view} ${theme} ${width}: ready`);
        if (!ready) continue;
        await p.evaluate(() => document.fonts.ready);
        const size = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth,
          dark: getComputedStyle(document.body).backgroundColor }));
        check(size.scroll <= size.inner, `${view} ${theme} ${width}px: no horizontal overflow (${size.scroll} > ${size.inner}?)`);
        const bodyText = await p.evaluate(() => document.body.innerText);
        const intro = await p.evaluate(() => {
          const node = document.querySelector("#intro");
          return node.getBoundingClientRect().height > 0 ? node.innerText : null;
        });
        if (view === "public") {
          check(!bodyText.includes(config.privateName), `${view} ${width}px: nothing of the private project`);
          check(bodyText.includes("portfolio-site"), `${view} ${width}px: the public project's sessions`);
          check(/^Building in the open .*: \d+ sessions, \d+ prompts and \d+ tool calls over the last 14 days/.test(intro ?? ""),
            `${view} ${width}px: the visitor's introduction (${JSON.stringify(intro)})`);
        } else {
          check(intro === null, `${view} ${width}px: no introduction for the owner`);
        }
        await axe(p, view, theme, width);
        await p.screenshot({ path: join(config.shots, `agentfeed-${view}-${theme}-${width}.png`) });
      }
      await ctx.close();
    }
  }
});
