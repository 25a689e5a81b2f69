"""agentfeed: capture Claude Code hook events and send them to a Livebase server.

``agentfeed.hook`` is the hook Claude Code runs (a standalone, standard-library-only file);
``agentfeed.install`` merges it into Claude Code's settings; ``agentfeed.cli`` is the command line.
"""
