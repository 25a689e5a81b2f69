// A minimal chat page: the official ConvexReactClient + useQuery (npm convex 1.48.0), unmodified.
// The backend URL and channel come from the page's query string:
//   index.html?backend=http://127.0.0.1:PORT&channel=NAME
import React from "react";
import { ConvexProvider, ConvexReactClient, useQuery } from "convex/react";
import { makeFunctionReference } from "convex/server";

const listMessages = makeFunctionReference("messages:list");

export function Messages({ channel }) {
  const messages = useQuery(listMessages, { channel });
  if (messages === undefined) {
    return (
      <p id="status" data-state="loading">
        Loading…
      </p>
    );
  }
  return (
    <section id="chat" data-state="ready">
      <p id="count" data-count={messages.length}>
        {messages.length} {messages.length === 1 ? "message" : "messages"} in #{channel}
      </p>
      <ul id="messages">
        {messages.map((m) => (
          <li key={m._id} className="message" data-id={m._id}>
            {m.body}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function App({ client, channel }) {
  return (
    <ConvexProvider client={client}>
      <h1>livebase chat</h1>
      <Messages channel={channel} />
    </ConvexProvider>
  );
}

export function createClient(backend) {
  return new ConvexReactClient(backend, { verbose: false });
}
