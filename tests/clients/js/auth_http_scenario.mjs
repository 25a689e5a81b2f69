// The official Convex JS HTTP client (npm `convex` 1.48.0) with user tokens: setAuth / clearAuth.
//
//   node auth_http_scenario.mjs <config json>
//
// config: {"url": SERVER, "tokens": {"alice": JWT, "bob": JWT, "expired": JWT, "builtin": JWT}}
//
// Prints one JSON object: each step's {"value": ...} or {"error": message}. Steps:
//   alice.*    setAuth(alice): who:me, who:profile, notes:add (mutation), who:act (action),
//              notes:mine
//   bob.*      another client, setAuth(bob): who:me, notes:mine (same query and arguments)
//   expired.*  setAuth(an expired token): query, mutation and action all fail
//   cleared.*  alice's client after clearAuth(): who:me, notes:mine
//   builtin.*  setAuth(a built-in account's token): who:profile, notes:add, notes:mine
import { ConvexHttpClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";

const config = JSON.parse(process.argv[2] ?? "{}");
const fn = (name) => makeFunctionReference(name);
const quiet = { logVerbose() {}, log() {}, warn() {}, error() {} };
const out = {};

async function step(name, call) {
  try {
    out[name] = { value: await call() };
  } catch (err) {
    out[name] = { error: String(err?.message ?? err) };
  }
}

function client(token) {
  const c = new ConvexHttpClient(config.url, { logger: quiet });
  if (token !== undefined) c.setAuth(token);
  return c;
}

const alice = client(config.tokens.alice);
await step("alice.me", () => alice.query(fn("who:me"), {}));
await step("alice.profile", () => alice.query(fn("who:profile"), {}));
await step("alice.add", () => alice.mutation(fn("notes:add"), { body: "alice over http" }));
await step("alice.act", () => alice.action(fn("who:act"), {}));
await step("alice.mine", () => alice.query(fn("notes:mine"), {}));

const bob = client(config.tokens.bob);
await step("bob.me", () => bob.query(fn("who:me"), {}));
await step("bob.add", () => bob.mutation(fn("notes:add"), { body: "bob over http" }));
await step("bob.mine", () => bob.query(fn("notes:mine"), {}));

const expired = client(config.tokens.expired);
await step("expired.me", () => expired.query(fn("who:me"), {}));
await step("expired.add", () => expired.mutation(fn("notes:add"), { body: "never stored" }));
await step("expired.act", () => expired.action(fn("who:act"), {}));

alice.clearAuth();
await step("cleared.me", () => alice.query(fn("who:me"), {}));
await step("cleared.mine", () => alice.query(fn("notes:mine"), {}));
await step("cleared.add", () => alice.mutation(fn("notes:add"), { body: "anonymous over http" }));

const builtin = client(config.tokens.builtin);
await step("builtin.profile", () => builtin.query(fn("who:profile"), {}));
await step("builtin.add", () => builtin.mutation(fn("notes:add"), { body: "built-in over http" }));
await step("builtin.act", () => builtin.action(fn("who:act"), {}));
await step("builtin.mine", () => builtin.query(fn("notes:mine"), {}));

process.stdout.write(JSON.stringify(out) + "\n");
