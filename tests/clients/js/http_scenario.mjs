// Drives a livebase server with the official Convex JS HTTP client (npm `convex` 1.48.0).
//
// Usage: node http_scenario.mjs <server url> [admin key] [channel]
//
// Prints one JSON object with what each step saw (bigints as decimal strings, ArrayBuffers as
// base64, plus explicit `...Type` fields so the caller can check the JS types) and exits 0.
// Any unexpected failure is recorded under `failures`, printed to stderr, and makes the exit
// status 1; every step still runs so that one broken step does not hide the others.

import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexError } from "convex/values";

const url = process.argv[2];
const adminKey = process.argv[3] || "";
const channel =
  process.argv[4] || `js-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

if (!url) {
  process.stderr.write("usage: node http_scenario.mjs <server url> [admin key] [channel]\n");
  process.exit(2);
}

const fn = (name) => makeFunctionReference(name);

// Capture the server's logLines instead of letting the default logger print them to stdout.
// A log line arrives as ("%c[CONVEX M(messages:send)] [LOG]", "<css>", "<message>").
const logged = [];
const record = (level) => (...args) => logged.push({ level, args: args.map(String) });
const logger = {
  logVerbose: () => {},
  log: record("log"),
  warn: record("warn"),
  error: record("error"),
};

function newClient() {
  return new ConvexHttpClient(url, { logger });
}

function toBase64(buffer) {
  return Buffer.from(new Uint8Array(buffer)).toString("base64");
}

function typeOf(value) {
  if (value === null) return "null";
  if (value instanceof ArrayBuffer) return "ArrayBuffer";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

// Make a Convex value printable as JSON: bigint -> decimal string, ArrayBuffer -> base64.
function printable(value) {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof ArrayBuffer) return toBase64(value);
  if (Array.isArray(value)) return value.map(printable);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printable(v)]));
  }
  return value;
}

// The same shape as `printable`, but with each leaf replaced by its JS type name.
function typesOf(value) {
  if (Array.isArray(value)) return value.map(typesOf);
  if (value !== null && typeof value === "object" && !(value instanceof ArrayBuffer)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typesOf(v)]));
  }
  return typeOf(value);
}

function describeError(err) {
  return {
    name: err?.name ?? null,
    isConvexError: err instanceof ConvexError,
    isError: err instanceof Error,
    message: String(err?.message ?? err),
    hasData: err !== null && typeof err === "object" && "data" in err,
    data: err && "data" in err ? printable(err.data) : null,
    dataTypes: err && "data" in err ? typesOf(err.data) : null,
  };
}

const results = { channel, failures: [] };
const stacks = [];

async function step(name, body) {
  try {
    await body();
  } catch (err) {
    results.failures.push({ step: name, error: describeError(err) });
    stacks.push(`step ${name} failed: ${String(err?.stack ?? err)}`);
  }
}

// Runs `body`, which must throw; returns a description of the error it threw.
async function expectThrow(name, body) {
  let value;
  try {
    value = await body();
  } catch (err) {
    return describeError(err);
  }
  throw new Error(`${name}: expected an error, got ${JSON.stringify(printable(value))}`);
}

const client = newClient();

await step("mutation", async () => {
  const id = await client.mutation(fn("messages:send"), {
    channel,
    body: "hello from js",
    author: "node",
  });
  results.mutation = { value: printable(id), type: typeOf(id) };
});

await step("query", async () => {
  const docs = await client.query(fn("messages:list"), { channel });
  results.query = { value: printable(docs), types: typesOf(docs) };
});

await step("queryWithLimit", async () => {
  // `limit` is an `int | None` argument: a whole float64, so a plain JS number.
  const docs = await client.query(fn("messages:list"), { channel, limit: 10 });
  results.queryWithLimit = { length: docs.length };
});

await step("queryWithFractionalLimit", async () => {
  results.queryWithFractionalLimit = await expectThrow("queryWithFractionalLimit", () =>
    client.query(fn("messages:list"), { channel, limit: 2.5 }),
  );
});

await step("count", async () => {
  const n = await client.query(fn("messages:count"), { channel });
  results.count = { value: printable(n), type: typeOf(n), json: JSON.stringify({ n }), plusOne: n + 1 };
});

await step("echoBigint", async () => {
  const big = 1234567890123456789n;
  const back = await client.query(fn("messages:echo"), { value: big });
  results.echoBigint = { value: printable(back), type: typeOf(back), equal: back === big };
});

await step("echoInt64Extremes", async () => {
  const sent = [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n];
  const back = await client.query(fn("messages:echo"), { value: sent });
  results.echoInt64Extremes = {
    value: printable(back),
    types: typesOf(back),
    equal: Array.isArray(back) && back.length === 4 && back.every((x, i) => x === sent[i]),
  };
});

await step("echoBytes", async () => {
  const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255]);
  const back = await client.query(fn("messages:echo"), { value: bytes.buffer });
  results.echoBytes = {
    value: printable(back),
    type: typeOf(back),
    sent: toBase64(bytes.buffer),
  };
});

await step("echoNested", async () => {
  const sent = {
    big: 42n,
    float: 1.5,
    whole: 3,
    text: "héllo ✓",
    flag: true,
    nothing: null,
    list: [1n, "x", new Uint8Array([9, 8, 7]).buffer, [2.25]],
    inner: { deeper: { n: -7n } },
  };
  const back = await client.query(fn("messages:echo"), { value: sent });
  results.echoNested = { value: printable(back), types: typesOf(back) };
});

await step("echoSpecialFloats", async () => {
  const back = await client.query(fn("messages:echo"), { value: [NaN, Infinity, -Infinity, -0] });
  results.echoSpecialFloats = {
    value: back.map((x) => (Object.is(x, -0) ? "-0" : String(x))),
    types: typesOf(back),
  };
});

await step("action", async () => {
  const out = await client.action(fn("actions:shout"), { channel, body: "loud noises" });
  results.action = { value: printable(out), types: typesOf(out) };
});

await step("consistentQuery", async () => {
  // A fresh client: consistentQuery caches the timestamp from /api/query_ts per client.
  const consistent = newClient();
  const first = await consistent.consistentQuery(fn("messages:count"), { channel });
  const docs = await consistent.consistentQuery(fn("messages:list"), { channel });
  results.consistentQuery = {
    count: printable(first),
    countType: typeOf(first),
    listLength: docs.length,
    bodies: docs.map((d) => d.body),
  };
});

await step("convexError", async () => {
  results.convexError = await expectThrow("convexError", () =>
    client.mutation(fn("messages:send"), { channel, body: " " }),
  );
});

await step("plainError", async () => {
  results.plainError = await expectThrow("plainError", () => client.query(fn("messages:boom"), {}));
});

await step("unknownFunction", async () => {
  results.unknownFunction = await expectThrow("unknownFunction", () =>
    client.query(fn("messages:does_not_exist"), {}),
  );
});

if (adminKey) {
  await step("internalWithoutAdmin", async () => {
    results.internalWithoutAdmin = await expectThrow("internalWithoutAdmin", () =>
      client.query(fn("admin/users:message_total"), {}),
    );
  });
  await step("internalWithAdmin", async () => {
    const admin = newClient();
    admin.setAdminAuth(adminKey);
    const total = await admin.query(fn("admin/users:message_total"), {});
    results.internalWithAdmin = { value: printable(total), type: typeOf(total) };
  });
}

results.logged = logged;

process.stdout.write(JSON.stringify(results) + "\n");
if (results.failures.length > 0) {
  process.stderr.write(stacks.join("\n") + "\n");
  process.exit(1);
}
process.exit(0);
