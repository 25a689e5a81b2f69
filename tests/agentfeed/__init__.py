"""Tests of the agentfeed client side: the capture hook, its installer and the command line."""
