// Drives Livebase's browser client (`GET /_livebase/client.js`, imported as served) from Node
// against a real agentfeed server: value encoding, signed out (the public: a private project is
// not shown, changing it is refused), signing in (an access token from POST /auth/token,
// password grant, handed to the client through its token fetcher, setAuth), subscribe,
// mutation (read your writes), one-shot query, paginatedSubscribe (load every page, then a
// live insert grows the head), a dropped socket (resubscribe, still signed in), a failing
// mutation.
//
//   node client_node.mjs <config.json>
//   config: {url, adminKey, agentfeedKey, ownerEmail, ownerPassword, project,
//            payloads: [12 hook payloads], late: [2 more]}
// Prints one JSON line: {"ok": true|false, "failures": [...], "steps": [...]}.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const WebSocket = createRequire(`${here}../clients/web/package.json`)("ws");
const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const failures = [];
const steps = [];
const check = (ok, what) => (ok ? steps.push(what) : failures.push(what));

function waitFor(predicate, what, ms = 5000) {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      let value;
      try {
        value = predicate();
      } catch (err) {
        value = false;
      }
      if (value) return resolve(true);
      if (Date.now() - started > ms) {
        failures.push(`timed out after ${ms} ms waiting for ${what}`);
        return resolve(false);
      }
      setTimeout(tick, 10);
    };
    tick();
  });
}

async function post(payload) {
  const response = await fetch(`${config.url}/event`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-agentfeed-key": config.agentfeedKey },
    body: JSON.stringify(payload),
  });
  const body = await response.json();
  if (body.status !== "stored") throw new Error(`POST /event: ${JSON.stringify(body)}`);
}

/** The owner's access token: POST /auth/token with the password grant. */
async function accessToken() {
  const response = await fetch(`${config.url}/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "password", username: config.ownerEmail,
                                password: config.ownerPassword }),
  });
  const body = await response.json();
  if (response.status !== 200 || typeof body.access_token !== "string") {
    throw new Error(`POST /auth/token: ${response.status} ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

let client;
try {
  const response = await fetch(`${config.url}/_livebase/client.js`);
  check(response.headers.get("content-type")?.startsWith("text/javascript"), "served as text/javascript");
  const source = await response.text();
  const mod = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
  const { LivebaseClient, convexToJson, jsonToConvex, LivebaseError } = mod;

  // Values.
  check(JSON.stringify(convexToJson(5n)) === '{"$integer":"BQAAAAAAAAA="}', "int64 5n encodes");
  check(jsonToConvex({ $integer: "BQAAAAAAAAA=" }) === 5n, "int64 decodes to a bigint");
  check(jsonToConvex(convexToJson(-(2n ** 63n))) === -(2n ** 63n), "int64 min round-trips");
  check(Number.isNaN(jsonToConvex(convexToJson(NaN))), "NaN round-trips");
  check(Object.is(jsonToConvex(convexToJson(-0)), -0), "-0 round-trips");
  const bytes = jsonToConvex(convexToJson(new Uint8Array([0, 1, 254, 255])));
  check(bytes instanceof ArrayBuffer && [...new Uint8Array(bytes)].join() === "0,1,254,255", "bytes round-trip");
  check(JSON.stringify(convexToJson({ b: 1, a: undefined, c: [1.5] })) === '{"b":1,"c":[1.5]}', "objects: sorted, undefined dropped");

  for (const payload of config.payloads) await post(payload);

  client = new LivebaseClient(config.url, { WebSocket });
  // Signed out, the client is the public: the (private) project is not shown, and changing it
  // is refused.
  check(await client.query("projects:project", { path: config.project }) === null,
    "signed out: the private project is not shown");
  try {
    await client.mutation("projects:update", { path: config.project, name: "not allowed" });
    failures.push("signed out: a mutation only the owner may call resolved");
  } catch (err) {
    check(err instanceof LivebaseError && err.data?.code === "Forbidden",
      `signed out: the mutation is refused (${err.message})`);
  }

  // Sign in: an access token for the owner's account, handed over by the token fetcher.
  const token = await accessToken();
  let fetched = 0;
  const authChanges = [];
  client.setAuth(async () => {
    fetched++;
    return token;
  }, (signedIn) => authChanges.push(signedIn));

  // subscribe + mutation: the update is visible when the mutation's promise resolves.
  let project;
  const stopProject = client.subscribe("projects:project", { path: config.project },
    (p) => (project = p));
  await waitFor(() => project?.event_count === config.payloads.length, "projects:project result");
  check(fetched >= 1, `signed in: the token fetcher was asked (${fetched} times)`);
  await waitFor(() => authChanges.includes(true), "the token fetcher's onChange(true)");
  check(!authChanges.includes(false), `signed in: never reported signed out (${authChanges})`);
  const renamed = `renamed ${Date.now()}`;
  const result = await client.mutation("projects:update", { path: config.project, name: renamed });
  check(result === null, "mutation resolves with its result (null)");
  check(project?.name === renamed, `read your writes: subscription shows the new name (${project?.name})`);

  // one-shot query
  const one = await client.query("projects:project", { path: config.project });
  check(one?.name === renamed, "one-shot query");

  // paginatedSubscribe: five per page, load everything, then live inserts grow the head.
  let state = null;
  let updates = 0;
  const pager = client.paginatedSubscribe("events:feed", { project: config.project }, { pageSize: 5 },
    (s) => { state = s; updates++; });
  await waitFor(() => state?.status === "CanLoadMore", "the first page");
  check(state.results.length === 5, `first page holds 5 (${state.results.length})`);
  while (state.status !== "Exhausted") {
    if (!pager.loadMore()) await new Promise((r) => setTimeout(r, 10));
    if (!(await waitFor(() => state.status !== "LoadingMore", "a page to load"))) break;
  }
  const ids = state.results.map((e) => e.event_id);
  const expected = config.payloads.map((p) => p.event_id).reverse();
  check(JSON.stringify(ids) === JSON.stringify(expected), `all pages newest first (${state.pages} pages)`);
  await post(config.late[0]);
  await waitFor(() => state.results[0]?.event_id === config.late[0].event_id, "a live insert at the head");
  check(state.results.length === expected.length + 1, "the head page grew by one");

  // A dropped socket: the client reconnects, re-adds the pages with their journals.
  client.socket.close();
  await waitFor(() => client.connectionCount >= 2 && client.connected, "a reconnect");
  await post(config.late[1]);
  await waitFor(() => state.results[0]?.event_id === config.late[1].event_id, "an insert after the reconnect");
  check(state.results.length === expected.length + 2, `pages kept after reconnect (${state.results.length})`);
  check(!authChanges.includes(false), `still signed in after the reconnect (${authChanges})`);
  const again = await client.mutation("projects:update", { path: config.project, description: "d" });
  check(again === null && project?.description === "d", "mutation after the reconnect");

  // A failing mutation rejects with a LivebaseError carrying the AppError data.
  try {
    await client.mutation("projects:update", { path: "/no/such/project" });
    failures.push("a failing mutation resolved");
  } catch (err) {
    check(err instanceof LivebaseError && err.data?.code === "NotFound", `failure: ${err.message}`);
  }

  // Admin auth (Authenticate tokenType Admin) reaches internal functions.
  let denied = null;
  try {
    await client.query("events:rejected", { limit: 1 });
  } catch (err) {
    denied = err;
  }
  check(denied instanceof LivebaseError, "an internal query without the admin key fails");
  client.setAdminAuth(config.adminKey);
  const rejected = await client.query("events:rejected", { limit: 1 });
  check(Array.isArray(rejected), "setAdminAuth: an internal query answers");
  pager.unsubscribe();
  stopProject();
  check(client.queries.size === 0, "unsubscribing removes the queries");
} catch (err) {
  failures.push(`driver error: ${String(err.stack ?? err).replace(/data:[^)\s]+/g, "<client.js>")}`);
} finally {
  client?.close();
  const line = JSON.stringify({ ok: failures.length === 0, failures, steps }) + "\n";
  process.stdout.write(line, () => process.exit(failures.length === 0 ? 0 : 1));
}
