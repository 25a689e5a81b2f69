// Bundles page.jsx (React + convex/react) into OUTDIR/app.js and writes OUTDIR/index.html.
//
//   node build.mjs <outdir>
//
// `convex` comes from tests/clients/js/node_modules; React, react-dom and esbuild from
// tests/clients/web/node_modules (that folder's package.json pins them; the test installs them
// with `npm ci` there first, as the React page test does).
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const webDir = resolve(here, "..", "..", "web");
const require = createRequire(join(webDir, "package.json"));
const esbuild = require("esbuild");

const outdir = process.argv[2];
if (!outdir) {
  console.error("usage: node build.mjs <outdir>");
  process.exit(2);
}
await mkdir(outdir, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "page.jsx")],
  outfile: join(outdir, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome120"],
  jsx: "automatic",
  minify: false,
  sourcemap: true,
  nodePaths: [join(webDir, "node_modules")],
  define: { "process.env.NODE_ENV": '"development"' },
  logLevel: "warning",
});
await writeFile(
  join(outdir, "index.html"),
  `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>livebase auth</title>
    <link rel="icon" href="data:," />
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="./app.js"></script>
  </body>
</html>
`,
);
console.log(`built ${join(outdir, "app.js")} and ${join(outdir, "index.html")}`);
