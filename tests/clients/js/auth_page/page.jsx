// A page signed in with ConvexProviderWithAuth (which calls ConvexReactClient.setAuth) from npm
// convex 1.48.0, unmodified; useConvexAuth and useQuery show who the backend thinks is calling.
//
//   index.html?backend=http://127.0.0.1:PORT&sub=alice&leeway=3
//
// The token fetcher asks this page's own origin, GET /token?sub=...&force=0|1 (the test's HTTP
// server mints the token with its OIDC issuer); every call is recorded in window.__tokenCalls.
// Every render is recorded in window.__renders, and every sync WebSocket the page opens in
// window.__sockets (WebSocket is wrapped for counting only: the client is not changed).
import React, { useCallback, useMemo } from "react";
import { createRoot } from "react-dom/client";
import {
  ConvexProviderWithAuth,
  ConvexReactClient,
  useConvexAuth,
  useQuery,
} from "convex/react";
import { makeFunctionReference } from "convex/server";

const whoMe = makeFunctionReference("who:me");
const myNotes = makeFunctionReference("notes:mine");
const addNote = makeFunctionReference("notes:add");

const params = new URLSearchParams(window.location.search);
const backend = params.get("backend");
const sub = params.get("sub") ?? "user-1";
const leeway = Number(params.get("leeway") ?? "10");

const started = performance.now();
const now = () => Math.round(performance.now() - started);

window.__tokenCalls = [];
window.__renders = [];
window.__sockets = [];
window.__setAuthCalls = 0;
window.__authChanges = [];

const NativeWebSocket = window.WebSocket;
window.WebSocket = class CountedWebSocket extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    window.__sockets.push({ t: now(), url: String(url) });
  }
};

async function fetchToken({ forceRefreshToken }) {
  const call = { t: now(), forceRefreshToken, ok: false };
  window.__tokenCalls.push(call);
  const response = await fetch(
    `/token?sub=${encodeURIComponent(sub)}&force=${forceRefreshToken ? 1 : 0}`,
    { cache: "no-store" },
  );
  const token = (await response.text()).trim();
  call.ok = response.ok;
  call.done = now();
  return response.ok && token ? token : null;
}

// The app's own "auth provider" for ConvexProviderWithAuth: always signed in, tokens from /token.
function useTestAuth() {
  const fetchAccessToken = useCallback(fetchToken, []);
  return useMemo(
    () => ({ isLoading: false, isAuthenticated: true, fetchAccessToken }),
    [fetchAccessToken],
  );
}

function Status() {
  const { isLoading, isAuthenticated, isRefreshing } = useConvexAuth();
  const me = useQuery(whoMe, {});
  const notes = useQuery(myNotes, {});
  window.__renders.push({
    t: now(),
    isLoading,
    isAuthenticated,
    isRefreshing,
    me: me === undefined ? "<undefined>" : me,
    notes: notes === undefined ? "<undefined>" : notes,
  });
  return (
    <section
      id="status"
      data-loading={String(isLoading)}
      data-authenticated={String(isAuthenticated)}
      data-me={me === undefined ? "" : JSON.stringify(me)}
      data-notes={notes === undefined ? "" : JSON.stringify(notes)}
    >
      <p>
        {isLoading ? "checking…" : isAuthenticated ? "signed in" : "signed out"} as{" "}
        <span id="me">{me === undefined ? "…" : String(me)}</span>
      </p>
      <ul id="notes">
        {(notes ?? []).map((body) => (
          <li key={body}>{body}</li>
        ))}
      </ul>
    </section>
  );
}

const root = createRoot(document.getElementById("root"));
if (!backend) {
  root.render(<p id="error">Missing ?backend=http://host:port in the page URL</p>);
} else {
  const client = new ConvexReactClient(backend, {
    verbose: params.get("verbose") === "1",
    authRefreshTokenLeewaySeconds: leeway,
  });
  window.__convexClient = client;
  // Records what the client reports to ConvexProviderWithAuth (onAuthChange), passing it on
  // unchanged: a signed-in user who stays signed in gets exactly one `true` and no `false`.
  const setAuth = client.setAuth.bind(client);
  client.setAuth = (fetcher, onChange, onRefreshChange) => {
    window.__setAuthCalls += 1;
    return setAuth(
      fetcher,
      (isAuthenticated) => {
        window.__authChanges.push({ t: now(), isAuthenticated });
        onChange(isAuthenticated);
      },
      onRefreshChange,
    );
  };
  // A mutation made from the page, as the signed-in user: resolves to what it returned.
  window.__addNote = (body) => client.mutation(addNote, { body });
  root.render(
    <ConvexProviderWithAuth client={client} useAuth={useTestAuth}>
      <h1>livebase auth</h1>
      <Status />
    </ConvexProviderWithAuth>,
  );
}
