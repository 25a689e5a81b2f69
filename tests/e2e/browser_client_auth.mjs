// Drives Livebase's browser client (`GET /_livebase/client.js`, imported as served) from Node
// with a user token fetcher, against a real server whose app trusts a local OIDC issuer
// (tests/e2e/test_browser_client_auth.py, which checks what this script saw).
//
//   node browser_client_auth.mjs <config.json>
//   config: {scenario, url, tokenUrl, sub, me, run, plan?, ttl?, minRefreshes?, deadlineMs?}
//
// `tokenUrl?sub=..&ttl=..&kind=good|wrong-aud` mints a token. The fetcher's nth call follows
// `plan[n]` (the last entry repeats): "good", "wrong-aud" (refused by the server), "null",
// "throw". Scenarios:
//   sign_in   setAuth(fetcher): who:me shows the user, a mutation runs as them; setAuth(null)
//             signs out; then the plain string form setAuth(token) signs in again.
//   refresh   short-lived tokens: refreshed ahead of expiry on one socket, subscriptions live.
//   refused   the first token is refused: what the client does then (per `plan`).
// Prints one JSON line: {ok, failures, steps, ...observations}.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const WebSocket = createRequire(`${here}../clients/js/package.json`)("ws");
const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const DEADLINE_MS = config.deadlineMs ?? 20_000;
const failures = [];
const steps = [];
const started = Date.now();
const now = () => Date.now() - started;
const check = (ok, what) => (ok ? steps.push(what) : failures.push(what));
const last = (list) => list[list.length - 1];

/** Resolves true once `predicate()` holds, false (and a failure) after `ms`. */
function waitFor(predicate, what, ms = DEADLINE_MS) {
  return new Promise((resolve) => {
    const tick = () => {
      let value = false;
      try {
        value = predicate();
      } catch {}
      if (value) return resolve(true);
      if (Date.now() - t0 > ms) {
        failures.push(`timed out after ${ms} ms waiting for ${what}`);
        return resolve(false);
      }
      setTimeout(tick, 10);
    };
    const t0 = Date.now();
    tick();
  });
}

// Every socket the client opens, with what went each way.
const sockets = [];
class RecordingWebSocket extends WebSocket {
  constructor(url) {
    super(url);
    const record = { opened: now(), sent: [], authErrors: [], identities: [] };
    sockets.push(record);
    this.record = record;
    this.addEventListener("message", (event) => {
      const msg = JSON.parse(String(event.data));
      if (msg.type === "AuthError") record.authErrors.push(msg);
      if (msg.type === "Transition") record.identities.push(msg.endVersion.identity);
    });
  }

  send(data) {
    const msg = JSON.parse(data);
    const entry = { type: msg.type, t: now() };
    if (msg.type === "Authenticate") Object.assign(entry, { baseVersion: msg.baseVersion, tokenType: msg.tokenType });
    this.record.sent.push(entry);
    super.send(data);
  }
}

// The token fetcher, and what it was asked and gave.
const fetches = [];
const authChanges = [];
async function fetchToken({ forceRefreshToken }) {
  const plan = config.plan ?? ["good"];
  const kind = plan[Math.min(fetches.length, plan.length - 1)];
  const call = { forceRefreshToken, kind, t: now() };
  fetches.push(call);
  if (kind === "null") return null;
  if (kind === "throw") throw new Error("the fetcher failed (on purpose)");
  const query = new URLSearchParams({ sub: config.sub, ttl: String(config.ttl ?? 3600), kind });
  const response = await fetch(`${config.tokenUrl}?${query}`);
  if (!response.ok) throw new Error(`token endpoint: ${response.status}`);
  call.answered = now();
  return await response.text();
}
const onChange = (isAuthenticated) => authChanges.push({ isAuthenticated, t: now() });

const out = {};
let client;
try {
  const source = await (await fetch(`${config.url}/_livebase/client.js`)).text();
  const { LivebaseClient } = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
  client = new LivebaseClient(config.url, { WebSocket: RecordingWebSocket });
  const seen = { me: [], mine: [], everyone: [], errors: [] };
  const onError = (error) => seen.errors.push(String(error.message));
  const run = { run: config.run };
  client.subscribe("who:me", {}, (v) => seen.me.push(v), onError);
  client.subscribe("notes:mine", run, (v) => seen.mine.push(v), onError);
  client.subscribe("notes:everyone", run, (v) => seen.everyone.push(v), onError);
  const add = (body) => client.mutation("notes:add", { ...run, body });
  out.seen = seen;

  if (config.scenario === "sign_in") {
    client.setAuth(fetchToken, onChange);
    await waitFor(() => last(seen.me) === config.me && authChanges.length === 1, "who:me as the user");
    out.meFirst = seen.me[0];
    out.addedAs = await add("signed in");
    check(last(seen.mine)?.includes("signed in"), "notes:mine shows the user's note");
    out.changesSignedIn = authChanges.map((c) => c.isAuthenticated);

    client.setAuth(null); // signs out
    await waitFor(() => last(seen.me) === null, "who:me to be null after setAuth(null)");
    out.meAfterSignOut = last(seen.me);
    out.addedAfterSignOut = await add("signed out");
    await waitFor(() => last(seen.everyone)?.includes("signed out"), "the anonymous note");
    out.mineAfterSignOut = last(seen.mine);

    // The plain string form.
    const query = new URLSearchParams({ sub: config.sub, ttl: "3600", kind: "good" });
    client.setAuth(await (await fetch(`${config.tokenUrl}?${query}`)).text());
    await waitFor(() => last(seen.me) === config.me, "who:me as the user again (string token)");
    out.meString = last(seen.me);
    out.addedString = await add("string token");
    out.changesEnd = authChanges.map((c) => c.isAuthenticated);
  } else if (config.scenario === "refresh") {
    client.setAuth(fetchToken, onChange);
    await waitFor(() => last(seen.me) === config.me, "who:me as the user");
    out.signedInAt = now();
    // Each refresh is a new Authenticate on the one socket; its Transition confirms it.
    const accepted = () => Math.max(0, ...sockets[0].identities) - 1; // refreshes accepted
    await waitFor(() => accepted() >= config.minRefreshes, `${config.minRefreshes} refreshes`);
    out.refreshesBeforeWrite = accepted();
    out.addedAs = await add(`after ${accepted()} refreshes`);
    await waitFor(() => last(seen.mine)?.includes(`after ${out.refreshesBeforeWrite} refreshes`),
      "the note written after the refreshes in notes:mine");
    // One more refresh after the write, and the user still there.
    await waitFor(() => accepted() > out.refreshesBeforeWrite, "one more refresh");
    out.meEnd = last(seen.me);
    out.addedEnd = await add("at the end");
    await waitFor(() => last(seen.mine)?.includes("at the end"), "the last note in notes:mine");
    // After sign-in who:me never left the user.
    out.meSinceSignIn = seen.me.slice(seen.me.indexOf(config.me));
  } else if (config.scenario === "refused") {
    client.setAuth(fetchToken, onChange);
    const expectSignedIn = last(config.plan) === "good";
    const want = expectSignedIn ? config.me : null;
    await waitFor(() => authChanges.length >= 1, "onChange");
    await waitFor(() => seen.me.length > 0 && last(seen.me) === want, `who:me to be ${want}`);
    // Subscriptions still deliver, live: a write shows up in notes:everyone.
    out.addedAs = await add("after the refusal");
    await waitFor(() => last(seen.everyone)?.includes("after the refusal"), "notes:everyone live");
    out.me = last(seen.me);
    out.mine = last(seen.mine);
    out.everyone = last(seen.everyone);
    // Nothing more happens: no further fetch or onChange within a while after.
    const settled = { fetches: fetches.length, changes: authChanges.length };
    const until = Date.now() + 1500;
    await waitFor(() => Date.now() > until, "a quiet 1.5 s");
    out.quiet = fetches.length === settled.fetches && authChanges.length === settled.changes;
  } else {
    failures.push(`unknown scenario ${config.scenario}`);
  }
} catch (err) {
  failures.push(`driver error: ${String(err.stack ?? err).replace(/data:[^)\s]+/g, "<client.js>")}`);
} finally {
  client?.close();
  Object.assign(out, { ok: failures.length === 0, failures, steps, fetches, authChanges, sockets });
  process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(failures.length === 0 ? 0 : 1));
}
