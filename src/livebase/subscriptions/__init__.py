"""Live query subscriptions: shared query results and read-set invalidation."""
