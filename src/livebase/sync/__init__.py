"""The Convex-compatible sync protocol: WebSocket sessions, Transitions, mutations and actions."""
