"""Helpers shared by the test packages: a ``livebase serve`` child process, Node.js drivers."""
