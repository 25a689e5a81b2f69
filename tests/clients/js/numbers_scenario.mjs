// Livebase's number contract (docs/functions.md, "Numbers") through the official Convex JS
// clients (npm `convex` 1.48.0): `ConvexClient` over the WebSocket and `ConvexHttpClient`.
//
// Usage: node numbers_scenario.mjs <server url> <tag>
//
// Runs the same calls with both clients against the app of
// tests/e2e/test_official_clients_numbers.py (each client writes its own rows, under
// `<tag>-js-ws` / `<tag>-js-http`) and prints one JSON object:
//
//   {"failures": [...], "ws": {step: ...}, "http": {step: ...}, "subscription": {...}}
//
// A step is {"value": ...} or {"error": {...}}. Values are printed with every bigint as
// {"bigint": "<decimal>"}, so a bigint can never pass for a number (or a string) in the caller's
// assertions. Steps that compute with a result record what JS did with it (JSON.stringify, `+ 1`,
// `new Date(n)`), each as the result or the TypeError a bigint would have raised. Exit status 0
// unless the scenario itself broke (an exception outside a step).

import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexError } from "convex/values";

const [url, tag] = process.argv.slice(2);
if (!url || !tag) {
  process.stderr.write("usage: node numbers_scenario.mjs <server url> <tag>\n");
  process.exit(2);
}

const fn = (name) => makeFunctionReference(`numbers:${name}`);
const logger = {
  logVerbose: () => {},
  log: (...args) => process.stderr.write(`[log] ${args.map(String).join(" ")}\n`),
  warn: (...args) => process.stderr.write(`[warn] ${args.map(String).join(" ")}\n`),
  error: (...args) => process.stderr.write(`[error] ${args.map(String).join(" ")}\n`),
};
const failures = [];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function printable(value) {
  if (typeof value === "bigint") return { bigint: value.toString() };
  if (Array.isArray(value)) return value.map(printable);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printable(v)]));
  }
  return value;
}

// What `compute()` gives, or the error it throws (a bigint makes these throw TypeError).
function attempt(compute) {
  try {
    return { value: printable(compute()) };
  } catch (err) {
    return { error: `${err?.name}: ${err?.message}` };
  }
}

function withTimeout(promise, ms, label) {
  let timer;
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function step(out, name, call, extra) {
  try {
    const value = await withTimeout(call(), 15000, name);
    out[name] = { value: printable(value), ...(extra ? extra(value) : {}) };
  } catch (err) {
    out[name] = {
      error: {
        isConvexError: err instanceof ConvexError,
        message: String(err?.message ?? err),
        data: err instanceof ConvexError ? printable(err.data) : null,
        dataCodeType: err instanceof ConvexError ? typeof err.data?.code : null,
      },
    };
  }
}

// Resolves when predicate() is truthy (checked every 10 ms); rejects after timeoutMs.
async function waitFor(predicate, timeoutMs, label) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`);
    await sleep(10);
  }
}

async function calls(client, kind) {
  const out = {};
  const own = `${tag}-js-${kind}`;
  const rows = [
    ["a", 2],
    ["a", 2.5],
    ["b", 3],
  ];
  for (const [i, [k, amount]] of rows.entries()) {
    await step(out, `store${i}`, () => client.mutation(fn("store"), { tag: own, kind: k, amount }));
  }
  await step(out, "count", () => client.query(fn("count"), { tag: own }), (n) => ({
    type: typeof n,
    json: attempt(() => JSON.stringify({ n })),
    plusOne: attempt(() => n + 1),
    date: attempt(() => new Date(n).getTime()),
  }));
  await step(out, "counts", () => client.query(fn("counts"), { tag: own }), (counts) => ({
    types: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, typeof v])),
    json: attempt(() => JSON.stringify(counts)),
    total: attempt(() => Object.values(counts).reduce((a, b) => a + b, 0)),
  }));
  await step(out, "amounts", () => client.query(fn("amounts"), { tag: own }), (list) => ({
    types: list.map((row) => typeof row.amount),
  }));
  // Rows the official Python client wrote (amount 2, a Python int) and the server seeded.
  await step(out, "pythonAmounts", () => client.query(fn("amounts"), { tag: `${tag}-py-ws` }), (list) => ({
    types: list.map((row) => typeof row.amount),
    json: attempt(() => JSON.stringify(list.map((row) => row.amount))),
  }));
  await step(out, "takeInt", () => client.mutation(fn("take_int"), { n: 20 }));
  await step(out, "takeFraction", () => client.mutation(fn("take_int"), { n: 2.5 }));
  await step(out, "int64Arg", () => client.query(fn("int64_arg"), { n: 5n }), (r) => ({ equal: r?.n === 5n }));
  await step(out, "int64ArgFromNumber", () => client.query(fn("int64_arg"), { n: 5 }), (r) => ({ equal: r?.n === 5n }));
  await step(out, "int64Hint", () => client.query(fn("int64_hint"), { n: 5n }), (r) => ({ equal: r?.n === 5n }));
  await step(out, "refuse", () => client.mutation(fn("refuse"), {}));
  await step(out, "big", () => client.query(fn("big"), {}), (b) => ({ type: typeof b, equal: b === 2n ** 60n }));
  await step(out, "declared", () => client.query(fn("declared"), {}), (b) => ({ type: typeof b, equal: b === 2n ** 60n }));
  await step(out, "tooBig", () => client.query(fn("too_big"), {}));
  return out;
}

// A live query's values, pushed over the socket, are numbers too.
async function subscription(client) {
  const own = `${tag}-js-ws`;
  const values = [];
  const errors = [];
  const unsubscribe = client.onUpdate(
    fn("count"),
    { tag: own },
    (value) => values.push(value),
    (err) => errors.push(String(err?.message ?? err)),
  );
  await waitFor(() => values.length >= 1, 15000, "the first count");
  await withTimeout(client.mutation(fn("store"), { tag: own, kind: "c", amount: 4 }), 15000, "store");
  await waitFor(() => values.includes(4) || errors.length > 0, 15000, "the count to become the number 4");
  unsubscribe();
  return { values: printable(values), types: values.map((v) => typeof v), errors };
}

const result = { failures };
const ws = new ConvexClient(url, { logger, skipConvexDeploymentUrlCheck: true });
try {
  result.ws = await calls(ws, "ws");
  result.http = await calls(new ConvexHttpClient(url, { logger }), "http");
  result.subscription = await subscription(ws);
} catch (err) {
  failures.push(`exception: ${err?.stack ?? err}`);
}
process.stdout.write(JSON.stringify(result) + "\n");
await Promise.race([ws.close(), sleep(2000)]);
process.exit(failures.length === 0 ? 0 : 1);
