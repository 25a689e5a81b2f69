// Convex's upload flow from headless Chromium with the official client (npm convex's
// browser.bundle.js, unmodified): ConvexHttpClient asks a mutation for an upload URL, the page
// POSTs a Blob to it with fetch, stores the returned storageId through another mutation, reads the
// file URL from a query and downloads the bytes back.
//
//   node upload_file.mjs <page url> <backend url> [chromium path]
//
// Prints one JSON line: {"ok": true, ...} or {"ok": false, "error": ..., "console": [...]}.
import { chromium } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [pageUrl, backend, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const consoleLines = [];
let context;
let userDataDir;
let result;
try {
  userDataDir = await mkdtemp(join(tmpdir(), "livebase-upload-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  const page = await context.newPage();
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e}`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => typeof window.convex !== "undefined", null, { timeout: 30000 });
  result = await page.evaluate(async (backend) => {
    const client = new window.convex.ConvexHttpClient(backend);
    const bytes = new Uint8Array(70000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) % 251;
    const file = new Blob([bytes], { type: "image/png" });
    const postUrl = await client.mutation("files:upload_url", {});
    const response = await fetch(postUrl, {
      method: "POST",
      headers: { "Content-Type": file.type },
      body: file,
    });
    const uploaded = await response.json();
    await client.mutation("files:save", { name: "from-chromium", file: uploaded.storageId });
    const docs = await client.query("files:docs", {});
    const url = docs.find((d) => d.name === "from-chromium").url;
    const download = await fetch(url);
    const back = new Uint8Array(await download.arrayBuffer());
    const same = back.length === bytes.length && back.every((b, i) => b === bytes[i]);
    const reused = await fetch(postUrl, { method: "POST", body: file });
    return {
      ok: response.status === 200 && same,
      uploadStatus: response.status,
      storageId: uploaded.storageId,
      downloadStatus: download.status,
      contentType: download.headers.get("content-type"),
      etag: download.headers.get("etag"),
      same,
      reusedStatus: reused.status,
      reused: await reused.json(),
    };
  }, backend);
} catch (error) {
  result = { ok: false, error: String(error && error.stack ? error.stack : error) };
} finally {
  if (context) await context.close().catch(() => {});
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
result.console = consoleLines;
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.ok ? 0 : 1);
