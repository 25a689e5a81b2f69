"""The Convex-compatible HTTP function API."""
