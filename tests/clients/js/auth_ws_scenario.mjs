// The official Convex WebSocket client (npm `convex` 1.48.0 ConvexClient) when a token is
// refused mid-session: the connection's subscriptions must keep working.
//
//   node auth_ws_scenario.mjs <config json>
//
// config: {"url": SERVER, "good": JWT, "refused": JWT}
//
// The client signs in with `good` and subscribes to who:me and notes:mine; then its token
// fetcher hands out `refused` (an expired token) once and null after that, as a fetcher whose
// session ended would. Prints one JSON object: every value each subscription delivered, the
// onAuthChange calls, and the values after the refusal.
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";

const config = JSON.parse(process.argv[2] ?? "{}");
const fn = (name) => makeFunctionReference(name);
const quiet = { logVerbose() {}, log() {}, warn() {}, error() {} };
const seen = { me: [], mine: [], auth: [], errors: [] };

const client = new ConvexClient(config.url, { logger: quiet });
let phase = "good";
let refusedGiven = false;
const fetcher = async () => {
  if (phase === "good") return config.good;
  if (!refusedGiven) {
    refusedGiven = true;
    return config.refused;
  }
  return null;
};

function until(predicate, what, ms = 20000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

const last = (list) => (list.length ? list[list.length - 1] : undefined);
client.setAuth(fetcher, (isAuthenticated) => seen.auth.push(isAuthenticated));
client.onUpdate(fn("who:me"), {}, (v) => seen.me.push(v), (e) => seen.errors.push(String(e)));
client.onUpdate(fn("notes:mine"), {}, (v) => seen.mine.push(v), (e) => seen.errors.push(String(e)));

const out = {};
try {
  await until(() => typeof last(seen.me) === "string" && seen.auth.includes(true), "sign-in");
  out.signedInAs = last(seen.me);
  await client.mutation(fn("notes:add"), { body: "before the refusal" });
  await until(() => (last(seen.mine) ?? []).includes("before the refusal"), "the note");

  phase = "refused";
  client.setAuth(fetcher, (isAuthenticated) => seen.auth.push(isAuthenticated));
  await until(() => last(seen.me) === null, "the subscriptions to go on, signed out");
  await until(() => Array.isArray(last(seen.mine)) && last(seen.mine).length === 0, "notes:mine");
  // Still live after the refusal: an anonymous write shows up in an anonymous subscription.
  const anonymous = await client.mutation(fn("notes:add"), { body: "after the refusal" });
  out.afterRefusalWriteAs = anonymous;
  out.meAfter = last(seen.me);
  out.mineAfter = last(seen.mine);
  out.ok = true;
} catch (err) {
  out.ok = false;
  out.failure = String(err?.message ?? err);
}
out.seen = seen;
out.refusedGiven = refusedGiven;
process.stdout.write(JSON.stringify(out) + "\n");
await client.close();
process.exit(0);
