import React from "react";
import { createRoot } from "react-dom/client";
import { App, createClient } from "./App.jsx";

const params = new URLSearchParams(window.location.search);
const backend = params.get("backend");
const channel = params.get("channel") ?? "general";
const root = createRoot(document.getElementById("root"));

if (!backend) {
  root.render(<p id="error">Missing ?backend=http://host:port in the page URL</p>);
} else {
  const client = createClient(backend);
  // For the test driver: lets it read the client's connection state when something goes wrong.
  window.__convexClient = client;
  // A per-load token: unchanged after a live update proves the page was not reloaded.
  window.__pageLoadId = Math.random().toString(36).slice(2);
  root.render(<App client={client} channel={channel} />);
}
