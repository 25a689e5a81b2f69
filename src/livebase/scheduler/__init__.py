"""Scheduled functions and crons, stored as documents in system tables and run by a worker."""
