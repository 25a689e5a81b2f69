// Drives a livebase server with the official Convex WebSocket client (npm `convex` 1.48.0,
// `ConvexClient` from "convex/browser", which bundles the `ws` package for Node).
//
// Usage: node ws_scenario.mjs <scenario> <server url> [channel]
//
// Scenarios:
//   subscribe  client A subscribes to messages:list {channel}; client B sends a message; A's
//              onUpdate sees it. Also: A's own mutation is visible once it resolves, an action
//              and a ConvexError over the socket.
//   restart    A subscribes, then (driven by the parent over stdin/stdout) a mutation is sent
//              while the server is paused (in flight), the server is killed, a second mutation is
//              sent while disconnected, the server restarts: both mutations resolve, each applied
//              exactly once, and the subscription shows them.
//   paginate   onPaginatedUpdate_experimental on messages:page {channel}, initialNumItems 2,
//              loadMore through 3 pages while client B inserts and deletes rows: the pages stay
//              gapless and free of duplicates.
//
// Output: one JSON object per line on stdout. Progress lines are {"event": ...}; the last line is
// {"event":"result", "ok": bool, "failures": [...], ...}. The restart scenario waits for a line on
// stdin after each {"event":"await", "step": ...} line. Exit status 0 when ok, 1 otherwise.

import { createInterface } from "node:readline";
import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import { ConvexError } from "convex/values";

const [scenario, url, channelArg] = process.argv.slice(2);
if (!scenario || !url) {
  process.stderr.write("usage: node ws_scenario.mjs <subscribe|restart|paginate> <url> [channel]\n");
  process.exit(2);
}
const channel = channelArg || `ws-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;

const fn = (name) => makeFunctionReference(name);
const api = {
  list: fn("messages:list"),
  page: fn("messages:page"),
  count: fn("messages:count"),
  send: fn("messages:send"),
  remove: fn("messages:remove"),
  shout: fn("actions:shout"),
};

function emit(obj) {
  process.stdout.write(JSON.stringify(obj, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
}

// Keep stdout for JSON: the client's console output (function log lines, reconnect notices)
// goes to stderr.
const logger = {
  logVerbose: () => {},
  log: (...args) => process.stderr.write(`[log] ${args.map(String).join(" ")}\n`),
  warn: (...args) => process.stderr.write(`[warn] ${args.map(String).join(" ")}\n`),
  error: (...args) => process.stderr.write(`[error] ${args.map(String).join(" ")}\n`),
};

const clients = [];
function newClient() {
  const client = new ConvexClient(url, { logger, skipConvexDeploymentUrlCheck: true });
  clients.push(client);
  return client;
}

const failures = [];
function check(condition, message, details) {
  if (!condition) {
    failures.push(details === undefined ? message : `${message}: ${JSON.stringify(details, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
  }
  return condition;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves when predicate() is truthy (checked every 10 ms); rejects after timeoutMs.
async function waitFor(predicate, timeoutMs, label) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`);
    await sleep(10);
  }
}

// A promise with a deadline, so a server that never answers fails the step instead of hanging.
function withTimeout(promise, timeoutMs, label) {
  let timer;
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${label}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Every result a subscription delivered, in order.
function watch(client, ref, args) {
  const seen = { values: [], errors: [] };
  seen.unsubscribe = client.onUpdate(
    ref,
    args,
    (value) => seen.values.push(value),
    (err) => seen.errors.push(String(err?.message ?? err)),
  );
  seen.last = () => seen.values[seen.values.length - 1];
  return seen;
}

const bodies = (docs) => (docs ?? []).map((d) => d.body);

const stdinLines = [];
const stdinWaiters = [];
function startStdin() {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const waiter = stdinWaiters.shift();
    if (waiter) waiter(line.trim());
    else stdinLines.push(line.trim());
  });
}
function nextStdinLine() {
  if (stdinLines.length > 0) return Promise.resolve(stdinLines.shift());
  return new Promise((resolve) => stdinWaiters.push(resolve));
}
// Tell the parent we reached `step` and wait for its go-ahead line.
async function handshake(step, extra = {}) {
  emit({ event: "await", step, ...extra });
  const line = await withTimeout(nextStdinLine(), 30000, `parent's answer to ${step}`);
  emit({ event: "resumed", step, line });
  return line;
}

// --------------------------------------------------------------------------------------------

async function subscribeScenario() {
  const a = newClient();
  const b = newClient();
  const result = { channel };

  const sub = watch(a, api.list, { channel });
  await waitFor(() => sub.values.length >= 1, 10000, "A's first messages:list result");
  result.initial = sub.last();
  check(Array.isArray(sub.last()) && sub.last().length === 0, "initial list should be empty", sub.last());
  emit({ event: "subscribed", initial: sub.last() });

  // B mutates; A is pushed the new list.
  const t0 = Date.now();
  const id = await withTimeout(b.mutation(api.send, { channel, body: "from B", author: "b" }), 10000, "B's mutation");
  result.bMutationMs = Date.now() - t0;
  result.bMutationId = id;
  check(typeof id === "string" && id.length > 0, "mutation should return a document id", id);
  await waitFor(() => bodies(sub.last()).includes("from B"), 10000, "A's update with B's message");
  result.afterB = sub.last();
  result.pushMs = Date.now() - t0;
  check(sub.last().length === 1 && sub.last()[0]._id === id, "A should see exactly B's message", sub.last());
  emit({ event: "pushed", value: sub.last(), ms: result.pushMs });

  // A's own mutation: its effect is visible in A's subscription when the promise resolves.
  const ownId = await withTimeout(a.mutation(api.send, { channel, body: "from A" }), 10000, "A's mutation");
  const current = sub.unsubscribe.getCurrentValue();
  result.ownMutationVisibleOnResolve = bodies(current).includes("from A");
  check(result.ownMutationVisibleOnResolve, "A's mutation should be reflected in A's subscription when it resolves", current);
  check(current?.some((d) => d._id === ownId), "A's list should contain the id its mutation returned", { ownId, current });

  // Every update A saw is a list of this channel's messages without duplicates.
  for (const value of sub.values) {
    const ids = value.map((d) => d._id);
    check(new Set(ids).size === ids.length, "a pushed list contains duplicates", value);
  }
  result.updatesSeen = sub.values.length;

  // A one-shot query and the count from a third point of view (B).
  const countSub = watch(b, api.count, { channel });
  await waitFor(() => countSub.values.length >= 1, 10000, "B's messages:count");
  result.count = countSub.last();
  result.countType = typeof countSub.last();
  // messages:count returns len(rows): a float64, so a JS number (JSON.stringify and arithmetic
  // work on it), not a bigint.
  check(countSub.last() === 2, "count should be the number 2", countSub.last());
  result.countJson = JSON.stringify({ count: countSub.last() });
  result.countPlusOne = countSub.last() + 1;
  const listed = await withTimeout(b.query(api.list, { channel }), 10000, "B's one-shot query");
  check(JSON.stringify(bodies(listed)) === JSON.stringify(["from B", "from A"]), "B's one-shot query", listed);

  // An action over the socket, which runs a mutation and a query inside.
  const shouted = await withTimeout(b.action(api.shout, { channel, body: "loud" }), 10000, "B's action");
  result.action = shouted;
  result.actionCountType = typeof shouted?.count;
  check(typeof shouted?.id === "string" && shouted.count === 3, "action result", shouted);
  await waitFor(() => bodies(sub.last()).includes("LOUD"), 10000, "A's update with the action's message");
  await waitFor(() => countSub.last() === 3, 10000, "B's count to become the number 3");

  // A ConvexError from a mutation carries its data.
  try {
    await withTimeout(b.mutation(api.send, { channel, body: " " }), 10000, "failing mutation");
    check(false, "a blank message should be rejected");
  } catch (err) {
    result.convexError = {
      isConvexError: err instanceof ConvexError,
      data: err?.data ?? null,
      message: String(err?.message ?? err),
    };
    check(err instanceof ConvexError, "a blank message should raise ConvexError", result.convexError);
    check(err?.data?.code === "EmptyMessage" && err?.data?.channel === channel, "ConvexError data", result.convexError);
  }
  check(sub.errors.length === 0, "A's subscription should have no errors", sub.errors);
  return result;
}

// --------------------------------------------------------------------------------------------

async function restartScenario() {
  startStdin();
  const a = newClient();
  const result = { channel };
  const states = [];
  a.subscribeToConnectionState((s) => states.push({ connected: s.isWebSocketConnected, count: s.connectionCount }));

  const sub = watch(a, api.list, { channel });
  await waitFor(() => sub.values.length >= 1, 10000, "A's first messages:list result");
  check(sub.last().length === 0, "initial list should be empty", sub.last());
  const firstConnectionCount = a.connectionState().connectionCount;

  // 1. The server is paused (SIGSTOP): the mutation goes out on the open socket and is in flight.
  await handshake("pause-server");
  const inflight = a.mutation(api.send, { channel, body: "in flight" });
  inflight.catch(() => {});
  const sentOnOpenSocket = () => {
    const s = a.connectionState();
    return s.isWebSocketConnected && s.inflightMutations === 1;
  };
  await waitFor(sentOnOpenSocket, 10000, "the mutation to be in flight").catch(() => {});
  const s1 = a.connectionState();
  result.inflightState = { connected: s1.isWebSocketConnected, inflightMutations: s1.inflightMutations };
  check(s1.isWebSocketConnected && s1.inflightMutations === 1, "mutation should be in flight on the open socket", result.inflightState);

  // 2. The server is killed: the client notices the closed socket; a second mutation is queued.
  await handshake("kill-server");
  await waitFor(() => !a.connectionState().isWebSocketConnected, 10000, "the client to notice the closed socket");
  const queued = a.mutation(api.send, { channel, body: "sent while down" });
  queued.catch(() => {});
  const bothPending = () => a.connectionState().inflightMutations === 2;
  await waitFor(bothPending, 10000, "both mutations to be pending").catch(() => {});
  result.queuedState = { inflightMutations: a.connectionState().inflightMutations };
  check(a.connectionState().inflightMutations === 2, "both mutations should be pending while down", result.queuedState);

  // 3. The server restarts on the same port and data: the client reconnects, resubscribes and
  //    resends both mutations.
  await handshake("restart-server");
  const t0 = Date.now();
  // The client's reconnect backoff grows while the server is down, to 16 s +-50% jitter.
  const [inflightId, queuedId] = await withTimeout(Promise.all([inflight, queued]), 60000, "both mutations to resolve after the restart");
  result.resolvedAfterMs = Date.now() - t0;
  result.ids = { inflightId, queuedId };
  check(typeof inflightId === "string" && typeof queuedId === "string" && inflightId !== queuedId, "two distinct ids", result.ids);
  await waitFor(() => bodies(sub.last()).includes("sent while down"), 10000, "A's subscription to show both messages");
  result.afterRestart = sub.last();
  result.reconnected = a.connectionState().connectionCount > firstConnectionCount;
  check(result.reconnected, "the client should have opened a new socket", a.connectionState());
  check(
    JSON.stringify(bodies(sub.last())) === JSON.stringify(["in flight", "sent while down"]),
    "the subscription should show each mutation exactly once, in order",
    sub.last(),
  );
  check(
    JSON.stringify(sub.last().map((d) => d._id)) === JSON.stringify([inflightId, queuedId]),
    "the subscription's ids should be the ids the mutations returned",
    { ids: result.ids, list: sub.last() },
  );

  // A fresh client, after a pause that would let any duplicate replay land, sees the same.
  await sleep(500);
  const fresh = newClient();
  const listed = await withTimeout(fresh.query(api.list, { channel }), 10000, "fresh client's query");
  result.freshList = listed;
  check(JSON.stringify(bodies(listed)) === JSON.stringify(["in flight", "sent while down"]), "fresh client's list: each mutation exactly once", listed);

  // And the subscription still works after the reconnect.
  const b = newClient();
  await withTimeout(b.mutation(api.send, { channel, body: "after restart" }), 10000, "B's mutation after the restart");
  await waitFor(() => bodies(sub.last()).includes("after restart"), 10000, "A's update after the restart");
  check(sub.last().length === 3, "three messages after the restart", sub.last());
  check(sub.errors.length === 0, "A's subscription should have no errors", sub.errors);
  result.connectionStates = states;
  return result;
}

// --------------------------------------------------------------------------------------------

async function paginateScenario() {
  const a = newClient();
  const b = newClient();
  const result = { channel, snapshots: [] };
  const ids = {};
  const send = async (body) => {
    ids[body] = await withTimeout(b.mutation(api.send, { channel, body }), 10000, `insert ${body}`);
    return ids[body];
  };
  for (const body of ["m0", "m1", "m2", "m3", "m4"]) await send(body);

  const updates = [];
  const unsubscribe = a.onPaginatedUpdate_experimental(
    api.page,
    { channel },
    { initialNumItems: 2 },
    (r) => {
      const snapshot = { status: r.status, bodies: bodies(r.results) };
      updates.push({ ...snapshot, loadMore: r.loadMore });
      result.snapshots.push(snapshot);
    },
    (err) => result.snapshots.push({ error: String(err?.message ?? err) }),
  );
  const last = () => updates[updates.length - 1];
  const settled = (n, label) =>
    waitFor(() => last() && last().status !== "LoadingFirstPage" && last().status !== "LoadingMore" && n(last()), 10000, label);

  // Page 1: two items.
  await settled((u) => u.bodies.length === 2, "the first page");
  check(last().status === "CanLoadMore", "after page 1 the status is CanLoadMore", last().status);
  check(JSON.stringify(last().bodies) === '["m0","m1"]', "page 1", last().bodies);
  result.page1 = last().bodies;

  // Rows inserted now land after page 1's end: page 1 must not change.
  await send("m5");

  // Page 2.
  check(last().loadMore(2) === true, "loadMore(2) for page 2 should start loading");
  await settled((u) => u.bodies.length >= 4, "page 2");
  check(JSON.stringify(last().bodies) === '["m0","m1","m2","m3"]', "pages 1-2", last().bodies);
  result.pages12 = last().bodies;

  // Delete a row inside page 1: page 1 shrinks, page 2 keeps its rows (no shift, no duplicate).
  await withTimeout(b.mutation(api.remove, { id: ids.m1 }), 10000, "delete m1");
  await settled((u) => !u.bodies.includes("m1"), "the update after deleting m1");
  check(JSON.stringify(last().bodies) === '["m0","m2","m3"]', "pages 1-2 after deleting m1", last().bodies);
  result.afterDelete = last().bodies;

  // Insert while page 3 loads.
  check(last().loadMore(2) === true, "loadMore(2) for page 3 should start loading");
  const inserting = send("m6");
  await settled((u) => u.bodies.includes("m4"), "page 3");
  await inserting;
  // Page 3 starts right after page 2: m4, m5 (m6 either lies beyond its end or is absorbed).
  const p3 = last().bodies;
  check(JSON.stringify(p3.slice(0, 5)) === '["m0","m2","m3","m4","m5"]', "pages 1-3", p3);
  result.pages123 = p3;

  // Read on to the end; the last page then absorbs rows appended later.
  for (let i = 0; i < 5 && last().status === "CanLoadMore"; i++) {
    last().loadMore(10);
    await settled((u) => u.status === "Exhausted" || u.status === "CanLoadMore", "more pages");
    await sleep(50);
  }
  await settled((u) => u.status === "Exhausted", "the list to be exhausted");
  await send("m7");
  await settled((u) => u.bodies.includes("m7"), "the last page to absorb an appended row");
  result.final = last().bodies;
  const expected = ["m0", "m2", "m3", "m4", "m5", "m6", "m7"];
  check(JSON.stringify(result.final) === JSON.stringify(expected), "final concatenation of pages", result.final);

  // The server's full list agrees.
  const listed = await withTimeout(b.query(api.list, { channel }), 10000, "the full list");
  check(JSON.stringify(bodies(listed)) === JSON.stringify(expected), "messages:list", bodies(listed));

  // No snapshot ever had a duplicate or an error, and every settled snapshot is a gapless prefix
  // of the rows that existed (rows only ever appear in insertion order).
  const order = ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"];
  for (const snap of result.snapshots) {
    if (snap.error) {
      check(false, "paginated query error", snap.error);
      continue;
    }
    check(new Set(snap.bodies).size === snap.bodies.length, "a snapshot has duplicates", snap);
    const positions = snap.bodies.map((x) => order.indexOf(x));
    check(positions.every((p, i) => i === 0 || p > positions[i - 1]), "a snapshot is out of order", snap);
  }
  unsubscribe();
  return result;
}

// --------------------------------------------------------------------------------------------

const scenarios = { subscribe: subscribeScenario, restart: restartScenario, paginate: paginateScenario };

async function main() {
  const run = scenarios[scenario];
  if (!run) {
    process.stderr.write(`unknown scenario ${scenario}\n`);
    process.exit(2);
  }
  let result = {};
  try {
    result = await run();
  } catch (err) {
    failures.push(`exception: ${err?.stack ?? err}`);
  }
  emit({ event: "result", scenario, ok: failures.length === 0, failures, ...result });
  await Promise.race([Promise.all(clients.map((c) => c.close())), sleep(2000)]);
  process.exit(failures.length === 0 ? 0 : 1);
}

process.on("uncaughtException", (err) => {
  failures.push(`uncaught exception: ${err?.stack ?? err}`);
  emit({ event: "result", scenario, ok: false, failures });
  process.exit(1);
});
process.on("unhandledRejection", (err) => {
  // ConvexClient reports errors of queries without an onError handler this way.
  failures.push(`unhandled rejection: ${err?.stack ?? err}`);
});

await main();
