// Bundles src/main.jsx (React + convex/react) into dist/app.js and writes dist/index.html.
// Usage: node build.mjs
import * as esbuild from "esbuild";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

await mkdir(dist, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, "src", "main.jsx")],
  outfile: join(dist, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome120"],
  jsx: "automatic",
  minify: false,
  sourcemap: true,
  define: { "process.env.NODE_ENV": '"development"' },
  logLevel: "warning",
});
await writeFile(
  join(dist, "index.html"),
  `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>livebase chat</title>
    <link rel="icon" href="data:," />
    <style>
      body { font-family: sans-serif; margin: 2rem; }
      #messages li { padding: 0.2rem 0; }
    </style>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="./app.js"></script>
  </body>
</html>
`,
);
console.log(`built ${join(dist, "app.js")} and ${join(dist, "index.html")}`);
